"""port_scan: one source failing to connect to many ports (vertical, horizontal, random, slow).

A failed attempt is a SYN answered by RST, or not answered within ``answer_timeout``
(filtered ports). Successful connections never count: a client using many services of
one server is not scanning it. Local scanners get the same thresholds as remote ones.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, ClassVar

from sentinel.detect import base
from sentinel.detect.base import Bounded, Finding, ip_text, mac_text
from sentinel.model import Severity

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sentinel.config.detect import PortScan as Settings
    from sentinel.detect.base import Common
    from sentinel.packet import Packet

SYN, RST, ACK = 0x02, 0x04, 0x10
MAX_FAILURES_PER_SOURCE = 8192
PACED_GAP = 1.0  # seconds: a median gap this long between failures is a deliberate delay


class _Source:
    __slots__ = ("dirty", "failures", "mac")

    def __init__(self) -> None:
        self.failures: dict[tuple[str, int], float] = {}  # (dst, port) -> last failure
        self.dirty = False
        self.mac = ""


class PortScan:
    name: ClassVar[str] = "port_scan"
    wants: ClassVar[frozenset[str]] = frozenset({base.TCP_CONTROL})

    def __init__(self, s: Settings, common: Common) -> None:
        self.s = s
        self.allowed = common.allowed(s)
        self.pending: Bounded[tuple[str, str, int, int], tuple[float, str]] = Bounded(
            common.max_tracked * 4
        )
        self.sources: Bounded[str, _Source] = Bounded(common.max_tracked)

    def observe(self, p: Packet) -> Iterable[Finding]:
        flags = p.tcp_flags
        if flags & SYN and not flags & ACK:
            src = ip_text(p.src)
            if not self.allowed.source(src, mac_text(p.src_mac)):
                key = (src, ip_text(p.dst), p.dport, p.sport)
                if key not in self.pending:
                    self.pending.setdefault(key, value=(p.ts, mac_text(p.src_mac)))
        elif flags & SYN and flags & ACK:
            # The port answered: an open port, not a failure.
            self.pending.pop((ip_text(p.dst), ip_text(p.src), p.sport, p.dport))
        elif flags & RST:
            key = (ip_text(p.dst), ip_text(p.src), p.sport, p.dport)
            started = self.pending.pop(key)
            if started is not None:
                self._fail(key[0], started[1], key[1], key[2], p.ts)
        return ()

    def _fail(self, src: str, mac: str, dst: str, port: int, ts: float) -> None:
        s = self.sources.setdefault(src, _Source)
        s.mac = mac
        if len(s.failures) < MAX_FAILURES_PER_SOURCE or (dst, port) in s.failures:
            s.failures[(dst, port)] = ts
        s.dirty = True

    def tick(self, now: float) -> Iterable[Finding]:
        timeout = self.s.answer_timeout
        for key, (started, mac) in self.pending.items():
            if now - started >= timeout:
                self.pending.pop(key)
                self._fail(key[0], mac, key[1], key[2], started + timeout)
        out = []
        for src, s in self.sources.items():
            horizon = now - self.s.slow_window
            s.failures = {k: t for k, t in s.failures.items() if t >= horizon}
            if not s.failures:
                self.sources.pop(src)
                continue
            if s.dirty:
                s.dirty = False
                f = self._judge(src, s, now)
                if f is not None:
                    out.append(f)
        return out

    def _judge(self, src: str, s: _Source, now: float) -> Finding | None:
        recent = [k for k, t in s.failures.items() if t >= now - self.s.window]
        ports_by_host: dict[str, set[int]] = {}
        hosts_by_port: dict[int, set[str]] = {}
        for dst, port in recent:
            ports_by_host.setdefault(dst, set()).add(port)
            hosts_by_port.setdefault(port, set()).add(dst)
        top_host, top_ports = max(
            ((h, len(ps)) for h, ps in ports_by_host.items()), key=lambda x: x[1], default=("", 0)
        )
        top_port, top_hosts = max(
            ((pt, len(hs)) for pt, hs in hosts_by_port.items()), key=lambda x: x[1], default=(0, 0)
        )
        # Slow: failures on one host that are paced (a second or more apart, as nmap's
        # --scan-delay and -T0/-T1 do) or spread over more than the normal window. A fast
        # scan in progress is neither; it crosses the vertical threshold in a moment.
        slow_ports = 0
        for h in {d for d, _ in s.failures}:
            times = sorted(t for (d, _), t in s.failures.items() if d == h)
            if len(times) < self.s.slow_threshold:
                continue
            gaps = sorted(b - a for a, b in itertools.pairwise(times))
            paced = gaps[len(gaps) // 2] >= PACED_GAP
            if paced or times[-1] - times[0] > self.s.window:
                slow_ports = max(slow_ports, len(times))
        counts = {"ports": len(hosts_by_port), "hosts": len(ports_by_host), "attempts": len(recent)}
        kind, target, detail = "", "", ""
        if top_ports >= self.s.vertical_threshold:
            kind, target = "vertical", top_host
            detail = f"{top_ports} closed or filtered ports on {{target}}"
        elif top_hosts >= self.s.horizontal_threshold:
            kind = "horizontal"
            detail = f"port {top_port} on {top_hosts} hosts"
        elif len(recent) >= self.s.random_threshold and len(hosts_by_port) >= 10:
            kind = "random"
            detail = f"{len(recent)} failed connections over {len(hosts_by_port)} ports"
        elif slow_ports >= self.s.slow_threshold:
            kind = "slow"
            detail = f"{slow_ports} closed ports on one host within {self.s.slow_window:g}s"
        if not kind:
            return None
        return Finding(
            detector=self.name,
            severity=Severity.WARNING,
            identifier=src,
            summary=f"{{source}} is port scanning ({kind}): {detail}",
            ts=now,
            src_ip=src,
            src_mac=s.mac,
            target=target,
            target_name="" if target else f"port {top_port}" if kind == "horizontal" else "",
            kind=kind,
            counts=counts,
        )

    def stats(self) -> dict[str, int]:
        return {
            "sources": len(self.sources),
            "pending": len(self.pending),
            "evictions": self.sources.evictions + self.pending.evictions,
        }
