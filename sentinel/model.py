"""Frozen value types shared by every layer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    """What an interface is for: uplinks get the full metric tier, access ports the lean one."""

    UPLINK = "uplink"
    ACCESS = "access"


class Tier(StrEnum):
    """How many series an interface exports (docs/ARCHITECTURE.md, Metrics)."""

    FULL = "full"  # bytes, packets, errors, discards, up, admin_up, speed, info
    LEAN = "lean"  # bytes, up, info


@dataclass(frozen=True, slots=True)
class InterfaceSample:
    """One interface of one switch (or of the gateway box itself, ``switch="local"``) at one time.

    Counters are raw, monotonic totals as the device reports them; ``None`` means the device
    does not have that counter.
    """

    switch: str
    ifindex: int
    ifname: str
    ifdescr: str
    ifalias: str
    role: Role
    tier: Tier
    rx_bytes: int
    tx_bytes: int
    rx_packets: int | None = None
    tx_packets: int | None = None
    rx_errors: int | None = None
    tx_errors: int | None = None
    rx_discards: int | None = None
    tx_discards: int | None = None
    oper_up: bool = False
    admin_up: bool = False
    speed_bytes: float | None = None  # bytes per second; None when unknown (virtual links)


@dataclass(frozen=True, slots=True)
class SwitchHealth:
    """How polling one switch is going: what ``sentinel_switch_*``/``sentinel_snmp_*`` show."""

    switch: str
    up: bool
    last_duration: float | None = None  # seconds, last poll (good or bad)
    last_success: float | None = None  # unix time
    boot_time: float | None = None  # unix time, from sysUpTime
    errors: tuple[tuple[str, int], ...] = ()  # (kind, count) since start
    requests: int = 0
    varbinds: int = 0
    discontinuities: int = 0  # intervals dropped instead of exported as a spike


class Severity(StrEnum):
    """How urgent an alert is; the order is the order of the members."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A device as an alert names it: already pseudonymised unless the site allows clear text."""

    ip: str = ""
    mac: str = ""


@dataclass(frozen=True, slots=True)
class Alert:
    """One finding of a detector, or one condition of the daemon itself.

    ``identifier`` is what repeats are suppressed by (e.g. the scanner's pseudonym); an
    alert with ``resolved`` set is the end of the condition with that identifier.
    """

    detector: str  # stable id: port_scan, arp_spoof, ..., or sentinel_* for the daemon's own
    severity: Severity
    identifier: str
    summary: str
    first_seen: float  # unix time
    last_seen: float
    source: Endpoint = Endpoint()
    target: str = ""
    counts: tuple[tuple[str, int], ...] = ()  # e.g. (("ports", 1000), ("hosts", 1))
    description: str = ""
    evidence: str = ""  # file name of the evidence pcap in the state directory, if any
    resolved: float | None = None  # unix time the condition ended
    kind: str = ""  # the detector's variant: vertical, horizontal, arp, icmp, ...
    # "detector:identifier" of the incident's first alert (this one's own key when it
    # opened the incident); "" when incidents are off or for the daemon's own alerts.
    incident: str = ""
    # An incident's alert as delivered: every finding folded into it, "detector/kind".
    findings: tuple[str, ...] = ()
    # The severity this alert (or its incident) was notified at before it became more
    # severe while active; None for an alert that did not escalate. Set by the router.
    escalated_from: Severity | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.detector, self.identifier)

    @property
    def lead(self) -> tuple[str, str]:
        """The key of the incident's first alert (its own key when there is none)."""
        detector, sep, identifier = self.incident.partition(":")
        return (detector, identifier) if sep else self.key

    @property
    def finding(self) -> str:
        return f"{self.detector}/{self.kind}" if self.kind else self.detector


@dataclass(frozen=True, slots=True)
class LanCounters:
    """Capture accounting, cumulative since the daemon started (no device identifiers)."""

    traffic: tuple[
        tuple[str, str, str, int, int], ...
    ] = ()  # direction, family, proto, pkts, bytes
    malformed: tuple[tuple[str, int], ...] = ()
    active_macs: int = 0
    active_ips: int = 0
    device_table_full: int = 0
    kernel_packets: int = 0
    kernel_drops: int = 0
    own_drops: int = 0
    detector_packets: int = 0
    detector_aggregated: int = 0  # of those, counted in a capture-side aggregate
    detections: tuple[tuple[str, str, int], ...] = ()  # detector, severity, count
    detector_tables: tuple[tuple[str, int, int], ...] = ()  # detector, entries, evictions


@dataclass(frozen=True, slots=True)
class AlertingStats:
    """Counts since start, for metrics (a scrape reads this, never the outbox itself)."""

    received: int
    suppressed: int  # repeats of an alert that is already active
    active: int
    queued: Mapping[str, int]  # events waiting, per sink
    delivered: Mapping[str, int]  # per sink
    failures: Mapping[str, int]  # failed delivery attempts, per sink
    dropped: Mapping[str, int]  # per reason: overflow, memory_full, expired, rate_limited, ...
    sink_up: Mapping[str, bool]  # last attempt of each sink succeeded
    on_disk: bool = True  # the outbox is written to the state directory (false: in memory)
    correlated: int = 0  # alerts folded into an active incident, not sent on their own
    # (detector, new severity) -> alerts that became more severe while active
    escalated: Mapping[tuple[str, str], int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Neighbor:
    """An infrastructure neighbour (bridge, router, access point) seen on one switch port."""

    ifname: str
    name: str  # cleaned and length-bounded: a label value
    port: str
    kind: str  # bridge, router, wlan-access-point
    address: str = ""  # its management address, if it sent one (never exported)


@dataclass(frozen=True, slots=True)
class PoePort:
    """One PoE port: POWER-ETHERNET-MIB state, watts from a vendor MIB where there is one."""

    ifname: str
    admin_enabled: bool
    detection: str  # disabled, searching, delivering, fault, test, other_fault
    power_class: int | None  # 0-4
    watts: float | None = None


@dataclass(frozen=True, slots=True)
class PoePse:
    """One power sourcing equipment (a switch, or a stack member) and its budget."""

    group: int
    nominal_watts: float | None
    consumption_watts: float | None
    usage_threshold_ratio: float | None  # the usage alarm threshold, 0-1
    oper: str  # on, off, faulty


@dataclass(frozen=True, slots=True)
class L2Snapshot:
    """What one switch says about its layer 2, as counts and infrastructure names only."""

    switch: str
    neighbors: tuple[Neighbor, ...] = ()
    stations: tuple[tuple[str, int], ...] = ()  # (ifname, end devices seen by LLDP/CDP)
    fdb: tuple[tuple[str, str, int], ...] = ()  # (ifname or "" for access ports, vlan, MACs)
    access_point_macs: int = 0  # distinct MACs learned on ports with an access point
    poe_ports: tuple[PoePort, ...] = ()
    poe_pses: tuple[PoePse, ...] = ()


@dataclass(frozen=True, slots=True)
class CensusCounts:
    """The device census of the site: counts per window, never an identifier."""

    windows: tuple[tuple[str, int, int, int], ...] = ()  # window, devices, LAA, behind APs
    entries: int = 0
    evictions: int = 0


PROBE_REASONS = (
    "resolve",  # the name did not resolve
    "timeout",  # no answer within the deadline
    "refused",  # the peer refused the connection (RST, ICMP port unreachable)
    "unreachable",  # no route, host or network unreachable
    "permission",  # neither an ICMP datagram socket nor a raw socket could be opened
    "tls",  # handshake or certificate failure
    "http_status",  # an HTTP status outside the accepted set
    "dns_rcode",  # a DNS rcode outside the accepted set
    "protocol",  # a malformed or unexpected answer
    "body_too_large",  # the HTTP body exceeded the configured cap
    "loss",  # every echo request of a round went unanswered
    "error",  # anything else (logged with its traceback once)
)


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """One round of one connection-quality probe (ICMP burst, DNS query, TCP connect, HTTP GET).

    ``reason`` is empty on success and one of ``PROBE_REASONS`` otherwise. Durations are
    seconds; ``phases`` are named as blackbox_exporter names them.
    """

    probe: str  # icmp, dns, tcp, http
    target: str  # the configured target name (the metric label)
    address: str  # what was probed: host, host:port or URL
    success: bool
    duration: float
    time: float = 0.0  # unix time the round ended
    reason: str = ""
    detail: str = ""  # one human-readable line about a failure
    phases: tuple[tuple[str, float], ...] = ()
    ip: str = ""  # the address probed, after resolution
    ip_protocol: int = 0  # 4 or 6 once resolved
    # ICMP
    sent: int = 0
    rtts: tuple[float, ...] = ()  # one per reply, in the order sent
    hop_limit: int | None = None
    # DNS
    rcode: int | None = None
    answers: int = 0
    authority: int = 0
    additional: int = 0
    # HTTP and TLS
    status: int | None = None
    http_version: float = 0.0
    final_url: str = ""
    redirects: int = 0
    content_length: int = -1
    body_length: int = 0
    tls_version: str = ""  # e.g. TLS 1.3; empty without TLS
    cert_expiry: float | None = None  # unix time of the earliest notAfter seen

    @property
    def loss_ratio(self) -> float:
        return 1.0 - len(self.rtts) / self.sent if self.sent else 0.0

    def phase(self, name: str) -> float:
        return next((v for k, v in self.phases if k == name), 0.0)
