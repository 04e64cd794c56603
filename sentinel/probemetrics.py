"""The connection-quality series: sentinel's own names, and blackbox_exporter's for /probe."""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import math
import threading
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from sentinel.model import PROBE_REASONS

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sentinel.model import ProbeResult


# 1 ms to 10 s, about three buckets a decade (prometheus_client has no native histograms).
BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
VERDICTS = ("good", "uplink_saturated", "provider_degraded", "dns_slow", "service_down")
PHASES = {
    "icmp": ("resolve", "setup", "rtt"),
    "dns": ("resolve", "connect", "request"),
    "tcp": ("resolve", "connect"),
    "http": ("resolve", "connect", "tls", "processing", "transfer"),
}


def jitter(rtts: tuple[float, ...]) -> float:
    """Mean absolute difference of consecutive round trips (RFC 3550's idea, unsmoothed)."""
    if len(rtts) < 2:
        return 0.0
    return sum(abs(b - a) for a, b in itertools.pairwise(rtts)) / (len(rtts) - 1)


def median(values: tuple[float, ...] | list[float]) -> float:
    s = sorted(values)
    n = len(s)
    if not n:
        return math.nan
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


class ProbeMetrics(Collector):
    """Latest result per target as gauges; every phase and round trip into histograms."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._lock = threading.Lock()
        self._latest: dict[str, ProbeResult] = {}
        self._verdict: str | None = None
        self._utilisation: float | None = None
        self.duration = Histogram(
            "sentinel_probe_duration_seconds",
            "Probe phases (blackbox_exporter's), one observation per round.",
            ["probe", "target", "phase"],
            buckets=BUCKETS,
            registry=registry,
        )
        self.rtt = Histogram(
            "sentinel_probe_icmp_rtt_seconds",
            "ICMP echo round trips, one observation per reply.",
            ["target"],
            buckets=BUCKETS,
            registry=registry,
        )
        self.failures = Counter(
            "sentinel_probe_failures",
            "Failed probe rounds by reason.",
            ["probe", "target", "reason"],
            registry=registry,
        )
        registry.register(self)

    def publish(self, r: ProbeResult) -> None:
        for phase, seconds in r.phases:
            self.duration.labels(r.probe, r.target, phase).observe(seconds)
        for rtt in r.rtts:
            self.rtt.labels(r.target).observe(rtt)
        if not r.success:
            self.failures.labels(r.probe, r.target, r.reason).inc()
        with self._lock:
            self._latest[r.target] = r

    def forget(self, target: str, probe: str) -> None:
        with self._lock:
            self._latest.pop(target, None)
        for phase in PHASES.get(probe, ()):
            _remove(self.duration, probe, target, phase)
        if probe == "icmp":
            _remove(self.rtt, target)
        for reason in PROBE_REASONS:
            _remove(self.failures, probe, target, reason)

    def set_verdict(self, verdict: str | None, utilisation: float | None) -> None:
        with self._lock:
            self._verdict = verdict
            self._utilisation = utilisation

    def latest(self) -> dict[str, ProbeResult]:
        with self._lock:
            return dict(self._latest)

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            results = sorted(self._latest.values(), key=lambda r: r.target)
            verdict, utilisation = self._verdict, self._utilisation
        pt = ["probe", "target"]
        success = GaugeMetricFamily(
            "sentinel_probe_success", "1 if the last probe round succeeded.", labels=pt
        )
        last = GaugeMetricFamily(
            "sentinel_probe_last_timestamp_seconds", "When the last round ended.", labels=pt
        )
        took = GaugeMetricFamily(
            "sentinel_probe_last_duration_seconds", "How long the last round took.", labels=pt
        )
        loss = GaugeMetricFamily(
            "sentinel_probe_icmp_loss_ratio",
            "Share of the last burst's echo requests that got no reply.",
            labels=["target"],
        )
        stats = GaugeMetricFamily(
            "sentinel_probe_icmp_round_rtt_seconds",
            "Round trips of the last burst: min, median, max.",
            labels=["target", "stat"],
        )
        jit = GaugeMetricFamily(
            "sentinel_probe_icmp_jitter_seconds",
            "Mean absolute difference of consecutive round trips in the last burst.",
            labels=["target"],
        )
        rcode = GaugeMetricFamily(
            "sentinel_probe_dns_rcode", "Rcode of the last DNS answer.", labels=["target"]
        )
        answers = GaugeMetricFamily(
            "sentinel_probe_dns_answer_rrs",
            "Records in the answer section of the last DNS answer.",
            labels=["target"],
        )
        status = GaugeMetricFamily(
            "sentinel_probe_http_status_code",
            "Status code of the last HTTP answer (after redirects).",
            labels=["target"],
        )
        redirects = GaugeMetricFamily(
            "sentinel_probe_http_redirects",
            "Redirects the last HTTP probe followed.",
            labels=["target"],
        )
        expiry = GaugeMetricFamily(
            "sentinel_probe_tls_cert_expiry_timestamp_seconds",
            "Earliest notAfter of the certificates the server sent.",
            labels=["target"],
        )
        tls = GaugeMetricFamily(
            "sentinel_probe_tls_version_info",
            "TLS version of the last probe; always 1.",
            labels=["target", "version"],
        )
        for r in results:
            success.add_metric([r.probe, r.target], 1.0 if r.success else 0.0)
            last.add_metric([r.probe, r.target], r.time)
            took.add_metric([r.probe, r.target], r.duration)
            if r.probe == "icmp" and r.sent:
                loss.add_metric([r.target], r.loss_ratio)
                if r.rtts:
                    stats.add_metric([r.target, "min"], min(r.rtts))
                    stats.add_metric([r.target, "median"], median(r.rtts))
                    stats.add_metric([r.target, "max"], max(r.rtts))
                    jit.add_metric([r.target], jitter(r.rtts))
            if r.rcode is not None:
                rcode.add_metric([r.target], r.rcode)
                answers.add_metric([r.target], r.answers)
            if r.status is not None:
                status.add_metric([r.target], r.status)
                redirects.add_metric([r.target], r.redirects)
            if r.cert_expiry is not None:
                expiry.add_metric([r.target], r.cert_expiry)
            if r.tls_version:
                tls.add_metric([r.target, r.tls_version], 1.0)
        yield from (success, last, took, loss, stats, jit, rcode, answers, status, redirects)
        yield from (expiry, tls)
        if verdict is not None:
            fam = GaugeMetricFamily(
                "sentinel_connection_verdict",
                "The connection's state over the verdict window: 1 for the verdict that holds.",
                labels=["verdict"],
            )
            for v in VERDICTS:
                fam.add_metric([v], 1.0 if v == verdict else 0.0)
            yield fam
        if utilisation is not None:
            util = GaugeMetricFamily(
                "sentinel_connection_uplink_utilisation_ratio",
                "Busiest uplink direction over the verdict window, as a share of its speed.",
            )
            util.add_metric([], utilisation)
            yield util


def _remove(metric: Histogram | Counter, *labels: str) -> None:
    with contextlib.suppress(KeyError):
        metric.remove(*labels)


class _Blackbox(Collector):
    """One result as blackbox_exporter's /probe prints it, name for name."""

    def __init__(self, r: ProbeResult) -> None:
        self.r = r

    def collect(self) -> Iterator[Metric]:
        r = self.r

        def g(name: str, doc: str, value: float) -> GaugeMetricFamily:
            fam = GaugeMetricFamily(name, doc)
            fam.add_metric([], value)
            return fam

        resolve = r.phase("resolve")
        yield g(
            "probe_dns_lookup_time_seconds",
            "Returns the time taken for probe dns lookup in seconds",
            resolve,
        )
        yield g(
            "probe_duration_seconds",
            "Returns how long the probe took to complete in seconds",
            r.duration,
        )
        if r.ip:
            yield g(
                "probe_ip_addr_hash",
                "Specifies the hash of IP address. It's useful to "
                "detect if the IP address changes.",
                _ip_hash(r.ip),
            )
        yield g(
            "probe_ip_protocol", "Specifies whether probe ip protocol is IP4 or IP6", r.ip_protocol
        )
        yield g(
            "probe_success",
            "Displays whether or not the probe was a success",
            1.0 if r.success else 0.0,
        )
        phases = GaugeMetricFamily(
            f"probe_{r.probe}_duration_seconds",
            f"Duration of {r.probe} request by phase",
            labels=["phase"],
        )
        if r.probe in ("icmp", "dns", "http"):
            for phase in PHASES[r.probe]:
                phases.add_metric([phase], r.phase(phase))
            yield phases
        if r.probe == "icmp" and r.hop_limit is not None:
            yield g(
                "probe_icmp_reply_hop_limit", "Replied packet hop limit (TTL for ipv4)", r.hop_limit
            )
        if r.probe in ("tcp", "http"):
            yield g("probe_failed_due_to_regex", "Indicates if probe failed due to regex", 0)
        if r.probe == "dns":
            yield g(
                "probe_dns_query_succeeded",
                "Displays whether or not the query was executed successfully",
                1.0 if r.rcode is not None else 0.0,
            )
            for name, value in (
                ("answer", r.answers),
                ("authority", r.authority),
                ("additional", r.additional),
            ):
                yield g(
                    f"probe_dns_{name}_rrs",
                    f"Returns number of entries in the {name} resource record list",
                    value,
                )
        if r.probe == "http":
            yield from self._http(g)

    def _http(self, g: _G) -> Iterator[Metric]:
        r = self.r
        # Without an answer blackbox_exporter never sets it: 0, not the unknown length's -1.
        length = r.content_length if r.status is not None else 0
        yield g("probe_http_content_length", "Length of http content response", length)
        yield g("probe_http_redirects", "The number of redirects", r.redirects)
        yield g(
            "probe_http_ssl",
            "Indicates if SSL was used for the final redirect",
            1.0 if r.tls_version else 0.0,
        )
        yield g("probe_http_status_code", "Response HTTP status code", r.status or 0)
        yield g(
            "probe_http_uncompressed_body_length",
            "Length of uncompressed response body",
            r.body_length,
        )
        yield g(
            "probe_http_version",
            "Returns the version of HTTP of the probe response",
            r.http_version,
        )
        if r.cert_expiry is not None:
            yield g(
                "probe_ssl_earliest_cert_expiry",
                "Returns last SSL chain expiry in unixtime",
                r.cert_expiry,
            )
            yield g(
                "probe_ssl_last_chain_expiry_timestamp_seconds",
                "Returns last SSL chain expiry in timestamp",
                r.cert_expiry,
            )
        if r.tls_version:
            info = GaugeMetricFamily(
                "probe_tls_version_info", "Returns the TLS version used", labels=["version"]
            )
            info.add_metric([r.tls_version], 1.0)
            yield info


if TYPE_CHECKING:
    from collections.abc import Callable

    _G = Callable[[str, str, float], GaugeMetricFamily]


def _ip_hash(ip: str) -> float:
    """FNV-1a over the address bytes, as blackbox_exporter hashes them."""
    h = 2166136261
    for b in ipaddress.ip_address(ip).packed:
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return float(h)


def render_blackbox(result: ProbeResult) -> bytes:
    """The text exposition blackbox_exporter's ``/probe`` would give for this result."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Blackbox(result))
    return generate_latest(registry)
