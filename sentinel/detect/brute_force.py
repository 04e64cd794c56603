"""brute_force: password guessing against login services (ssh, rdp, smb, ...).

Counts connections, not failed logins: hydra makes several guesses per connection (41
guesses over 9 connections in the school lab), so counting failures per connection, as
Zeek does, misses it, and encrypted protocols hide them anyway. Three rules per
(source, service): ``short_threshold`` connections within ``short_window``,
``long_threshold`` within ``long_window`` (slow guessers), or ``bursts`` bursts of
``burst_threshold`` parallel starts within ``burst_window`` (guessers run parallel
sessions; a person opening three sessions by hand does not).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from sentinel.detect import base
from sentinel.detect.base import Bounded, Finding, ip_text, mac_text
from sentinel.model import Severity

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sentinel.config.detect import BruteForce as Settings
    from sentinel.detect.base import Common
    from sentinel.packet import Packet

SERVICES = {
    21: "ftp",
    22: "ssh",
    23: "telnet",
    139: "smb",
    445: "smb",
    389: "ldap",
    1433: "mssql",
    3306: "mysql",
    3389: "rdp",
    5432: "postgres",
    5900: "vnc",
    5985: "winrm",
}


class _Service:
    __slots__ = ("bursts", "mac", "ports", "starts")

    def __init__(self) -> None:
        self.starts: list[float] = []
        self.ports: set[int] = set()  # source ports: SYN retransmissions are not new tries
        self.bursts: list[float] = []
        self.mac = ""


class BruteForce:
    name: ClassVar[str] = "brute_force"
    wants: ClassVar[frozenset[str]] = frozenset({base.TCP_CONTROL})

    def __init__(self, s: Settings, common: Common) -> None:
        self.s = s
        self.allowed = common.allowed(s)
        self.ports = frozenset(s.ports)
        self.table: Bounded[tuple[str, str, int], _Service] = Bounded(common.max_tracked)

    def observe(self, p: Packet) -> Iterable[Finding]:
        if p.tcp_flags & 0x12 != 0x02 or p.dport not in self.ports:
            return ()
        src, mac = ip_text(p.src), mac_text(p.src_mac)
        if self.allowed.source(src, mac):
            return ()
        key = (src, ip_text(p.dst), p.dport)
        svc = self.table.setdefault(key, _Service)
        svc.mac = mac
        if p.sport in svc.ports:
            return ()
        if len(svc.ports) > 4096:
            svc.ports.clear()
        svc.ports.add(p.sport)
        svc.starts = [t for t in svc.starts if p.ts - t < self.s.long_window]
        svc.starts.append(p.ts)
        recent = [t for t in svc.starts if p.ts - t < self.s.burst_window]
        if len(recent) == self.s.burst_threshold:
            svc.bursts = [t for t in svc.bursts if p.ts - t < self.s.short_window]
            svc.bursts.append(p.ts)
        return self._judge(key, svc, p.ts)

    def _judge(self, key: tuple[str, str, int], svc: _Service, now: float) -> list[Finding]:
        short = sum(1 for t in svc.starts if now - t < self.s.short_window)
        rule = ""
        if short >= self.s.short_threshold:
            rule = f"{short} connections in {self.s.short_window:g}s"
        elif len(svc.starts) >= self.s.long_threshold:
            rule = f"{len(svc.starts)} connections in {self.s.long_window:g}s"
        elif len(svc.bursts) >= self.s.bursts:
            rule = f"{len(svc.bursts)} bursts of parallel sessions"
        if not rule:
            return []
        service = SERVICES.get(key[2], f"port {key[2]}")
        return [
            Finding(
                detector=self.name,
                severity=Severity.CRITICAL,
                identifier=f"{key[0]}|{key[1]}|{key[2]}",
                summary=f"{{source}} is guessing passwords on {service} of {{target}}: {rule}",
                ts=now,
                src_ip=key[0],
                src_mac=svc.mac,
                target=key[1],
                kind=service,
                counts={"connections": len(svc.starts), "bursts": len(svc.bursts)},
            )
        ]

    def tick(self, now: float) -> Iterable[Finding]:
        for key, svc in self.table.items():
            if svc.starts and now - svc.starts[-1] > self.s.long_window:
                self.table.pop(key)
        return ()

    def stats(self) -> dict[str, int]:
        return {"services": len(self.table), "evictions": self.table.evictions}
