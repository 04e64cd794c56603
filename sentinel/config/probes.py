"""The ``probes`` section: connection-quality probes, their targets, /probe and the verdict."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Literal
from urllib.parse import urlsplit

from sentinel.config.validate import Duration

Module = Literal["icmp", "dns", "tcp", "http"]
MODULES: tuple[Module, ...] = ("icmp", "dns", "tcp", "http")
MAX_TARGETS = 200  # every target is a label value: the cap bounds the series
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


@dataclass(frozen=True, slots=True)
class IcmpSettings:
    """ICMP echo: a burst of ``pings`` requests ``spacing`` apart every ``interval``."""

    interval: Annotated[float, Duration(min=1, max=3600)] = 60.0
    pings: int = 20
    spacing: Annotated[float, Duration(min=0.001, max=60)] = 1.0
    timeout: Annotated[float, Duration(min=0.01, max=60)] = 2.0  # per echo request
    payload: int = 56
    socket: Literal["auto", "datagram", "raw"] = "auto"

    def validate(self) -> list[tuple[str, str]]:
        issues = []
        if not 1 <= self.pings <= 1000:
            issues.append(("pings", "must be between 1 and 1000"))
        if not 8 <= self.payload <= 1472:
            issues.append(("payload", "must be between 8 and 1472 bytes"))
        if self.spacing * (self.pings - 1) + self.timeout >= self.interval:
            issues.append(("spacing", "pings x spacing + timeout must fit in the interval"))
        return issues


@dataclass(frozen=True, slots=True)
class DnsSettings:
    """DNS: one query per round over UDP (TCP when the answer is truncated)."""

    interval: Annotated[float, Duration(min=1, max=3600)] = 60.0
    timeout: Annotated[float, Duration(min=0.01, max=60)] = 5.0
    query_name: str = "example.com"
    query_type: Literal["A", "AAAA", "NS", "MX", "TXT", "SOA", "CNAME", "PTR", "SRV"] = "A"
    transport: Literal["udp", "tcp"] = "udp"
    valid_rcodes: tuple[str, ...] = ("NOERROR",)


@dataclass(frozen=True, slots=True)
class TcpSettings:
    """TCP: time to complete a connection to host:port."""

    interval: Annotated[float, Duration(min=1, max=3600)] = 60.0
    timeout: Annotated[float, Duration(min=0.01, max=60)] = 5.0


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """HTTP(S): a GET, redirects followed, phases as blackbox_exporter splits them."""

    interval: Annotated[float, Duration(min=1, max=3600)] = 60.0
    timeout: Annotated[float, Duration(min=0.01, max=120)] = 10.0
    body_limit: int = 1_048_576  # bytes; a larger body fails the probe (body_too_large)
    max_redirects: int = 10
    valid_status_codes: tuple[int, ...] = ()  # empty: any 2xx
    verify_tls: bool = True

    def validate(self) -> list[tuple[str, str]]:
        issues = []
        if not 0 <= self.max_redirects <= 30:
            issues.append(("max_redirects", "must be between 0 and 30"))
        if not 0 < self.body_limit <= 1 << 30:
            issues.append(("body_limit", "must be between 1 byte and 1 GiB"))
        return issues


@dataclass(frozen=True, slots=True)
class ProbeTarget:
    """One thing to probe: its name is the ``target`` label."""

    name: str
    module: Module
    address: str  # icmp: host; dns: resolver host[:port]; tcp: host:port; http: URL
    essential: bool = False  # a failure of an essential service gives ``service_down``
    ip_protocol: Literal["auto", "ip4", "ip6"] = "auto"

    def validate(self) -> list[tuple[str, str]]:
        issues = []
        if not _NAME.fullmatch(self.name):
            issues.append(("name", "must be 1-63 letters, digits, '.', '_' or '-'"))
        try:
            check_address(self.module, self.address)
        except ValueError as exc:
            issues.append(("address", str(exc)))
        return issues


def split_host_port(text: str, default_port: int | None) -> tuple[str, int]:
    """``host``, ``host:port``, ``[v6]:port`` or a bare IPv6 literal."""
    m = re.fullmatch(
        r"\[(?P<v6>[^\]]+)\](?::(?P<p1>\d+))?|(?P<host>[^:\[\]]+)(?::(?P<p2>\d+))?", text
    )
    if m is None:
        if text.count(":") > 1 and default_port is not None:
            return text, default_port
        raise ValueError("must be HOST or HOST:PORT (IPv6 as [ADDR]:PORT)")
    port_text = m["p1"] or m["p2"]
    if port_text is None:
        if default_port is None:
            raise ValueError("must be HOST:PORT (IPv6 as [ADDR]:PORT)")
        return m["v6"] or m["host"], default_port
    port = int(port_text)
    if not 0 < port < 65536:
        raise ValueError(f"port {port} is out of range 1-65535")
    return m["v6"] or m["host"], port


def check_address(module: str, address: str) -> None:
    """Raise ``ValueError`` when ``address`` is not what ``module`` probes."""
    if module == "http":
        parts = urlsplit(address)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL")
    elif module == "icmp":
        if not address or "/" in address or (":" in address and address.count(":") == 1):
            raise ValueError("must be a host name or address")
    elif module == "dns":
        split_host_port(address, 53)
    else:
        split_host_port(address, None)


@dataclass(frozen=True, slots=True)
class EndpointConfig:
    """``GET /probe?module=&target=`` as blackbox_exporter has it; off until modules are listed."""

    modules: tuple[Module, ...] = ()
    max_concurrent: int = 4
    timeout: Annotated[float, Duration(min=0.1, max=120)] = 10.0

    def validate(self) -> list[tuple[str, str]]:
        if not 1 <= self.max_concurrent <= 64:
            return [("max_concurrent", "must be between 1 and 64")]
        return []


@dataclass(frozen=True, slots=True)
class VerdictConfig:
    """How probe results and uplink utilisation become ``sentinel_connection_verdict``."""

    enabled: bool = True
    interval: Annotated[float, Duration(min=1, max=3600)] = 60.0
    window: Annotated[float, Duration(min=5, max=86400)] = 300.0
    uplink_speed: int = 0  # bits/s the school buys; 0: the uplink interfaces' nominal speed
    saturated_ratio: float = 0.9  # utilisation of the busiest uplink direction
    loss_ratio: float = 0.02  # ICMP loss over the window
    latency: Annotated[float, Duration(min=0.001, max=60)] = 0.1  # median ICMP RTT
    dns_latency: Annotated[float, Duration(min=0.001, max=60)] = 0.5  # median DNS time

    def validate(self) -> list[tuple[str, str]]:
        issues = []
        if not 0 < self.saturated_ratio <= 1:
            issues.append(("saturated_ratio", "must be in (0, 1]"))
        if not 0 < self.loss_ratio < 1:
            issues.append(("loss_ratio", "must be in (0, 1)"))
        if self.uplink_speed < 0:
            issues.append(("uplink_speed", "must be 0 (nominal speed) or bits per second"))
        return issues


@dataclass(frozen=True, slots=True)
class ProbesConfig:
    """Connection quality: ICMP, DNS, TCP and HTTP(S) probes on their own schedules."""

    enabled: bool = True
    # The default gateway (ICMP), the resolver from /etc/resolv.conf (DNS) and
    # ``outside_resolver`` (ICMP and DNS), in addition to ``targets``.
    default_targets: bool = True
    outside_resolver: str = "9.9.9.9"
    icmp: IcmpSettings = IcmpSettings()
    dns: DnsSettings = DnsSettings()
    tcp: TcpSettings = TcpSettings()
    http: HttpSettings = HttpSettings()
    targets: tuple[ProbeTarget, ...] = ()
    endpoint: EndpointConfig = EndpointConfig()
    verdict: VerdictConfig = VerdictConfig()

    def validate(self) -> list[tuple[str, str]]:
        issues = []
        seen: set[str] = set()
        for i, t in enumerate(self.targets):
            if t.name in seen:
                issues.append((f"targets[{i}].name", f"duplicate target name {t.name!r}"))
            seen.add(t.name)
        if len(self.targets) > MAX_TARGETS:
            issues.append(("targets", f"at most {MAX_TARGETS} targets"))
        return issues


ProbeSettings = IcmpSettings | DnsSettings | TcpSettings | HttpSettings
