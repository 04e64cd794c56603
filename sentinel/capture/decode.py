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

from sentinel.packet import (
    ETH_ARP,
    ETH_IPV4,
    ETH_IPV6,
    ETH_VLAN,
    IPV6_EXTENSIONS,
    LINK_ETHERNET,
    LINK_IPV4,
    LINK_IPV6,
    LINK_LINUX_SLL,
    LINK_LINUX_SLL2,
    LINK_RAW,
    PROTO_ICMP,
    PROTO_ICMPV6,
    PROTO_SCTP,
    PROTO_TCP,
    PROTO_UDP,
    Packet,
)

__all__ = [
    "LINK_ETHERNET",
    "LINK_LINUX_SLL",
    "LINK_LINUX_SLL2",
    "LINK_RAW",
    "Packet",
    "decode",
]

_H = struct.Struct("!H")
_ETH = struct.Struct("!6s6sH")
_ARP = struct.Struct("!HHBBH6s4s6s4s")
_IPV4 = struct.Struct("!BBHHHBBH4s4s")
_IPV6 = struct.Struct("!IHBB16s16s")
_PORTS = struct.Struct("!HH")
_TCP = struct.Struct("!HHIIBBH")


def decode(
    frame: bytes | memoryview, linktype: int = LINK_ETHERNET, ts: float = 0.0, wirelen: int = 0
) -> Packet:
    """Decode one frame; any problem is reported in ``Packet.error``."""
    p = Packet(ts=ts, wirelen=wirelen or len(frame), frame=bytes(frame), linktype=linktype)
    try:
        _decode(p, p.frame, linktype)  # bytes: its slices are bytes, no copy to make
    except (struct.error, IndexError, ValueError):
        p.error = p.error or "truncated"
    return p


def _decode(p: Packet, f: bytes, linktype: int) -> None:
    n = len(f)
    if linktype == LINK_ETHERNET:
        if n < 14:
            p.error = "truncated"
            return
        p.dst_mac, p.src_mac, etype = _ETH.unpack_from(f)
        off = 14
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
            p.src_mac = f[6:12]
        etype, off = _H.unpack_from(f, 14)[0], 16
    elif linktype == LINK_LINUX_SLL2:
        if n < 20:
            p.error = "truncated"
            return
        if f[11] == 6:
            p.src_mac = f[12:18]
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


def _arp(p: Packet, f: bytes, off: int) -> None:
    if len(f) < off + 28:
        p.error = "truncated"
        return
    htype, ptype, hlen, plen, op, sha, spa, tha, tpa = _ARP.unpack_from(f, off)
    if htype != 1 or ptype != ETH_IPV4 or hlen != 6 or plen != 4:
        p.error = "unsupported_arp"
        return
    p.arp_op, p.arp_sha, p.arp_spa, p.arp_tha, p.arp_tpa = op, sha, spa, tha, tpa


def _ipv4(p: Packet, f: bytes, off: int) -> None:
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
    _transport(p, f, off + ihl, end, proto, off + total)


def _ipv6(p: Packet, f: bytes, off: int) -> None:
    n = len(f)
    if n < off + 40:
        p.error = "truncated"
        return
    vtf, plen, nxt, hlim, src, dst = _IPV6.unpack_from(f, off)
    if vtf >> 28 != 6:
        p.error = "bad_ip_header"
        return
    p.ip_version, p.src, p.dst, p.ttl = 6, src, dst, hlim
    wire_end = off + 40 + plen
    end = min(n, wire_end)
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
    _transport(p, f, off, end, nxt, wire_end)


def _transport(p: Packet, f: bytes, off: int, end: int, proto: int, wire_end: int) -> None:
    """``end``: where the captured datagram ends; ``wire_end``: where it ends on the wire
    (later when the snap length cut the frame)."""
    if proto == PROTO_TCP:
        if end < off + 20:
            p.error = "truncated"
            return
        p.sport, p.dport, p.tcp_seq, _ack, doff, flags, p.tcp_window = _TCP.unpack_from(f, off)
        p.tcp_flags = flags
        hlen = (doff >> 4) * 4
        if hlen < 20:
            p.error = "bad_tcp_header"
            return
        if off + hlen > end:
            if off + hlen <= wire_end:  # options cut by the snap length: flags still read
                p.payload_offset, p.payload_length = end, 0
                return
            p.error = "truncated"
            return
        p.payload_offset, p.payload_length = off + hlen, max(0, end - off - hlen)
    elif proto == PROTO_UDP:
        if end < off + 8:
            p.error = "truncated"
            return
        p.sport, p.dport = _PORTS.unpack_from(f, off)
        p.payload_offset, p.payload_length = off + 8, max(0, end - off - 8)
    elif proto == PROTO_SCTP:
        if end >= off + 12:  # the common header: ports where TCP's and UDP's are
            p.sport, p.dport = _PORTS.unpack_from(f, off)
            p.payload_offset, p.payload_length = off + 12, end - off - 12
    elif proto in (PROTO_ICMP, PROTO_ICMPV6):
        if end < off + 4:
            p.error = "truncated"
            return
        p.icmp_type, p.icmp_code = f[off], f[off + 1]
        p.payload_offset, p.payload_length = off + 4, max(0, end - off - 4)
        if (proto == PROTO_ICMP and p.icmp_type in (3, 11)) or (
            proto == PROTO_ICMPV6 and p.icmp_type in (1, 3, 4)
        ):
            _inner(p, f, off + 8, end)


def _inner(p: Packet, f: bytes, off: int, end: int) -> None:
    """The header an ICMP error quotes; a short quote leaves the fields unset."""
    if end < off + 1:
        return
    version = f[off] >> 4
    if version == 4 and end >= off + 20:
        ihl = (f[off] & 0x0F) * 4
        p.inner_proto, p.inner_src, p.inner_dst = (
            f[off + 9],
            f[off + 12 : off + 16],
            f[off + 16 : off + 20],
        )
        l4 = off + ihl
    elif version == 6 and end >= off + 40:
        p.inner_proto = f[off + 6]
        p.inner_src, p.inner_dst = f[off + 8 : off + 24], f[off + 24 : off + 40]
        l4 = off + 40
    else:
        return
    if p.inner_proto in (PROTO_TCP, PROTO_UDP) and end >= l4 + 4:
        p.inner_sport, p.inner_dport = _PORTS.unpack_from(f, l4)
