"""Login replies read from the first bytes of a TCP payload (used by ``brute_force``).

Each function takes the payload of one segment (the capture engines hand over only the
segments ``sentinel.packet.login_prefix`` picks) and never raises: anything it does not
recognise is "not a login". Texts are bounded: at most ``HEAD`` bytes are looked at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

HEAD = 2048  # bytes of a payload read: a request line and headers, a reply line
# Words of a refusal (POP3, IMAP) or of a login form's path or body: a mail client's
# "-ERR no such message" is not a failed login.
_AUTH_WORDS = (b"auth", b"login", b"logon", b"pass", b"credential", b"denied", b"invalid")
# A VNC server's reason for turning a host away: "Too many security failures" (TigerVNC),
# "Too many authentication failures"; not "No security types supported".
_VNC_WORDS = (b"fail", b"too many", b"blacklist", b"denied")
_FORM_WORDS = (
    b"login",
    b"logon",
    b"signin",
    b"sign-in",
    b"sign_in",
    b"auth",
    b"pass",
    b"pwd",
    b"session",
    b"j_security_check",
)


def refusal(payload: bytes) -> str:
    """The service whose refused login ``payload`` is (``http_auth``, ``ftp``, ...), or ""."""
    head = payload[:HEAD]
    if head.startswith(b"HTTP/1.") and head[8:12] == b" 401":
        return "" if _HANDSHAKE.search(head) else "http_auth"
    first = head[:4]
    if first in (b"530 ", b"530-"):
        return "ftp"
    if first in (b"535 ", b"535-"):
        return "smtp"
    if head.startswith((b"-WRONGPASS", b"-NOAUTH", b"-ERR invalid password")):
        return "redis"
    if head.startswith(b"-ERR"):
        return "pop3" if _mentions(head[4:200], _AUTH_WORDS) else ""
    if head.lstrip(b"\r\n").startswith(b"Login incorrect"):
        return "telnet"
    if head[:4] == b"\0\0\0\x01":
        if len(head) == 4 or int.from_bytes(head[4:8], "big") == len(payload) - 8:
            return "vnc"
        return ""
    if head.startswith(b"RFB 003.00") and head[11:16] == b"\n\0\0\0\0":
        # RFB 3.3 "connection failed" with its reason: a host turned away after failures
        if int.from_bytes(head[16:20], "big") == len(payload) - 20:
            return "vnc" if _mentions(head[20:200], _VNC_WORDS) else ""
        return ""
    if len(head) >= 9 and head[4:7] == b"\xff\x15\x04":
        return "mysql"
    if head[:1] == b"E" and b"C28P01\0" in head[5:128]:
        return "postgres"
    tag, _, rest = head[:200].partition(b" ")
    imap = tag and len(tag) <= 10 and tag.replace(b".", b"").isalnum()
    if imap and rest.startswith((b"NO ", b"BAD ")) and _mentions(rest, _AUTH_WORDS):
        return "imap"
    return ""


# A 401 carrying an NTLM or Negotiate token is the handshake's second step (the server's
# challenge to the client's first message), never a refused password.
_HANDSHAKE = re.compile(rb"(?im)^www-authenticate:[ \t]*(?:ntlm|negotiate)[ \t]+[a-z0-9+/]")


def _mentions(text: bytes, words: tuple[bytes, ...]) -> bool:
    low = text.lower()
    return any(w in low for w in words)


@dataclass(frozen=True, slots=True)
class Post:
    """An HTTP POST to what looks like a login form."""

    path: str


def login_post(payload: bytes) -> Post | None:
    """The POST in ``payload`` when its path or body names a login (``/login``,
    ``password=``, ...); None for other POSTs (an app saving a form every few seconds)."""
    head = payload[:HEAD]
    line, _, rest = head.partition(b"\r\n")
    parts = line.split(b" ")
    if len(parts) != 3 or parts[0] != b"POST" or not parts[2].startswith(b"HTTP/1."):
        return None
    path = parts[1].split(b"?", 1)[0][:200]
    if not (_mentions(parts[1], _FORM_WORDS) or _mentions(_body(rest), _FORM_WORDS)):
        return None
    return Post(path.decode("latin-1"))


def _body(rest: bytes) -> bytes:
    """The form fields of a POST segment: the body, or nothing if it is not in it."""
    _, sep, body = rest.partition(b"\r\n\r\n")
    return body[:512] if sep else b""


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP response's status line and what tells one login page from another."""

    status: int
    length: int  # Content-Length, or the segment's payload when there is none
    location: str  # a redirect's target without its query ("" when none)


def http_answer(payload: bytes) -> Answer | None:
    """The HTTP/1 response starting in ``payload``; None if it is not one."""
    head = payload[:HEAD]
    if not head.startswith(b"HTTP/1.") or head[8:9] != b" " or not head[9:12].isdigit():
        return None
    status = int(head[9:12])
    headers, sep, _ = head.partition(b"\r\n\r\n")
    length, location = len(payload) - len(headers) - len(sep), ""
    for line in headers.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length" and value.strip().isdigit():
            length = int(value.strip()[:12])
        elif name == b"location":
            location = value.strip().split(b"?", 1)[0][:200].decode("latin-1")
    return Answer(status, length, location)
