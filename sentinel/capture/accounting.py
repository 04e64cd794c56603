"""Per-packet accounting on the hot path: bytes and packets by direction and protocol,
active devices, and the packets detectors want; every table bounded.

This is the code that runs for every frame (hundreds of thousands a second), so it
parses just what it needs inline with struct and int operations, keeps counters in flat
lists indexed by small integer codes, and allocates nothing per ordinary packet. Frames
the detectors want (TCP SYN/FIN/RST or without ACK, ARP, ICMP, DNS, DHCP, empty UDP
datagrams, rare IP protocols, TCP data that starts like a refused login, an HTTP POST or
the answer to one) are copied into a bounded batch for the full decoder.

Two engines count the same way: ``Accounting`` here, in Python, is the reference, and
``FastAccounting`` runs the same per-frame code in C (``_fastpath.c``), a whole pcap
region or ring block per call, several times faster. ``new_accounting`` picks C when the
extension is built, unless ``SENTINEL_NO_EXTENSIONS`` is set. The tests feed both the
same frames and compare every counter.
"""

from __future__ import annotations

import ipaddress
import math
import os
import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sentinel.capture import pcapfile, ring
from sentinel.packet import LOGIN_NONE, LOGIN_POST, LOGIN_REPLY, login_prefix

SLICES = 100  # detector budget slices a second (C: DETECTOR_SLICES)
# The detector gate (C: the same names). Frames of sources seen before get three
# quarters of the budget, new sources a quarter; one known source at most SOURCE_RATE
# frames a second. A SYN the budget has no room for becomes part of its (second, victim,
# port) aggregate, which syn_flood reads instead of the frames: a spoofed flood's
# one-shot senders can neither take the scan's share nor go uncounted.
GATE_KNOWN_CAP = 4096  # known sources per generation
GATE_PROBATION_CAP = 16384  # sources seen once, cleared when full (a spoofed flood)
GATE_WINDOW = 60.0  # seconds a generation of known sources lasts (two are kept)
KNOWN_BURST_SLICES = 10  # slices of known sources' budget a burst may use at once
SOURCE_RATE = 5000  # a quarter of the default budget: one flooding source cannot take it all
AGG_CAP = 256  # SYN aggregates between two drains
AGG_SENDERS = 64  # senders kept exactly per aggregate; the rest are counted
GATE_MAC_TAG = 1 << 127  # the key of a source known only by its MAC
QUIET_MAX = 1024  # resolvers (address, MAC) whose answers are not wanted (_fastpath.c)
MAC_AGGS = 16  # seconds of withheld never-seen MACs between two drains (then merged)
# UDP datagrams with data (never frames for the detectors) are counted per destination and
# second; a second with UDP_FLOOR or more is handed to ``flood`` once it is over: a flood
# of non-empty datagrams, and how much its target answered. IPv4 and IPv6 fragments of
# UDP and TCP (first and later: later ones carry no ports, so no frame for a detector) are
# counted alike beside them, and a fragmented datagram is counted there only.
UDP_AGG_CAP = 512  # destinations and seconds held at once
UDP_FLOOR = 1000  # a tenth of flood.udp_data_rate_threshold
UDP_PORTS = 8  # distinct ports kept per side
# UDP probes with data (a UDP scan, nmap -sU --data-length): each tracked sender's distinct
# destination ports in the second, and the ports the destination answered from; a second
# where one sender reached UDP_PROBE_FLOOR ports is handed over whatever its datagrams, for
# port_scan (the empty probes are frames already).
UDP_PROBE_FLOOR = 8
UDP_PROBE_PORTS = 32
# UDP port spread: a UDP scan with payloads slower than UDP_PROBE_FLOOR ports a second
# (nmap -sU -T2 --data-length, -T1) never fills a second. Per pair of the site's hosts,
# over minutes: each side's distinct destination ports below SPREAD_EPHEMERAL (replies to
# clients' ephemeral ports are no probes), with the second each was first sent to and its
# datagrams in its first SPREAD_GRACE seconds, and the ports below SPREAD_EPHEMERAL each
# side sent from (what it answers from, in either order). A port is judged SPREAD_GRACE
# seconds after it was first sent to (a second, once its side holds SPREAD_CROWD ports:
# a spread too fast to wait for): more than SPREAD_REPEATS datagrams is a stream (an
# exporter's, an audio or video flow's), a port the other side sent from is answered;
# once SPREAD_FLOOR (port_scan's slow_threshold) unanswered ports of one side wait, they
# are handed over (``udp_spread``) and make room (a stream's and an answered port stay,
# judged once). A side that sent from more than SPREAD_FROM such ports is a server
# answering from many (media, TURN, games): the other side's ports are never handed over.
# A pair is forgotten SPREAD_IDLE seconds after its last datagram.
# The C engine's table: 4096 pairs of 536 bytes, 2.2 MB, and a 16 kB index.
SPREAD_CAP = 4096
SPREAD_PORTS = 24
SPREAD_CROWD = 16  # ports held that have a side's older ones judged the next second
SPREAD_FROM = 8
SPREAD_EPHEMERAL = 32768  # Linux's ephemeral ports start here, Windows' and macOS' higher
SPREAD_FLOOR = 6
SPREAD_REPEATS = 3
SPREAD_GRACE = 10
SPREAD_IDLE = 900
SPREAD_WATCHED, SPREAD_WAITING, SPREAD_DONE = 0, 1, 2  # a port's states
_NEVER = (1 << 63) - 1  # no port watched (C: LLONG_MAX)

if TYPE_CHECKING:
    from collections.abc import Iterable

try:
    from sentinel.capture import _fastpath
except ImportError:  # built without a C compiler: the Python engine does the work
    _fastpath = None  # type: ignore[assignment]

DIRECTIONS = ("in", "out", "internal", "transit")  # into the site, out of it, within, neither
FAMILIES = ("ipv4", "ipv6", "arp", "other")
PROTOCOLS = ("tcp", "udp", "icmp", "other")
D_IN, D_OUT, D_INTERNAL, D_TRANSIT = range(4)
F_V4, F_V6, F_ARP, F_OTHER = range(4)
P_TCP, P_UDP, P_ICMP, P_OTHER = range(4)
N_CELLS = len(DIRECTIONS) * len(FAMILIES) * len(PROTOCOLS)

_II = struct.Struct("!II")
_ETH = struct.Struct("!HIH")  # source MAC (2 + 4 bytes) and EtherType
_HI = struct.Struct("!HI")
_VLAN_TAGS = frozenset((0x8100, 0x88A8, 0x9100))
_IPV6_EXT = frozenset((0, 43, 60, 51, 135, 139, 140))  # hop-by-hop, routing, dst opts, AH...
_HH = struct.Struct("!HH")
_QQ = struct.Struct("!QQ")
# Tunnels that carry bulk traffic: never wanted (everything else rare is).
BULK_PROTOCOLS = frozenset({4, 41, 47, 50, 51})
DETECTOR_PORTS = frozenset((53, 67, 68, 546, 547, 5353))  # DNS, DHCP(v6), mDNS payloads
# HTTP POSTs whose answer is wanted too (a login form's "wrong password" page): a table
# of flow hashes, one slot each, overwritten when full; answers after this are not.
POST_SLOTS = 256
POST_ANSWER_WINDOW = 10.0
ACK_SLOTS = 32768  # TCP flows' recency, by flow hash (C: ACK_SLOTS)
ACK_QUIET = 10.0  # seconds a peer is silent before an empty ACK acknowledges nothing
ACK_ANSWER_WINDOW = 10.0  # seconds the answer to such an ACK (or an empty FIN|ACK) is wanted
_M64 = (1 << 64) - 1


@dataclass(slots=True)
class Snapshot:
    """Counters since the worker started, sent to the main process about once a second."""

    packets: list[int]
    bytes: list[int]
    malformed: dict[str, int]
    active_macs: int
    active_ips: int
    device_table_full: int  # devices not counted because the table was full
    detector_frames: int
    detector_frames_dropped: int
    kernel_packets: int = 0
    kernel_drops: int = 0
    own_drops: int = 0
    # wanted frames counted in an aggregate (SYNs per service, never-seen MACs) instead
    # of handed over: seen by the detectors, not withheld
    detector_frames_aggregated: int = 0
    detections: dict[tuple[str, str], int] = field(default_factory=dict)  # (detector, sev)
    detector_tables: dict[str, tuple[int, int]] = field(default_factory=dict)  # size, evicted


def flow_hash(a: int, b: int, pa: int, pb: int) -> int:
    """The POST table's key of the flow from address ``a`` port ``pa`` to ``b`` ``pb``
    (the same mix as ``flow_hash`` in _fastpath.c; never 0)."""
    h = (((a >> 64) * 0x9E3779B97F4A7C15) & _M64) ^ (a & _M64)
    h = ((h * 0xBF58476D1CE4E5B9) & _M64) ^ (b >> 64)
    h = ((h * 0x94D049BB133111EB) & _M64) ^ (b & _M64)
    h = ((h * 0x9E3779B97F4A7C15) & _M64) ^ ((pa << 16) | pb)
    h ^= h >> 31
    h = (h * 0xBF58476D1CE4E5B9) & _M64
    h ^= h >> 29
    return h | 1


def cell(direction: int, family: int, proto: int) -> int:
    return (direction * len(FAMILIES) + family) * len(PROTOCOLS) + proto


def _networks(networks: Iterable[str]) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    v4: list[tuple[int, int]] = []
    v6: list[tuple[int, int]] = []
    for text in networks:
        net = ipaddress.ip_network(text, strict=False)
        pair = (int(net.network_address), int(net.netmask))
        (v4 if net.version == 4 else v6).append(pair)
    return v4, v6


class Counter(Protocol):
    """What the pipeline uses of an accounting engine (both engines have it)."""

    @property
    def malformed(self) -> dict[str, int]: ...
    @property
    def detector_frames_dropped(self) -> int: ...
    def frame(self, f: bytes | memoryview, wirelen: int, ts: float) -> None: ...
    def pcap(
        self, view: memoryview, off: int, end: int, big_endian: bool, unit: float, limit: int
    ) -> tuple[int, int, bool]: ...
    def ring_block(self, view: memoryview, base: int, block_size: int) -> int: ...
    def detector_batch(self) -> list[tuple[float, int, bytes]]: ...
    def aggregates(self) -> list[Aggregate]: ...
    def mac_aggregates(self) -> list[tuple[int, int, int]]: ...
    def udp_aggregates(self, final: bool = False) -> list[UdpAggregate]: ...
    def udp_spread(self, final: bool = False) -> list[UdpSpread]: ...
    def quiet_answers(self, resolvers: Iterable[tuple[bytes, bytes]]) -> None: ...
    def top_talkers(self, top: int = 5) -> list[tuple[str, int]]: ...
    def snapshot(self) -> Snapshot: ...


# (second, victim address, port, SYNs, ((sender address, sender MAC, SYNs), ...), SYNs of
# senders past AGG_SENDERS)
Aggregate = tuple[int, bytes, int, int, tuple[tuple[bytes, bytes, int], ...], int]


# (second, destination, datagrams, answers, ((sender, MAC, n), ...), untracked, destination
# ports, source ports, fragments: True when it counts fragments of UDP and TCP, probes:
# ((sender, MAC, (destination ports, ...)), ...) of the senders that reached
# UDP_PROBE_FLOOR ports, the ports the destination answered from)
UdpAggregate = tuple[
    int,
    bytes,
    int,
    int,
    tuple[tuple[bytes, bytes, int], ...],
    int,
    tuple[int, ...],
    tuple[int, ...],
    bool,
    tuple[tuple[bytes, bytes, tuple[int, ...]], ...],
    tuple[int, ...],
]


# (the latest second counted, sender, sender's MAC, destination, ((port, second first sent
# to), ...) of the unanswered ports handed over, the ports the destination sent from to the
# sender)
UdpSpread = tuple[int, bytes, bytes, bytes, tuple[tuple[int, int], ...], tuple[int, ...]]


class _Reports:
    """Snapshots and top talkers, the same for both engines."""

    device_table_full: int
    detector_frames: int
    detector_frames_dropped: int
    detector_frames_aggregated: int

    @property
    def malformed(self) -> dict[str, int]:
        raise NotImplementedError

    def counts(self) -> tuple[list[int], list[int]]:
        """(packets, bytes) per cell."""
        raise NotImplementedError

    def active(self) -> tuple[int, int]:
        raise NotImplementedError

    def talker_items(self) -> list[tuple[int, int]]:
        raise NotImplementedError

    def top_talkers(self, top: int = 5) -> list[tuple[str, int]]:
        """The local addresses sending the most (estimated bytes): context for alerts.

        Device identifiers in clear text: they stay in the capture process, and callers
        pseudonymise them before they go anywhere.
        """
        talkers = sorted(self.talker_items(), key=lambda kv: -kv[1])[:top]
        return [(_addr(a), b) for a, b in talkers]

    def snapshot(self) -> Snapshot:
        macs, ips = self.active()
        packets, nbytes = self.counts()
        return Snapshot(
            packets=packets,
            bytes=nbytes,
            malformed=dict(self.malformed),
            active_macs=macs,
            active_ips=ips,
            device_table_full=self.device_table_full,
            detector_frames=self.detector_frames,
            detector_frames_dropped=self.detector_frames_dropped,
            detector_frames_aggregated=self.detector_frames_aggregated,
        )


class Accounting(_Reports):
    """Counts frames; ``frame()`` for one, ``detector_batch()`` hands over wanted frames."""

    def __init__(
        self,
        networks: Iterable[str] = (),
        *,
        device_cap: int = 65536,
        window: float = 300.0,
        detector_cap: int = 4096,
        detector_rate: int = 20000,
        talker_slots: int = 64,
    ) -> None:
        v4, v6 = _networks(networks)
        self.v4 = tuple(v4)
        self.v6 = tuple(v6)
        self.packets = [0] * N_CELLS
        self.bytes = [0] * N_CELLS
        self.reasons: dict[str, int] = {}
        self.device_cap = device_cap
        self.half_window = window / 2
        self.macs: set[int] = set()
        self.macs_prev: set[int] = set()
        self.ips: set[int] = set()
        self.ips_prev: set[int] = set()
        self.rotate_at = float("-inf")
        self.device_table_full = 0
        self.detector_cap = detector_cap
        # Past this many detector frames a second (a flood), the rest are counted, not
        # decoded: the detectors have long seen enough of a flood to flag it.
        self.detector_rate = detector_rate
        self.detector_second = -1
        self.detector_budget = detector_rate
        self.wanted: list[tuple[float, int, bytes]] = []  # (ts, wirelen, frame)
        # (IPv6, address, MAC) of resolvers whose answers over UDP no detector reads
        # (``quiet_answers``): counted, not handed over, nor counted as UDP flows
        self.quiet: set[tuple[bool, int, int]] = set()
        self.answers_quiet = 0
        self.detector_frames = 0
        self.detector_frames_dropped = 0
        self.detector_frames_aggregated = 0
        self.budget_known = self.budget_new = self.budget_new_syn = 0
        self.known: dict[int, list[int]] = {}  # source -> [second, frames handed over in it]
        self.known_prev: dict[int, list[int]] = {}
        self.probation: set[int] = set()
        self.gate_rotate_at = float("-inf")
        # (second, victim, v6, port) -> [SYNs, {(sender, MAC): SYNs}, untracked]
        self.aggs: dict[tuple[int, int, bool, int], list[Any]] = {}
        self.mac_aggs: list[list[int]] = []  # [second, never-seen MACs, multicast ones]
        # (second, destination, v6, fragments) -> [datagrams or fragments, answers,
        # {(sender, MAC): n}, untracked, destination ports, source ports, {(sender, MAC):
        # its destination ports}, ports answered from, probing]: UDP with data (fragments
        # of UDP and TCP apart), per destination and second
        self.udp: dict[tuple[int, int, bool, bool], list[Any]] = {}
        self.udp_second = -1
        self.udp_oldest = -1  # the earliest second held
        # (lower address, higher address, v6) -> [base second, last second, side of the
        # lower, side of the higher]; a side: [MAC of its first datagram, sent, {destination
        # port: [second first sent to (from the base), datagrams in its first SPREAD_GRACE
        # seconds, state]}, source ports it answers from, sent from more than SPREAD_FROM,
        # crowded: SPREAD_CROWD ports held, the older ones judged a second old]
        self.spread: dict[tuple[int, int, bool], list[Any]] = {}
        self.spread_full = False
        self.latest = -1.0  # the latest frame's time: the pairs' clock
        self.spread_due = _NEVER  # the earliest second a watched port is judged in
        self.spread_swept = -1  # the second the table was last gone through
        self.talker_slots = talker_slots
        self.talkers: dict[int, int] = {}  # local address -> bytes (Misra-Gries summary)
        self._sample = 0
        self.post_tag = [0] * POST_SLOTS
        self.post_ts = [0.0] * POST_SLOTS
        self.ack_seen = [0.0] * (2 * ACK_SLOTS)  # [2 * slot + side]: its last segment
        self.ack_pend = [0.0] * (2 * ACK_SLOTS)  # an empty ACK from that side, unanswered

    # -- the hot path ------------------------------------------------------------------

    def frame(self, f: bytes | memoryview, wirelen: int, ts: float) -> None:
        """Account one Ethernet frame (``f`` may be truncated to the snap length)."""
        n = len(f)
        if n < 14:
            self._bad("truncated", wirelen)
            return
        if ts >= self.rotate_at:
            self._rotate(ts)
        if ts > self.latest:
            self.latest = ts
        if f[6] & 1:  # a group (multicast) source MAC: no NIC sends one, a damaged frame
            self._bad("multicast_source", wirelen)
            return
        mac_hi, mac_lo, etype = _ETH.unpack_from(f, 6)
        mac = (mac_hi << 32) | mac_lo
        macs = self.macs
        new_mac = False
        if mac not in macs:
            if len(macs) < self.device_cap:
                macs.add(mac)
            else:
                self.device_table_full += 1
            new_mac = mac not in self.macs_prev  # a device not seen for a whole window
        off = 14
        while etype in _VLAN_TAGS and n >= off + 4:
            etype = (f[off + 2] << 8) | f[off + 3]
            off += 4
        want = new_mac
        quiet = False  # a learned resolver's answer (quiet_answers)
        if etype == 0x0800:
            if n < off + 20:
                self._bad("truncated", wirelen)
                return
            vihl = f[off]
            ihl = (vihl & 0x0F) * 4
            if vihl >> 4 != 4 or ihl < 20:
                self._bad("bad_ip_header", wirelen)
                return
            src, dst = _II.unpack_from(f, off + 12)
            src_local = dst_local = False
            for net, mask in self.v4:
                if src & mask == net:
                    src_local = True
                if dst & mask == net:
                    dst_local = True
            proto = f[off + 9]
            l4 = off + ihl
            first_fragment = not ((f[off + 6] & 0x1F) | f[off + 7])
            fragment = bool((f[off + 6] & 0x3F) | f[off + 7])  # more fragments, or an offset
            family = F_V4
        elif etype == 0x86DD:
            if n < off + 40:
                self._bad("truncated", wirelen)
                return
            if f[off] >> 4 != 6:
                self._bad("bad_ip_header", wirelen)
                return
            shi, slo = _QQ.unpack_from(f, off + 8)
            dhi, dlo = _QQ.unpack_from(f, off + 24)
            src, dst = (shi << 64) | slo, (dhi << 64) | dlo
            src_local = dst_local = False
            for net, mask in self.v6:
                if src & mask == net:
                    src_local = True
                if dst & mask == net:
                    dst_local = True
            proto = f[off + 6]
            l4 = off + 40
            first_fragment = True
            fragment = False
            family = F_V6
            hops = 0
            while (proto in _IPV6_EXT or proto == 44) and hops < 8 and n >= l4 + 8:
                hops += 1
                if proto == 44:  # fragment header: later fragments carry no L4 header
                    first_fragment = not (((f[l4 + 2] << 8) | f[l4 + 3]) & 0xFFF8)
                    fragment = bool(((f[l4 + 2] << 8) | f[l4 + 3]) & 0xFFF9)  # offset or M
                    proto, l4 = f[l4], l4 + 8
                    if not first_fragment:
                        break  # the rest is data: proto names its first header
                elif proto == 51:
                    proto, l4 = f[l4], l4 + (f[l4 + 1] + 2) * 4
                else:
                    proto, l4 = f[l4], l4 + (f[l4 + 1] + 1) * 8
        else:
            family = F_ARP if etype == 0x0806 else F_OTHER
            c = cell(D_INTERNAL, family, P_OTHER)
            self.packets[c] += 1
            self.bytes[c] += wirelen
            if family == F_ARP or new_mac:
                self._want(f, wirelen, ts, GATE_MAC_TAG | mac, None, new_mac)
            return
        if src_local:
            direction = D_INTERNAL if dst_local else D_OUT
            ips = self.ips
            if src not in ips:
                if len(ips) < self.device_cap:
                    ips.add(src)
                else:
                    self.device_table_full += 1
            self._sample += 1
            if self._sample >= 16:  # top talkers from every 16th local packet
                self._sample = 0
                self._talker(src, wirelen * 16)
        else:
            direction = D_IN if dst_local else D_TRANSIT
        if proto == 6:
            p = P_TCP
            if first_fragment and n >= l4 + 14 and self.detector_cap:
                if family == F_V4:
                    ip_end = off + ((f[off + 2] << 8) | f[off + 3])
                else:
                    ip_end = off + 40 + ((f[off + 4] << 8) | f[off + 5])
                data = ip_end - l4 - (f[l4 + 12] >> 4) * 4
                if self._ack_seen(ts, src, dst, f, l4, max(data, 0)):
                    want = True
            # SYN, FIN or RST: connection starts and ends; no ACK outside a handshake: a
            # probe (NULL, FIN, Xmas scans)
            if first_fragment and n >= l4 + 14 and (f[l4 + 13] & 0x07 or not f[l4 + 13] & 0x10):
                want = True
            elif first_fragment and n >= l4 + 14 and 53 in _HH.unpack_from(f, l4):
                # DNS over TCP: segments that carry data (a message, or part of one)
                if family == F_V4:
                    ip_end = off + ((f[off + 2] << 8) | f[off + 3])
                else:
                    ip_end = off + 40 + ((f[off + 4] << 8) | f[off + 5])
                if ip_end - l4 - (f[l4 + 12] >> 4) * 4 > 0:
                    want = True
            elif first_fragment and n >= l4 + 20:
                # data: a login's refusal, an HTTP POST or its answer (a few byte compares)
                start = l4 + (f[l4 + 12] >> 4) * 4
                if family == F_V4:
                    ip_end = off + ((f[off + 2] << 8) | f[off + 3])
                else:
                    ip_end = off + 40 + ((f[off + 4] << 8) | f[off + 5])
                end = min(n, ip_end)
                if end - start >= 4:
                    kind = login_prefix(f, start, end, ip_end - start)
                    if kind != LOGIN_NONE and self._login(kind, f, l4, src, dst, ts):
                        want = True
        elif proto == 17:
            p = P_UDP
            if first_fragment and n >= l4 + 6:
                sport, dport = _HH.unpack_from(f, l4)
                empty = f[l4 + 4] == 0 and f[l4 + 5] == 8  # an empty datagram: a UDP probe
                if empty or sport in DETECTOR_PORTS or dport in DETECTOR_PORTS:
                    want = True
                    if self.quiet and sport == 53 and not new_mac and not empty and n >= l4 + 8:
                        # a learned resolver's answer: no detector reads it (quiet_answers)
                        mac_hi, mac_lo = _HI.unpack_from(f, 6)
                        if (family == F_V6, src, (mac_hi << 32) | mac_lo) in self.quiet:
                            want, quiet = False, True
                            self.answers_quiet += 1
        elif proto in (1, 58):
            p = P_ICMP
            want = True
        else:
            p = P_OTHER
            if proto not in BULK_PROTOCOLS:  # rare protocols: IP-protocol scan probes
                want = True
        c = ((direction * 4) + family) * 4 + p
        self.packets[c] += 1
        self.bytes[c] += wirelen
        if want:
            if proto == 6 and first_fragment and n >= l4 + 14 and f[l4 + 13] & 0x12 == 0x02:
                dport = (f[l4 + 2] << 8) | f[l4 + 3]
                self._want(f, wirelen, ts, src, (dst, family == F_V6, dport), new_mac)
            else:
                self._want(f, wirelen, ts, src, None, new_mac)
        # a fragment of UDP or TCP, wanted or not; a whole datagram with data, not wanted
        if (
            (proto == 17 or proto == 6)
            and self.detector_cap
            and (fragment or (proto == 17 and not want and not quiet and n >= l4 + 8))
        ):
            v6 = family == F_V6
            if not ((dst >> 120) == 0xFF if v6 else (dst >> 28) == 0xE or dst == 0xFFFFFFFF):
                # multicast and broadcast streams are nobody's flood
                mac_hi, mac_lo = _HI.unpack_from(f, 6)
                mac = (mac_hi << 32) | mac_lo
                if fragment:
                    self._udp(ts, src, dst, v6, mac, True)
                else:
                    sport, dport = _HH.unpack_from(f, l4)
                    self._udp(ts, src, dst, v6, mac, False, sport, dport)
                    # between the site's hosts, a subnet's broadcast address excepted
                    if src_local and dst_local and (v6 or not self._subnet_broadcast(dst)):
                        self._spread(ts, src, dst, v6, mac, sport, dport)

    def pcap(
        self, view: memoryview, off: int, end: int, big_endian: bool, unit: float, limit: int
    ) -> tuple[int, int, bool]:
        """Up to ``limit`` pcap records from ``off``: (next offset, frames, damaged)."""
        return pcapfile.walk(view, off, end, big_endian, unit, limit, self.frame)

    def ring_block(self, view: memoryview, base: int, block_size: int) -> int:
        """Every frame of the TPACKET_V3 block at ``base``; the number of frames."""
        return ring.walk_block(view, base, block_size, self.frame)

    # -- the rest --------------------------------------------------------------------------

    @property
    def malformed(self) -> dict[str, int]:
        return self.reasons

    def _want(
        self,
        f: bytes | memoryview,
        wirelen: int,
        ts: float,
        source: int,
        syn: tuple[int, bool, int] | None = None,
        new_mac: bool = False,
    ) -> None:
        """A frame the detectors want, from ``source``; ``syn``: (victim, v6, port) of a
        SYN without ACK, which becomes part of an aggregate when the budget has no room;
        ``new_mac``: its source MAC was never seen (counted for mac_flood if withheld)."""
        if not self.detector_cap:
            return  # no detectors: nothing wanted, nothing dropped
        self.detector_frames += 1
        # The budget is given out per 10 ms slice (the second's rate spread over its 100
        # slices), so that under a flood every moment gets its share: a scan inside it is
        # sampled all along instead of lost after the first frames of each second.
        tick = int(ts * SLICES)
        if tick != self.detector_second:
            i = tick % SLICES
            rn = self.detector_rate // 4
            rk = self.detector_rate - rn
            # Known sources' share is a bucket holding up to KNOWN_BURST_SLICES slices: a
            # scan's burst is not cut to one slice's share while earlier slices left some.
            cap = rk * KNOWN_BURST_SLICES // SLICES
            gap = KNOWN_BURST_SLICES if self.detector_second < 0 else tick - self.detector_second
            if gap >= KNOWN_BURST_SLICES:
                self.budget_known = cap
            else:
                for t in range(tick - gap + 1, tick + 1):
                    j = t % SLICES
                    self.budget_known += rk * (j + 1) // SLICES - rk * j // SLICES
                self.budget_known = min(self.budget_known, cap)
            self.detector_second = tick
            # New sources' quarter: half for SYNs, which have an aggregate when it runs
            # out, half for everything else (ARP, DNS, resets), which has not.
            rs = rn // 2
            ro = rn - rs
            self.budget_new_syn = rs * (i + 1) // SLICES - rs * i // SLICES
            self.budget_new = ro * (i + 1) // SLICES - ro * i // SLICES
        if ts >= self.gate_rotate_at:
            self.known_prev, self.known = self.known, {}
            self.probation = set()
            self.gate_rotate_at = ts + GATE_WINDOW
        second = math.floor(ts)
        known = self.known
        entry = known.get(source)
        if entry is None:
            old = self.known_prev.get(source)
            if old is not None:
                if len(known) < GATE_KNOWN_CAP:
                    entry = known[source] = list(old)
            elif source in self.probation:
                if len(known) < GATE_KNOWN_CAP:  # seen twice: a known source
                    entry = known[source] = [second, 0]
            else:
                if len(self.probation) >= GATE_PROBATION_CAP:
                    self.probation = set()
                self.probation.add(source)
        room = len(self.wanted) < self.detector_cap
        if entry is not None:
            if entry[0] != second:
                entry[0], entry[1] = second, 0
            if room and self.budget_known > 0 and entry[1] < SOURCE_RATE:
                self.budget_known -= 1
                entry[1] += 1
                self.wanted.append((ts, wirelen, bytes(f)))
                return
        elif syn is not None:
            if room and self.budget_new_syn > 0:
                self.budget_new_syn -= 1
                self.wanted.append((ts, wirelen, bytes(f)))
                return
        elif room and self.budget_new > 0:
            self.budget_new -= 1
            self.wanted.append((ts, wirelen, bytes(f)))
            return
        taken = False
        if new_mac:  # a never-seen source MAC: mac_flood counts it without the frame
            macs = self.mac_aggs
            if not macs or (macs[-1][0] != second and len(macs) < MAC_AGGS):
                macs.append([second, 0, 0])
            macs[-1][1] += 1
            macs[-1][2] += f[6] & 1
            taken = True
        if syn is not None:
            taken = self._aggregate_syn(f, second, source, syn) or taken
        if taken:
            self.detector_frames_aggregated += 1
        else:
            self.detector_frames_dropped += 1

    def _ack_seen(
        self, ts: float, src: int, dst: int, f: bytes | memoryview, l4: int, data: int
    ) -> bool:
        """Every TCP segment: the flow's recency per side. Wanted: an empty ACK (no SYN,
        RST or FIN) from a side whose peer has been quiet for ``ACK_QUIET``, which
        acknowledges nothing (an ACK or Window scan's probe, a keepalive, a flow older
        than the capture), once per ``ACK_ANSWER_WINDOW`` and side, and the peer's first
        segment after it or after an empty FIN|ACK (a Maimon probe, or a close): the
        answer that tells a filtered host's scan (none) from a live flow (``ack_seen`` in
        _fastpath.c)."""
        sport, dport = _HH.unpack_from(f, l4)
        flags = f[l4 + 13]
        lower = (src, sport) < (dst, dport)
        h = flow_hash(src, dst, sport, dport) if lower else flow_hash(dst, src, dport, sport)
        i = (h & (ACK_SLOTS - 1)) * 2
        me, peer = (i, i + 1) if lower else (i + 1, i)
        wanted = False
        pend = self.ack_pend
        if pend[peer] != 0 and ts - pend[peer] <= ACK_ANSWER_WINDOW:
            wanted = True
            pend[peer] = 0.0
        elif flags & 0x16 == 0x10 and data == 0:
            if flags & 0x01:
                pend[me] = ts
            else:
                other = self.ack_seen[peer]
                if (other == 0 or ts - other > ACK_QUIET) and (
                    pend[me] == 0 or ts - pend[me] > ACK_ANSWER_WINDOW
                ):
                    pend[me] = ts  # once per answer window: one side of a flow
                    wanted = True
        self.ack_seen[me] = ts
        return wanted

    def _login(
        self, kind: int, f: bytes | memoryview, l4: int, src: int, dst: int, ts: float
    ) -> bool:
        """A refusal is wanted; a POST is remembered and wanted; an HTTP answer is wanted
        when it answers a remembered POST (``login_wanted`` in _fastpath.c)."""
        if kind == LOGIN_REPLY:
            return True
        sport, dport = _HH.unpack_from(f, l4)
        if kind == LOGIN_POST:
            h = flow_hash(src, dst, sport, dport)
            self.post_tag[h & (POST_SLOTS - 1)] = h
            self.post_ts[h & (POST_SLOTS - 1)] = ts
            return True
        h = flow_hash(dst, src, dport, sport)
        i = h & (POST_SLOTS - 1)
        if self.post_tag[i] != h or ts - self.post_ts[i] > POST_ANSWER_WINDOW:
            return False
        self.post_tag[i] = 0
        return True

    def _aggregate_syn(
        self, f: bytes | memoryview, second: int, source: int, syn: tuple[int, bool, int]
    ) -> bool:
        victim, v6, port = syn
        key = (second, victim, v6, port)
        agg = self.aggs.get(key)
        if agg is None:
            if len(self.aggs) >= AGG_CAP:
                return False
            agg = self.aggs[key] = [0, {}, 0]
        agg[0] += 1
        mac_hi, mac_lo = _HI.unpack_from(f, 6)
        who = (source, (mac_hi << 32) | mac_lo)
        senders = agg[1]
        if who in senders:
            senders[who] += 1
        elif len(senders) < AGG_SENDERS:
            senders[who] = 1
        else:
            agg[2] += 1
        return True

    def _udp(
        self,
        ts: float,
        src: int,
        dst: int,
        v6: bool,
        mac: int,
        frag: bool,
        sport: int = 0,
        dport: int = 0,
    ) -> None:
        """A UDP datagram with data the detectors do not take as a frame, or (``frag``) a
        fragment of UDP or TCP: counted for its destination's second, datagrams and
        fragments apart, and as an answer if its sender is a destination itself."""
        second = math.floor(ts)
        self.udp_second = max(self.udp_second, second)
        key = (second, dst, v6, frag)
        u = self.udp.get(key)
        if u is None and len(self.udp) < UDP_AGG_CAP:
            if not self.udp or second < self.udp_oldest:
                self.udp_oldest = second
            u = self.udp[key] = [0, 0, {}, 0, [], [], {}, [], False]
        if u is not None:
            u[0] += 1
            if not frag:  # later fragments carry no ports
                for ports, port in ((u[4], dport), (u[5], sport)):
                    if port not in ports and len(ports) < UDP_PORTS:
                        ports.append(port)
            senders = u[2]
            who = (src, mac)
            tracked = True
            if who in senders:
                senders[who] += 1
            elif len(senders) < AGG_SENDERS:
                senders[who] = 1
                u[6][who] = []
            else:
                u[3] += 1
                tracked = False
            if tracked and not frag:
                ports = u[6][who]
                if dport not in ports and len(ports) < UDP_PROBE_PORTS:
                    ports.append(dport)
                    if len(ports) >= UDP_PROBE_FLOOR:
                        u[8] = True
        for kind in (False, True):  # the sender is itself a destination: an answer
            back = self.udp.get((second, src, v6, kind))
            if back is not None:
                back[1] += 1
                answered = back[7]
                if not (kind or frag) and sport not in answered and len(answered) < UDP_PROBE_PORTS:
                    answered.append(sport)

    def _subnet_broadcast(self, dst: int) -> bool:
        """An IPv4 address whose host part is all ones in one of the site's networks."""
        return any(
            dst & m == net and m < 0xFFFFFFFE and dst | m == 0xFFFFFFFF for net, m in self.v4
        )

    def _spread(
        self, ts: float, src: int, dst: int, v6: bool, mac: int, sport: int, dport: int
    ) -> None:
        """A UDP datagram with data from one of the site's hosts to another: its
        destination port, if below SPREAD_EPHEMERAL, for its sender's side of the pair;
        its source port, if below, as one the sender answers from."""
        low_d, low_s = dport < SPREAD_EPHEMERAL, sport < SPREAD_EPHEMERAL
        if not (low_d or low_s):
            return  # one client's ephemeral port to another's
        second = math.floor(ts)
        me = 1 if src > dst else 0
        key = (dst, src, v6) if me else (src, dst, v6)
        e = self.spread.get(key)
        if e is None:
            if len(self.spread) >= SPREAD_CAP:
                self.spread_full = True  # swept for idle pairs at the next hand-over
                return
            e = self.spread[key] = [
                second,
                second,
                [0, False, {}, [], False, False],
                [0, False, {}, [], False, False],
            ]
        elif second > e[1]:
            e[1] = second
        side = e[2 + me]
        if not side[1]:
            side[0], side[1] = mac, True
        if low_s and not side[4]:
            frm = side[3]
            if sport not in frm:
                if len(frm) < SPREAD_FROM:
                    frm.append(sport)
                else:
                    side[4] = True
        if not low_d:
            return
        at = second - e[0]
        ports = side[2]
        p = ports.get(dport)
        if p is not None:
            if at - p[0] < SPREAD_GRACE and p[1] < 255:
                p[1] += 1
        elif len(ports) < SPREAD_PORTS:
            ports[dport] = [at, 1, SPREAD_WATCHED]
            due = second + SPREAD_GRACE
            if len(ports) >= SPREAD_CROWD:  # a spread too fast to wait for: judge it soon
                side[5] = True
                due = second + 1
            if due < self.spread_due:
                self.spread_due = due

    def udp_spread(self, final: bool = False) -> list[UdpSpread]:
        """The UDP port spreads that reached SPREAD_FLOOR unanswered ports (all ports
        judged when ``final``): the table is gone through only when a watched port is
        due, or to forget idle pairs when it was full."""
        out: list[UdpSpread] = []
        now = math.floor(self.latest)
        sweep = self.spread_full and now > self.spread_swept
        if not final and not sweep and now < self.spread_due:
            return out
        due = _NEVER
        forgotten = []
        for key, e in self.spread.items():
            for me in (0, 1):
                due = self._judge_spread(key, e, me, final, now, out, due)
            if now - e[1] > SPREAD_IDLE:
                forgotten.append(key)
        for key in forgotten:
            del self.spread[key]
        self.spread_full = False
        self.spread_swept = now
        self.spread_due = due
        return out

    @staticmethod
    def _judge_spread(
        key: tuple[int, int, bool],
        e: list[Any],
        me: int,
        final: bool,
        now: int,
        out: list[UdpSpread],
        due: int,
    ) -> int:
        """One side's ports of a pair judged: once SPREAD_FLOOR wait, they go to ``out``;
        the earliest second a port still watched is judged in, and ``due``, the lower."""
        side, other = e[2 + me], e[3 - me]
        base = e[0]
        crowded, side[5] = side[5], False
        waiting = []
        for port, p in side[2].items():
            if p[2] == SPREAD_DONE:
                continue
            if other[4]:  # a server answering from many ports: a conversation
                p[2] = SPREAD_DONE
                continue
            ready = base + p[0] + SPREAD_GRACE
            if crowded and base + p[0] < now:
                ready = now  # a second old is enough
            if p[2] == SPREAD_WATCHED and not final and ready > now:
                due = min(due, ready)
                continue
            if port in other[3] or p[1] > SPREAD_REPEATS:
                p[2] = SPREAD_DONE
                continue
            p[2] = SPREAD_WAITING
            waiting.append((port, p))
        if len(waiting) >= SPREAD_FLOOR:
            size = 16 if key[2] else 4
            for port, _ in waiting:  # they make room: a scan goes on past SPREAD_PORTS
                del side[2][port]
            out.append(
                (
                    now,
                    key[me].to_bytes(size, "big"),
                    side[0].to_bytes(6, "big"),
                    key[1 - me].to_bytes(size, "big"),
                    tuple((port, base + p[0]) for port, p in waiting),
                    tuple(other[3]),
                )
            )
        return due

    def udp_aggregates(self, final: bool = False) -> list[UdpAggregate]:
        """The UDP aggregates of the seconds that are over (all of them when ``final``)
        with at least UDP_FLOOR datagrams or a sender of UDP probes; the seconds handed
        over are forgotten."""
        out: list[UdpAggregate] = []
        if not final and (not self.udp or self.udp_oldest >= self.udp_second):
            return out  # every second held is still going on: nothing to hand over
        kept: dict[tuple[int, int, bool, bool], list[Any]] = {}
        for key, u in self.udp.items():
            second, dst, v6, frag = key
            if not final and second >= self.udp_second:
                kept[key] = u
                continue
            if u[0] < UDP_FLOOR and not u[8]:
                continue
            size = 16 if v6 else 4
            probes = tuple(
                (a.to_bytes(size, "big"), m.to_bytes(6, "big"), tuple(ports))
                for (a, m), ports in u[6].items()
                if len(ports) >= UDP_PROBE_FLOOR
            )
            out.append(
                (
                    second,
                    dst.to_bytes(size, "big"),
                    u[0],
                    u[1],
                    tuple(
                        (a.to_bytes(size, "big"), m.to_bytes(6, "big"), c)
                        for (a, m), c in u[2].items()
                    ),
                    u[3],
                    tuple(u[4]),
                    tuple(u[5]),
                    frag,
                    probes,
                    tuple(u[7]),
                )
            )
        self.udp = kept
        self.udp_oldest = self.udp_second
        return out

    def mac_aggregates(self) -> list[tuple[int, int, int]]:
        """Never-seen source MACs whose frames were withheld: (second, MACs, multicast)."""
        out = [(a, b, c) for a, b, c in self.mac_aggs]
        self.mac_aggs = []
        return out

    def aggregates(self) -> list[Aggregate]:
        """The SYN aggregates since the last call, in the order they began."""
        out: list[Aggregate] = []
        for (second, victim, v6, port), (n, senders, untracked) in self.aggs.items():
            size = 16 if v6 else 4
            out.append(
                (
                    second,
                    victim.to_bytes(size, "big"),
                    port,
                    n,
                    tuple(
                        (s.to_bytes(size, "big"), m.to_bytes(6, "big"), c)
                        for (s, m), c in senders.items()
                    ),
                    untracked,
                )
            )
        self.aggs = {}
        return out

    def _bad(self, reason: str, wirelen: int) -> None:
        self.reasons[reason] = self.reasons.get(reason, 0) + 1
        c = cell(D_INTERNAL, F_OTHER, P_OTHER)
        self.packets[c] += 1
        self.bytes[c] += wirelen

    def _rotate(self, ts: float) -> None:
        """Two half-window generations: a device counts while seen in the last window."""
        self.macs_prev, self.macs = self.macs, set()
        self.ips_prev, self.ips = self.ips, set()
        self.rotate_at = ts + self.half_window

    def _talker(self, addr: int, amount: int) -> None:
        t = self.talkers
        if addr in t or len(t) < self.talker_slots:
            t[addr] = t.get(addr, 0) + amount
            return
        # Misra-Gries: decrement all, drop the ones that reach zero. Bounded by slots.
        low = min(amount, *t.values())
        for k in list(t):
            t[k] -= low
            if t[k] <= 0:
                del t[k]
        if amount > low:
            t[addr] = amount - low

    def quiet_answers(self, resolvers: Iterable[tuple[bytes, bytes]]) -> None:
        """Replace the resolvers (address, MAC as wire bytes) whose answers over UDP are
        not wanted: the engine's ``quiet_answers()`` (at most ``QUIET_MAX``)."""
        quiet: set[tuple[bool, int, int]] = set()
        for ip, mac in resolvers:
            if len(ip) not in (4, 16) or len(mac) != 6:
                raise ValueError("quiet_answers(): 4 or 16 address bytes, 6 MAC bytes")
            if len(quiet) < QUIET_MAX:
                quiet.add((len(ip) == 16, int.from_bytes(ip, "big"), int.from_bytes(mac, "big")))
        self.quiet = quiet

    def detector_batch(self) -> list[tuple[float, int, bytes]]:
        """The frames wanted since the last call (the caller decodes them)."""
        batch, self.wanted = self.wanted, []
        return batch

    def counts(self) -> tuple[list[int], list[int]]:
        return list(self.packets), list(self.bytes)

    def active(self) -> tuple[int, int]:
        """(MACs, IPs) seen in the device window."""
        return len(self.macs | self.macs_prev), len(self.ips | self.ips_prev)

    def talker_items(self) -> list[tuple[int, int]]:
        return list(self.talkers.items())


if _fastpath is not None:

    class FastAccounting(_fastpath.Core, _Reports):
        """``Accounting`` in C: the same counting, a region or block per call."""

        def __init__(
            self,
            networks: Iterable[str] = (),
            *,
            device_cap: int = 65536,
            window: float = 300.0,
            detector_cap: int = 4096,
            detector_rate: int = 20000,
            talker_slots: int = 64,
        ) -> None:
            v4, v6 = _networks(networks)
            m = (1 << 64) - 1
            super().__init__(
                v4,
                [(net >> 64, net & m, mask >> 64, mask & m) for net, mask in v6],
                device_cap,
                window,
                detector_cap,
                detector_rate,
                talker_slots,
            )

        def counts(self) -> tuple[list[int], list[int]]:
            return self.packets, self.bytes  # fresh lists from C


def engine() -> str:
    """The engine ``new_accounting`` uses: "c" or "python"."""
    return (
        "c" if _fastpath is not None and not os.environ.get("SENTINEL_NO_EXTENSIONS") else "python"
    )


FAST_MAX_NETWORKS = 64  # per address family: _fastpath.c's MAX_NETS


def new_accounting(networks: Iterable[str] = (), **kwargs: int | float) -> Counter:
    """The fastest accounting engine available (see ``engine()``); the Python engine for
    a site listing more networks of one family than the C engine holds."""
    networks = tuple(networks)
    v4, v6 = _networks(networks)
    if engine() == "c" and max(len(v4), len(v6)) <= FAST_MAX_NETWORKS:
        return FastAccounting(networks, **kwargs)  # type: ignore[arg-type]
    return Accounting(networks, **kwargs)  # type: ignore[arg-type]


def _addr(value: int) -> str:
    return str(ipaddress.ip_address(value) if value < (1 << 32) else ipaddress.IPv6Address(value))
