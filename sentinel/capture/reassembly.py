"""IPv6 fragments put back together for the detectors, within tight bounds.

Neighbour discovery is never fragmented by a real router or host (RFC 6980), so a router
advertisement split into fragments, its ICMPv6 header pushed into the second one behind a
large destination-options header, is how an attacker steps around a switch's RA guard
(thc-ipv6 fake_router26 -E D). The frames arrive one by one; this joins a datagram's
fragments when they are all there and hands the whole one, as a frame without its
fragment header, to the decoder.

Bounds: at most ``MAX_DATAGRAMS`` datagrams held (the oldest is dropped), each at most
``MAX_BYTES`` long and ``TIMEOUT`` seconds old; fragments that overlap keep the bytes
that came first. Bulk traffic (TCP and UDP fragments) does not reach the detectors, so
what is held is small.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

MAX_DATAGRAMS = 64
MAX_BYTES = 4096
TIMEOUT = 5.0  # seconds from a datagram's first fragment
IPV6_EXTENSIONS = frozenset({0, 43, 60})  # before a fragment header: hop-by-hop, routing, dst
_VLAN_TAGS = frozenset((0x8100, 0x88A8, 0x9100))
_H = struct.Struct("!H")
_FRAG = struct.Struct("!BxHI")  # next header, offset and flags, identification


@dataclass(slots=True)
class _Datagram:
    first: float
    head: bytes = b""  # Ethernet, IPv6 and the unfragmentable headers, from fragment 0
    nh_at: int = 0  # where in ``head`` the next-header byte that named the fragment is
    next_header: int = -1  # the fragmentable part's first header
    total: int = -1  # the fragmentable part's length, known from the last fragment
    pieces: dict[int, bytes] = field(default_factory=dict)  # offset -> bytes


class Reassembler:
    def __init__(self) -> None:
        self._held: dict[tuple[bytes, bytes, int], _Datagram] = {}
        self.reassembled = 0
        self.dropped = 0  # expired, evicted or too long

    def frame(self, f: bytes, ts: float) -> bytes | None:
        """``f`` a frame the detectors want: the whole datagram when ``f`` completes one,
        else None (not a fragment, or not the last one to arrive)."""
        n = len(f)
        if n < 14 + 40 + 8:
            return None
        off, etype = 14, (f[12] << 8) | f[13]
        while etype in _VLAN_TAGS and n >= off + 4:
            etype = (f[off + 2] << 8) | f[off + 3]
            off += 4
        if etype != 0x86DD or n < off + 48:
            return None
        nh_at, nxt, at = off + 6, f[off + 6], off + 40
        hops = 0
        while nxt in IPV6_EXTENSIONS and hops < 8 and n >= at + 8:
            nh_at, nxt, at = at, f[at], at + (f[at + 1] + 1) * 8
            hops += 1
        if nxt != 44 or n < at + 8:
            return None
        next_header, frag, ident = _FRAG.unpack_from(f, at)
        offset, more = frag & 0xFFF8, frag & 1
        if not offset and not more:
            return None  # an atomic fragment: the decoder reads through it
        plen = _H.unpack_from(f, off + 4)[0]
        data = f[at + 8 : min(n, off + 40 + plen)]
        self._expire(ts)
        key = (f[off + 8 : off + 24], f[off + 24 : off + 40], ident)
        d = self._held.get(key)
        if d is None:
            if len(self._held) >= MAX_DATAGRAMS:
                del self._held[next(iter(self._held))]
                self.dropped += 1
            d = self._held[key] = _Datagram(ts)
        if offset + len(data) > MAX_BYTES:
            del self._held[key]
            self.dropped += 1
            return None
        if not offset:
            d.head, d.nh_at, d.next_header = f[:at], nh_at, next_header
        if not more:
            d.total = offset + len(data)
        d.pieces.setdefault(offset, data)
        return self._whole(key, d)

    def _whole(self, key: tuple[bytes, bytes, int], d: _Datagram) -> bytes | None:
        if d.total < 0 or not d.head:
            return None
        body = bytearray(d.total)
        have = 0
        for offset in sorted(d.pieces):
            piece = d.pieces[offset]
            if offset > have:
                return None  # a hole
            end = min(d.total, offset + len(piece))
            if end > have:  # what overlaps keeps the bytes that came first
                body[have:end] = piece[have - offset : end - offset]
                have = end
        if have < d.total:
            return None
        del self._held[key]
        self.reassembled += 1
        head = bytearray(d.head)
        head[d.nh_at] = d.next_header
        ip = self._ip_offset(head)
        head[ip + 4 : ip + 6] = _H.pack(len(head) - ip - 40 + d.total)
        return bytes(head) + bytes(body)

    @staticmethod
    def _ip_offset(head: bytearray) -> int:
        off, etype = 14, (head[12] << 8) | head[13]
        while etype in _VLAN_TAGS:
            etype = (head[off + 2] << 8) | head[off + 3]
            off += 4
        return off

    def _expire(self, ts: float) -> None:
        while self._held:
            key = next(iter(self._held))
            if ts - self._held[key].first <= TIMEOUT:
                return
            del self._held[key]
            self.dropped += 1
