"""DNS messages to the header and questions, and names to their registered domain.

``parse()`` never raises: a message it cannot make sense of comes back with ``error``
set (``truncated``, ``bad_label``, ``pointer_loop``, ``name_too_long``) and the
questions read before the problem. Compression pointers must point backwards and are
followed at most ``MAX_JUMPS`` times, so a crafted loop costs a few steps, not a hang.
Names are lowercased, without the trailing dot; bytes outside printable ASCII are
kept as ``\\xNN`` escapes so a hostile name cannot forge log fields.

``registered_domain()`` uses the Public Suffix List, as the ``publicsuffixlist``
package ships it (this module is the only one that imports it), with its PRIVATE
section: under a dynamic-DNS or tunnel-provider suffix (``duckdns.org``, ``ngrok.io``,
``trycloudflare.com``, ``no-ip.org``, ``dyndns.org``) every customer is a registrable
domain of its own, so ``a.duckdns.org`` and ``b.duckdns.org`` are judged apart, as are
``user.github.io`` and ``other.github.io``. A name that is itself a public suffix
(``duckdns.org``, ``kent.sch.uk``) is its own domain; an unknown top-level label
counts as a suffix (``a.b.tunnel.test`` -> ``tunnel.test``). ``split_name()`` also
gives the labels left of the domain (where a tunnel puts its data) and whether the
suffix is a known one. The list is read once, on the first call (about 0.15 s,
1 MiB); the answers for recently seen names are cached.

``facts()`` is what the DNS detectors read from a name (its domain, its data part's
length and entropy, its first label's length), worked out once per name: a school asks
the same few thousand names all day, so a query of a known name costs a cache lookup.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from functools import cache, lru_cache

from publicsuffixlist import PublicSuffixList

MAX_NAME = 255  # octets on the wire, including length bytes
MAX_JUMPS = 16
MAX_QUESTIONS = 8

A, NS, CNAME, SOA, PTR, MX, TXT, AAAA = 1, 2, 5, 6, 12, 15, 16, 28
NULL, SRV, SVCB, HTTPS = 10, 33, 64, 65
PRIVATE_TYPES = range(65280, 65535)  # 65280-65534, private use
KEY, NAPTR, DS, SSHFP, DNSKEY, TLSA, ANY, CAA = 25, 35, 43, 44, 48, 52, 255, 257
# What clients ask in everyday use: names, mail, services, DNSSEC validation, ANY. Any
# other type from a client is a rare one, the kind a tunnel picks to carry data in the
# answers (iodine's NULL and private-use types, dns2tcp's KEY).
EVERYDAY_TYPES = frozenset(
    {A, NS, CNAME, SOA, PTR, MX, TXT, AAAA, SRV, NAPTR, DS, SSHFP, DNSKEY, TLSA}
    | {SVCB, HTTPS, ANY, CAA}
)


def rare_type(qtype: int) -> bool:
    """A query type no everyday client asks for (NULL, KEY, private use, ...)."""
    return qtype not in EVERYDAY_TYPES


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


@lru_cache(maxsize=4096)
def _after_id(rest: bytes) -> Dns:
    return parse(b"\0\0" + rest)


def parse_datagram(data: bytes) -> tuple[int, Dns]:
    """``parse()`` of a message over UDP, its id apart: ``(id, message with id 0)``.

    Queries for one name differ only in their id (the client library sends the same
    flags and options each time), so the message after the id is parsed once and the
    answer remembered for the names asked lately.
    """
    return int.from_bytes(data[:2], "big"), _after_id(data[2:])


@cache
def _psl() -> PublicSuffixList:
    # the list shipped in the package, ICANN and PRIVATE; an unknown top-level label
    # gives None (told apart from a known one by split_name)
    return PublicSuffixList(accept_unknown=False)


@lru_cache(maxsize=8192)
def split_name(name: str) -> tuple[str, str, bool]:
    """(labels left of the registered domain, the registered domain, known suffix).

    ``x.y.bbc.co.uk`` -> ``("x.y", "bbc.co.uk", True)``; under an unknown top-level
    label the last two labels are the domain: ``a.b.c.tunnel.test`` ->
    ``("a.b", "tunnel.test", False)``. A name that is a suffix itself is its own domain.
    """
    name = name.lower().rstrip(".")
    if ".." in name or name.startswith("."):  # a label with a dot in it (legal on the wire)
        name = ".".join(label for label in name.split(".") if label)
    if not name:
        return "", "", False
    psl = _psl()
    suffix = psl.publicsuffix(name)
    if suffix is None:  # unknown top-level label: it counts as the suffix
        labels = name.split(".")
        return ".".join(labels[:-2]), ".".join(labels[-2:]), False
    domain = psl.privatesuffix(name) or name
    return name[: -len(domain) - 1] if len(name) > len(domain) else "", domain, True


def registered_domain(name: str) -> str:
    """The registrable domain (eTLD+1) of ``name``: ``www.bbc.co.uk`` -> ``bbc.co.uk``."""
    return split_name(name)[1]


def entropy(text: str) -> float:
    """Shannon entropy of the characters of ``text``, in bits a character."""
    n = len(text)
    if n < 2:
        return 0.0
    return -sum(c / n * math.log2(c / n) for c in Counter(text).values())


@dataclass(frozen=True, slots=True)
class Name:
    """What the DNS detectors read from one name (``facts()``)."""

    domain: str  # the registered domain
    known: bool  # under a known public suffix
    first_label: int  # characters of the leftmost label
    data: int  # characters of the data part: the labels left of the domain, dots
    # removed (the whole name under an unknown top-level label)
    entropy: float  # of the data part, bits a character
    local: bool  # reverse lookups (.arpa) and multicast DNS (.local): never judged


@lru_cache(maxsize=16384)
def facts(name: str) -> Name:
    """The facts of ``name`` (lowercased, no trailing dot, as ``parse`` gives it)."""
    sub, domain, known = split_name(name)
    data = sub.replace(".", "") if known else name.replace(".", "")
    return Name(
        domain=domain,
        known=known,
        first_label=len(name.split(".", 1)[0]),
        data=len(data),
        entropy=entropy(data),
        local=name.endswith((".arpa", ".local")),
    )
