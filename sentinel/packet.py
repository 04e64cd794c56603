"""The decoded packet: what capture hands to detection, below both.

``capture/decode.py`` fills a ``Packet`` from a frame; the detectors read it. Neither
imports the other: this module and the protocol numbers it names are all they share.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Link types (pcap LINKTYPE_*)
LINK_ETHERNET = 1
LINK_RAW = 101
LINK_LINUX_SLL = 113
LINK_LINUX_SLL2 = 276
LINK_IPV4 = 228
LINK_IPV6 = 229
LINKTYPES = (LINK_ETHERNET, LINK_RAW, LINK_LINUX_SLL, LINK_LINUX_SLL2, LINK_IPV4, LINK_IPV6, 12)

ETH_IPV4 = 0x0800
ETH_ARP = 0x0806
ETH_IPV6 = 0x86DD
ETH_VLAN = (0x8100, 0x88A8, 0x9100)

PROTO_ICMP = 1
PROTO_TCP = 6
PROTO_UDP = 17
PROTO_ICMPV6 = 58
PROTO_SCTP = 132
# SCTP chunk types a port scan sends and what an endpoint answers (RFC 9260)
SCTP_INIT, SCTP_INIT_ACK, SCTP_ABORT, SCTP_COOKIE_ECHO, SCTP_COOKIE_ACK = 1, 2, 6, 10, 11
IPV6_EXTENSIONS = (0, 43, 44, 51, 60, 135, 139, 140)  # hop-by-hop, routing, fragment, AH, ...

TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK, TCP_URG = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20

# ICMP errors that carry the header of the packet they answer
ICMP_UNREACHABLE, ICMP_TIME_EXCEEDED = 3, 11
ICMPV6_UNREACHABLE, ICMPV6_TIME_EXCEEDED = 1, 3
# Neighbour discovery (ICMPv6)
ND_ROUTER_SOLICIT, ND_ROUTER_ADVERT, ND_NEIGHBOR_SOLICIT, ND_NEIGHBOR_ADVERT = 133, 134, 135, 136
ND_REDIRECT = 137


@dataclass(slots=True)
class Packet:
    """What one frame says; fields that do not apply keep their defaults."""

    ts: float = 0.0
    wirelen: int = 0
    error: str = ""  # non-empty: why the frame could not be decoded (counted, not raised)
    src_mac: bytes = b""
    dst_mac: bytes = b""
    vlan: int = -1
    ethertype: int = 0
    # ARP
    arp_op: int = 0
    arp_sha: bytes = b""
    arp_spa: bytes = b""
    arp_tha: bytes = b""
    arp_tpa: bytes = b""
    # IP
    ip_version: int = 0
    src: bytes = b""  # 4 or 16 bytes
    dst: bytes = b""
    proto: int = -1
    ttl: int = 0
    fragment: bool = False  # a non-first fragment: no transport header here
    reassembled: bool = False  # rebuilt from IPv6 fragments (capture/reassembly.py)
    # transport
    sport: int = 0
    dport: int = 0
    tcp_flags: int = 0
    tcp_seq: int = 0
    tcp_window: int = -1  # a kernel's reset carries 0; -1: not TCP
    icmp_type: int = -1
    icmp_code: int = -1
    # ICMP errors (unreachable, time exceeded): the header of the packet they answer
    inner_src: bytes = b""
    inner_dst: bytes = b""
    inner_proto: int = -1
    inner_sport: int = 0
    inner_dport: int = 0
    payload_offset: int = 0  # into the frame: the application payload (DNS, DHCP);
    # for SCTP, the chunks after the common header
    payload_length: int = 0
    frame: bytes = b""  # the frame itself, for payload parsers and evidence
    linktype: int = LINK_ETHERNET  # of the frame (evidence files keep it)

    @property
    def payload(self) -> bytes:
        return self.frame[self.payload_offset : self.payload_offset + self.payload_length]


# The first bytes of TCP payloads that logins are recognised by (``login_prefix``): the
# capture engines copy these frames for the detectors (the C twin is ``login_prefix`` in
# capture/_fastpath.c), and the engine routes them to the detector that parses them.
LOGIN_NONE, LOGIN_REPLY, LOGIN_POST, LOGIN_HTTP = 0, 1, 2, 3
REPLY_MAX = 512  # bytes: longer payloads are bulk data, never a MySQL, PostgreSQL, IMAP refusal
_LOGIN_INCORRECT = b"Login incorrect"
_C28P01 = b"C28P01\0"
_RFB3 = b"RFB 003.00"
# IMAP tag characters: letters, digits, "." (a table lookup per byte)
_TAG = bytes(
    1 if chr(i).isascii() and (chr(i).isalnum() or chr(i) == ".") else 0 for i in range(256)
)


def _at(f: bytes | memoryview, i: int, text: bytes) -> bool:
    """``f[i:]`` starts with ``text`` (the caller checked the length)."""
    return all(f[i + k] == b for k, b in enumerate(text))


def login_prefix(f: bytes | memoryview, start: int, end: int, size: int = -1) -> int:
    """What the TCP payload ``f[start:end]`` begins like, reading a few bytes.

    ``size`` is the payload's length on the wire when the frame was cut short (the
    live capture keeps 256 bytes); refusals other than HTTP's are short, so a longer
    payload (bulk data) is no refusal and costs no further compare.

    ``LOGIN_REPLY``: a server's refusal of a login (HTTP 401, FTP 530, SMTP 535, POP3 or
    Redis ``-ERR``/``-WRONGPASS``/``-NOAUTH``, telnet ``Login incorrect``, an IMAP
    ``NO``/``BAD``, a VNC security failure or connection refused with a reason, MySQL
    error 1045, PostgreSQL 28P01);
    ``LOGIN_POST``: an HTTP POST; ``LOGIN_HTTP``: any other HTTP/1 response (wanted
    only when it answers a POST); ``LOGIN_NONE``: anything else. Ordinary payloads
    cost a few byte compares.
    """
    m = end - start
    if m < 4:
        return LOGIN_NONE
    if size < 0:
        size = m
    c, d = f[start], f[start + 1]
    if c == 0x48 and d == 0x54 and m >= 12 and f[start + 4] == 0x2F and f[start + 8] == 0x20:
        if f[start + 2] == 0x54 and f[start + 3] == 0x50 and f[start + 5] == 0x31:  # HTTP/1.x
            if f[start + 9] == 0x34 and f[start + 10] == 0x30 and f[start + 11] == 0x31:
                return LOGIN_REPLY  # 401: basic or digest authentication refused
            return LOGIN_HTTP
    elif c == 0x50 and d == 0x4F and m >= 5 and f[start + 2] == 0x53 and f[start + 3] == 0x54:
        if f[start + 4] == 0x20:
            return LOGIN_POST
    elif c == 0x35 and d == 0x33 and f[start + 2] in (0x30, 0x35) and f[start + 3] in (0x20, 0x2D):
        return LOGIN_REPLY  # FTP 530, SMTP 535
    elif c == 0x2D:  # Redis, POP3: "-ERR", "-WRONGPASS", "-NOAUTH"
        e = f[start + 2]
        if (d == 0x45 and e == 0x52) or (d == 0x57 and e == 0x52) or (d == 0x4E and e == 0x4F):
            return LOGIN_REPLY
    elif c in (0x0D, 0x0A, 0x4C):  # telnet login(1): "\r\nLogin incorrect"
        i = start
        while i < start + 4 and f[i] in (0x0D, 0x0A):
            i += 1
        if end - i >= 15 and f[i] == 0x4C and _at(f, i, _LOGIN_INCORRECT):
            return LOGIN_REPLY
    elif (c | d | f[start + 2]) == 0 and f[start + 3] == 1:  # VNC: security result failed
        # RFB 3.3 and 3.7: these four bytes; 3.8: then the reason, its length first
        reason = m >= 9 and f[start + 4] == f[start + 5] == 0
        if size == 4 or (reason and (f[start + 6] << 8) | f[start + 7] == size - 8):
            return LOGIN_REPLY
    elif c == 0x52 and d == 0x46 and m >= 21 and _at(f, start, _RFB3):  # VNC: refused
        # "RFB 003.003\n", security type 0 (connection failed), the reason, its length first:
        # how a VNC server turns away a host it has blacklisted after failed logins
        zero = f[start + 11] == 0x0A and not any(f[start + 12 : start + 18])
        if zero and (f[start + 18] << 8) | f[start + 19] == size - 20:
            return LOGIN_REPLY
    if size > REPLY_MAX:
        return LOGIN_NONE
    if (
        m >= 9
        and f[start + 4] == 0xFF
        and f[start + 5] == 0x15
        and f[start + 6] == 0x04
        and c | (d << 8) | (f[start + 2] << 16) == size - 4
    ):
        return LOGIN_REPLY  # MySQL error packet 1045: access denied
    if c == 0x45 and d == 0 and f[start + 2] == 0 and m >= 12:  # PostgreSQL ErrorResponse
        i, last = start + 5, min(end, start + 128) - 7
        while i <= last:
            if f[i] == 0x43 and f[i + 1] == 0x32 and _at(f, i, _C28P01):
                return LOGIN_REPLY
            i += 1
        return LOGIN_NONE
    if _TAG[c]:  # IMAP: "<tag> NO " or "<tag> BAD "
        i, last = start + 1, min(end - 5, start + 11)
        while i < last and _TAG[f[i]]:
            i += 1
        if i < last and f[i] == 0x20:
            a, b, e = f[i + 1], f[i + 2], f[i + 3]
            if a == 0x4E and b == 0x4F and e == 0x20:
                return LOGIN_REPLY
            if a == 0x42 and b == 0x41 and e == 0x44 and f[i + 4] == 0x20:
                return LOGIN_REPLY
    return LOGIN_NONE


@dataclass(frozen=True, slots=True)
class SynAggregate:
    """SYNs (without ACK) to one service in one second that the capture side counted
    instead of handing them over one by one: the part of a flood over the detectors'
    frame budget. ``senders``: (address, MAC, SYNs) of the first senders, exactly;
    ``untracked``: the SYNs of the others."""

    second: int
    dst: bytes  # 4 or 16 bytes
    dport: int
    packets: int
    senders: tuple[tuple[bytes, bytes, int], ...] = field(default=())
    untracked: int = 0


@dataclass(frozen=True, slots=True)
class NewMacs:
    """Never-seen source MACs in one second whose frames the capture side counted instead
    of handing them over (a MAC flood past the frame budget); ``multicast``: how many of
    them had the multicast bit, which no real NIC sends."""

    second: int
    macs: int
    multicast: int = 0


@dataclass(frozen=True, slots=True)
class UdpFlows:
    """UDP datagrams with data to one destination in one second, counted by the capture
    side (they are never frames for the detectors): ``answers`` is what the destination
    sent back in UDP that second; ``senders`` (address, MAC, datagrams) the first senders
    exactly, ``untracked`` the datagrams of the others; up to 8 distinct ports a side.
    With ``fragments``, ``packets`` counts the IPv4 and IPv6 fragments of UDP and TCP
    (first and later) to the destination instead, and no ports: a fragmented datagram is
    counted there only."""

    second: int
    dst: bytes
    packets: int
    answers: int
    senders: tuple[tuple[bytes, bytes, int], ...] = field(default=())
    untracked: int = 0
    dports: tuple[int, ...] = ()
    sports: tuple[int, ...] = ()
    fragments: bool = False


@dataclass(frozen=True, slots=True)
class UdpProbes:
    """UDP datagrams with data from one sender to many ports of one destination in one
    second, counted by the capture side (a UDP scan with payloads, nmap -sU
    --data-length): ``probes`` (sender, MAC, destination ports) for each sender that
    reached the capture's floor of distinct ports (at most 32 kept); ``answered`` the
    ports the destination sent UDP back from that second (open ports, not failures)."""

    second: int
    dst: bytes
    probes: tuple[tuple[bytes, bytes, tuple[int, ...]], ...]
    answered: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class UdpSpread:
    """UDP datagrams with data from one of the site's hosts to distinct ports of another
    over minutes, none answered from (a UDP scan with payloads slower than the capture's
    floor a second, nmap -sU -T2 --data-length): ``ports`` (port, second first sent to)
    handed over once six wait, each once, in ``second`` (the capture's latest);
    ``answered`` the ports the destination sent UDP to the sender from (below 32768, at
    most 8)."""

    second: int
    src: bytes
    src_mac: bytes
    dst: bytes
    ports: tuple[tuple[int, int], ...]
    answered: tuple[int, ...] = ()


# What the capture side counts instead of handing frames over, fed to ``observe_aggregate``.
Aggregate = SynAggregate | NewMacs | UdpFlows | UdpProbes | UdpSpread
