"""arp_spoof: someone claiming an address that belongs to another device (man in the middle).

- The gateway's MAC, pinned in ``detect.gateway`` (never learned from ARP, which an
  attacker controls): any ARP claiming the gateway's IP from another MAC is flagged.
- Flip-flops: an IP whose MAC changes ``flip_threshold`` times within ``flip_window``.
  A laptop getting the address of one that left (DHCP) changes it once; a spoofer and
  the real owner keep overwriting each other.
- The Ethernet source differing from the ARP sender MAC (forged frames).
- ICMP redirects from anyone but the pinned gateway (a MITM's kernel sends them).
The identifier is the spoofing MAC: the one claiming an address another MAC held first.
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
                # The device that held the address first is its owner; the other one spoofs.
                spoofer = sha if sha != b.first_mac else previous
                out.append(
                    self._finding(
                        spoofer,
                        self.own_ip.get(spoofer) or "",
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
