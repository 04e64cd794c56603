"""host_sweep: one source probing many hosts to find who is there (ICMP, TCP, ARP).

ICMP echo requests or TCP discovery probes (SYN or bare ACK) to many distinct hosts
within ``window``; or one MAC asking ARP for many distinct addresses within
``arp_window`` (nmap's default on a local Ethernet). A host talks to a few neighbours
and its gateway; a sweep asks for the whole subnet. A DHCP server (configured, or seen
answering on port 67) asks ARP for each address before it offers it, as many as
clients arrive (a school morning, a starvation attack): its ARP requests are not a
sweep.

A SYN answered by a SYN-ACK is a connection, not a probe, unless the source resets it
at once without sending a byte (a half-open probe: nmap -PS, whose kernel answers the
SYN-ACK with a reset): a peer-to-peer client, a browser or an update client reaching
dozens of servers is not sweeping. A SYN counts after ``GRACE`` seconds, so an answer
still on its way is not mistaken for silence.
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
GRACE = 1.0  # seconds a SYN waits for its SYN-ACK before it counts as a probe
SEQ = 1 << 32
MAX_DHCP_SERVERS = 64


class _Seen:
    __slots__ = ("answered", "dirty", "ip", "mac", "pending", "targets")

    def __init__(self) -> None:
        self.targets: dict[str, float] = {}
        self.mac = ""
        self.ip = ""
        self.dirty = False
        # TCP only: (target, port, source port) -> the SYN's sequence number; targets that
        # took a connection (SYN-ACK, not reset at once)
        self.pending: dict[tuple[str, int, int], int] = {}
        self.answered: set[str] = set()


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

    def _note(self, kind: str, src: str, mac: str, target: str, ts: float, ip: str = "") -> _Seen:
        seen = self.tables[kind].setdefault(src, _Seen)
        seen.mac = mac
        seen.ip = ip or seen.ip
        if len(seen.targets) < MAX_TARGETS or target in seen.targets:
            if target not in seen.targets:
                seen.dirty = True
            seen.targets[target] = ts
        return seen

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
        if p.proto == 6 and p.tcp_flags & 0x12 == 0x12:  # SYN-ACK: the target answered
            self._answer(ip_text(p.dst), src, p.dport, p.sport)
            return ()
        if self.allowed.source(src, mac):
            return ()
        if p.icmp_type in (8, 128):  # echo request (v4, v6)
            self._note("icmp", src, mac, ip_text(p.dst), p.ts)
        elif p.proto == 6 and (p.tcp_flags in (0x02, 0x10)):  # bare SYN or bare ACK probe
            dst = ip_text(p.dst)
            seen = self._note("tcp", src, mac, dst, p.ts)
            if p.tcp_flags == 0x02:
                if len(seen.pending) >= MAX_TARGETS:
                    seen.pending.clear()
                seen.pending[(dst, p.dport, p.sport)] = p.tcp_seq
        elif p.proto == 6 and p.tcp_flags & 0x04:  # the source's reset
            self._reset(src, ip_text(p.dst), p.dport, p.sport, p.tcp_seq)
        return ()

    def _answer(self, src: str, target: str, sport: int, port: int) -> None:
        seen = self.tables["tcp"].get(src)
        if seen is not None and (target, port, sport) in seen.pending:
            seen.answered.add(target)

    def _reset(self, src: str, target: str, port: int, sport: int, seq: int) -> None:
        """A reset right after the SYN-ACK, with no byte sent: a half-open probe after all."""
        seen = self.tables["tcp"].get(src)
        isn = None if seen is None else seen.pending.pop((target, port, sport), None)
        no_data = isn is not None and (seq - isn - 1) % SEQ == 0
        if seen is not None and no_data and target in seen.answered:
            seen.answered.discard(target)
            seen.dirty = True

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
                if kind == "tcp":
                    n = self._probed(seen, now)
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

    @staticmethod
    def _probed(seen: _Seen, now: float) -> int:
        """Targets that took no connection, their SYN at least GRACE old (dirty till then)."""
        seen.answered &= seen.targets.keys()
        if len(seen.pending) > len(seen.targets) * 4:  # connections that ended unseen
            seen.pending = {k: v for k, v in seen.pending.items() if k[0] in seen.targets}
        n = 0
        for target, ts in seen.targets.items():
            if target in seen.answered:
                continue
            if now - ts < GRACE:
                seen.dirty = True
            else:
                n += 1
        return n

    def stats(self) -> dict[str, int]:
        return {
            "sources": sum(len(t) for t in self.tables.values()),
            "evictions": sum(t.evictions for t in self.tables.values()),
        }
