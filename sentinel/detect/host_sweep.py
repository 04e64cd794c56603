"""host_sweep: one source probing many hosts to find who is there (ICMP, TCP, ARP).

ICMP echo requests or TCP discovery probes (SYN or bare ACK) to many distinct hosts
within ``window``; or one MAC asking ARP for many distinct addresses within
``arp_window`` (nmap's default on a local Ethernet). A host talks to a few neighbours
and its gateway; a sweep asks for the whole subnet. A DHCP server (configured, or seen
answering on port 67) asks ARP for each address before it offers it, as many as
clients arrive (a school morning, a starvation attack): its ARP requests are not a
sweep.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from sentinel.detect import base
from sentinel.detect.base import Bounded, Finding, ip_text, mac_text
from sentinel.model import Severity
from sentinel.packet import PROTO_UDP

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sentinel.config.detect import HostSweep as Settings
    from sentinel.detect.base import Common
    from sentinel.packet import Packet

MAX_TARGETS = 4096
MAX_DHCP_SERVERS = 64


class _Seen:
    __slots__ = ("dirty", "ip", "mac", "targets")

    def __init__(self) -> None:
        self.targets: dict[str, float] = {}
        self.mac = ""
        self.ip = ""
        self.dirty = False


class HostSweep:
    name: ClassVar[str] = "host_sweep"
    wants: ClassVar[frozenset[str]] = frozenset({base.ICMP, base.TCP_CONTROL, base.ARP, base.DHCP})

    def __init__(self, s: Settings, common: Common) -> None:
        self.s = s
        self.allowed = common.allowed(s)
        # DHCP servers: their conflict checks (ARP per offered address) are not sweeps
        self.dhcp_ips = set(common.cfg.rogue_dhcp.servers)
        self.dhcp_macs: Bounded[str, bool] = Bounded(MAX_DHCP_SERVERS)
        cap = common.max_tracked
        self.tables: dict[str, Bounded[str, _Seen]] = {
            "icmp": Bounded(cap),
            "tcp": Bounded(cap),
            "arp": Bounded(cap),
        }

    def _note(self, kind: str, src: str, mac: str, target: str, ts: float, ip: str = "") -> None:
        seen = self.tables[kind].setdefault(src, _Seen)
        seen.mac = mac
        seen.ip = ip or seen.ip
        if len(seen.targets) < MAX_TARGETS or target in seen.targets:
            if target not in seen.targets:
                seen.dirty = True
            seen.targets[target] = ts

    def observe(self, p: Packet) -> Iterable[Finding]:
        mac = mac_text(p.src_mac)
        if p.arp_op == 1:  # who-has
            spa = ip_text(p.arp_spa)
            if spa != ip_text(p.arp_tpa) and not self.allowed.source(spa, mac):
                self._note("arp", mac, mac, ip_text(p.arp_tpa), p.ts, ip=spa)
            return ()
        if not p.ip_version:
            return ()
        if p.proto == PROTO_UDP:
            if p.sport == 67 and p.dport == 68:  # a server's reply (the only DHCP seen here)
                self.dhcp_macs.put(mac, True)
            return ()
        src = ip_text(p.src)
        if self.allowed.source(src, mac):
            return ()
        if p.icmp_type in (8, 128):  # echo request (v4, v6)
            self._note("icmp", src, mac, ip_text(p.dst), p.ts)
        elif p.proto == 6 and (p.tcp_flags in (0x02, 0x10)):  # bare SYN or bare ACK probe
            self._note("tcp", src, mac, ip_text(p.dst), p.ts)
        return ()

    def tick(self, now: float) -> Iterable[Finding]:
        out = []
        limits = {
            "icmp": (self.s.window, self.s.icmp_threshold),
            "tcp": (self.s.window, self.s.tcp_threshold),
            "arp": (self.s.arp_window, self.s.arp_threshold),
        }
        for kind, table in self.tables.items():
            window, threshold = limits[kind]
            for src, seen in table.items():
                seen.targets = {t: ts for t, ts in seen.targets.items() if now - ts < window}
                if not seen.targets:
                    table.pop(src)
                    continue
                if not seen.dirty:
                    continue
                seen.dirty = False
                n = len(seen.targets)
                if n < threshold:
                    continue
                by_mac = kind == "arp"
                if by_mac and (src in self.dhcp_macs or seen.ip in self.dhcp_ips):
                    continue
                out.append(
                    Finding(
                        detector=self.name,
                        severity=Severity.WARNING,
                        identifier=src,
                        summary=f"{{source}} is sweeping for hosts ({kind}): {n} addresses "
                        f"in {window:g}s",
                        ts=now,
                        src_ip=seen.ip if by_mac else src,
                        src_mac=seen.mac,
                        kind=kind,
                        counts={"hosts": n},
                    )
                )
        return out

    def stats(self) -> dict[str, int]:
        return {
            "sources": sum(len(t) for t in self.tables.values()),
            "evictions": sum(t.evictions for t in self.tables.values()),
        }
