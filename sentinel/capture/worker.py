"""The capture worker process: ring -> pipeline -> batched messages to the main process.

It runs in its own process so packet work never starves the main event loop (the GIL).
Messages (``wire``: a typed encoding, never pickle) go to a non-blocking socket: when the
main process is slow the worker keeps capturing and sends the newest snapshot later
(snapshots are cumulative, so a skipped one loses nothing).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import TYPE_CHECKING

from sentinel.capture import wire
from sentinel.capture.accounting import Accounting
from sentinel.capture.pipeline import Pipeline, Settings, make_engine
from sentinel.capture.ring import Ring
from sentinel.errors import CaptureError

if TYPE_CHECKING:
    import socket

CENSUS_INTERVAL = 10.0  # seconds between hand-overs of device hashes (not droppable)
MAX_PENDING = 4 << 20  # bytes of unsent messages before new snapshots are skipped
ALERTS_PER_MESSAGE = 256  # keeps every message far below wire.MAX_BODY


class Outbox:
    """Non-blocking writes with a bounded backlog."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.sock.setblocking(False)
        self.pending = bytearray()
        self.skipped = 0

    def send(self, message: bytes, *, droppable: bool) -> None:
        if droppable and self.pending:
            self.skipped += 1
            return
        if len(self.pending) + len(message) > MAX_PENDING:
            self.skipped += 1
            return
        self.pending += message
        self.flush()

    def flush(self) -> None:
        while self.pending:
            try:
                n = self.sock.send(self.pending)
            except BlockingIOError:
                return
            del self.pending[:n]


def run(sock: socket.socket, settings: Settings, capture: socket.socket | None = None) -> None:
    """Capture until the main process goes away or SIGTERM.

    ``capture`` is the packet socket the main process made (``ring.new_socket``); without
    it the worker makes its own, which needs CAP_NET_RAW.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the main process
    stop = False

    def on_term(_sig: int, _frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    out = Outbox(sock)
    parent = os.getppid()
    assert settings.interface is not None
    try:
        ring = Ring(
            settings.interface,
            block_size=1 << 20,
            block_count=max(4, settings.ring_size_mb),
            snaplen=settings.snaplen,
            header_snaplen=settings.header_snaplen,
            promiscuous=settings.promiscuous,
            sock=capture,
        )
    except CaptureError as exc:
        out.sock.setblocking(True)
        out.sock.sendall(wire.error(str(exc)))
        return
    pipeline = Pipeline(settings, make_engine(settings))
    kind = "python" if isinstance(pipeline.accounting, Accounting) else "c"
    out.send(wire.started(settings.interface, os.getpid(), kind), droppable=False)
    next_snapshot = time.monotonic() + settings.snapshot_interval
    next_census = time.monotonic() + CENSUS_INTERVAL
    try:
        next_drain = 0.0
        while not stop:
            ring.read(pipeline.ring_block, 100)
            now = time.monotonic()
            if now >= next_drain:  # detectors run on batches, ten times a second
                next_drain = now + 0.1
                alerts = pipeline.drain()
                # Quiet LAN: packet time stands still, so windows advance on the clock.
                alerts += pipeline.tick(max(pipeline.last_ts, time.time() - 1.0))
                try:
                    for i in range(0, len(alerts), ALERTS_PER_MESSAGE):
                        batch = alerts[i : i + ALERTS_PER_MESSAGE]
                        out.send(wire.alerts(batch), droppable=False)
                except (BrokenPipeError, ConnectionResetError):
                    return
            if now >= next_census and pipeline.census is not None:
                next_census = now + CENSUS_INTERVAL
                seen = pipeline.census.take()
                if seen:
                    try:
                        out.send(wire.census(seen), droppable=False)
                    except (BrokenPipeError, ConnectionResetError):
                        return
            if now < next_snapshot:
                continue
            next_snapshot = now + settings.snapshot_interval
            if os.getppid() != parent:
                return  # the main process died
            packets, drops = ring.statistics()  # the kernel resets them on each read
            pipeline.kernel_packets += packets
            pipeline.kernel_drops += drops
            snap = pipeline.snapshot(own_drops=out.skipped)
            try:
                out.send(wire.snapshot(snap), droppable=True)
            except (BrokenPipeError, ConnectionResetError):
                return
    finally:
        ring.close()


def main(argv: list[str]) -> int:
    """``python -m sentinel.capture.worker MESSAGES [CAPTURE]``: the file descriptors of
    the socket to the main process and of the packet socket; the settings, pickled by
    the main process (the trusted side), on standard input."""
    import pickle
    import socket

    settings = pickle.loads(sys.stdin.buffer.read())  # noqa: S301 (written by our parent)
    if not isinstance(settings, Settings):
        return 2
    messages = socket.socket(fileno=int(argv[0]))
    capture = socket.socket(fileno=int(argv[1])) if len(argv) > 1 else None
    run(messages, settings, capture)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
