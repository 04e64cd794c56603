"""Frames to header fields, for any frame the wire can carry: never raises.

``decode()`` parses deeply enough for detection (Ethernet, 802.1Q/QinQ, ARP, IPv4 with
options and fragments, IPv6 with extension headers, TCP, UDP, ICMP, ICMPv6, and the
payload offset of DHCP and DNS). A frame it cannot make sense of comes back with
``error`` set to a reason that is counted (``truncated``, ``bad_ip_header``, ...); no
exception escapes. The hot accounting path (``accounting.py``) does its own minimal
parse; this one runs on the few packets detectors want.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

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
IPV6_EXTENSIONS = (0, 43, 44, 51, 60, 135, 139, 140)  # hop-by-hop, routing, fragment, AH, ...

TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK = 0x01, 0x02, 0x04, 0x08, 0x10

_H = struct.Struct("!H")
_ARP = struct.Struct("!HHBBH6s4s6s4s")
_IPV4 = struct.Struct("!BBHHHBBH4s4s")
_IPV6 = struct.Struct("!IHBB16s16s")
_PORTS = struct.Struct("!HH")
_TCP = struct.Struct("!HHIIBB")


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
    # transport
    sport: int = 0
    dport: int = 0
    tcp_flags: int = 0
    tcp_seq: int = 0
    icmp_type: int = -1
    icmp_code: int = -1
    payload_offset: int = 0  # into the frame: the application payload (DNS, DHCP)
    payload_length: int = 0
    frame: bytes = b""  # the frame itself, for payload parsers and evidence

    @property
    def payload(self) -> bytes:
        return self.frame[self.payload_offset : self.payload_offset + self.payload_length]


def decode(
    frame: bytes | memoryview, linktype: int = LINK_ETHERNET, ts: float = 0.0, wirelen: int = 0
) -> Packet:
    """Decode one frame; any problem is reported in ``Packet.error``."""
    p = Packet(ts=ts, wirelen=wirelen or len(frame), frame=bytes(frame))
    try:
        _decode(p, frame, linktype)
    except (struct.error, IndexError, ValueError):
        p.error = p.error or "truncated"
    return p


def _decode(p: Packet, f: bytes | memoryview, linktype: int) -> None:
    n = len(f)
    if linktype == LINK_ETHERNET:
        if n < 14:
            p.error = "truncated"
            return
        p.dst_mac, p.src_mac = bytes(f[0:6]), bytes(f[6:12])
        off = 12
        etype = _H.unpack_from(f, off)[0]
        off += 2
        tags = 0
        while etype in ETH_VLAN:
            if n < off + 4:
                p.error = "truncated"
                return
            if tags == 0:
                p.vlan = _H.unpack_from(f, off)[0] & 0x0FFF
            tags += 1
            if tags > 2:
                p.error = "too_many_vlan_tags"
                return
            etype = _H.unpack_from(f, off + 2)[0]
            off += 4
    elif linktype == LINK_LINUX_SLL:
        if n < 16:
            p.error = "truncated"
            return
        if _H.unpack_from(f, 4)[0] == 6:  # link-layer address length
            p.src_mac = bytes(f[6:12])
        etype, off = _H.unpack_from(f, 14)[0], 16
    elif linktype == LINK_LINUX_SLL2:
        if n < 20:
            p.error = "truncated"
            return
        if f[11] == 6:
            p.src_mac = bytes(f[12:18])
        etype, off = _H.unpack_from(f, 0)[0], 20
    elif linktype in (LINK_RAW, 12, LINK_IPV4, LINK_IPV6):
        if n < 1:
            p.error = "truncated"
            return
        etype, off = (ETH_IPV6 if f[0] >> 4 == 6 else ETH_IPV4), 0
    else:
        p.error = "unknown_linktype"
        return
    p.ethertype = etype
    if etype == ETH_IPV4:
        _ipv4(p, f, off)
    elif etype == ETH_IPV6:
        _ipv6(p, f, off)
    elif etype == ETH_ARP:
        _arp(p, f, off)


def _arp(p: Packet, f: bytes | memoryview, off: int) -> None:
    if len(f) < off + 28:
        p.error = "truncated"
        return
    htype, ptype, hlen, plen, op, sha, spa, tha, tpa = _ARP.unpack_from(f, off)
    if htype != 1 or ptype != ETH_IPV4 or hlen != 6 or plen != 4:
        p.error = "unsupported_arp"
        return
    p.arp_op, p.arp_sha, p.arp_spa, p.arp_tha, p.arp_tpa = op, sha, spa, tha, tpa


def _ipv4(p: Packet, f: bytes | memoryview, off: int) -> None:
    n = len(f)
    if n < off + 20:
        p.error = "truncated"
        return
    vihl, _tos, total, _ident, frag, ttl, proto, _csum, src, dst = _IPV4.unpack_from(f, off)
    ihl = (vihl & 0x0F) * 4
    if vihl >> 4 != 4 or ihl < 20 or total < ihl:
        p.error = "bad_ip_header"
        return
    p.ip_version, p.src, p.dst, p.proto, p.ttl = 4, src, dst, proto, ttl
    end = min(n, off + total)
    if frag & 0x1FFF:
        p.fragment = True
        return
    _transport(p, f, off + ihl, end, proto)


def _ipv6(p: Packet, f: bytes | memoryview, off: int) -> None:
    n = len(f)
    if n < off + 40:
        p.error = "truncated"
        return
    vtf, plen, nxt, hlim, src, dst = _IPV6.unpack_from(f, off)
    if vtf >> 28 != 6:
        p.error = "bad_ip_header"
        return
    p.ip_version, p.src, p.dst, p.ttl = 6, src, dst, hlim
    end = min(n, off + 40 + plen)
    off += 40
    hops = 0
    while nxt in IPV6_EXTENSIONS:
        hops += 1
        if hops > 8 or off + 8 > end:
            p.error = "truncated" if off + 8 > end else "too_many_extension_headers"
            return
        if nxt == 44:  # fragment header: fixed 8 bytes
            if _H.unpack_from(f, off + 2)[0] & 0xFFF8:
                p.fragment = True
                p.proto = f[off]
                return
            nxt, off = f[off], off + 8
        elif nxt == 51:  # AH: length in 4-octet units, minus 2
            nxt, off = f[off], off + (f[off + 1] + 2) * 4
        else:
            nxt, off = f[off], off + (f[off + 1] + 1) * 8
    p.proto = nxt
    _transport(p, f, off, end, nxt)


def _transport(p: Packet, f: bytes | memoryview, off: int, end: int, proto: int) -> None:
    if proto == PROTO_TCP:
        if end < off + 20:
            p.error = "truncated"
            return
        p.sport, p.dport, p.tcp_seq, _ack, doff, flags = _TCP.unpack_from(f, off)
        p.tcp_flags = flags
        hlen = (doff >> 4) * 4
        if hlen < 20:
            p.error = "bad_tcp_header"
            return
        if off + hlen > end:
            p.error = "truncated"
            return
        p.payload_offset, p.payload_length = off + hlen, max(0, end - off - hlen)
    elif proto == PROTO_UDP:
        if end < off + 8:
            p.error = "truncated"
            return
        p.sport, p.dport = _PORTS.unpack_from(f, off)
        p.payload_offset, p.payload_length = off + 8, max(0, end - off - 8)
    elif proto in (PROTO_ICMP, PROTO_ICMPV6):
        if end < off + 4:
            p.error = "truncated"
            return
        p.icmp_type, p.icmp_code = f[off], f[off + 1]
        p.payload_offset, p.payload_length = off + 4, max(0, end - off - 4)
