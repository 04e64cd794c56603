"""host_sweep: one source probing many hosts to find who is there (ICMP, TCP, ARP, ND).

ICMP echo requests or TCP discovery probes (SYN or bare ACK) to many distinct hosts
within ``window``; or one MAC asking ARP for many distinct addresses within
``arp_window`` (nmap's default on a local Ethernet). A host talks to a few neighbours
and its gateway; a sweep asks for the whole subnet. A DHCP server (configured, or seen
answering on port 67) asks ARP for each address before it offers it, as many as
clients arrive (a school morning, a starvation attack): its ARP requests are not a
sweep. Nor are the pinned gateway's (``detect.gateway``): it asks ARP for every address
that traffic it routes is sent to, so a sweep from another network (or masscan, which
sends every frame to the router) makes it ask for the whole subnet; the sweeper is the
source of the routed probes, found by them.

IPv6 has no ARP: a host asks for a neighbour's MAC with a neighbour solicitation, and
nmap -6 -sn on the local segment (or the kernel, for each address an echo sweep pings)
asks for every address of the range. One MAC soliciting many distinct target addresses
within ``arp_window`` is an ``nd`` sweep, by the ARP sweep's threshold, naming the
solicitations' source address; duplicate address detection (from ``::``) asks for the
host's own address and does not count, nor do a router's solicitations (the pinned
gateway's MAC, or one seen sending router advertisements) for the traffic it routes.

A host asks ARP (or solicits) for an address before it answers a packet from it: a
server under a flood from spoofed addresses of its own subnet (hping3, thc-ipv6
thcsyn6 -r) asks for every one of them, as a sweep would. The victim is answering, not
sweeping: a request for an address that sent this MAC a unicast packet within
``arp_window`` does not count. Every IP packet is looked at for that (a bounded table,
MAC and source address -> when, ``max_tracked`` entries: at flood rates it spans the
last fraction of a second, longer than a host takes to ask), and a sweep's targets
sent the sweeper nothing before it asked. Answers that follow the request (a live
host's neighbour advertisement or ARP reply) come too late to excuse it. Datagrams
with data and fragments are no packets here (the capture side counts them per
destination and second, ``UdpFlows``), nor are a SYN flood's SYNs past the detectors'
frame budget (counted per service and second, ``SynAggregate``): a host sent either by
``FLOOD_SENDERS`` addresses or more in a second is flooded, and asks for each sender as
it answers, so while it is (within ``arp_window`` of such a second) its requests and
solicitations are no sweep. Such a second is handed over once it is over, so an ARP or
ND sweep is judged on the requests ``ASK_GRACE`` old.

ICMP discovery is any ICMP query a host answers: echo (ping), and in IPv4 timestamp,
information and address mask requests (nmap -PP/-PM, nping --icmp-type).

An ARP request's sender address is the sender's claim, and sweepers forge it
(netdiscover asks as ``.67`` of the range): an ARP sweep names the address the MAC is
seen using in its IPv4 packets or ARP replies, and never an address another device uses
(nor the 0.0.0.0 of an ARP probe, arp-scan ``--arpspa``).

A SYN answered by a SYN-ACK is a connection, not a probe, unless the source resets it
at once without sending a byte (a half-open probe: nmap -PS, whose kernel answers the
SYN-ACK with a reset): a peer-to-peer client, a browser or an update client reaching
dozens of servers is not sweeping. A SYN counts after ``GRACE`` seconds, so an answer
still on its way is not mistaken for silence.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, ClassVar

from sentinel.detect import base
from sentinel.detect.base import Bounded, Finding, ip_text, mac_text
from sentinel.detect.nd import parse as parse_nd
from sentinel.model import Severity
from sentinel.packet import (
    ND_NEIGHBOR_SOLICIT,
    ND_ROUTER_ADVERT,
    PROTO_ICMPV6,
    PROTO_UDP,
    SynAggregate,
    UdpFlows,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sentinel.config.detect import HostSweep as Settings
    from sentinel.detect.base import Common
    from sentinel.packet import Aggregate, Packet

MAX_TARGETS = 4096
GRACE = 1.0  # seconds a SYN waits for its SYN-ACK before it counts as a probe
FLOOD_SENDERS = 20  # addresses sending one host datagrams, fragments or SYNs in a second
MAX_FLOODED = 256  # flooded hosts remembered
ASK_GRACE = 2.0  # seconds an ARP request (solicitation) waits for its second's UdpFlows
SEQ = 1 << 32
MAX_DHCP_SERVERS = 64
MAX_ROUTERS = 64
UNSPECIFIED6 = "::"
# ICMP queries a live host answers: echo (v4, v6); IPv4 timestamp, information, mask
ICMP_QUERIES = frozenset({(4, 8), (4, 13), (4, 15), (4, 17), (6, 128)})


class _Seen:
    __slots__ = ("answered", "dirty", "ip", "mac", "pending", "targets")

    def __init__(self) -> None:
        self.targets: dict[str, float] = {}
        self.mac = ""
        self.ip = ""
        self.dirty = False
        # TCP only: (target, port, source port) -> the SYN's sequence number; targets that
        # took a connection (SYN-ACK, not reset at once)
        self.pending: dict[tuple[str, int, int], int] = {}
        self.answered: set[str] = set()


class HostSweep:
    name: ClassVar[str] = "host_sweep"
    # ANY_IP: every IP packet, for who sent a MAC what (``heard``); TCP ACK segments
    # and datagrams other than DHCP's go no further
    wants: ClassVar[frozenset[str]] = frozenset(
        {base.ICMP, base.TCP_CONTROL, base.ARP, base.DHCP, base.ANY_IP}
    )
    # A resolver's answers only fill ``heard``: asking ARP for the resolver after its
    # answer is one target, never a sweep.
    reads_resolver_answers: ClassVar[bool] = False

    def __init__(self, s: Settings, common: Common) -> None:
        self.s = s
        self.allowed = common.allowed(s)
        # DHCP servers: their conflict checks (ARP per offered address) are not sweeps
        self.dhcp_ips = set(common.cfg.rogue_dhcp.servers)
        self.dhcp_macs: Bounded[str, bool] = Bounded(MAX_DHCP_SERVERS)
        # IPv6 routers (router advertisements seen): they solicit for what they route
        self.router_macs: Bounded[str, bool] = Bounded(MAX_ROUTERS)
        # the pinned gateway asks ARP on behalf of the traffic it routes
        self.gateway_ip = common.cfg.gateway.ip
        self.gateway_mac = common.cfg.gateway.mac
        cap = common.max_tracked
        # addresses in use, from IPv4 sources and ARP replies: MAC -> its IPv4, and back
        self.own_ip: Bounded[str, str] = Bounded(cap)
        self.user: Bounded[str, str] = Bounded(cap)
        self.networks = [  # (address, mask) as integers: checked on every IPv4 frame
            (int(n.network_address), int(n.netmask))
            for n in (ipaddress.ip_network(x, strict=False) for x in common.networks)
            if n.version == 4
        ]
        # destination MAC + source address (raw bytes) -> packet time: what each MAC was
        # sent lately, so that its requests for those addresses are seen as answers. Fed
        # by every IP frame, so two plain dicts, not an LRU: the newer takes every entry,
        # and becomes the older once it is an arp_window old or holds half the cap (the
        # older one's entries are then dropped, counted in ``heard_dropped``).
        self.heard: dict[bytes, float] = {}
        self.heard_old: dict[bytes, float] = {}
        self.heard_since: float | None = None
        self.heard_cap = max(2, cap // 2)
        self.heard_dropped = 0
        self.answers = 0  # ARP requests and solicitations not counted: answers to traffic
        # address -> the last second it was sent datagrams or fragments by a crowd
        self.flooded: Bounded[str, int] = Bounded(MAX_FLOODED)
        # address -> (second, senders of its SYN aggregates in that second, up to
        # FLOOD_SENDERS): a second's SYNs come over in pieces, one each drain
        self.syn_senders: Bounded[str, tuple[int, set[bytes]]] = Bounded(MAX_FLOODED)
        self.tables: dict[str, Bounded[str, _Seen]] = {
            "icmp": Bounded(cap),
            "tcp": Bounded(cap),
            "arp": Bounded(cap),
            "nd": Bounded(cap),
        }

    def _note(self, kind: str, src: str, mac: str, target: str, ts: float, ip: str = "") -> _Seen:
        seen = self.tables[kind].setdefault(src, _Seen)
        seen.mac = mac
        seen.ip = ip or seen.ip
        targets = seen.targets
        if target in targets:
            targets[target] = ts
        elif len(targets) < MAX_TARGETS:
            seen.dirty = True
            targets[target] = ts
        return seen

    def observe(self, p: Packet) -> Iterable[Finding]:
        # Every frame comes here: its fields are read once into locals.
        mac = mac_text(p.src_mac)
        ts = p.ts
        if p.arp_op == 1:  # who-has
            spa = ip_text(p.arp_spa)
            if (
                spa != ip_text(p.arp_tpa)
                and not self.allowed.source(spa, mac)
                and not self._gateway(spa, mac)
                and not self._answering(p.src_mac, p.arp_tpa, ts)
            ):
                self._note("arp", mac, mac, ip_text(p.arp_tpa), ts, ip=spa)
            return ()
        if p.arp_op == 2:  # is-at: the replier uses that address
            self._uses(mac, ip_text(p.arp_spa))
            return ()
        if not p.ip_version:
            return ()
        dst_mac, raw_src = p.dst_mac, p.src
        if dst_mac and not dst_mac[0] & 1:  # unicast: this MAC was sent a packet
            heard = self.heard
            since = self.heard_since
            if since is None:
                self.heard_since = ts
            elif ts - since >= self.s.arp_window or len(heard) >= self.heard_cap:
                self.heard_dropped += len(self.heard_old)
                self.heard_old, self.heard, self.heard_since = heard, {}, ts
                heard = self.heard
            heard[dst_mac + raw_src] = ts
        proto, flags = p.proto, p.tcp_flags
        if proto == 6:
            if not flags & 0x07 and flags & 0x10:
                return ()  # an ACK segment (base.TCP_ACK): heard, nothing more
        elif proto not in (1, 58, PROTO_UDP):
            return ()
        src = ip_text(raw_src)
        if (
            p.ip_version == 4
            and mac != self.gateway_mac  # routed frames carry its MAC
            and self.own_ip.get(mac) != src
            and self._on_site(raw_src)
        ):
            self._uses(mac, src)
        if proto == PROTO_ICMPV6 and p.icmp_type in (ND_NEIGHBOR_SOLICIT, ND_ROUTER_ADVERT):
            self._nd(p, mac, src)
            return ()
        if proto == PROTO_UDP:
            if p.sport == 67 and p.dport == 68:  # a server's reply (the only DHCP seen here)
                self.dhcp_macs.put(mac, True)
            return ()
        if proto == 6 and flags & 0x12 == 0x12:  # SYN-ACK: the target answered
            self._answer(ip_text(p.dst), src, p.dport, p.sport)
            return ()
        if self.allowed.source(src, mac):
            return ()
        if proto != 6:  # ICMP or ICMPv6
            if (p.ip_version, p.icmp_type) in ICMP_QUERIES:
                self._note("icmp", src, mac, ip_text(p.dst), ts)
        elif flags in (0x02, 0x10):  # bare SYN or bare ACK probe
            dst = ip_text(p.dst)
            seen = self._note("tcp", src, mac, dst, ts)
            if flags == 0x02:
                if len(seen.pending) >= MAX_TARGETS:
                    seen.pending.clear()
                seen.pending[(dst, p.dport, p.sport)] = p.tcp_seq
        elif flags & 0x04:  # the source's reset
            self._reset(src, ip_text(p.dst), p.dport, p.sport, p.tcp_seq)
        return ()

    def _nd(self, p: Packet, mac: str, src: str) -> None:
        """A neighbour solicitation asks for one address (IPv6's ARP request)."""
        if p.icmp_type == ND_ROUTER_ADVERT:
            if p.ttl == 255:  # hop limit 255: sent on this link
                self.router_macs.put(mac, True)
            return
        if src == UNSPECIFIED6 or mac in self.router_macs:
            return
        if (self.gateway_mac and mac == self.gateway_mac) or self.allowed.source(src, mac):
            return
        target = parse_nd(ND_NEIGHBOR_SOLICIT, p.payload).target
        if target and target != src and not self._answering(p.src_mac, p.payload[4:20], p.ts):
            self._note("nd", mac, mac, target, p.ts, ip=src)

    def observe_aggregate(self, a: Aggregate) -> Iterable[Finding]:
        """A host sent datagrams, fragments or SYNs by a crowd of addresses in a second.
        A second's UDP counts come whole, once it is over; its SYN aggregates in pieces
        (each drain's), whose senders add up."""
        if isinstance(a, UdpFlows) and len(a.senders) >= FLOOD_SENDERS:
            self.flooded.put(ip_text(a.dst), a.second)
        elif isinstance(a, SynAggregate) and a.senders:
            dst = ip_text(a.dst)
            seen = self.syn_senders.get(dst)
            if seen is None or seen[0] != a.second:
                seen = (a.second, set())
                self.syn_senders.put(dst, seen)
            senders = seen[1]
            for raw, _mac, _n in a.senders:
                if len(senders) >= FLOOD_SENDERS:
                    break
                senders.add(raw)
            if len(senders) >= FLOOD_SENDERS:
                self.flooded.put(dst, a.second)
        return ()

    def _flooded(self, ip: str, now: float) -> bool:
        """The asker's address was flooded by a crowd within arp_window: it answers."""
        second = self.flooded.get(ip) if ip else None
        return second is not None and now - second < self.s.arp_window

    @staticmethod
    def _asked(seen: _Seen, now: float) -> int:
        """Targets asked for at least ASK_GRACE ago (dirty till then)."""
        n = 0
        for ts in seen.targets.values():
            if now - ts < ASK_GRACE:
                seen.dirty = True
            else:
                n += 1
        return n

    def _answering(self, mac: bytes, target: bytes, ts: float) -> bool:
        """``target`` sent ``mac`` a packet within arp_window: asking for it is answering."""
        key = mac + target
        heard = self.heard.get(key)
        if heard is None:
            heard = self.heard_old.get(key)
        if heard is None or ts - heard >= self.s.arp_window:
            return False
        self.answers += 1
        return True

    def _gateway(self, spa: str, mac: str) -> bool:
        pinned = bool(self.gateway_mac) and mac == self.gateway_mac
        return pinned and (not self.gateway_ip or spa == self.gateway_ip)

    def _on_site(self, raw: bytes) -> bool:
        """A source of the site's networks (any, when they are not known): another's is
        routed in, in frames carrying a router's MAC."""
        if not self.networks:
            return True
        addr = int.from_bytes(raw, "big")
        # a loop, not any() over a generator: asked on most IPv4 frames
        for net, mask in self.networks:  # noqa: SIM110
            if addr & mask == net:
                return True
        return False

    def _uses(self, mac: str, ip: str) -> None:
        if ip and ip != "0.0.0.0" and mac:  # noqa: S104
            self.own_ip.put(mac, ip)
            self.user.put(ip, mac)

    def _arp_source(self, mac: str, spa: str) -> str:
        """The sweeper's own address: not the claimed sender if it is another's or forged."""
        own = self.own_ip.get(mac)
        if own:
            return own
        if spa == "0.0.0.0":  # noqa: S104  an ARP probe (RFC 5227) claims no address
            return ""
        return spa if self.user.get(spa) in (None, mac) else ""

    def _answer(self, src: str, target: str, sport: int, port: int) -> None:
        seen = self.tables["tcp"].get(src)
        if seen is not None and (target, port, sport) in seen.pending:
            seen.answered.add(target)

    def _reset(self, src: str, target: str, port: int, sport: int, seq: int) -> None:
        """A reset right after the SYN-ACK, with no byte sent: a half-open probe after all."""
        seen = self.tables["tcp"].get(src)
        isn = None if seen is None else seen.pending.pop((target, port, sport), None)
        no_data = isn is not None and (seq - isn - 1) % SEQ == 0
        if seen is not None and no_data and target in seen.answered:
            seen.answered.discard(target)
            seen.dirty = True

    def tick(self, now: float) -> Iterable[Finding]:
        out = []
        limits = {
            "icmp": (self.s.window, self.s.icmp_threshold),
            "tcp": (self.s.window, self.s.tcp_threshold),
            "arp": (self.s.arp_window, self.s.arp_threshold),
            "nd": (self.s.arp_window, self.s.arp_threshold),
        }
        for kind, table in self.tables.items():
            window, threshold = limits[kind]
            for src, seen in table.items():
                targets = seen.targets
                # rebuilt only when one expired (min(): a C loop, no new dict)
                if not targets or now - min(targets.values()) >= window:
                    targets = seen.targets = {
                        t: ts for t, ts in targets.items() if now - ts < window
                    }
                if not targets:
                    table.pop(src)
                    continue
                if not seen.dirty:
                    continue
                seen.dirty = False
                n = len(seen.targets)
                if kind == "tcp":
                    n = self._probed(seen, now)
                elif kind in ("arp", "nd") and n >= threshold:
                    n = self._asked(seen, now)
                if n < threshold:
                    continue
                by_mac = kind == "arp"
                if by_mac and (src in self.dhcp_macs or seen.ip in self.dhcp_ips):
                    continue
                if kind == "nd":
                    if src in self.router_macs:
                        continue  # a router advertised itself after its first solicitations
                    src_ip = seen.ip  # the solicitations' source address
                else:
                    src_ip = self._arp_source(src, seen.ip) if by_mac else src
                if kind in ("arp", "nd") and self._flooded(src_ip, now):
                    continue  # a flooded host asking for its senders
                asking = f", asking as {seen.ip}" if by_mac and src_ip != seen.ip else ""
                out.append(
                    Finding(
                        detector=self.name,
                        severity=Severity.WARNING,
                        identifier=src,
                        summary=f"{{source}} is sweeping for hosts ({kind}): {n} addresses "
                        f"in {window:g}s{asking}",
                        ts=now,
                        src_ip=src_ip,
                        src_mac=seen.mac,
                        kind=kind,
                        counts={"hosts": n},
                    )
                )
        return out

    @staticmethod
    def _probed(seen: _Seen, now: float) -> int:
        """Targets that took no connection, their SYN at least GRACE old (dirty till then)."""
        seen.answered &= seen.targets.keys()
        if len(seen.pending) > len(seen.targets) * 4:  # connections that ended unseen
            seen.pending = {k: v for k, v in seen.pending.items() if k[0] in seen.targets}
        n = 0
        for target, ts in seen.targets.items():
            if target in seen.answered:
                continue
            if now - ts < GRACE:
                seen.dirty = True
            else:
                n += 1
        return n

    def stats(self) -> dict[str, int]:
        return {
            "sources": sum(len(t) for t in self.tables.values()),
            "heard": len(self.heard) + len(self.heard_old),
            "evictions": sum(t.evictions for t in self.tables.values()) + self.heard_dropped,
        }
