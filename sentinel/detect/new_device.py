"""new_device: a device (source MAC) the LAN has not seen before, after a learning period.

Informational, not an attack: counted in ``sentinel_detections_total{severity="info"}``
and an alert only where ``detect.info_alerts`` asks for one (inventory, or schools
that want to know when a device appears on a staff VLAN). Every device is new while the
daemon learns, so nothing is reported during ``learn_period`` after capture starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from sentinel.detect import base
from sentinel.detect.base import Bounded, Finding, ip_text, mac_text
from sentinel.model import Severity

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sentinel.config.detect import NewDevice as Settings
    from sentinel.detect.base import Common
    from sentinel.packet import Packet


class NewDevice:
    name: ClassVar[str] = "new_device"
    wants: ClassVar[frozenset[str]] = frozenset({base.ETHERNET})
    reads_resolver_answers: ClassVar[bool] = False  # their MAC: seen already

    def __init__(self, s: Settings, common: Common) -> None:
        self.s = s
        self.allowed = common.allowed(s)
        self.seen: Bounded[bytes, float] = Bounded(common.max_tracked)
        self.started: float | None = None

    def observe(self, p: Packet) -> Iterable[Finding]:
        mac = p.src_mac
        if not mac or mac[0] & 1 or self.seen.touch(mac):
            return ()
        self.seen.setdefault(mac, value=p.ts)
        if self.started is None:
            self.started = p.ts
        if p.ts - self.started < self.s.learn_period:
            return ()
        src = ip_text(p.src) if p.src else (ip_text(p.arp_spa) if p.arp_spa else "")
        if self.allowed.source(src, mac_text(mac)):
            return ()
        return [
            Finding(
                detector=self.name,
                severity=Severity.INFO,
                identifier=mac_text(mac),
                summary="new device {source} on the LAN",
                ts=p.ts,
                src_ip=src,
                src_mac=mac_text(mac),
            )
        ]

    def tick(self, now: float) -> Iterable[Finding]:
        return ()

    def stats(self) -> dict[str, int]:
        return {"devices": len(self.seen), "evictions": self.seen.evictions}
