"""ICMP echo: one socket per address family shared by every target, bursts like smokeping.

Unprivileged ICMP datagram sockets (``SOCK_DGRAM``/``IPPROTO_ICMP``) work when the
process's group is inside ``net.ipv4.ping_group_range`` (which covers IPv6 too); the
kernel then picks the echo identifier and hands each socket only its own replies. Else a
raw socket, which needs CAP_NET_RAW (the systemd unit has it) and sees every ICMP packet
of the box, so replies are matched by identifier and sequence. ``Pinger.describe`` says
which one runs and why the other did not.

Round trips are measured from just before ``sendto`` to the kernel's receive timestamp
(``SO_TIMESTAMPNS``), so a busy event loop does not lengthen them.
"""

from __future__ import annotations

import asyncio
import errno
import os
import random
import socket
import struct
import time
from dataclasses import dataclass

from sentinel import logsetup

log = logsetup.get(__name__)

SO_TIMESTAMPNS = 35  # Linux; the receive time of each datagram as a struct timespec
IP_RECVTTL = 12
_ECHO_REQUEST: dict[int, int] = {socket.AF_INET: 8, socket.AF_INET6: 128}
_ECHO_REPLY: dict[int, int] = {socket.AF_INET: 0, socket.AF_INET6: 129}
_PROTO: dict[int, int] = {
    socket.AF_INET: socket.IPPROTO_ICMP,
    socket.AF_INET6: socket.IPPROTO_ICMPV6,
}


class IcmpUnavailable(OSError):
    """Neither an ICMP datagram socket nor a raw socket could be opened."""


@dataclass(frozen=True, slots=True)
class Echo:
    """One echo request's outcome: the round trip in seconds, or None when lost."""

    rtt: float | None
    hop_limit: int | None = None


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return int(~total & 0xFFFF)


def ping_group_range() -> tuple[int, int] | None:
    try:
        with open("/proc/sys/net/ipv4/ping_group_range") as f:
            lo, hi = f.read().split()
        return int(lo), int(hi)
    except (OSError, ValueError):
        return None


def open_socket(family: int, mode: str) -> tuple[socket.socket, str, str]:
    """An ICMP socket for ``family``: (socket, "datagram" or "raw", why this kind)."""
    why = ""
    if mode in ("auto", "datagram"):
        try:
            sock = socket.socket(family, socket.SOCK_DGRAM, _PROTO[family])
        except OSError as exc:
            rng = ping_group_range()
            gid = os.getgid()
            why = (
                f"no ICMP datagram socket ({exc.strerror}): group {gid} is outside "
                f"net.ipv4.ping_group_range {rng[0]} {rng[1]}"
                if rng is not None and exc.errno in (errno.EACCES, errno.EPERM)
                else f"no ICMP datagram socket ({exc.strerror})"
            )
            if mode == "datagram":
                raise IcmpUnavailable(exc.errno, why) from None
        else:
            return sock, "datagram", "net.ipv4.ping_group_range allows this group"
    try:
        sock = socket.socket(family, socket.SOCK_RAW, _PROTO[family])
    except OSError as exc:
        msg = f"{why + '; ' if why else ''}no raw ICMP socket ({exc.strerror}: needs CAP_NET_RAW)"
        raise IcmpUnavailable(exc.errno, msg) from None
    return sock, "raw", why or "configured (probes.icmp.socket: raw)"


class Pinger:
    """Echo requests and replies on one socket; any number of concurrent bursts."""

    def __init__(self, family: int, mode: str = "auto") -> None:
        self.family = family
        self.sock, self.kind, self.why = open_socket(family, mode)
        self.sock.setblocking(False)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        if family == socket.AF_INET6:
            self.sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
        elif self.kind == "datagram":
            self.sock.setsockopt(socket.IPPROTO_IP, IP_RECVTTL, 1)
        self.ident = random.getrandbits(16)  # raw sockets; the kernel picks it for datagram
        self._seq = random.getrandbits(16)
        self._pending: dict[int, tuple[int, asyncio.Future[Echo]]] = {}
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self.sock.fileno(), self._readable)
        self.malformed = 0

    def describe(self) -> str:
        return f"{self.kind} socket: {self.why}"

    def close(self) -> None:
        self._loop.remove_reader(self.sock.fileno())
        self.sock.close()
        for _, fut in self._pending.values():
            if not fut.done():
                fut.set_result(Echo(None))
        self._pending.clear()

    def send(self, ip: str, payload: int, timeout: float) -> asyncio.Future[Echo]:
        """Send one echo request; the future gets its ``Echo`` (lost after ``timeout``)."""
        fut: asyncio.Future[Echo] = self._loop.create_future()
        for _ in range(len(self._pending) + 1):  # a free sequence number
            self._seq = (self._seq + 1) & 0xFFFF
            if self._seq not in self._pending:
                break
        seq = self._seq
        body = os.urandom(8) + bytes(max(0, payload - 8))
        header = struct.pack("!BBHHH", _ECHO_REQUEST[self.family], 0, 0, self.ident, seq)
        packet = header + body
        if self.family == socket.AF_INET:  # the kernel computes ICMPv6 checksums
            packet = header[:2] + struct.pack("!H", checksum(packet)) + header[4:] + body
        sent = time.time_ns()
        self.sock.sendto(packet, (ip, 0))  # OSError (unreachable, ...) goes to the caller
        self._pending[seq] = (sent, fut)
        self._loop.call_later(timeout, self._expire, seq, fut)
        return fut

    def _expire(self, seq: int, fut: asyncio.Future[Echo]) -> None:
        entry = self._pending.get(seq)
        if entry is not None and entry[1] is fut:
            del self._pending[seq]
        if not fut.done():
            fut.set_result(Echo(None))

    def _readable(self) -> None:
        for _ in range(256):  # bounded per wake-up; the reader is called again if more wait
            try:
                data, ancdata, _, _ = self.sock.recvmsg(2048, 256)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # ICMP errors queued on the socket
                continue
            received = time.time_ns()
            hop: int | None = None
            for level, kind, value in ancdata:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
                    sec, nsec = struct.unpack("@qq", value[:16])
                    received = sec * 1_000_000_000 + nsec
                elif (level, kind) in (
                    (socket.IPPROTO_IPV6, socket.IPV6_HOPLIMIT),
                    (socket.IPPROTO_IP, socket.IP_TTL),
                ):
                    hop = int.from_bytes(value[:4], "little") & 0xFF
            self._reply(data, received, hop)

    def _reply(self, data: bytes, received: int, hop: int | None) -> None:
        if self.family == socket.AF_INET and self.kind == "raw":
            if len(data) < 20:
                self.malformed += 1
                return
            ihl = (data[0] & 0x0F) * 4
            hop = data[8]
            data = data[ihl:]
        if len(data) < 8:
            self.malformed += 1
            return
        kind, _code, _sum, ident, seq = struct.unpack("!BBHHH", data[:8])
        if kind != _ECHO_REPLY[self.family]:
            return
        if self.kind == "raw" and ident != self.ident:
            return  # another program's echo
        entry = self._pending.pop(seq, None)
        if entry is None:
            return  # late (already counted lost) or a duplicate
        sent, fut = entry
        if not fut.done():
            fut.set_result(Echo(max(0, received - sent) / 1e9, hop))


async def burst(
    pinger: Pinger, ip: str, count: int, spacing: float, wait: float, payload: int = 56
) -> list[Echo]:
    """``count`` echo requests ``spacing`` seconds apart (no drift); every outcome, in order."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    futures: list[asyncio.Future[Echo]] = []
    for i in range(count):
        delay = start + i * spacing - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        futures.append(pinger.send(ip, payload, wait))
    return list(await asyncio.gather(*futures))


class Pingers:
    """The daemon's ICMP sockets, opened on first use; a failure to open is remembered."""

    def __init__(self, mode: str = "auto") -> None:
        self.mode = mode
        self._open: dict[int, Pinger] = {}
        self._failed: dict[int, IcmpUnavailable] = {}

    def get(self, family: int) -> Pinger:
        pinger = self._open.get(family)
        if pinger is not None:
            return pinger
        if family in self._failed:
            raise self._failed[family]
        name = "IPv4" if family == socket.AF_INET else "IPv6"
        try:
            pinger = Pinger(family, self.mode)
        except IcmpUnavailable as exc:
            log.error("ICMP probes cannot run", family=name, reason=exc.strerror)
            self._failed[family] = exc
            raise
        log.info("ICMP probes", family=name, socket=pinger.kind, why=pinger.why)
        self._open[family] = pinger
        return pinger

    def close(self) -> None:
        for pinger in self._open.values():
            pinger.close()
        self._open.clear()
        self._failed.clear()
