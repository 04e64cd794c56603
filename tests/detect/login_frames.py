"""Crafted login traffic: servers' refusals as real servers word them, and HTTP forms."""

from __future__ import annotations

import struct

from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether

CLIENT, SERVER = "10.77.0.66", "10.77.0.10"
CLIENT_MAC, SERVER_MAC = "02:77:00:00:66:66", "02:77:00:00:00:0a"


def _mysql_1045() -> bytes:
    body = b"\xff\x15\x04#28000Access denied for user 'root'@'10.77.0.66' (using password: YES)"
    return len(body).to_bytes(3, "little") + b"\x02" + body


def _postgres_28p01() -> bytes:
    fields = b'SFATAL\0VFATAL\0C28P01\0Mpassword authentication failed for user "postgres"\0'
    fields += b"Fauth.c\0L326\0Rauth_failed\0\0"
    return b"E" + struct.pack("!I", len(fields) + 4) + fields


# (case id, service the detector names, server port, the server's refusal)
REFUSALS = [
    (
        "http-basic",
        "http_auth",
        8080,
        b'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm="marks"\r\n\r\n',
    ),
    (
        "http-ntlm-bare",  # a bare NTLM challenge: the first answer, or a refused login
        "http_auth",
        80,
        b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Negotiate\r\n"
        b"WWW-Authenticate: NTLM\r\n\r\n",
    ),
    (
        "http-digest",
        "http_auth",
        80,
        b'HTTP/1.0 401 Unauthorized\r\nWWW-Authenticate: Digest realm="cam", nonce="ab12"\r\n\r\n',
    ),
    ("ftp", "ftp", 21, b"530 Login incorrect.\r\n"),
    ("smtp", "smtp", 587, b"535 5.7.8 Error: authentication failed: authentication failure\r\n"),
    ("pop3", "pop3", 110, b"-ERR [AUTH] Authentication failed.\r\n"),
    ("imap-no", "imap", 143, b"a0001 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"),
    ("imap-bad", "imap", 993, b"3 BAD [AUTHENTICATIONFAILED] Invalid credentials\r\n"),
    (
        "redis-7",
        "redis",
        6379,
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n",
    ),
    ("redis-5", "redis", 6380, b"-ERR invalid password\r\n"),
    ("redis-noauth", "redis", 6379, b"-NOAUTH Authentication required.\r\n"),
    ("telnet", "telnet", 23, b"\r\nLogin incorrect\r\n"),
    ("vnc-3.3", "vnc", 5900, b"\x00\x00\x00\x01"),
    ("vnc-3.8", "vnc", 5901, b"\x00\x00\x00\x01\x00\x00\x00\x15Authentication failed"),
    (
        "vnc-blacklisted",
        "vnc",
        5900,
        b"RFB 003.003\n\x00\x00\x00\x00\x00\x00\x00\x1aToo many security failures",
    ),
    ("mysql", "mysql", 3306, _mysql_1045()),
    ("postgres", "postgres", 5432, _postgres_28p01()),
]

# Replies that are no refused login (some share a refusal's first bytes)
NOT_REFUSALS = [
    ("http-200", b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nhello world\n"),
    ("http-403", b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"),
    (
        "http-ntlm-challenge",  # an NTLM handshake's second step, not a refusal
        b"HTTP/1.1 401 Unauthorized\r\nServer: Microsoft-IIS/10.0\r\n"
        b"WWW-Authenticate: NTLM TlRMTVNTUAACAAAADAAMADgAAAAFgomi\r\nContent-Length: 0\r\n\r\n",
    ),
    (
        "http-negotiate-challenge",
        b"HTTP/1.1 401 Unauthorized\r\n"
        b"www-authenticate: Negotiate oYIBCzCCAQegAwoBAaEMBgor\r\n\r\n",
    ),
    ("ftp-230", b"230 Login successful.\r\n"),
    ("smtp-250", b"250 2.0.0 Ok: queued as 4F2A1\r\n"),
    ("pop3-other", b"-ERR no such message\r\n"),
    ("imap-other", b"a12 NO [TRYCREATE] Mailbox doesn't exist: Junk\r\n"),
    ("telnet-in", b"\r\nLast login: Mon Dec  7 08:01:12 on pts/0\r\n"),
    ("vnc-ok", b"\x00\x00\x00\x00"),
    ("vnc-greeting", b"RFB 003.008\n"),
    ("vnc-no-types", b"RFB 003.003\n\x00\x00\x00\x00\x00\x00\x00\x1bNo security types supported"),
    ("vnc-types", b"RFB 003.008\n\x01\x02"),
    ("mysql-ok", b"\x07\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00"),
    ("tls", b"\x17\x03\x03\x00\x40" + bytes(range(64))),
    ("html", b"<html><body>Homework</body></html>\n"),
]


def segment(
    src: str, dst: str, sport: int, dport: int, payload: bytes, ts: float, flags: str = "PA"
) -> tuple[bytes, float]:
    """A TCP data segment as captured (frame bytes, time)."""
    smac, dmac = (SERVER_MAC, CLIENT_MAC) if src == SERVER else (CLIENT_MAC, SERVER_MAC)
    frame = (
        Ether(src=smac, dst=dmac)
        / IP(src=src, dst=dst)
        / TCP(sport=sport, dport=dport, flags=flags, seq=1000, ack=2000)
    )
    return bytes(frame / payload), ts


def reply(port: int, cport: int, payload: bytes, ts: float) -> tuple[bytes, float]:
    return segment(SERVER, CLIENT, port, cport, payload, ts)


def post(port: int, cport: int, path: str, body: str, ts: float) -> tuple[bytes, float]:
    data = body.encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {SERVER}:{port}\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(data)}\r\n\r\n"
    )
    return segment(CLIENT, SERVER, cport, port, head.encode() + data, ts)


def answer(
    port: int, cport: int, status: str, length: int, ts: float, location: str = ""
) -> tuple[bytes, float]:
    where = f"Location: {location}\r\n" if location else ""
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: text/html\r\n{where}Content-Length: {length}\r\n\r\n"
    )
    return reply(port, cport, head.encode() + b"x" * min(length, 200), ts)
