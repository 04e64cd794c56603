"""DNS messages to the header and questions, and names to their registered domain.

``parse()`` never raises: a message it cannot make sense of comes back with ``error``
set (``truncated``, ``bad_label``, ``pointer_loop``, ``name_too_long``) and the
questions read before the problem. Compression pointers must point backwards and are
followed at most ``MAX_JUMPS`` times, so a crafted loop costs a few steps, not a hang.
Names are lowercased, without the trailing dot; bytes outside printable ASCII are
kept as ``\\xNN`` escapes so a hostile name cannot forge log fields.

``registered_domain()`` uses a short built-in list of multi-label public suffixes
(the UK's ``co.uk`` family, ``ac.be``, common ``com.xx``/``co.xx`` and a few hosting
suffixes). It is not the full Public Suffix List: under a multi-label suffix missing
from the list, every customer counts as one domain (``shop.example.gov.xx`` and
``news.other.gov.xx`` both count as ``gov.xx``), which can only merge unrelated names
(more unique names per domain), never split one tunnel over several domains. For
Belgian, Dutch and UK school traffic (``.be``, ``.nl``, ``.uk``, ``.com``, ``.eu``)
the result is right.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_NAME = 255  # octets on the wire, including length bytes
MAX_JUMPS = 16
MAX_QUESTIONS = 8

NULL, TXT = 10, 16
PRIVATE_TYPES = range(65280, 65535)  # 65280-65534, private use

# Multi-label public suffixes (a registrable domain is one label more). Short on
# purpose; see the module docstring.
PUBLIC_SUFFIXES = frozenset(
    {
        # United Kingdom
        "co.uk", "ac.uk", "gov.uk", "org.uk", "me.uk", "ltd.uk", "plc.uk", "net.uk",
        "nhs.uk", "police.uk", "mod.uk",
        # Belgium, the Netherlands (registrations are mostly directly under .be/.nl)
        "ac.be", "co.nl",
        # elsewhere, frequent in school traffic
        "com.au", "net.au", "org.au", "edu.au", "gov.au", "co.nz", "org.nz",
        "co.jp", "ne.jp", "or.jp", "ac.jp", "com.br", "com.cn", "com.tr", "co.za",
        "co.in", "co.kr", "com.mx", "com.ar", "com.tw", "com.hk", "com.sg",
        "eu.com", "uk.com", "us.com",
        # hosting suffixes where every customer is a different party
        "github.io", "gitlab.io", "blogspot.com", "herokuapp.com", "azurewebsites.net",
        "cloudapp.net", "appspot.com", "web.app", "firebaseapp.com", "netlify.app",
        "vercel.app", "pages.dev", "workers.dev", "s3.amazonaws.com",
        # reverse lookups
        "in-addr.arpa", "ip6.arpa",
    }
)  # fmt: skip
# Suffixes under which every name is itself a suffix (``*.sch.uk``: county.sch.uk).
WILDCARD_SUFFIXES = frozenset({"sch.uk"})


@dataclass(frozen=True, slots=True)
class Question:
    name: str  # lowercased, no trailing dot; "" is the root
    qtype: int
    qclass: int = 1


@dataclass(frozen=True, slots=True)
class Dns:
    id: int = 0
    qr: bool = False  # a response
    opcode: int = 0
    rcode: int = 0
    questions: tuple[Question, ...] = ()
    question_count: int = 0  # as the header says
    answer_count: int = 0
    error: str = ""


_SAFE = bytes(b for b in range(0x21, 0x7F) if b != 0x5C)  # kept as they are


class _Bad(Exception):
    pass


def _char(b: int) -> str:
    c = chr(b)
    if 0x21 <= b < 0x7F and c not in "\\":
        return c.lower()
    return f"\\x{b:02x}"


def _name(data: bytes, off: int) -> tuple[str, int]:
    """The name at ``off`` and the offset after it (after the first pointer, if any)."""
    labels: list[str] = []
    wire = 0
    jumps = 0
    after = -1
    n = len(data)
    while True:
        if off >= n:
            raise _Bad("truncated")
        length = data[off]
        kind = length & 0xC0
        if kind == 0xC0:
            if off + 2 > n:
                raise _Bad("truncated")
            target = ((length & 0x3F) << 8) | data[off + 1]
            if after < 0:
                after = off + 2
            jumps += 1
            if target >= off or jumps > MAX_JUMPS:  # only backwards: no loops
                raise _Bad("pointer_loop")
            off = target
            continue
        if kind:
            raise _Bad("bad_label")  # 0x40/0x80: extended label types, obsolete
        if length == 0:
            off += 1
            break
        wire += 1 + length
        if wire + 1 > MAX_NAME:
            raise _Bad("name_too_long")
        if off + 1 + length > n:
            raise _Bad("truncated")
        label = data[off + 1 : off + 1 + length]
        if not label.translate(None, _SAFE):
            labels.append(label.decode("ascii").lower())
        else:
            labels.append("".join(_char(b) for b in label))
        off += 1 + length
    return ".".join(labels), after if after >= 0 else off


def parse(data: bytes, tcp: bool = False) -> Dns:
    """Parse a DNS message (for TCP, with its two-byte length prefix); never raises."""
    if tcp:
        if len(data) < 2:
            return Dns(error="truncated")
        data = data[2 : 2 + int.from_bytes(data[:2], "big")]
    if len(data) < 12:
        return Dns(error="truncated")
    ident = int.from_bytes(data[0:2], "big")
    flags = int.from_bytes(data[2:4], "big")
    qdcount = int.from_bytes(data[4:6], "big")
    ancount = int.from_bytes(data[6:8], "big")
    questions: list[Question] = []
    error = ""
    off = 12
    try:
        for _ in range(min(qdcount, MAX_QUESTIONS)):
            name, off = _name(data, off)
            if off + 4 > len(data):
                raise _Bad("truncated")
            qtype = int.from_bytes(data[off : off + 2], "big")
            qclass = int.from_bytes(data[off + 2 : off + 4], "big")
            off += 4
            questions.append(Question(name, qtype, qclass))
    except _Bad as e:
        error = str(e)
    return Dns(
        id=ident,
        qr=bool(flags & 0x8000),
        opcode=(flags >> 11) & 0x0F,
        rcode=flags & 0x0F,
        questions=tuple(questions),
        question_count=qdcount,
        answer_count=ancount,
        error=error,
    )


def registered_domain(name: str) -> str:
    """The registrable domain (eTLD+1) of ``name``: ``www.bbc.co.uk`` -> ``bbc.co.uk``."""
    name = name.lower().rstrip(".")
    labels = name.split(".")
    if len(labels) <= 2:
        return name
    two = ".".join(labels[-2:])
    if two in WILDCARD_SUFFIXES:
        return ".".join(labels[-4:])
    three = ".".join(labels[-3:])
    if three in PUBLIC_SUFFIXES:
        return ".".join(labels[-4:])
    if two in PUBLIC_SUFFIXES:
        return three
    return two
