"""A path with known delay, jitter and loss, built in user space (this kernel has no netem).

Three namespaces: ``client`` -- ``middle`` -- ``server``. The middle one has two veth
ends and no addresses; a forwarder on AF_PACKET sockets (``python -m tests.probes.impair``,
run inside it) copies every frame from one end to the other, per direction holding it
for a fixed delay plus jitter (uniform or normal, seeded) and dropping it with a given
probability (Bernoulli, seeded). Frames wait in a heap keyed by release time, so a held
frame never delays the frames behind it beyond their own release time, and jitter
reorders them as netem's does. The sockets ask for the virtio-net header
(``PACKET_VNET_HDR``) and send it back with the frame, so frames whose TCP/UDP checksum
the sending veth left to "hardware" (checksum offload) and GSO super-frames cross
intact. Outgoing frames are ignored (``PACKET_IGNORE_OUTGOING``, and ``PACKET_OUTGOING``
skipped) so the forwarder never sees its own copies.

The two ends have permanent neighbour entries for each other (IPv4 and IPv6, addresses
without duplicate address detection), so no ARP or neighbour discovery runs during a
measurement. The forwarder stops after ``seconds`` or on SIGTERM and prints how many
frames it forwarded and dropped in each direction, as JSON. It asks for SCHED_FIFO (it
sleeps between frames, so it takes little CPU) so that a busy test machine does not add
its scheduling delay to the imposed one.
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import json
import os
import random
import select
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from typing import IO, TYPE_CHECKING

from tests.conftest import ROOT
from tests.probes.netns import namespaces, sh

if TYPE_CHECKING:
    from collections.abc import Iterator

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_VNET_HDR = 15
PACKET_IGNORE_OUTGOING = 23
PACKET_OUTGOING = 4
VNET_HDR = 10  # struct virtio_net_hdr
SO_SNDBUFFORCE, SO_RCVBUFFORCE = 32, 33
_DNS_PORT = 53


@dataclass(frozen=True)
class Impairment:
    """What one direction of the path does to the frames it carries."""

    delay: float = 0.0  # seconds every frame is held
    jitter: float = 0.0  # uniform: +-jitter; normal: standard deviation
    distribution: str = "uniform"  # or "normal"
    loss: float = 0.0  # probability a frame is dropped
    seed: int = 1
    only: str = ""  # "": every frame; "dns": only frames to or from port 53

    def hold(self, rng: random.Random) -> float:
        """The time one frame is held: never negative."""
        if not self.jitter:
            return self.delay
        if self.distribution == "normal":
            return max(0.0, rng.gauss(self.delay, self.jitter))
        return max(0.0, self.delay + rng.uniform(-self.jitter, self.jitter))


@dataclass
class Counts:
    forwarded: int = 0
    dropped: int = 0
    impaired: int = 0  # frames the impairment applied to (all of them unless ``only``)
    errors: int = 0  # send failures


def is_dns(frame: bytes) -> bool:
    """An Ethernet frame carrying UDP or TCP to or from port 53 (IPv4 or IPv6)."""
    if len(frame) < 14:
        return False
    ethertype = int.from_bytes(frame[12:14], "big")
    if ethertype == 0x0800 and len(frame) >= 34:
        proto, l4 = frame[23], 14 + (frame[14] & 0x0F) * 4
    elif ethertype == 0x86DD and len(frame) >= 54:
        proto, l4 = frame[20], 54
    else:
        return False
    if proto not in (socket.IPPROTO_UDP, socket.IPPROTO_TCP) or len(frame) < l4 + 4:
        return False
    sport, dport = int.from_bytes(frame[l4 : l4 + 2]), int.from_bytes(frame[l4 + 2 : l4 + 4])
    return _DNS_PORT in (sport, dport)


def open_port(ifname: str) -> socket.socket:
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(SOL_PACKET, PACKET_VNET_HDR, 1)
    with contextlib.suppress(OSError):  # kernels before 4.20: PACKET_OUTGOING is skipped
        s.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
    # Past net.core.[rw]mem_max (root only): a full 400 ms queue downstream fits.
    s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 1 << 23)
    s.setsockopt(socket.SOL_SOCKET, SO_SNDBUFFORCE, 1 << 23)
    s.bind((ifname, ETH_P_ALL))
    s.setblocking(False)
    return s


def forward(
    ends: tuple[str, str],
    impair: tuple[Impairment, Impairment],
    seconds: float,
    ready: IO[str] | None = None,
) -> tuple[Counts, Counts]:
    """Bridge ``ends[0]`` and ``ends[1]``; ``impair[0]`` applies to frames 0 -> 1."""
    socks = (open_port(ends[0]), open_port(ends[1]))
    rngs = (random.Random(impair[0].seed), random.Random(impair[1].seed + 7919))
    counts = (Counts(), Counts())
    heap: list[tuple[float, int, int, bytes]] = []  # release time, order, out end, data
    order = 0
    stop = False

    def on_term(_sig: int, _frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    if ready is not None:
        ready.write("ready\n")
        ready.flush()
    end = time.monotonic() + seconds
    fds = [s.fileno() for s in socks]
    while not stop:
        now = time.monotonic()
        if now >= end:
            break
        wait = min(end - now, 0.05)
        if heap:
            wait = max(0.0, min(wait, heap[0][0] - now))
        readable, _, _ = select.select(fds, [], [], wait)
        for fd in readable:
            side = fds.index(fd)
            sock, imp, rng, c = socks[side], impair[side], rngs[side], counts[side]
            for _ in range(1024):
                try:
                    data, addr = sock.recvfrom(1 << 17)
                except (BlockingIOError, InterruptedError):
                    break
                if addr[2] == PACKET_OUTGOING:
                    continue
                arrived = time.monotonic()
                hold = 0.0
                if not imp.only or (imp.only == "dns" and is_dns(data[VNET_HDR:])):
                    c.impaired += 1
                    if imp.loss and rng.random() < imp.loss:
                        c.dropped += 1
                        continue
                    hold = imp.hold(rng)
                order += 1
                heapq.heappush(heap, (arrived + hold, order, 1 - side, data))
        now = time.monotonic()
        while heap and heap[0][0] <= now:
            _, _, out, data = heapq.heappop(heap)
            try:
                socks[out].send(data)
            except OSError:
                counts[1 - out].errors += 1
            else:
                counts[1 - out].forwarded += 1
    for s in socks:
        s.close()
    return counts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("end0")
    ap.add_argument("end1")
    ap.add_argument("--forward", default="{}", help="JSON Impairment for end0 -> end1")
    ap.add_argument("--back", default="{}", help="JSON Impairment for end1 -> end0")
    ap.add_argument("--seconds", type=float, default=60.0)
    a = ap.parse_args(argv)
    imp = (Impairment(**json.loads(a.forward)), Impairment(**json.loads(a.back)))
    with contextlib.suppress(OSError):  # release times within a few tens of microseconds
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
    fwd, back = forward((a.end0, a.end1), imp, a.seconds, sys.stdout)
    print(json.dumps({"forward": asdict(fwd), "back": asdict(back)}), flush=True)
    return 0


# The harness: namespaces, veths, permanent neighbours, the forwarder as a subprocess.

CLIENT_MAC, SERVER_MAC = "02:5e:00:00:00:01", "02:5e:00:00:00:02"
CLIENT_IP, SERVER_IP = "10.99.0.1", "10.99.0.2"
CLIENT_IP6, SERVER_IP6 = "fd99::1", "fd99::2"
CLIENT_IF, SERVER_IF = "wan0", "isp0"


class Forwarder:
    """The forwarder subprocess; ``stop()`` ends it and returns its counts."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc: subprocess.Popen[str] | None = proc
        self.counts: dict[str, Counts] = {}

    def stop(self) -> dict[str, Counts]:
        """Frames per direction: "forward" (end0 to end1, client to server) and "back"."""
        if self.proc is None:
            return self.counts
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.terminate()
        try:
            out, err = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate(timeout=5)
        lines = [x for x in out.splitlines() if x.startswith("{")]
        if proc.returncode or not lines:
            raise AssertionError(f"forwarder exit {proc.returncode}: {err[-2000:]}")
        self.counts = {k: Counts(**v) for k, v in json.loads(lines[-1]).items()}
        return self.counts


@dataclass
class Path:
    """The namespaces of an impaired path and its forwarder."""

    client: str
    middle: str
    server: str
    forwarder: Forwarder

    def stop(self) -> dict[str, Counts]:
        return self.forwarder.stop()


def link(ns: str, dev: str, mac: str, middle: str, peer: str) -> None:
    """A veth from ``ns`` (``dev``, with ``mac``) to the middle namespace (``peer``)."""
    sh("ip", "link", "add", dev, "netns", ns, "address", mac, "type", "veth",
       "peer", "name", peer, "netns", middle)  # fmt: skip
    sh("ip", "-n", middle, "link", "set", peer, "promisc", "on", "up")


def neighbours(ns: str, dev: str, mac: str, *addresses: str) -> None:
    """Permanent neighbour entries: no ARP or neighbour discovery during a measurement."""
    for addr in addresses:
        sh("ip", "-n", ns, "neigh", "replace", addr, "lladdr", mac, "dev", dev,
           "nud", "permanent")  # fmt: skip


@contextlib.contextmanager
def forwarder(
    middle: str,
    forward: Impairment = Impairment(),
    back: Impairment = Impairment(),
    seconds: float = 60.0,
    ends: tuple[str, str] = ("m0", "m1"),
) -> Iterator[Forwarder]:
    """The forwarder between ``ends`` of ``middle``, running until stopped or ``seconds``."""
    sh("ip", "netns", "exec", middle, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = ["ip", "netns", "exec", middle, sys.executable, "-m", "tests.probes.impair",
            *ends, "--forward", json.dumps(asdict(forward)),
            "--back", json.dumps(asdict(back)), "--seconds", str(seconds)]  # fmt: skip
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    f = Forwarder(proc)
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise AssertionError(f"forwarder did not start: {proc.communicate()[1][-2000:]}")
        yield f
    finally:
        if f.proc is not None:
            with contextlib.suppress(AssertionError):
                f.stop()


@contextlib.contextmanager
def impaired_path(
    forward: Impairment = Impairment(),
    back: Impairment = Impairment(),
    seconds: float = 60.0,
) -> Iterator[Path]:
    """client (``wan0``: 10.99.0.1, fd99::1) -- forwarder -- server (``isp0``: .2, ::2).

    ``forward`` applies to frames from the client to the server, ``back`` to the replies.
    The client's default route points at the server.
    """
    with namespaces("cli", "mid", "srv") as (client, middle, server):
        link(client, CLIENT_IF, CLIENT_MAC, middle, "m0")
        link(server, SERVER_IF, SERVER_MAC, middle, "m1")
        for ns, dev, ip, ip6, others, mac in (
            (client, CLIENT_IF, CLIENT_IP, CLIENT_IP6, (SERVER_IP, SERVER_IP6), SERVER_MAC),
            (server, SERVER_IF, SERVER_IP, SERVER_IP6, (CLIENT_IP, CLIENT_IP6), CLIENT_MAC),
        ):
            sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", dev)
            sh("ip", "-n", ns, "addr", "add", f"{ip6}/64", "dev", dev, "nodad")
            sh("ip", "-n", ns, "link", "set", dev, "up")
            neighbours(ns, dev, mac, *others)
        sh("ip", "-n", client, "route", "add", "default", "via", SERVER_IP)
        with forwarder(middle, forward, back, seconds) as f:
            yield Path(client, middle, server, f)


if __name__ == "__main__":
    sys.exit(main())
