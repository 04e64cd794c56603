"""flood: one victim buried in RST, ACK, UDP or ICMP packets (SYN floods are ``syn_flood``).

Per victim and protocol, packets are counted in one-second buckets. ``rate_threshold``
packets a second for ``sustain`` seconds, or ``burst`` packets in a run of seconds
each over the rate (with the second before it and its last, partial second: see
``base.Run``), is a candidate; like ``syn_flood``, only a flood's two shapes are
flagged: one sender that dominates, a crowd of one-shot (spoofed) senders, or a few
hosts flooding together (``distributed``: each at least ``base.HEAVY_SHARE`` of the
packets, together most of them; one finding per host, so each is named). The
``protocol`` of the finding (its ``kind``) says which:

- ``rst``: RST segments to the victim, except those refusing a SYN-ACK the victim sent
  (a raw SYN sender's kernel does that; its SYN flood is ``syn_flood``'s), and except a
  host's answers to a fast port scan: a kernel's resets carry window 0 and echo one
  sequence number (0 when refusing a SYN, FIN, NULL or Xmas probe; nmap's fixed
  acknowledgement number for ACK, Window and Maimon probes), where a flood tool's carry
  a window or sequence numbers of their own;
- ``ack``: the victim's bare RSTs to one sender: what a host answers to a flood of ACK
  segments for no connection (the ACKs themselves look like traffic and are not read);
- ``udp``: empty UDP datagrams to the victim (hping3 --udp and most flood tools), except
  a fast UDP scan's probes: one source port to many of the victim's (``port_scan``);
- ``icmp``: ICMP echo requests and other ICMP queries to the victim (errors are answers);
- ``udp`` with data: datagrams that carry data are never frames for the detectors (video
  calls and QUIC downloads are made of them); the capture side counts them per
  destination and second (``UdpFlows``), with what the destination sent back. A second
  of ``udp_data_rate_threshold`` datagrams or more, sustained like the others, to a
  destination that answered fewer than 2 % of them is a flood (a download's client
  acknowledges every few datagrams; a flood's victim answers nothing but ICMP errors).
  Its identifier is the empty-datagram flood's: one UDP flood alert per victim.
- ``fragments``: IPv4 and IPv6 fragments of UDP and TCP to the victim, first and later
  (hping3 ``-f``, or datagrams over the MTU, which the sender's kernel splits): later
  fragments carry no ports and are never frames; the capture side counts them per
  destination and second beside the datagrams with data (``UdpFlows.fragments``; a
  fragmented datagram is counted there only). A second of ``fragment_rate_threshold``
  or more, sustained like the others, to a destination that answered fewer than 2 % of
  them is a flood (a few large DNS answers stay far under it, and NFS over UDP or a VPN
  tunnel that fragments is answered). A spoofed address sends a whole datagram's
  fragments, never one packet, so here a crowd of ``FRAGMENT_CROWD`` addresses behind
  at most a tenth as many MACs is spoofed too (hping3 ``-f --rand-source -d 1000``: 63
  fragments from each address).

Ordinary traffic never makes these: a download is data segments with ACKs, a ping is
one a second, and nothing sends empty datagrams or thousands of RSTs a second.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from sentinel.detect import base
from sentinel.detect.base import Bounded, Finding, Run, ip_text, mac_text
from sentinel.model import Severity
from sentinel.packet import (
    PROTO_ICMP,
    PROTO_ICMPV6,
    PROTO_TCP,
    PROTO_UDP,
    TCP_ACK,
    TCP_RST,
    TCP_SYN,
    UdpFlows,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sentinel.config.detect import Flood as Settings
    from sentinel.detect.base import Common
    from sentinel.packet import Aggregate, Packet

MAX_SENDERS = 4096
PORTS_KEPT = 64
ICMP_ERRORS = frozenset({3, 4, 5, 11, 12})  # v4: unreachable, quench, redirect, time, param
ICMPV6_QUERIES = frozenset({128})  # echo request; ND and MLD are link chatter
ANSWERED_SHARE = 0.02  # a destination answering this share of the datagrams is no victim
UDP_DATA = "udp_data"  # the victims' key for datagrams with data (reported as "udp")
FRAGMENTS = "fragments"  # fragments of UDP and TCP, counted by the capture side too
# Spoofed addresses sending fragments: each sends a whole datagram's (63 for hping3 -f -d
# 1000), so at fragment_rate_threshold a second there are a few dozen. With fewer than
# 1 / base.HEAVY_SHARE, one of them is heavy and the flood is found as distributed.
FRAGMENT_CROWD = 20
WHAT = {"rst": "RST", "ack": "ACK", "udp": "UDP", "icmp": "ICMP", FRAGMENTS: "IP fragment"}


class _Victim(Run):
    __slots__ = (
        "answers",
        "own_ports",
        "peer_ports",
        "senders",
        "seqs",
        "untracked",
        "zero_window",
    )

    def __init__(self) -> None:
        super().__init__()
        self.own_ports: set[int] = set()  # the victim's ports and its peers' (capped)
        self.peer_ports: set[int] = set()
        self.seqs: set[int] = set()  # RST sequence numbers (capped)
        self.zero_window = 0  # RSTs with window 0, as a kernel sends them
        self.senders: dict[tuple[str, str], int] = {}
        self.untracked = 0
        self.answers = 0  # datagrams the victim sent back (UDP with data)


class Flood:
    name: ClassVar[str] = "flood"
    wants: ClassVar[frozenset[str]] = frozenset({base.TCP_CONTROL, base.ICMP, base.UDP_PROBE})

    def __init__(self, s: Settings, common: Common) -> None:
        self.s = s
        self.allowed = common.allowed(s)
        self.victims: Bounded[tuple[str, str], _Victim] = Bounded(common.max_tracked)
        self.answered: Bounded[tuple[str, str, int, int], bool] = Bounded(common.max_tracked)
        self.found: list[Finding] = []

    def observe(self, p: Packet) -> Iterable[Finding]:
        if p.error or not p.ip_version:
            return ()
        proto = p.proto
        if proto == PROTO_TCP:
            flags = p.tcp_flags
            if flags & TCP_SYN:
                if flags & TCP_ACK:  # remember SYN-ACKs: a RST back refuses one
                    self.answered.put((ip_text(p.src), ip_text(p.dst), p.sport, p.dport), True)
                return ()
            if not flags & TCP_RST:
                return ()
            src, dst = ip_text(p.src), ip_text(p.dst)
            if self.answered.pop((dst, src, p.dport, p.sport)) is not None:
                return ()
            v = self._count(dst, "rst", src, mac_text(p.src_mac), p.ts, p.dport, p.sport)
            if v is not None:
                if len(v.seqs) < PORTS_KEPT:
                    v.seqs.add(p.tcp_seq)
                if p.tcp_window == 0:
                    v.zero_window += 1
            if not flags & TCP_ACK:
                # A bare RST: RSTs sent at dst, or the victim (src) answering ACKs from dst.
                # Which is told by the ports: a victim keeps its port, a flood tool turns
                # its own (see _shape).
                self._count(src, "ack", dst, mac_text(p.dst_mac), p.ts, p.sport, p.dport)
        elif proto == PROTO_UDP:
            if p.payload_length == 0:
                src, mac = ip_text(p.src), mac_text(p.src_mac)
                self._count(ip_text(p.dst), "udp", src, mac, p.ts, p.dport, p.sport)
        elif proto == PROTO_ICMP:
            if p.icmp_type not in ICMP_ERRORS and p.icmp_type != 0:
                self._count(ip_text(p.dst), "icmp", ip_text(p.src), mac_text(p.src_mac), p.ts)
        elif proto == PROTO_ICMPV6 and p.icmp_type in ICMPV6_QUERIES:
            self._count(ip_text(p.dst), "icmp", ip_text(p.src), mac_text(p.src_mac), p.ts)
        out, self.found = self.found, []
        return out

    def _count(
        self, victim: str, protocol: str, src: str, mac: str, ts: float, own: int = 0, peer: int = 0
    ) -> _Victim | None:
        if self.allowed.source(src, mac):
            return None
        key = (victim, protocol)
        v = self.victims.setdefault(key, _Victim)
        self._roll(v, key, int(ts))
        v.add()
        if own or peer:
            if len(v.own_ports) < PORTS_KEPT:
                v.own_ports.add(own)
            if len(v.peer_ports) < PORTS_KEPT:
                v.peer_ports.add(peer)
        who = (src, mac)
        if who in v.senders or len(v.senders) < MAX_SENDERS:
            v.senders[who] = v.senders.get(who, 0) + 1
        else:
            v.untracked += 1
        return v

    def observe_aggregate(self, a: Aggregate) -> Iterable[Finding]:
        """A destination's second of UDP datagrams with data, or of fragments, counted by
        the capture side."""
        if not isinstance(a, UdpFlows):
            return ()
        key = (ip_text(a.dst), FRAGMENTS if a.fragments else UDP_DATA)
        v = self.victims.setdefault(key, _Victim)
        if a.second > v.second:
            self._roll(v, key, a.second)
        n = a.packets
        for raw, raw_mac, count in a.senders:
            src, mac = ip_text(raw), mac_text(raw_mac)
            if self.allowed.source(src, mac):
                n -= count
                continue
            who = (src, mac)
            if who in v.senders or len(v.senders) < MAX_SENDERS:
                v.senders[who] = v.senders.get(who, 0) + count
            else:
                v.untracked += count
        v.untracked += a.untracked
        v.answers += a.answers
        v.own_ports.update(a.dports[: max(0, PORTS_KEPT - len(v.own_ports))])
        v.peer_ports.update(a.sports[: max(0, PORTS_KEPT - len(v.peer_ports))])
        v.add(max(n, 0))
        out, self.found = self.found, []
        return out

    def _roll(self, v: _Victim, key: tuple[str, str], second: int) -> None:
        if second == v.second:  # most packets: the second goes on, nothing to close
            return
        if key[1] == UDP_DATA:
            rate = self.s.udp_data_rate_threshold
        elif key[1] == FRAGMENTS:
            rate = self.s.fragment_rate_threshold
        else:
            rate = self.s.rate_threshold
        flood, quiet = v.roll(second, rate, self.s.sustain, self.s.burst)
        if flood:
            shape = self._shape(v, key[1])
            if shape == "distributed":
                self.found += self._distributed(key, v, float(second))
            elif shape:
                self.found.append(self._finding(key, v, float(second), shape))
        if quiet:
            v.senders.clear()
            v.own_ports.clear()
            v.peer_ports.clear()
            v.seqs.clear()
            v.untracked = 0
            v.zero_window = 0
            v.answers = 0

    @staticmethod
    def _shape(v: _Victim, protocol: str) -> str:
        total = sum(v.senders.values()) + v.untracked
        if not total:
            return ""
        if protocol == "ack" and len(v.own_ports) >= len(v.peer_ports):
            return ""  # the ports turn on this side: it sends a RST flood, it is not its victim
        if protocol == "rst" and len(v.own_ports) > len(v.peer_ports):
            return ""  # the victim's answers to an ACK flood
        if protocol in ("udp", UDP_DATA) and len(v.peer_ports) == 1 and len(v.own_ports) > 1:
            return ""  # one source port to many: a fast UDP scan (port_scan's), not a flood
        if protocol in (UDP_DATA, FRAGMENTS) and v.answers >= ANSWERED_SHARE * total:
            return ""  # the destination answers: a download, a call, a game, NFS, a tunnel
        if protocol == "rst" and v.zero_window >= base.ONE_SHOT_SHARE * total and len(v.seqs) <= 2:
            return ""  # a host's kernel answering a fast scan: port_scan names the scanner
        shape = base.flood_shape(v.senders, v.untracked)
        if not shape and protocol == FRAGMENTS and base.behind_few_macs(v.senders, FRAGMENT_CROWD):
            return "spoofed"  # each spoofed address sends a whole datagram's fragments
        return shape

    def _finding(self, key: tuple[str, str], v: _Victim, ts: float, shape: str) -> Finding:
        victim, protocol = key
        data = protocol == UDP_DATA
        if data:
            protocol = "udp"
        (src, mac), _ = max(v.senders.items(), key=lambda kv: kv[1])
        single = shape == "single"
        senders = len(v.senders) + v.untracked
        what = WHAT[protocol]
        return Finding(
            detector=self.name,
            severity=Severity.CRITICAL,
            identifier=f"{victim}/{protocol}",
            summary=f"{what} flood on {{target}}: {v.judged} packets "
            + ("from {source}" if single else f"from {senders} spoofed sources"),
            ts=ts,
            src_ip=src if single else "",
            src_mac=mac if single else "",
            target=victim,
            kind=protocol,
            counts={"packets": v.judged, "senders": senders},
            description=f"protocol={protocol} shape={shape}" + _answered(protocol, data, v),
        )

    def _distributed(self, key: tuple[str, str], v: _Victim, ts: float) -> list[Finding]:
        """One finding per host of a distributed flood, each naming its host."""
        victim, protocol = key
        data = protocol == UDP_DATA
        if data:
            protocol = "udp"
        heavy = base.heavy_senders(v.senders, v.untracked)
        what = WHAT[protocol]
        return [
            Finding(
                detector=self.name,
                severity=Severity.CRITICAL,
                identifier=f"{victim}/{protocol}/{src}",
                summary=f"{what} flood on {{target}} from {len(heavy)} hosts together: "
                f"{{source}} sent {n} of the {v.judged} packets",
                ts=ts,
                src_ip=src,
                src_mac=mac,
                target=victim,
                kind=protocol,
                counts={"packets": n, "flood_packets": v.judged, "senders": len(heavy)},
                description=f"protocol={protocol} shape=distributed" + _answered(protocol, data, v),
            )
            for (src, mac), n in heavy
        ]

    def tick(self, now: float) -> Iterable[Finding]:
        second = int(now)
        for key, v in self.victims.items():
            self._roll(v, key, second)
            if not (v.hot or v.lead or v.total):  # a second without packets: nothing to keep
                self.victims.pop(key)
        out, self.found = self.found, []
        return out

    def stats(self) -> dict[str, int]:
        return {
            "victims": len(self.victims),
            "evictions": self.victims.evictions + self.answered.evictions,
        }


def _answered(protocol: str, data: bool, v: _Victim) -> str:
    """What the capture side counted, and the victim's answers (datagrams, fragments)."""
    if data:
        return f" datagrams_with_data answered={v.answers}"
    if protocol == FRAGMENTS:
        return f" answered={v.answers}"
    return ""
