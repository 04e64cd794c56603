"""arp_spoof: someone claiming an address that belongs to another device (man in the middle).

- The gateway's MAC, pinned in ``detect.gateway`` (never learned from ARP, which an
  attacker controls): any ARP claiming the gateway's IP from another MAC is flagged.
- Flip-flops: an IP whose MAC changes ``flip_threshold`` times within ``flip_window``.
  A laptop getting the address of one that left (DHCP) changes it once; a spoofer and
  the real owner keep overwriting each other.
- The Ethernet source differing from the ARP sender MAC (forged frames).
- ICMP redirects from anyone but the pinned gateway (a MITM's kernel sends them).
The identifier is the spoofing MAC: of the two MACs taking turns on an address, the one
that also claims another address (its own: arpspoof and arping resolve their victims
from it), else the one that did not hold the address first. A spoofer's forged
broadcast often reaches the wire before the owner has spoken at all, so "first" alone
would blame the owner.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from sentinel.detect import base
from sentinel.detect.base import Bounded, Finding, ip_text, mac_text
from sentinel.model import Severity

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sentinel.config.detect import ArpSpoof as Settings
    from sentinel.detect.base import Common
    from sentinel.packet import Packet

ZERO_MAC = "00:00:00:00:00:00"
MAX_CLAIMS = 8  # addresses remembered per MAC


class _Binding:
    __slots__ = ("changes", "first_mac", "mac")

    def __init__(self, mac: str) -> None:
        self.first_mac = mac
        self.mac = mac
        self.changes: list[float] = []


class ArpSpoof:
    name: ClassVar[str] = "arp_spoof"
    wants: ClassVar[frozenset[str]] = frozenset({base.ARP, base.ICMP})

    def __init__(self, s: Settings, common: Common) -> None:
        self.s = s
        self.allowed = common.allowed(s)
        self.gateway_ip = common.cfg.gateway.ip
        self.gateway_mac = common.cfg.gateway.mac
        self.bindings: Bounded[str, _Binding] = Bounded(common.max_tracked)
        self.own_ip: Bounded[str, str] = Bounded(common.max_tracked)  # MAC -> its own IP
        # MAC -> the addresses it claimed (a few): a spoofer claims its own and another's
        self.claims: Bounded[str, set[str]] = Bounded(common.max_tracked)

    def observe(self, p: Packet) -> Iterable[Finding]:
        if p.arp_op:
            return self._arp(p)
        if p.icmp_type == 5 and p.ip_version == 4:
            src, mac = ip_text(p.src), mac_text(p.src_mac)
            gw_ip, gw_mac = self.gateway_ip, self.gateway_mac
            pinned = bool(gw_ip or gw_mac)
            if pinned and src != gw_ip and mac != gw_mac and not self.allowed.source(src, mac):
                return [
                    self._finding(
                        mac,
                        src,
                        p.ts,
                        "redirect",
                        "{source} sends ICMP redirects (only the gateway may)",
                    )
                ]
        return ()

    def _arp(self, p: Packet) -> list[Finding]:
        sha, spa = mac_text(p.arp_sha), ip_text(p.arp_spa)
        eth = mac_text(p.src_mac)
        if spa == "0.0.0.0" or sha == ZERO_MAC or self.allowed.source(spa, sha):  # noqa: S104
            return []
        out = []
        claimed = self.claims.setdefault(sha, set)
        if len(claimed) < MAX_CLAIMS:
            claimed.add(spa)
        if eth != sha:
            out.append(
                self._finding(
                    eth,
                    self.own_ip.get(eth) or "",  # spa is the address it lies about
                    p.ts,
                    "forged_sender",
                    f"{{source}} sends ARP for {spa} with another MAC ({sha})",
                )
            )
        if (
            self.gateway_ip
            and spa == self.gateway_ip
            and self.gateway_mac
            and sha != (self.gateway_mac)
        ):
            out.append(
                self._finding(
                    sha,
                    self.own_ip.get(sha) or "",  # spa is the gateway's, not the spoofer's
                    p.ts,
                    "gateway",
                    "{source} claims to be the gateway {target}",
                    target=spa,
                )
            )
        b = self.bindings.get(spa)
        if b is None:
            self.bindings.setdefault(spa, value=_Binding(sha))
            self.own_ip.setdefault(sha, value=spa)
            return out
        if b.mac != sha:
            b.changes = [t for t in b.changes if p.ts - t < self.s.flip_window]
            b.changes.append(p.ts)
            previous, b.mac = b.mac, sha
            if len(b.changes) >= self.s.flip_threshold:
                spoofer = self._spoofer(spa, sha, previous, b.first_mac)
                own = self.own_ip.get(spoofer) or ""
                if own == spa:  # its first claim was the address it spoofs
                    own = next(iter(sorted((self.claims.get(spoofer) or set()) - {spa})), "")
                out.append(
                    self._finding(
                        spoofer,
                        own,
                        p.ts,
                        "flip_flop",
                        f"{{source}} and another device keep claiming {{target}} "
                        f"({len(b.changes)} changes)",
                        target=spa,
                        counts={"changes": len(b.changes)},
                    )
                )
        elif sha == b.first_mac:
            self.own_ip.setdefault(sha, value=spa)
        return out

    def _spoofer(self, spa: str, mac: str, previous: str, first: str) -> str:
        """Of two MACs claiming ``spa`` in turn, the one that claims other addresses as
        well (its own) spoofs, when only one does; else the one that did not hold it
        first (a spoofer that speaks first, before the owner, is told apart only so)."""
        mine = bool((self.claims.get(mac) or set()) - {spa})
        theirs = bool((self.claims.get(previous) or set()) - {spa})
        if mine != theirs:
            return mac if mine else previous
        return mac if mac != first else previous

    def _finding(
        self,
        mac: str,
        ip: str,
        ts: float,
        kind: str,
        summary: str,
        target: str = "",
        counts: dict[str, int] | None = None,
    ) -> Finding:
        return Finding(
            detector=self.name,
            severity=Severity.CRITICAL,
            identifier=mac,
            summary=summary,
            ts=ts,
            src_ip=ip,
            src_mac=mac,
            target=target,
            kind=kind,
            counts=counts or {},
        )

    def tick(self, now: float) -> Iterable[Finding]:
        return ()

    def stats(self) -> dict[str, int]:
        return {"bindings": len(self.bindings), "evictions": self.bindings.evictions}
