"""mac_flood: a flood of never-seen source MACs (macof), filling switches' address tables.

Counts source MACs never seen before within ``window``; a school LAN gains a few
devices a minute, macof sends thousands a second. During the first window after capture
starts every device is new, so the threshold is multiplied by ``startup_factor``.
A multicast source MAC is a damaged frame, not a device: the accounting counts it as
malformed (``sentinel_lan_malformed_packets_total{reason="multicast_source"}``) and it
never reaches this detector (nor is it counted here if fed directly); one odd frame from
a broken NIC must not read as a flood, and macof's random MACs are half unicast, so a
flood is still seen. The flood has no real source (its MACs are random), so the
identifier is the LAN itself.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, ClassVar

from sentinel.detect import base
from sentinel.detect.base import Bounded, Finding, mac_text
from sentinel.model import Severity
from sentinel.packet import NewMacs

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sentinel.config.detect import MacFlood as Settings
    from sentinel.detect.base import Common
    from sentinel.packet import Aggregate, Packet


class MacFlood:
    name: ClassVar[str] = "mac_flood"
    wants: ClassVar[frozenset[str]] = frozenset({base.ETHERNET})
    reads_resolver_answers: ClassVar[bool] = False  # their MAC: seen already

    def __init__(self, s: Settings, common: Common) -> None:
        self.s = s
        self.allowed = common.allowed(s)
        self.seen: Bounded[bytes, float] = Bounded(common.max_tracked)
        self.new: deque[tuple[float, int]] = deque()  # (second, never-seen MACs in it)
        self.counted = 0  # the sum over ``new``
        self.started: float | None = None

    def observe(self, p: Packet) -> Iterable[Finding]:
        mac = p.src_mac
        if not mac or mac[0] & 1 or self.seen.touch(mac):
            return ()
        if self.started is None:
            self.started = p.ts
        self.seen.setdefault(mac, value=p.ts)
        if self.allowed.mac(mac_text(mac)):
            return ()
        self._add(p.ts, 1)
        return ()

    def _add(self, ts: float, n: int) -> None:
        second = float(int(ts))  # one entry a second: bounded by the window, not the flood
        if self.new and self.new[-1][0] == second:
            self.new[-1] = (second, self.new[-1][1] + n)
        else:
            self.new.append((second, n))
        self.counted += n

    def observe_aggregate(self, a: Aggregate) -> Iterable[Finding]:
        """Never-seen unicast MACs the capture side counted instead of handing over (a
        flood past the detectors' frame budget; the capture side saw each MAC once)."""
        if isinstance(a, NewMacs) and a.macs > a.multicast:
            ts = float(a.second)
            if self.started is None:
                self.started = ts
            self._add(ts, a.macs - a.multicast)
        return ()

    def tick(self, now: float) -> Iterable[Finding]:
        while self.new and now - self.new[0][0] >= self.s.window:
            self.counted -= self.new.popleft()[1]
        n = self.counted
        threshold = self.s.new_macs_threshold
        if self.started is not None and now - self.started < self.s.window:
            threshold *= self.s.startup_factor
        if n < threshold:
            return ()
        return [
            Finding(
                detector=self.name,
                severity=Severity.CRITICAL,
                identifier="lan",
                summary=f"MAC flood: {n} never-seen source MACs in {self.s.window:g}s",
                ts=now,
                target_name="LAN",
                kind="new_macs",
                counts={"new_macs": n},
            )
        ]

    def stats(self) -> dict[str, int]:
        return {"macs": len(self.seen), "evictions": self.seen.evictions}
