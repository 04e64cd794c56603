"""rogue_ra: IPv6 router advertisements from anyone but the LAN's router (fake_router6).

A laptop that announces itself as router (ICMPv6 type 134) becomes the default router,
and often the DNS server, of every IPv6 host on the segment: the IPv6 twin of a rogue
DHCP server. Judged from the advertisements alone:

1. Pinned routers (``router_macs`` or ``detect.gateway.mac``; addresses from
   ``router_addresses`` or ``detect.gateway.ip6`` only when no MAC is pinned): an
   advertisement from any other sender is critical.
2. Nothing pinned: every router that announces itself during ``learn_period``,
   counted from the first advertisement, is learned; a router announcing after it is a
   warning that asks for the router to be pinned (an attacker active when sentinel
   started would have been learned too).
3. A router lifetime of 0 tells hosts to stop using the router the advertisement comes
   from. Sent with a router's source address by another MAC (kill_router6), or by any
   sender that is not a router once the routers are known, it is flagged as
   ``kill_router``. From its own address with a prefix to autoconfigure (fake_router26
   ``-l 0 -A``, often with a DNS server), it is a rogue announcement as in 1 and 2:
   hosts keep their router but take its addresses and resolver. From its own address
   with the managed or other flag set and no prefix, it tells hosts to ask DHCPv6, as
   mitm6 does before it answers their DHCPv6 requests itself: ``dhcpv6_lure``.

4. An advertisement that came in fragments (RA-guard evasion: thc-ipv6 fake_router26
   -E D pushes the ICMPv6 header into a second fragment) is never learned: no router
   fragments neighbour discovery (RFC 6980), so it is rogue even in the learn period.
5. A flood (thc-ipv6 flood_router26: advertisements from thousands of random MACs and
   link-local addresses) is one finding, not one per forged router: ``FLOOD_ROUTERS``
   new rogue advertisers within ``HOLD`` seconds start it, identifier ``lan``, kind
   ``flood``, critical (no LAN has thousands of routers, pinned or learned), counting
   advertisers and advertisements until ``FLOOD_QUIET`` seconds pass without a rogue
   advertisement; it names a MAC only when one sent at least half of them. It is
   reported at the next tick (within a second), then at each tick its counts grew. So that a
   flood's first routers are not alerted one by one, a new rogue advertiser's first
   finding waits ``HOLD`` seconds (one tick) before it is reported; a router already
   reported keeps its own alert during a flood.

Only advertisements with hop limit 255 count: hosts drop any other (RFC 4861 6.1.2),
so they cannot do harm. The identifier is the sender's MAC (``lan`` for a flood). Every
table is bounded: senders by ``max_tracked``, held findings by the flood rule.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, ClassVar

from sentinel.detect import base
from sentinel.detect.base import Bounded, Finding, ip_text, mac_text
from sentinel.detect.nd import RA_MANAGED, RA_OTHER, parse
from sentinel.model import Severity
from sentinel.packet import ND_ROUTER_ADVERT

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sentinel.config.detect import RogueRa as Settings
    from sentinel.detect.base import Common
    from sentinel.packet import Packet


FLOOD_ROUTERS = 5  # new rogue advertisers within HOLD seconds: a flood
HOLD = 1.0  # seconds a new rogue advertiser's first finding waits (a flood's, or its own)
FLOOD_QUIET = 10.0  # seconds without a rogue advertisement that end a flood
MAX_HELD = 256  # findings waiting: the flood rule keeps them to a few, this is a backstop


class _Sender:
    __slots__ = ("adverts", "forged", "fragmented", "ip", "kind", "prefix", "reported")

    def __init__(self) -> None:
        self.adverts = 0
        self.fragmented = 0
        self.ip = ""
        self.prefix = ""
        self.kind = ""
        self.forged = False
        self.reported = False  # its own finding was sent: it keeps its alert in a flood


class _Flood:
    __slots__ = ("advertisers", "adverts", "first", "last", "reported", "top", "top_adverts")

    def __init__(self, ts: float) -> None:
        self.first = self.last = ts
        self.advertisers = 0
        self.adverts = 0
        self.top = ""  # the MAC with the most advertisements, and their count
        self.top_adverts = 0
        self.reported = 0  # advertisements when its finding was last reported


class RogueRa:
    name: ClassVar[str] = "rogue_ra"
    wants: ClassVar[frozenset[str]] = frozenset({base.ND})

    def __init__(self, s: Settings, common: Common) -> None:
        self.s = s
        self.allowed = common.allowed(s)
        gw = common.cfg.gateway
        self.pinned_macs = frozenset(s.router_macs) | ({gw.mac} if gw.mac else set())
        self.pinned_ips = frozenset(s.router_addresses) | ({gw.ip6} if gw.ip6 else set())
        self.pinned = bool(self.pinned_macs or self.pinned_ips)
        # learned (or pinned and seen) routers: MAC -> the source address it announces from
        self.routers: Bounded[str, str] = Bounded(64)
        self.router_ips: Bounded[str, str] = Bounded(64)  # address -> the router's MAC
        self.senders: Bounded[str, _Sender] = Bounded(common.max_tracked)
        self.first_advert: float | None = None
        self.held: dict[str, float] = {}  # MAC -> its first finding's time, not yet reported
        self.newcomers: deque[float] = deque(maxlen=FLOOD_ROUTERS)  # held senders' times
        self.flood: _Flood | None = None
        self.folded = 0  # findings folded into flood findings
        self.malformed = 0
        self.ignored = 0  # hop limit below 255: dropped by every host

    def observe(self, p: Packet) -> Iterable[Finding]:
        if p.icmp_type != ND_ROUTER_ADVERT:
            return ()
        if p.ttl != 255 or p.icmp_code != 0:
            self.ignored += 1
            return ()
        m = parse(ND_ROUTER_ADVERT, p.payload)
        if m.error == "truncated":
            self.malformed += 1
            return ()
        src, mac = ip_text(p.src), mac_text(p.src_mac)
        if self.allowed.source(src, mac):
            return ()
        if self.first_advert is None:
            self.first_advert = p.ts
        if self._router(src, mac):
            self.routers.put(mac, src)
            self.router_ips.setdefault(src, value=mac)
            return ()
        kind = ""
        forged = src in self.router_ips or src in self.pinned_ips  # a router's address
        if m.router_lifetime == 0 and m.prefixes and not forged:
            # not a default router, but a prefix to autoconfigure (and often a DNS
            # server, RDNSS): hosts take its addresses and resolver, keeping their router
            if self.pinned or p.reassembled or not self._learning(p.ts):
                kind = "rogue"
        elif m.router_lifetime == 0:
            if forged or self.pinned or (len(self.routers) and not self._learning(p.ts)):
                # from its own address with the managed or other flag: not "drop your
                # router" but "ask DHCPv6", which it then answers itself (mitm6)
                lure = not forged and m.flags & (RA_MANAGED | RA_OTHER)
                kind = "dhcpv6_lure" if lure else "kill_router"
        elif self.pinned or p.reassembled or not self._learning(p.ts):
            kind = "rogue"
        else:
            self.routers.put(mac, src)
            self.router_ips.setdefault(src, value=mac)
            return ()
        if not kind:
            return ()
        s = self.senders.setdefault(mac, _Sender)
        s.adverts += 1
        s.fragmented += p.reassembled
        s.ip = "" if forged else src
        s.prefix = m.prefixes[0] if m.prefixes else s.prefix
        s.kind = kind
        s.forged = forged
        return self._judge(mac, s, p.ts)

    def _judge(self, mac: str, s: _Sender, ts: float) -> list[Finding]:
        """A rogue advertisement: its sender's own finding, held, or part of a flood."""
        flood = self.flood
        if flood is not None and ts - flood.last >= FLOOD_QUIET:
            flood = self.flood = None
        if s.reported:  # its own alert goes on; a flood counts only the routers it folds
            return [self._finding(mac, s, ts, s.forged)]
        if flood is not None:
            if s.adverts == 1 or mac in self.held:
                flood.advertisers += 1
                self.held.pop(mac, None)
            self._count(flood, mac, s, ts)
            self.folded += 1
            return []
        if mac in self.held:
            return []  # its finding is on its way: it will carry this advertisement
        self.held[mac] = ts
        if len(self.held) > MAX_HELD:
            first = next(iter(self.held))
            self.held.pop(first)
        self.newcomers.append(ts)
        if len(self.newcomers) < FLOOD_ROUTERS or ts - self.newcomers[0] >= HOLD:
            return []
        # FLOOD_ROUTERS new rogue routers within HOLD: a flood, their findings fold into it
        flood = self.flood = _Flood(ts)
        for held in list(self.held):
            h = self.senders.get(held)
            if h is not None:
                flood.advertisers += 1
                self._count(flood, held, h, ts, h.adverts)
                self.folded += 1
        self.held.clear()
        self.newcomers.clear()
        return []  # reported by the next tick, with the routers it has counted by then

    @staticmethod
    def _count(flood: _Flood, mac: str, s: _Sender, ts: float, n: int = 1) -> None:
        flood.adverts += n
        flood.last = ts
        if s.adverts > flood.top_adverts:
            flood.top, flood.top_adverts = mac, s.adverts

    def _router(self, src: str, mac: str) -> bool:
        if self.pinned_macs:
            return mac in self.pinned_macs
        if self.pinned_ips:
            return src in self.pinned_ips
        return mac in self.routers

    def _learning(self, ts: float) -> bool:
        return self.first_advert is not None and ts < self.first_advert + self.s.learn_period

    def _finding(self, mac: str, s: _Sender, ts: float, forged: bool) -> Finding:
        if s.kind == "dhcpv6_lure":
            summary = (
                "{source} tells IPv6 hosts to ask DHCPv6 for their configuration (managed "
                "or other flag, router lifetime 0), and it is not a router"
            )
            description = (
                "mitm6 starts so: the hosts then ask DHCPv6, and it answers them with "
                "itself as their DNS server (see rogue_dhcp6)."
            )
        elif s.kind == "kill_router":
            summary = "{source} tells IPv6 hosts to drop " + (
                "their router (router lifetime 0 from the router's address)"
                if forged
                else "a router (router lifetime 0), and it is not a router"
            )
            description = "Hosts that believe it lose their IPv6 default route."
        else:
            summary = (
                "Rogue IPv6 router {source}: it announces itself, and it is not the LAN's router"
            )
            description = (
                "IPv6 hosts that take it as default router send it their traffic"
                + (f" for {s.prefix}" if s.prefix else "")
                + ": it can be read and changed."
            )
        if s.fragmented:
            description += (
                f" {s.fragmented} of its advertisements came in fragments, which no router"
                " sends: a way around a switch's RA guard."
            )
        if not self.pinned:
            summary += " (routers learned, not configured)"
            description += (
                " The LAN's routers were learned from traffic; pin them in "
                "detect.rogue_ra.router_macs (or detect.gateway.mac) to make this critical."
            )
        return Finding(
            detector=self.name,
            severity=Severity.CRITICAL if self.pinned else Severity.WARNING,
            identifier=mac,
            summary=summary,
            ts=ts,
            src_ip=s.ip,
            src_mac=mac,
            target_name=s.prefix,
            kind=s.kind,
            counts={"adverts": s.adverts, "fragmented": s.fragmented},
            description=description,
        )

    def _flood_finding(self, flood: _Flood, ts: float) -> Finding:
        dominant = flood.top_adverts * 2 >= flood.adverts and flood.advertisers > 1
        top = self.senders.get(flood.top) if dominant else None
        mac = flood.top if top is not None else ""
        return Finding(
            detector=self.name,
            severity=Severity.CRITICAL,
            identifier="lan",
            summary=(
                "IPv6 router advertisement flood: many rogue routers announce themselves "
                "at once" + (", most of the advertisements from {source}" if mac else "")
            ),
            ts=ts,
            src_ip=top.ip if top is not None else "",
            src_mac=mac,
            kind="flood",
            counts={
                "advertisers": flood.advertisers,
                "adverts": flood.adverts,
                "top_adverts": flood.top_adverts,
            },
            description=(
                "Router advertisements from many routers at once (forged MACs and "
                "addresses, as thc-ipv6 flood_router26 sends them): every IPv6 host adds "
                "each router and its prefixes, which can use up its memory and CPU and "
                "take its IPv6 connectivity. The senders are forged"
                + (
                    ", but most advertisements came from {source}."
                    if mac
                    else ": no one device sent most of them, so none is named; the "
                    "switch port the flood enters on is the attacker's."
                )
            ),
        )

    def tick(self, now: float) -> Iterable[Finding]:
        out: list[Finding] = []
        flood = self.flood
        if flood is not None:
            if now - flood.last >= FLOOD_QUIET:
                self.flood = None
            elif flood.adverts > flood.reported:
                flood.reported = flood.adverts  # the alert's counts move on
                out.append(self._flood_finding(flood, now))
        if not self.held:
            return out
        for mac, ts in list(self.held.items()):
            if now - ts < HOLD:
                continue
            del self.held[mac]
            s = self.senders.get(mac)
            if s is not None:
                s.reported = True
                out.append(self._finding(mac, s, ts, s.forged))
        return out

    def stats(self) -> dict[str, int]:
        """Table sizes and evictions (the metrics sum the sizes into table entries)."""
        return {
            "routers": len(self.routers),
            "senders": len(self.senders),
            "held": len(self.held),
            "evictions": self.senders.evictions + self.routers.evictions,
        }
