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
   hosts keep their router but take its addresses and resolver.

4. An advertisement that came in fragments (RA-guard evasion: thc-ipv6 fake_router26
   -E D pushes the ICMPv6 header into a second fragment) is never learned: no router
   fragments neighbour discovery (RFC 6980), so it is rogue even in the learn period.
Only advertisements with hop limit 255 count: hosts drop any other (RFC 4861 6.1.2),
so they cannot do harm. The identifier is the sender's MAC.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from sentinel.detect import base
from sentinel.detect.base import Bounded, Finding, ip_text, mac_text
from sentinel.detect.nd import parse
from sentinel.model import Severity
from sentinel.packet import ND_ROUTER_ADVERT

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sentinel.config.detect import RogueRa as Settings
    from sentinel.detect.base import Common
    from sentinel.packet import Packet


class _Sender:
    __slots__ = ("adverts", "fragmented", "ip", "kind", "prefix")

    def __init__(self) -> None:
        self.adverts = 0
        self.fragmented = 0
        self.ip = ""
        self.prefix = ""
        self.kind = ""


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
                kind = "kill_router"
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
        return [self._finding(mac, s, p.ts, forged)]

    def _router(self, src: str, mac: str) -> bool:
        if self.pinned_macs:
            return mac in self.pinned_macs
        if self.pinned_ips:
            return src in self.pinned_ips
        return mac in self.routers

    def _learning(self, ts: float) -> bool:
        return self.first_advert is not None and ts < self.first_advert + self.s.learn_period

    def _finding(self, mac: str, s: _Sender, ts: float, forged: bool) -> Finding:
        if s.kind == "kill_router":
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

    def tick(self, now: float) -> Iterable[Finding]:
        return ()

    def stats(self) -> dict[str, int]:
        """Table sizes and evictions (the metrics sum the sizes into table entries)."""
        return {
            "routers": len(self.routers),
            "senders": len(self.senders),
            "evictions": self.senders.evictions + self.routers.evictions,
        }
