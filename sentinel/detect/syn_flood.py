"""syn_flood: more connection attempts on one (host, port) than any client population makes.

Per destination service and one-second bucket, SYNs are counted; ``rate_threshold``
SYN/s sustained for ``sustain`` seconds, or ``burst`` SYNs within a run of seconds each
over the rate, its two edge seconds counted (a two-second burst of thousands, wherever
it falls on the clock: ``base.Run``), is a candidate. A busy file server also gets
many SYNs, from many clients that each open a few connections; a flood comes either
from one sender that dominates (hping3), from a crowd of one-shot, spoofed senders, or
from a few hosts flooding together (``distributed``: each at least ``base.HEAVY_SHARE`` of
the SYNs, together most of them). A crowd of spoofed senders that repeat (a few hundred
addresses of the LAN, a few SYNs each) is told from a busy server's clients by what the
service answers and who sends: ``base.spoofed_crowd`` takes at least 100 addresses behind
a tenth as many MACs, nine in ten of them never sent a SYN-ACK (the SYN-ACKs seen are
remembered per service). Laptops each have their own MAC; clients behind a router are
answered. Only those shapes are flagged. One alert per victim service (with spoofed
sources there is no real source to name), and for a distributed flood one per flooding
host, each named.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from sentinel.detect import base
from sentinel.detect.base import Bounded, Finding, Run, ip_text, mac_text
from sentinel.model import Severity
from sentinel.packet import SynAggregate

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sentinel.config.detect import SynFlood as Settings
    from sentinel.detect.base import Common
    from sentinel.packet import Aggregate, Packet

MAX_SENDERS = 4096


class _Target(Run):
    __slots__ = ("answered", "senders", "untracked")

    def __init__(self) -> None:
        super().__init__()
        self.senders: dict[tuple[str, str], int] = {}  # (ip, mac) -> SYNs
        self.untracked = 0  # SYNs from senders past the cap (spoofed floods)
        self.answered: set[str] = set()  # addresses the service sent a SYN-ACK


class SynFlood:
    name: ClassVar[str] = "syn_flood"
    wants: ClassVar[frozenset[str]] = frozenset({base.TCP_CONTROL})

    def __init__(self, s: Settings, common: Common) -> None:
        self.s = s
        self.allowed = common.allowed(s)
        self.targets: Bounded[tuple[str, int], _Target] = Bounded(common.max_tracked)
        self.found: list[Finding] = []

    def observe(self, p: Packet) -> Iterable[Finding]:
        flags = p.tcp_flags & 0x12
        if flags == 0x12:  # a SYN-ACK: the service answers that client
            t = self.targets.get((ip_text(p.src), p.sport))
            if t is not None and len(t.answered) < MAX_SENDERS:
                t.answered.add(ip_text(p.dst))
            return ()
        if flags != 0x02:  # otherwise only SYN without ACK
            return ()
        src, mac = ip_text(p.src), mac_text(p.src_mac)
        if self.allowed.source(src, mac):
            return ()
        key = (ip_text(p.dst), p.dport)
        t = self.targets.setdefault(key, _Target)
        self._roll(t, key, int(p.ts))
        t.add()
        who = (src, mac)
        if who in t.senders or len(t.senders) < MAX_SENDERS:
            t.senders[who] = t.senders.get(who, 0) + 1
        else:
            t.untracked += 1
        out, self.found = self.found, []
        return out

    def observe_aggregate(self, a: Aggregate) -> Iterable[Finding]:
        """SYNs the capture side counted instead of handing over (a flood past the
        detectors' frame budget): the same counts as ``observe`` would have made."""
        if not isinstance(a, SynAggregate):
            return ()
        key = (ip_text(a.dst), a.dport)
        t = self.targets.setdefault(key, _Target)
        if a.second > t.second:
            self._roll(t, key, a.second)
        n = a.packets
        for raw, raw_mac, count in a.senders:
            src, mac = ip_text(raw), mac_text(raw_mac)
            if self.allowed.source(src, mac):
                n -= count
                continue
            who = (src, mac)
            if who in t.senders or len(t.senders) < MAX_SENDERS:
                t.senders[who] = t.senders.get(who, 0) + count
            else:
                t.untracked += count
        t.untracked += a.untracked
        t.add(n)
        out, self.found = self.found, []
        return out

    def _roll(self, t: _Target, key: tuple[str, int], second: int) -> None:
        if second == t.second:  # most SYNs: the second goes on, nothing to close
            return
        flood, quiet = t.roll(second, self.s.rate_threshold, self.s.sustain, self.s.burst)
        if flood:
            shape = base.flood_shape(t.senders, t.untracked)
            if not shape and base.spoofed_crowd(t.senders, t.answered):
                shape = "spoofed"  # a crowd of repeating spoofed senders
            if shape == "distributed":
                self.found += self._distributed(key, t, float(second))
            elif shape:
                self.found.append(self._finding(key, t, float(second), shape))
        if quiet:
            t.senders.clear()
            t.untracked = 0
            t.answered.clear()

    def _distributed(self, key: tuple[str, int], t: _Target, ts: float) -> list[Finding]:
        """One finding per host of a distributed SYN flood, each naming its host."""
        heavy = base.heavy_senders(t.senders, t.untracked)
        return [
            Finding(
                detector=self.name,
                severity=Severity.CRITICAL,
                identifier=f"{key[0]}:{key[1]}/{src}",
                summary=f"SYN flood on {{target}} port {key[1]} from {len(heavy)} hosts "
                f"together: {{source}} sent {n} of the {t.judged} SYNs",
                ts=ts,
                src_ip=src,
                src_mac=mac,
                target=key[0],
                kind="distributed",
                counts={"syn": n, "flood_syn": t.judged, "senders": len(heavy)},
            )
            for (src, mac), n in heavy
        ]

    def _finding(self, key: tuple[str, int], t: _Target, ts: float, shape: str) -> Finding:
        (src, mac), _ = max(t.senders.items(), key=lambda kv: kv[1])
        single = shape == "single"
        return Finding(
            detector=self.name,
            severity=Severity.CRITICAL,
            identifier=f"{key[0]}:{key[1]}",
            summary=f"SYN flood on {{target}} port {key[1]}: {t.judged} SYNs "
            + (
                "from {source}"
                if single
                else f"from {len(t.senders) + t.untracked} spoofed sources"
            ),
            ts=ts,
            src_ip=src if single else "",
            src_mac=mac if single else "",
            target=key[0],
            kind=shape,
            counts={"syn": t.judged, "senders": len(t.senders) + t.untracked},
        )

    def tick(self, now: float) -> Iterable[Finding]:
        second = int(now)
        for key, t in self.targets.items():
            self._roll(t, key, second)
            if not (t.hot or t.lead or t.total):  # a second without SYNs: nothing to keep
                self.targets.pop(key)
        out, self.found = self.found, []
        return out

    def stats(self) -> dict[str, int]:
        return {"targets": len(self.targets), "evictions": self.targets.evictions}
