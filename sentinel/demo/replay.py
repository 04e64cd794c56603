"""Replay recorded captures onto an interface at their recorded pace (the demo's attacker).

Run inside the demo's network namespace, where the interface is the far end of the veth
pair sentinel captures on: ``python -m sentinel.demo.replay IFACE ROUNDS PAUSE FILE...``.
Plays the files in order, each at the speed it was recorded, then waits PAUSE seconds;
ROUNDS rounds in all (bounded), then exits. Prints ``replayed NAME PACKETS`` after each
file. Stops at once on SIGTERM or SIGINT.
"""

from __future__ import annotations

import signal
import socket
import sys
import threading
import time
from pathlib import Path

from sentinel.capture.pcapfile import read

LINKTYPE_ETHERNET = 1
MAX_GAP = 2.0  # seconds: a longer silence is shortened to this (the shipped captures have none)


def play(sock: socket.socket, path: Path, stop: threading.Event) -> int:
    """Send every Ethernet frame of ``path`` with its recorded spacing; the count sent."""
    sent = 0
    first_ts: float | None = None
    start = time.monotonic()
    shift = 0.0
    last = 0.0
    for ts, linktype, frame, _wirelen in read(path):
        if linktype != LINKTYPE_ETHERNET:
            continue
        if first_ts is None:
            first_ts = ts
        offset = ts - first_ts - shift
        if offset - last > MAX_GAP:
            shift += offset - last - MAX_GAP
            offset = last + MAX_GAP
        last = offset
        delay = start + offset - time.monotonic()
        if delay > 0 and stop.wait(delay):
            break
        if stop.is_set():
            break
        try:
            sock.send(bytes(frame))
        except OSError:
            continue  # an oversized or refused frame: skip it, keep the pace
        sent += 1
    return sent


def main(argv: list[str]) -> int:
    if len(argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    iface, rounds, pause, files = argv[0], int(argv[1]), float(argv[2]), argv[3:]
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as sock:
        sock.bind((iface, 0))
        for _ in range(max(rounds, 0)):
            for name in files:
                if stop.is_set():
                    return 0
                n = play(sock, Path(name), stop)
                print(f"replayed {Path(name).stem} {n}", flush=True)
            if stop.wait(pause):
                return 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
