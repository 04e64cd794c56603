"""The same packet pipeline for live capture and pcap files: accounting for every frame,
then the deep decoder and the detectors on the frames they want."""

from __future__ import annotations

import dataclasses
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sentinel.capture.accounting import UDP_FLOOR, Counter, Snapshot, new_accounting
from sentinel.capture.census import CensusTap
from sentinel.capture.decode import LINK_ETHERNET, decode
from sentinel.capture.reassembly import Reassembler
from sentinel.config.detect import DetectConfig
from sentinel.packet import NewMacs, SynAggregate, UdpFlows, UdpProbes, UdpSpread

if TYPE_CHECKING:
    from sentinel.detect.engine import Engine
    from sentinel.model import Alert


@dataclass(slots=True)
class Settings:
    """What the worker needs (plain values: it crosses a process boundary)."""

    interface: str | None = None
    networks: tuple[str, ...] = ()
    ring_size_mb: int = 32
    snaplen: int = 65535
    header_snaplen: int = 256
    promiscuous: bool = True
    device_window: float = 300.0
    max_devices: int = 65536
    snapshot_interval: float = 1.0
    detect: DetectConfig | None = None
    site_key: bytes = b""
    pseudonymise: bool = True
    evidence_dir: str = ""


def make_engine(settings: Settings) -> Engine | None:
    """The detection engine the settings ask for, or None."""
    if settings.detect is None:
        return None
    from sentinel.detect.engine import Engine
    from sentinel.privacy import Pseudonymiser

    # Never clear text for want of a key: without one (library use, tests) the engine gets
    # a key of its own, so names are keyed but differ from the daemon's. The daemon and
    # ``sentinel analyze`` always pass the site key (privacy.site_key fails closed).
    key = settings.site_key or secrets.token_bytes(32)
    name = Pseudonymiser(key, enabled=settings.pseudonymise)
    return Engine(
        settings.detect,
        pseudonymise=name,
        evidence_dir=Path(settings.evidence_dir) if settings.evidence_dir else None,
        networks=settings.networks,
    )


# Keys of a detector's stats() that count events, not table entries (the rest are summed
# into sentinel_detector_table_entries).
COUNTS = frozenset({"evictions", "malformed"})


def feed_aggregates(accounting: Counter, engine: Engine, final: bool = False) -> list[Alert]:
    """What the capture side counted instead of handing frames over, to the detectors:
    the SYNs a flood sent past the frame budget (per service and second), never-seen
    MACs, UDP datagrams with data per destination and second (floods, and senders of UDP
    probes to many ports), and per pair of the site's hosts over minutes (slower UDP
    probes to many ports)."""
    alerts: list[Alert] = []
    for agg in accounting.aggregates():
        alerts += engine.aggregate(SynAggregate(*agg))
    for second, macs, multicast in accounting.mac_aggregates():
        alerts += engine.aggregate(NewMacs(second, macs, multicast))
    for flows in accounting.udp_aggregates(final):
        if flows[2] >= UDP_FLOOR:
            alerts += engine.aggregate(UdpFlows(*flows[:9]))
        if flows[9]:  # a sender of UDP probes with data to many ports
            alerts += engine.aggregate(UdpProbes(flows[0], flows[1], flows[9], flows[10]))
    for spread in accounting.udp_spread(final):
        alerts += engine.aggregate(UdpSpread(*spread))
    return alerts


class Pipeline:
    """Frames in; counters and alerts out."""

    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        self.settings = settings
        self.accounting = new_accounting(
            settings.networks,
            device_cap=settings.max_devices,
            window=settings.device_window,
            detector_cap=4096 if engine is not None else 0,  # no detectors: no copies
        )
        # The hot path, bound once: one frame, a pcap region, a ring block.
        self.frame = self.accounting.frame
        self.pcap = self.accounting.pcap
        self.ring_block = self.accounting.ring_block
        self.decode_errors: dict[str, int] = {}
        self.engine = engine
        self.census = CensusTap(settings.site_key) if settings.site_key else None
        self.decoded = 0
        self.reassembler = Reassembler()  # IPv6 fragments of what the detectors want
        self.kernel_packets = 0  # live capture: what the kernel saw and dropped
        self.kernel_drops = 0
        self.last_ts = 0.0
        self.quiet_version = 0  # of the engine's quiet answers the capture side has

    def drain(self, final: bool = False) -> list[Alert]:
        """Decode the frames the detectors want and run them; alerts that became due.
        ``final``: the end of the input, the last second's aggregates are complete."""
        alerts: list[Alert] = []
        malformed = self.decode_errors
        engine = self.engine
        for ts, wirelen, raw in self.accounting.detector_batch():
            whole = self.reassembler.frame(raw, ts)
            if whole is not None and engine is not None:
                joined = decode(whole, LINK_ETHERNET, ts, len(whole))
                if not joined.error:
                    joined.reassembled = True
                    alerts += engine.packet(joined)
            p = decode(raw, LINK_ETHERNET, ts, wirelen)
            if p.error:
                key = f"decode_{p.error}"
                malformed[key] = malformed.get(key, 0) + 1
                if not p.src_mac or engine is None:
                    continue  # not even an Ethernet header
                # The Ethernet header is sound: layer-2 detectors (mac_flood) still see it.
            self.decoded += 1
            self.last_ts = max(self.last_ts, ts)
            if self.census is not None and not p.error:
                self.census.packet(p)
            if engine is not None:
                alerts += engine.packet(p)
        if engine is not None:
            alerts += feed_aggregates(self.accounting, engine, final)
            if engine.quiet_version != self.quiet_version:  # a resolver learned
                self.quiet_version = engine.quiet_version
                self.accounting.quiet_answers(sorted(engine.quiet_answers()))
        return [self._context(a) for a in alerts]

    def _context(self, alert: Alert) -> Alert:
        """Alerts without one source (spoofed floods, MAC floods) get the LAN's top talkers."""
        if alert.source.ip or alert.source.mac or alert.resolved is not None or not self.engine:
            return alert
        talkers = self.accounting.top_talkers()
        if not talkers:
            return alert
        name = self.engine.pseudonymise
        top = ", ".join(f"{name(ip)} ({n / 1e6:.1f} MB)" for ip, n in talkers)
        text = f"{alert.description} Top talkers on the LAN: {top}.".strip()
        return dataclasses.replace(alert, description=text)

    def tick(self, now: float) -> list[Alert]:
        """Let detector windows expire at ``now`` (packet time)."""
        return self.engine.tick(now) if self.engine is not None else []

    def snapshot(self, own_drops: int = 0) -> Snapshot:
        snap = self.accounting.snapshot()
        for reason, n in self.decode_errors.items():
            snap.malformed[reason] = snap.malformed.get(reason, 0) + n
        snap.kernel_packets, snap.kernel_drops = self.kernel_packets, self.kernel_drops
        snap.own_drops = self.accounting.detector_frames_dropped + own_drops
        if self.engine is not None:
            snap.detections = dict(self.engine.detections)
            snap.detector_tables = {
                name: (sum(v for k, v in st.items() if k not in COUNTS), st.get("evictions", 0))
                for name, st in self.engine.stats().items()
            }
        return snap
