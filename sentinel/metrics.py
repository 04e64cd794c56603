"""Every metric sentinel exports, defined once on a given registry.

The naming scheme is in docs/ARCHITECTURE.md (Metrics); README.md lists every family.
"""

from __future__ import annotations

import platform
import threading
from typing import TYPE_CHECKING

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from sentinel import __version__
from sentinel.errors import SNMP_ERROR_KINDS
from sentinel.model import (
    AlertingStats,
    CensusCounts,
    InterfaceSample,
    L2Snapshot,
    LanCounters,
    Role,
    SwitchHealth,
    Tier,
)
from sentinel.probemetrics import ProbeMetrics

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence

PORT_LABELS = ("switch", "ifindex", "ifname")

# (metric name, help, attribute of InterfaceSample, kind, tiers that export it)
_COUNTERS = (
    ("receive_bytes", "Bytes received on the interface.", "rx_bytes", (Tier.FULL, Tier.LEAN)),
    ("transmit_bytes", "Bytes sent on the interface.", "tx_bytes", (Tier.FULL, Tier.LEAN)),
    ("receive_packets", "Packets received on the interface.", "rx_packets", (Tier.FULL,)),
    ("transmit_packets", "Packets sent on the interface.", "tx_packets", (Tier.FULL,)),
    ("receive_errors", "Received packets with errors.", "rx_errors", (Tier.FULL,)),
    (
        "transmit_errors",
        "Packets that could not be sent because of errors.",
        "tx_errors",
        (Tier.FULL,),
    ),
    (
        "receive_discards",
        "Received packets discarded without an error.",
        "rx_discards",
        (Tier.FULL,),
    ),
    (
        "transmit_discards",
        "Outbound packets discarded without an error.",
        "tx_discards",
        (Tier.FULL,),
    ),
)


class InterfaceCollector(Collector):
    """Renders the latest interface snapshot of each switch; a scrape does no I/O."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # scrapes may run in a thread (prometheus_client)
        self._snapshots: dict[str, tuple[InterfaceSample, ...]] = {}

    def publish(self, switch: str, samples: Iterable[InterfaceSample]) -> None:
        """Replace the snapshot of ``switch`` (interfaces that disappeared disappear)."""
        snapshot = tuple(samples)
        with self._lock:
            self._snapshots[switch] = snapshot

    def forget(self, switch: str) -> None:
        """Drop a switch that is no longer configured."""
        with self._lock:
            self._snapshots.pop(switch, None)

    def uplinks(self) -> list[InterfaceSample]:
        """The latest samples of every uplink, local and SNMP (the connection verdict)."""
        with self._lock:
            return [s for snap in self._snapshots.values() for s in snap if s.role is Role.UPLINK]

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            samples: Sequence[InterfaceSample] = [
                s for snap in self._snapshots.values() for s in snap
            ]
        for name, doc, attr, tiers in _COUNTERS:
            fam = CounterMetricFamily(f"sentinel_interface_{name}", doc, labels=PORT_LABELS)
            for s in samples:
                value = getattr(s, attr)
                if s.tier in tiers and value is not None:
                    fam.add_metric(_port(s), value)
            yield fam
        up = GaugeMetricFamily(
            "sentinel_interface_up", "1 if the interface is operationally up.", labels=PORT_LABELS
        )
        admin = GaugeMetricFamily(
            "sentinel_interface_admin_up", "1 if the interface is enabled.", labels=PORT_LABELS
        )
        speed = GaugeMetricFamily(
            "sentinel_interface_speed_bytes",
            "Nominal interface speed in bytes per second.",
            labels=PORT_LABELS,
        )
        info = GaugeMetricFamily(
            "sentinel_interface_info",
            "Interface description; always 1.",
            labels=(*PORT_LABELS, "ifdescr", "ifalias", "role"),
        )
        for s in samples:
            labels = _port(s)
            up.add_metric(labels, 1.0 if s.oper_up else 0.0)
            info.add_metric([*labels, s.ifdescr, s.ifalias, s.role.value], 1.0)
            if s.tier is Tier.FULL:
                admin.add_metric(labels, 1.0 if s.admin_up else 0.0)
                if s.speed_bytes is not None:
                    speed.add_metric(labels, s.speed_bytes)
        yield from (up, admin, speed, info)


class SwitchCollector(Collector):
    """Renders the latest health of each polled switch."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._health: dict[str, SwitchHealth] = {}

    def publish(self, health: SwitchHealth) -> None:
        with self._lock:
            self._health[health.switch] = health

    def forget(self, switch: str) -> None:
        with self._lock:
            self._health.pop(switch, None)

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            items = sorted(self._health.values(), key=lambda h: h.switch)
        sw = ["switch"]
        up = GaugeMetricFamily(
            "sentinel_switch_up", "1 if the last SNMP poll succeeded.", labels=sw
        )
        duration = GaugeMetricFamily(
            "sentinel_snmp_poll_duration_seconds", "Duration of the last SNMP poll.", labels=sw
        )
        last = GaugeMetricFamily(
            "sentinel_snmp_last_success_timestamp_seconds",
            "Time of the last successful SNMP poll.",
            labels=sw,
        )
        boot = GaugeMetricFamily(
            "sentinel_switch_boot_time_seconds",
            "When the switch booted (from sysUpTime).",
            labels=sw,
        )
        errors = CounterMetricFamily(
            "sentinel_snmp_errors",
            "Failed SNMP polls by kind: timeout, malformed, auth, protocol.",
            labels=["switch", "kind"],
        )
        requests = CounterMetricFamily(
            "sentinel_snmp_requests", "SNMP requests that got an answer.", labels=sw
        )
        varbinds = CounterMetricFamily(
            "sentinel_snmp_varbinds", "Variable bindings received.", labels=sw
        )
        gaps = CounterMetricFamily(
            "sentinel_snmp_counter_discontinuities",
            "Counter intervals dropped (reset, reboot, impossible jump) instead of a spike.",
            labels=sw,
        )
        for h in items:
            up.add_metric([h.switch], 1.0 if h.up else 0.0)
            if h.last_duration is not None:
                duration.add_metric([h.switch], h.last_duration)
            if h.last_success is not None:
                last.add_metric([h.switch], h.last_success)
            if h.boot_time is not None:
                boot.add_metric([h.switch], h.boot_time)
            counts = dict(h.errors)
            for kind in SNMP_ERROR_KINDS:
                errors.add_metric([h.switch, kind], counts.get(kind, 0))
            requests.add_metric([h.switch], h.requests)
            varbinds.add_metric([h.switch], h.varbinds)
            gaps.add_metric([h.switch], h.discontinuities)
        yield from (up, duration, last, boot, errors, requests, varbinds, gaps)


class LanCollector(Collector):
    """Renders the capture worker's accounting (``sentinel_lan_*``, detections)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: LanCounters | None = None

    def publish(self, counters: LanCounters | None) -> None:
        with self._lock:
            self._counters = counters

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            c = self._counters
        if c is None:
            return
        labels = ["direction", "family", "protocol"]
        packets = CounterMetricFamily(
            "sentinel_lan_packets",
            "Packets seen on the LAN by direction and protocol.",
            labels=labels,
        )
        octets = CounterMetricFamily(
            "sentinel_lan_bytes", "Bytes seen on the LAN by direction and protocol.", labels=labels
        )
        for direction, family, proto, n, b in c.traffic:
            packets.add_metric([direction, family, proto], n)
            octets.add_metric([direction, family, proto], b)
        malformed = CounterMetricFamily(
            "sentinel_lan_malformed_packets",
            "Frames that could not be decoded, by reason.",
            labels=["reason"],
        )
        for reason, n in c.malformed:
            malformed.add_metric([reason], n)
        active = GaugeMetricFamily(
            "sentinel_lan_active_devices",
            "Distinct devices seen in the last device window (MACs; local IP addresses).",
            labels=["kind"],
        )
        active.add_metric(["mac"], c.active_macs)
        active.add_metric(["ip"], c.active_ips)
        yield from (packets, octets, malformed, active)
        detections = CounterMetricFamily(
            "sentinel_detections",
            "Alerts raised by the detectors (repeats not counted).",
            labels=["detector", "severity"],
        )
        for detector, severity, n in c.detections:
            detections.add_metric([detector, severity], n)
        entries = GaugeMetricFamily(
            "sentinel_detector_table_entries",
            "Entries in a detector's bounded tables.",
            labels=["detector"],
        )
        evictions = CounterMetricFamily(
            "sentinel_detector_evictions",
            "Entries a detector dropped to stay within its cap (spoofed floods).",
            labels=["detector"],
        )
        for detector, size, evicted in c.detector_tables:
            entries.add_metric([detector], size)
            evictions.add_metric([detector], evicted)
        yield from (detections, entries, evictions)
        for name, doc, value in (
            (
                "sentinel_lan_kernel_packets",
                "Packets the kernel delivered to the capture ring.",
                c.kernel_packets,
            ),
            (
                "sentinel_lan_kernel_drops",
                "Packets the kernel dropped: the ring was full.",
                c.kernel_drops,
            ),
            (
                "sentinel_lan_dropped_packets",
                "Packets sentinel itself skipped (full detector queue, slow main process).",
                c.own_drops,
            ),
            (
                "sentinel_lan_device_table_full",
                "Device sightings not counted because the device table was full.",
                c.device_table_full,
            ),
            (
                "sentinel_lan_detector_packets",
                "Packets the detectors wanted: handed over, aggregated or dropped.",
                c.detector_packets,
            ),
            (
                "sentinel_lan_detector_aggregated_packets",
                "Packets past the detectors' frame budget counted in an aggregate (SYNs per "
                "service and second, never-seen MACs) that the detectors read instead.",
                c.detector_aggregated,
            ),
        ):
            fam = CounterMetricFamily(name, doc)
            fam.add_metric([], value)
            yield fam


class AlertingCollector(Collector):
    """Renders the alert router's counts (a scrape never touches the outbox itself)."""

    def __init__(self) -> None:
        self.source: Callable[[], AlertingStats] | None = None

    def collect(self) -> Iterator[Metric]:
        if self.source is None:
            return
        st = self.source()
        for name, doc, value in (
            ("sentinel_alerts_received", "Alerts submitted to the router.", st.received),
            (
                "sentinel_alerts_suppressed",
                "Repeats of an active alert not sent again.",
                st.suppressed,
            ),
            (
                "sentinel_alerts_correlated",
                "Alerts folded into an active incident of the same source, not sent alone.",
                st.correlated,
            ),
        ):
            total = CounterMetricFamily(name, doc)
            total.add_metric([], value)
            yield total
        escalated = CounterMetricFamily(
            "sentinel_alerts_escalated",
            "Active alerts that became more severe, sent at once with the new severity.",
            labels=["detector", "severity"],
        )
        for (detector, severity), v in sorted(st.escalated.items()):
            escalated.add_metric([detector, severity], v)
        yield escalated
        active = GaugeMetricFamily("sentinel_alerts_active", "Alerts currently active.")
        active.add_metric([], st.active)
        yield active
        per_sink = (
            ("sentinel_alert_queue_entries", "Alert events waiting for a sink.", st.queued, False),
            ("sentinel_alerts_delivered", "Alert events a sink accepted.", st.delivered, True),
            ("sentinel_alert_delivery_failures", "Failed delivery attempts.", st.failures, True),
        )
        for name, doc, values, counter in per_sink:
            fam: CounterMetricFamily | GaugeMetricFamily = (
                CounterMetricFamily(name, doc, labels=["sink"])
                if counter
                else GaugeMetricFamily(name, doc, labels=["sink"])
            )
            for sink, v in sorted(values.items()):
                fam.add_metric([sink], v)
            yield fam
        dropped = CounterMetricFamily(
            "sentinel_alerts_dropped", "Alert events given up, by reason.", labels=["reason"]
        )
        for reason, v in sorted(st.dropped.items()):
            dropped.add_metric([reason], v)
        up = GaugeMetricFamily(
            "sentinel_alert_sink_up",
            "1 if the last delivery to the sink succeeded.",
            labels=["sink"],
        )
        for sink, ok in sorted(st.sink_up.items()):
            up.add_metric([sink], 1.0 if ok else 0.0)
        on_disk = GaugeMetricFamily(
            "sentinel_alert_outbox_on_disk",
            "1 if the alert outbox is written to the state directory, 0 if it is held in "
            "memory (the directory is full or read-only).",
        )
        on_disk.add_metric([], 1.0 if st.on_disk else 0.0)
        yield dropped
        yield up
        yield on_disk


class L2Collector(Collector):
    """Renders each switch's layer 2 (neighbours, FDB counts, PoE) and the device census.

    Only counts and infrastructure names: no series is labelled by a device.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snapshots: dict[str, L2Snapshot] = {}
        self._census: CensusCounts | None = None
        self.unconfigured_switches: int | None = None
        self.students: int | None = None

    def publish(self, snapshot: L2Snapshot) -> None:
        with self._lock:
            self._snapshots[snapshot.switch] = snapshot

    def forget(self, switch: str) -> None:
        with self._lock:
            self._snapshots.pop(switch, None)

    def publish_census(self, counts: CensusCounts | None) -> None:
        with self._lock:
            self._census = counts

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            snaps = sorted(self._snapshots.values(), key=lambda s: s.switch)
            census = self._census
        port = ["switch", "ifname"]
        info = GaugeMetricFamily(
            "sentinel_lldp_neighbor_info",
            "An infrastructure neighbour (LLDP or CDP) on a switch port; always 1.",
            labels=["switch", "ifname", "neighbor_name", "neighbor_port", "neighbor_kind"],
        )
        stations = GaugeMetricFamily(
            "sentinel_lldp_stations",
            "End devices (stations, telephones, MAC-named) announcing themselves on a port.",
            labels=port,
        )
        macs = GaugeMetricFamily(
            "sentinel_fdb_macs",
            "MAC addresses the switch has learned, by uplink port and VLAN "
            '(ifname="" for the access ports of the lean tier together).',
            labels=["switch", "ifname", "vlan"],
        )
        behind_ap = GaugeMetricFamily(
            "sentinel_fdb_access_point_macs",
            "MAC addresses learned on ports with an access point behind them.",
            labels=["switch"],
        )
        p_admin = GaugeMetricFamily(
            "sentinel_poe_port_admin_enabled", "1 if PoE is enabled on the port.", labels=port
        )
        p_deliver = GaugeMetricFamily(
            "sentinel_poe_port_delivering", "1 if the port delivers power.", labels=port
        )
        p_class = GaugeMetricFamily(
            "sentinel_poe_port_power_class",
            "IEEE 802.3af/at power class (0-4) of the powered device.",
            labels=port,
        )
        p_watts = GaugeMetricFamily(
            "sentinel_poe_port_power_watts",
            "Power the port delivers (Cisco and HPE/Aruba MIBs).",
            labels=port,
        )
        p_info = GaugeMetricFamily(
            "sentinel_poe_port_info",
            "PoE detection status of the port; always 1.",
            labels=[*port, "detection"],
        )
        pse = ["switch", "group"]
        s_power = GaugeMetricFamily(
            "sentinel_poe_pse_power_watts", "Nominal power of the PSE (its budget).", labels=pse
        )
        s_used = GaugeMetricFamily(
            "sentinel_poe_pse_consumption_watts", "Power the PSE delivers now.", labels=pse
        )
        s_threshold = GaugeMetricFamily(
            "sentinel_poe_pse_usage_threshold_ratio",
            "Share of the nominal power above which the PSE raises its usage alarm.",
            labels=pse,
        )
        s_up = GaugeMetricFamily(
            "sentinel_poe_pse_up", "1 if the PSE is operationally on.", labels=pse
        )
        for snap in snaps:
            sw = snap.switch
            for n in snap.neighbors:
                info.add_metric([sw, n.ifname, n.name, n.port, n.kind], 1.0)
            for ifname, count in snap.stations:
                stations.add_metric([sw, ifname], count)
            for ifname, vlan, count in snap.fdb:
                macs.add_metric([sw, ifname, vlan], count)
            behind_ap.add_metric([sw], snap.access_point_macs)
            for pp in snap.poe_ports:
                labels = [sw, pp.ifname]
                p_admin.add_metric(labels, 1.0 if pp.admin_enabled else 0.0)
                p_deliver.add_metric(labels, 1.0 if pp.detection == "delivering" else 0.0)
                p_info.add_metric([*labels, pp.detection], 1.0)
                if pp.power_class is not None:
                    p_class.add_metric(labels, pp.power_class)
                if pp.watts is not None:
                    p_watts.add_metric(labels, pp.watts)
            for ps in snap.poe_pses:
                labels = [sw, str(ps.group)]
                s_up.add_metric(labels, 1.0 if ps.oper == "on" else 0.0)
                if ps.nominal_watts is not None:
                    s_power.add_metric(labels, ps.nominal_watts)
                if ps.consumption_watts is not None:
                    s_used.add_metric(labels, ps.consumption_watts)
                if ps.usage_threshold_ratio is not None:
                    s_threshold.add_metric(labels, ps.usage_threshold_ratio)
        yield from (info, stations, macs, behind_ap)
        yield from (p_admin, p_deliver, p_class, p_watts, p_info, s_power, s_used, s_threshold)
        yield s_up
        if self.unconfigured_switches is not None:
            unconf = GaugeMetricFamily(
                "sentinel_lldp_unconfigured_switches",
                "Switches seen as LLDP/CDP neighbours that are not in snmp.switches.",
            )
            unconf.add_metric([], self.unconfigured_switches)
            yield unconf
        if self.students is not None:
            students = GaugeMetricFamily(
                "sentinel_site_students", "Enrolled students, as the config says (l2.students)."
            )
            students.add_metric([], self.students)
            yield students
        if census is None:
            return
        active = GaugeMetricFamily(
            "sentinel_devices_active",
            "Distinct devices (MACs from the switches' access ports and from DHCP, ARP and "
            "IPv6 ND on the LAN) seen within the window.",
            labels=["window"],
        )
        local = GaugeMetricFamily(
            "sentinel_devices_locally_administered_ratio",
            "Share of those devices whose MAC is locally administered (randomised).",
            labels=["window"],
        )
        ap = GaugeMetricFamily(
            "sentinel_devices_behind_access_points",
            "Distinct devices seen behind access-point ports within the window.",
            labels=["window"],
        )
        for window, count, laa, wireless in census.windows:
            active.add_metric([window], count)
            local.add_metric([window], laa / count if count else 0.0)
            ap.add_metric([window], wireless)
        entries = GaugeMetricFamily(
            "sentinel_census_entries", "Keyed device hashes the census holds (capped)."
        )
        entries.add_metric([], census.entries)
        full = CounterMetricFamily(
            "sentinel_census_evictions",
            "Device hashes dropped because the census was full (oldest first).",
        )
        full.add_metric([], census.evictions)
        yield from (active, local, ap, entries, full)


def _port(s: InterfaceSample) -> list[str]:
    return [s.switch, str(s.ifindex), s.ifname]


class Metrics:
    """The daemon's own metrics, built on one registry (a fresh one per test)."""

    def __init__(self, registry: CollectorRegistry | None = None, *, process: bool = True) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        if process:
            ProcessCollector(registry=r)
            PlatformCollector(registry=r)
        self.build_info = Gauge(
            "sentinel_build_info",
            "Sentinel's version and Python; always 1.",
            ["version", "python"],
            registry=r,
        )
        self.build_info.labels(__version__, platform.python_version()).set(1)
        self.task_up = Gauge(
            "sentinel_task_up", "1 while a supervised task runs healthily.", ["task"], registry=r
        )
        self.task_restarts = Counter(
            "sentinel_task_restarts",
            "Times a supervised task failed and was restarted.",
            ["task"],
            registry=r,
        )
        self.config_reload_successful = Gauge(
            "sentinel_config_last_reload_successful",
            "1 if the last config (re)load succeeded.",
            registry=r,
        )
        self.config_reload_timestamp = Gauge(
            "sentinel_config_last_reload_success_timestamp_seconds",
            "Time of the last successful config (re)load.",
            registry=r,
        )
        self.local_sample_duration = Histogram(
            "sentinel_local_sample_duration_seconds",
            "Time to read the local interfaces' counters from the kernel.",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1),
            registry=r,
        )
        self.http_requests = Counter(
            "sentinel_http_requests",
            "HTTP requests served, by handler and status code.",
            ["handler", "code"],
            registry=r,
        )
        self.http_rejected_connections = Counter(
            "sentinel_http_rejected_connections",
            "Connections the HTTP endpoint closed unserved: over the cap, or no request "
            "head in time.",
            ["reason"],
            registry=r,
        )
        self.interfaces = InterfaceCollector()
        r.register(self.interfaces)
        self.switches = SwitchCollector()
        r.register(self.switches)
        self.lan = LanCollector()
        r.register(self.lan)
        self.alerting = AlertingCollector()
        r.register(self.alerting)
        self.l2 = L2Collector()
        r.register(self.l2)
        self.probes = ProbeMetrics(r)

    def render_switches(self) -> bytes:
        """Only the switch and interface series, in text format (``sentinel poll``)."""
        only = CollectorRegistry()
        only.register(self.interfaces)
        only.register(self.switches)
        only.register(self.l2)
        encoder, _ = choose_encoder("")
        return encoder(only)

    def render(self, accept: str | None) -> tuple[bytes, str]:
        """The exposition for an ``Accept`` header: OpenMetrics when asked, else text 0.0.4."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type


def parse_exposition(text: str) -> list[tuple[str, dict[str, str], float]]:
    """Samples ``(name, labels, value)`` of a Prometheus text exposition (the demo's page)."""
    from prometheus_client.parser import text_string_to_metric_families

    return [
        (s.name, dict(s.labels), float(s.value))
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


class DemoMetrics:
    """What ``sentinel demo`` serves beside the daemon: an info metric saying it is a demo."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.info = Gauge(
            "sentinel_demo_info",
            "1 while `sentinel demo` runs: every series of this site is simulated.",
            ["site", "version"],
            registry=r,
        )
        self.alerts = Counter(
            "sentinel_demo_alerts_received",
            "Alert events the demo's local page received from the daemon's webhook.",
            ["status"],
            registry=r,
        )
        self.replayed = Counter(
            "sentinel_demo_replayed_captures",
            "Recorded captures the demo has replayed onto the LAN interface.",
            ["capture"],
            registry=r,
        )

    def render(self) -> tuple[bytes, str]:
        encoder, content_type = choose_encoder("")
        return encoder(self.registry), content_type
