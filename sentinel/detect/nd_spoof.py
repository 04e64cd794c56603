"""nd_spoof: someone claiming an IPv6 address that belongs to another device (parasite6).

The IPv6 twin of ``arp_spoof``: neighbour discovery binds addresses to MACs, and a
neighbour advertisement (ICMPv6 136) with the override flag rewrites any host's cache.

- The router's address: ``detect.gateway.ip6`` with ``detect.gateway.mac``, or the
  source address of a router's advertisements (the first MAC seen sending them). Any
  other MAC advertising it is flagged at once (``router``).
- Flip-flops: an address whose MAC changes ``flip_threshold`` times within
  ``flip_window``. Claims come from advertisements with the override flag (without it a
  cache entry is not rewritten: proxies and anycast) and from solicitations naming
  their sender. A device that takes over an address changes it once; a spoofer and the
  owner keep overwriting each other.

Duplicate address detection sends solicitations from the unspecified address (not a
claim), and the owner's defence names the owner's MAC: neither counts. A device that
renumbers claims a new address, a new binding. Only hop limit 255 counts (RFC 4861
7.1). The identifier is the spoofing MAC: the one claiming an address that another MAC uses
(solicits from), or, before the owner has solicited, that another MAC held first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from sentinel.detect import base
from sentinel.detect.base import Bounded, Finding, ip_text, mac_text
from sentinel.detect.nd import parse
from sentinel.model import Severity
from sentinel.packet import ND_NEIGHBOR_ADVERT, ND_NEIGHBOR_SOLICIT, ND_ROUTER_ADVERT

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sentinel.config.detect import NdSpoof as Settings
    from sentinel.detect.base import Common
    from sentinel.packet import Packet

UNSPECIFIED = "::"


class _Binding:
    __slots__ = ("changes", "first_mac", "mac", "owner")

    def __init__(self, mac: str) -> None:
        self.first_mac = mac
        self.mac = mac
        self.owner = ""  # the first MAC seen soliciting from the address: it uses it
        self.changes: list[float] = []


class NdSpoof:
    name: ClassVar[str] = "nd_spoof"
    wants: ClassVar[frozenset[str]] = frozenset({base.ND})

    def __init__(self, s: Settings, common: Common) -> None:
        self.s = s
        self.allowed = common.allowed(s)
        gw = common.cfg.gateway
        # router address -> its MAC: pinned, or the first MAC seen advertising from it
        self.routers: Bounded[str, str] = Bounded(64)
        self.pinned = bool(gw.ip6 and gw.mac)
        if gw.ip6 and gw.mac:
            self.routers.put(gw.ip6, gw.mac)
        self.bindings: Bounded[str, _Binding] = Bounded(common.max_tracked)
        self.own_ip: Bounded[str, str] = Bounded(common.max_tracked)  # MAC -> its own address
        self.malformed = 0
        self.ignored = 0

    def observe(self, p: Packet) -> Iterable[Finding]:
        kind = p.icmp_type
        if kind not in (ND_ROUTER_ADVERT, ND_NEIGHBOR_SOLICIT, ND_NEIGHBOR_ADVERT):
            return ()
        if p.ttl != 255 or p.icmp_code != 0:
            self.ignored += 1
            return ()
        m = parse(kind, p.payload)
        if m.error == "truncated":
            self.malformed += 1
            return ()
        src, eth = ip_text(p.src), mac_text(p.src_mac)
        if kind == ND_ROUTER_ADVERT:
            if src.startswith("fe80:") and m.router_lifetime and not self.pinned:
                self.routers.setdefault(src, value=m.source_mac or eth)
            return self._claim(src, m.source_mac, p.ts, eth, own=True) if m.source_mac else []
        if kind == ND_NEIGHBOR_SOLICIT:
            if src == UNSPECIFIED or not m.source_mac:
                return ()  # duplicate address detection, or no claim made
            return self._claim(src, m.source_mac, p.ts, eth, own=True)
        if not m.override:
            return ()
        return self._claim(m.target, m.target_mac or eth, p.ts, eth, own=False)

    def _claim(self, ip: str, mac: str, ts: float, eth: str, own: bool) -> list[Finding]:
        """``mac`` says it holds ``ip``; ``own``: in a message it sent from that address
        (a solicitation, an advertisement of a router), not one naming a target."""
        if not ip or ip == UNSPECIFIED or self.allowed.source(ip, mac) or self.allowed.mac(eth):
            return []
        out: list[Finding] = []
        router_mac = self.routers.get(ip)
        if router_mac is not None and mac != router_mac:
            out.append(
                self._finding(
                    mac,
                    ts,
                    "router",
                    "{source} claims the router's IPv6 address {target}",
                    ip,
                )
            )
        b = self.bindings.get(ip)
        if b is None:
            b = self.bindings.setdefault(ip, value=_Binding(mac))
            if own and mac == eth:
                b.owner = mac
                self.own_ip.setdefault(mac, value=ip)
            return out
        if own and mac == eth and not b.owner:
            b.owner = mac
        if b.mac != mac:
            b.changes = [t for t in b.changes if ts - t < self.s.flip_window]
            b.changes.append(ts)
            previous, b.mac = b.mac, mac
            if len(b.changes) >= self.s.flip_threshold and not out:
                # The device using the address owns it (else the one that held it first):
                # a spoofer may advertise first, before the owner has spoken.
                owner = b.owner or b.first_mac
                spoofer = mac if mac != owner else previous
                out.append(
                    self._finding(
                        spoofer,
                        ts,
                        "flip_flop",
                        f"{{source}} and another device keep claiming {{target}} "
                        f"({len(b.changes)} changes)",
                        ip,
                        {"changes": len(b.changes)},
                    )
                )
        elif own and mac == eth and mac == (b.owner or b.first_mac):
            self.own_ip.setdefault(mac, value=ip)
        return out

    def _finding(
        self,
        mac: str,
        ts: float,
        kind: str,
        summary: str,
        target: str,
        counts: dict[str, int] | None = None,
    ) -> Finding:
        own = self.own_ip.get(mac) or ""
        return Finding(
            detector=self.name,
            severity=Severity.CRITICAL,
            identifier=mac,
            summary=summary,
            ts=ts,
            src_ip="" if own == target else own,
            src_mac=mac,
            target=target,
            kind=kind,
            counts=counts or {},
            description="IPv6 hosts that believe it send it the traffic meant for {target}.",
        )

    def tick(self, now: float) -> Iterable[Finding]:
        return ()

    def stats(self) -> dict[str, int]:
        """Table sizes and evictions (the metrics sum the sizes into table entries)."""
        return {
            "bindings": len(self.bindings),
            "own_ip": len(self.own_ip),
            "routers": len(self.routers),
            "evictions": self.bindings.evictions + self.own_ip.evictions,
        }
