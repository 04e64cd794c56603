"""Runs the detectors on decoded packets and turns findings into alerts.

One place for what every detector needs: packets routed by kind (a detector sees only
what it asked for), time from packet timestamps (a replay gives the same alerts),
repeats suppressed per identifier, alerts resolved when their source has been quiet,
device identifiers pseudonymised, evidence written.

A repeat that is more severe than the active alert (a warning that became critical)
escalates it: the alert takes the finding's severity, summary, description, kind and
target, and goes out at once, whatever ``suppress_for`` says: it is news. A repeat of
the same or a lower severity never changes them (no downgrade while the alert is active).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sentinel.detect import base
from sentinel.detect.evidence import Evidence
from sentinel.detect.incidents import Incidents
from sentinel.detect.registry import build
from sentinel.model import Alert, Endpoint, Severity
from sentinel.packet import LOGIN_NONE, login_prefix

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from pathlib import Path

    from sentinel.config.detect import DetectConfig
    from sentinel.detect.base import Detector, Finding
    from sentinel.packet import Aggregate, Packet

TICK = 1.0  # seconds of packet time between detector ticks
FINISH_GRACE = 10.0  # seconds past the last packet of a file: longer than answer timeouts
INFORMATIONAL = Severity.INFO


@dataclass(slots=True)
class _Active:
    alert: Alert
    sent_at: float
    counts: dict[str, int]


def kinds(p: Packet) -> tuple[str, ...]:
    """The kinds a decoded packet belongs to (see ``base``), broadest first."""
    # Asked for every packet: each field is read once.
    if p.error or not (p.arp_op or p.ip_version):  # p.error: only Ethernet could be read
        return (base.ETHERNET,)
    if p.arp_op:
        return (base.ETHERNET, base.ARP)
    proto, sport, dport = p.proto, p.sport, p.dport
    if proto == 6:
        dns = sport == 53 or dport == 53
        control = p.tcp_flags & 0x07 or not p.tcp_flags & 0x10
        if p.payload_length >= 4 and not dns:
            start = p.payload_offset
            if login_prefix(p.frame, start, start + p.payload_length) != LOGIN_NONE:
                if control:
                    return (base.ETHERNET, base.ANY_IP, base.TCP_CONTROL, base.LOGIN)
                return (base.ETHERNET, base.ANY_IP, base.TCP_ACK, base.LOGIN)
        if control:
            if dns:
                return (base.ETHERNET, base.ANY_IP, base.TCP_CONTROL, base.DNS)
            return (base.ETHERNET, base.ANY_IP, base.TCP_CONTROL)
        if dns:
            return (base.ETHERNET, base.ANY_IP, base.TCP_ACK, base.DNS)
        return (base.ETHERNET, base.ANY_IP, base.TCP_ACK)
    elif proto == 17:
        if p.payload_length == 0 and not p.fragment:
            # An empty datagram carries no DNS, mDNS or DHCP message, whatever its ports:
            # a probe (nmap -sU -g 53 scans from DNS's port so that filters let it by)
            return (base.ETHERNET, base.ANY_IP, base.UDP_PROBE)
        if sport == 53 or dport == 53 or sport == 5353 or dport == 5353:
            return (base.ETHERNET, base.ANY_IP, base.DNS)
        if sport in (67, 68) and dport in (67, 68):
            return (base.ETHERNET, base.ANY_IP, base.DHCP)
        if dport in (546, 547) or sport in (546, 547):  # a server may answer from any port
            return (base.ETHERNET, base.ANY_IP, base.DHCP6)
    elif proto in (1, 58):
        if proto == 58 and 133 <= p.icmp_type <= 137:
            return (base.ETHERNET, base.ANY_IP, base.ICMP, base.ND)
        return (base.ETHERNET, base.ANY_IP, base.ICMP)
    elif not p.fragment:
        return (base.ETHERNET, base.ANY_IP, base.IP_OTHER)
    return (base.ETHERNET, base.ANY_IP)


class Engine:
    """Packets in, alerts out. ``tick(now)`` must be called as packet time advances."""

    def __init__(
        self,
        cfg: DetectConfig,
        *,
        pseudonymise: Callable[[str], str] = lambda v: v,
        evidence_dir: Path | None = None,
        networks: Iterable[str] = (),
    ) -> None:
        self.cfg = cfg
        self.pseudonymise = pseudonymise
        self.detectors: list[Detector] = build(cfg, tuple(networks))
        # Detectors that read the capture side's aggregates (syn_flood, mac_flood).
        self.aggregators = [d for d in self.detectors if hasattr(d, "observe_aggregate")]
        self.routes: dict[str, list[Detector]] = {}
        # by kinds(): evidence or not, and the ``observe`` of each detector that wants it
        self.plans: dict[tuple[str, ...], tuple[bool, list[Callable[[Packet], Iterable[Finding]]]]]
        self.plans = {}
        for d in self.detectors:
            for kind in d.wants:
                self.routes.setdefault(kind, []).append(d)
        self.evidence = Evidence(
            evidence_dir if cfg.evidence.enabled else None,
            per_alert=cfg.evidence.packets_per_alert,
            max_total_bytes=cfg.evidence.max_total_mb << 20,
        )
        self.keeping = self.evidence.directory is not None  # else nothing is written
        self.active: dict[tuple[str, str], _Active] = {}
        self.incidents = (
            Incidents(cfg.incidents.window, gateway_mac=cfg.gateway.mac or "")
            if cfg.incidents.enabled
            else None
        )
        self.next_tick: float | None = None
        self.now = 0.0
        self.detections: dict[tuple[str, str], int] = {}  # (detector, severity) -> count

    def packet(self, p: Packet) -> list[Alert]:
        """Feed one decoded packet; alerts that became due."""
        out: list[Alert] = []
        ts = p.ts
        if self.next_tick is None:
            self.next_tick = ts + TICK
        elif ts >= self.next_tick:
            out += self.tick(ts)
        if ts > self.now:
            self.now = ts
        ks = kinds(p)
        plan = self.plans.get(ks)
        if plan is None:
            keep, detectors = self._plan(ks)
            plan = self.plans[ks] = (keep, [d.observe for d in detectors])  # bound once
        keep, observers = plan
        if keep and self.keeping:  # a detector beyond layer 2 looks at it: evidence
            self.evidence.add_record((ts, p.src or p.arp_spa, p.src_mac, p.frame, p.linktype))
        for observe in observers:
            findings = observe(p)  # () or a list when nothing is due, or a generator
            if findings:
                out += self._report(findings)
        return out

    @property
    def quiet_version(self) -> int:
        """Changes whenever ``quiet_answers()`` may have."""
        return sum(getattr(d, "quiet_version", 0) for d in self.detectors)

    def quiet_answers(self) -> set[tuple[bytes, bytes]]:
        """DNS servers (address, MAC as wire bytes) whose answers over UDP no detector
        reads: the capture side need not hand them over. They come from the detectors
        that learn resolvers (``quiet_answers()``: dns_tunnel), and only when every
        detector that gets DNS answers says it does not read a resolver's
        (``reads_resolver_answers = False``); a detector that does not say so keeps
        them all coming."""
        _keep, readers = self._plan((base.ETHERNET, base.ANY_IP, base.DNS))
        if any(getattr(d, "reads_resolver_answers", True) for d in readers):
            return set()
        out: set[tuple[bytes, bytes]] = set()
        for d in self.detectors:
            learned = getattr(d, "quiet_answers", None)
            if learned is not None:
                out |= learned()
        return out

    def aggregate(self, a: Aggregate) -> list[Alert]:
        """Feed one aggregate: what a flood sent past the frame budget, counted by the
        capture side (SYNs per service and second, never-seen MACs per second)."""
        self.now = max(self.now, float(a.second))
        out: list[Alert] = []
        for d in self.aggregators:
            out += self._report(d.observe_aggregate(a))
        return out

    def _plan(self, ks: tuple[str, ...]) -> tuple[bool, list[Detector]]:
        """Whether packets of kinds ``ks`` are kept as evidence, and each detector that
        wants one of the kinds, once."""
        detectors: list[Detector] = []
        for kind in ks:
            for d in self.routes.get(kind, ()):
                if all(d is not other for other in detectors):
                    detectors.append(d)
        keep = any(self.routes.get(k) for k in ks if k != base.ETHERNET)
        return keep, detectors

    def tick(self, now: float) -> list[Alert]:
        """Expire windows, flag what timed out, resolve quiet alerts."""
        out: list[Alert] = []
        self.now = max(self.now, now)
        self.next_tick = now + TICK
        for d in self.detectors:
            out += self._report(d.tick(now))
        quiet = [
            k for k, a in self.active.items() if now - a.alert.last_seen >= self.cfg.resolve_after
        ]
        for key in quiet:
            a = self.active.pop(key)
            out.append(dataclasses.replace(a.alert, resolved=now))
        return out

    def finish(self) -> list[Alert]:
        """End of input (a pcap): judge what is pending, as if time ran on a little.

        Ticks second by second up to ``FINISH_GRACE`` past the last packet, so unanswered
        SYNs time out and the last second's counts are judged, while no window has yet
        expired the evidence. Nothing is resolved.
        """
        out: list[Alert] = []
        for step in range(1, int(FINISH_GRACE) + 1):
            for d in self.detectors:
                out += self._report(d.tick(self.now + step))
        return out

    def _report(self, findings: Iterable[Finding]) -> list[Alert]:
        out = []
        for f in findings:
            if f.severity is INFORMATIONAL and not self.cfg.info_alerts:
                # Informational findings are counted (metrics), not alerted.
                sev = (f.detector, f.severity.value)
                self.detections[sev] = self.detections.get(sev, 0) + 1
                continue
            key = (f.detector, f.identifier)
            prev = self.active.get(key)
            if prev is not None:
                for k, v in f.counts.items():
                    prev.counts[k] = max(prev.counts.get(k, 0), v)
                prev.alert = dataclasses.replace(
                    prev.alert, last_seen=f.ts, counts=tuple(sorted(prev.counts.items()))
                )
                if self.incidents is not None:
                    self.incidents.seen(f.ts, f.src_ip, f.src_mac)
                escalated = f.severity.rank > prev.alert.severity.rank
                if escalated:
                    prev.alert = self._escalate(prev.alert, f)
                    sev = (f.detector, f.severity.value)
                    self.detections[sev] = self.detections.get(sev, 0) + 1
                elif f.ts - prev.sent_at < self.cfg.suppress_for:
                    continue
                prev.sent_at = f.ts
                out.append(prev.alert)
                continue
            if len(self.active) >= 10000:  # bounded even if every source alerts
                oldest = min(self.active, key=lambda k: self.active[k].alert.last_seen)
                del self.active[oldest]
            alert = self._alert(f)
            if self.incidents is not None:
                lead = self.incidents.place(alert.key, f.ts, f.src_ip, f.src_mac)
                alert = dataclasses.replace(alert, incident=f"{lead[0]}:{lead[1]}")
            self.active[key] = _Active(alert, f.ts, dict(f.counts))
            sev = (f.detector, f.severity.value)
            self.detections[sev] = self.detections.get(sev, 0) + 1
            out.append(alert)
        return out

    def _escalate(self, alert: Alert, f: Finding) -> Alert:
        """The active ``alert`` as the more severe finding ``f`` describes it (its times,
        counts, source, incident and evidence stay)."""
        _ip, _mac, source, target = self._names(f)
        return dataclasses.replace(
            alert,
            severity=f.severity,
            summary=f.summary.format(source=source, target=target),
            description=f.description.format(source=source, target=target),
            target=target,
            kind=f.kind,
        )

    def _names(self, f: Finding) -> tuple[str, str, str, str]:
        """How an alert names the finding's source IP, MAC, source and target
        (pseudonyms unless the site allows clear text)."""
        ps = self.pseudonymise
        ip = ps(f.src_ip) if f.src_ip else ""
        mac = ps(f.src_mac) if f.src_mac else ""
        target = ps(f.target) if f.target else f.target_name
        return ip, mac, ip or mac or ps(f.identifier), target

    def _alert(self, f: Finding) -> Alert:
        ps = self.pseudonymise
        ip, mac, source, target = self._names(f)
        evidence = self.evidence.write(f.detector, source, f.ts, f.src_ip, f.src_mac)
        return Alert(
            detector=f.detector,
            severity=f.severity,
            identifier=ps(f.identifier),
            summary=f.summary.format(source=source, target=target),
            first_seen=f.ts,
            last_seen=f.ts,
            source=Endpoint(ip=ip, mac=mac),
            target=target,
            counts=tuple(sorted(f.counts.items())),
            description=f.description.format(source=source, target=target),
            evidence=evidence,
            kind=f.kind,
        )

    def stats(self) -> dict[str, dict[str, int]]:
        """Table sizes and evictions per detector (metrics)."""
        return {d.name: d.stats() for d in self.detectors}
