"""DNS probe: one query to a resolver over UDP, again over TCP when the answer is truncated.

The wire format is small enough to write here (RFC 1035 §4): the probe needs the header's
rcode and section counts, not the records themselves.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
import time
from dataclasses import dataclass

from sentinel.probes.outcome import ProbeFailure

QTYPES = {
    "A": 1,
    "NS": 2,
    "CNAME": 5,
    "SOA": 6,
    "PTR": 12,
    "MX": 15,
    "TXT": 16,
    "AAAA": 28,
    "SRV": 33,
}
RCODES = {"NOERROR": 0, "FORMERR": 1, "SERVFAIL": 2, "NXDOMAIN": 3, "NOTIMP": 4, "REFUSED": 5}
RCODE_NAMES = {v: k for k, v in RCODES.items()}
_TC = 0x0200
_QR = 0x8000
MAX_UDP_READS = 16  # stray datagrams (wrong id) read before giving up on one socket


@dataclass(frozen=True, slots=True)
class Answer:
    rcode: int
    answers: int
    authority: int
    additional: int
    truncated: bool


def encode_query(qid: int, name: str, qtype: str) -> bytes:
    labels = [p for p in name.rstrip(".").split(".") if p]
    qname = b"".join(bytes([len(p)]) + p.encode("idna") for p in labels) + b"\0"
    if len(qname) > 255 or any(len(p.encode("idna")) > 63 for p in labels):
        raise ValueError(f"{name!r} is not a valid DNS name")
    header = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)  # RD
    return header + qname + struct.pack("!HH", QTYPES[qtype], 1)


def decode_header(qid: int, data: bytes) -> Answer | None:
    """The answer's rcode and counts, or None if it is not the answer to ``qid``."""
    if len(data) < 12:
        return None
    rid, flags, _qd, an, ns, ar = struct.unpack("!HHHHHH", data[:12])
    if rid != qid or not flags & _QR:
        return None
    return Answer(flags & 0x000F, an, ns, ar, bool(flags & _TC))


async def _udp(
    ip: str, port: int, family: int, query: bytes, qid: int, phases: dict[str, float]
) -> Answer:
    loop = asyncio.get_running_loop()
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        t = time.perf_counter()
        await loop.sock_connect(sock, (ip, port))
        phases["connect"] = phases.get("connect", 0.0) + time.perf_counter() - t
        t = time.perf_counter()
        await loop.sock_sendall(sock, query)
        try:
            for _ in range(MAX_UDP_READS):
                data = await loop.sock_recv(sock, 65535)
                answer = decode_header(qid, data)
                if answer is not None:
                    return answer
        finally:
            phases["request"] = phases.get("request", 0.0) + time.perf_counter() - t
    raise ProbeFailure("protocol", "no valid answer among the datagrams received")


async def _tcp(
    ip: str, port: int, family: int, query: bytes, qid: int, phases: dict[str, float]
) -> Answer:
    t = time.perf_counter()
    reader, writer = await asyncio.open_connection(ip, port, family=family)
    phases["connect"] = phases.get("connect", 0.0) + time.perf_counter() - t
    t = time.perf_counter()
    try:
        writer.write(struct.pack("!H", len(query)) + query)
        await writer.drain()
        (size,) = struct.unpack("!H", await reader.readexactly(2))
        data = await reader.readexactly(size)
    except asyncio.IncompleteReadError:
        raise ProbeFailure("protocol", "the resolver closed the TCP connection early") from None
    finally:
        phases["request"] = phases.get("request", 0.0) + time.perf_counter() - t
        writer.close()
    answer = decode_header(qid, data)
    if answer is None:
        raise ProbeFailure("protocol", "the TCP answer does not match the query")
    return answer


async def query(
    ip: str, port: int, family: int, name: str, qtype: str, transport: str, phases: dict[str, float]
) -> tuple[Answer, str]:
    """Ask once; (answer, transport that gave it). Phases ``connect``/``request`` accumulate."""
    qid = random.getrandbits(16)
    q = encode_query(qid, name, qtype)
    if transport == "udp":
        answer = await _udp(ip, port, family, q, qid, phases)
        if not answer.truncated:
            return answer, "udp"
    return await _tcp(ip, port, family, q, qid, phases), "tcp"
