"""The daemon's configuration: frozen dataclasses whose defaults are the built-in default."""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from sentinel.config.alerting import AlertingConfig
from sentinel.config.capture import CaptureConfig
from sentinel.config.detect import DetectConfig
from sentinel.config.l2 import L2Config
from sentinel.config.probes import ProbesConfig
from sentinel.config.secret import Secret
from sentinel.config.snmp import SnmpConfig
from sentinel.config.validate import Check, Duration, Pattern, check_host

DEFAULT_PORT = 9717


@dataclass(frozen=True, slots=True)
class HostPort:
    """A listen address; ``host`` may be an IPv6 literal without brackets."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_host_port(text: str) -> HostPort:
    """``127.0.0.1:9717``, ``[::1]:9717``, ``:9717`` (all addresses), ``localhost:9717``."""
    m = re.fullmatch(
        r"\[(?P<v6>[0-9A-Fa-f:.]+)\]:(?P<p1>\d+)|(?P<host>[^:\[\]]*):(?P<p2>\d+)", text
    )
    if m is None:
        raise ValueError(
            f"must be HOST:PORT, e.g. 127.0.0.1:{DEFAULT_PORT} or [::1]:{DEFAULT_PORT}"
        )
    host = m["v6"] if m["v6"] is not None else m["host"]
    port = int(m["p1"] or m["p2"])
    if not 0 < port < 65536:
        raise ValueError(f"port {port} is out of range 1-65535")
    if m["v6"] is not None:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{host!r} is not an IPv6 address") from None
    elif host:
        host = check_host(host)
    return HostPort(host or "0.0.0.0", port)  # noqa: S104 (":PORT" asks for every address)


def _site_id(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}", text):
        raise ValueError(
            "must be 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return text


def default_site() -> str:
    """The box's host name, made into a valid site id."""
    name = re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname())[:63].strip("-.")
    return name or "sentinel"


Listen = Annotated[HostPort, Check(parse_host_port, source=str)]


@dataclass(frozen=True, slots=True)
class LogConfig:
    """Log lines on stdout (journald adds time and unit when run by systemd)."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["logfmt", "json"] = "logfmt"


@dataclass(frozen=True, slots=True)
class LocalConfig:
    """The gateway box's own interfaces, exported as the pseudo-switch ``local``."""

    enabled: bool = True
    interval: Annotated[float, Duration(min=1, max=3600)] = 10.0
    include: tuple[Pattern, ...] = ()
    exclude: tuple[Pattern, ...] = field(default_factory=lambda: (re.compile("lo"),))
    uplinks: tuple[Pattern, ...] = ()


@dataclass(frozen=True, slots=True)
class PrivacyConfig:
    """How device identifiers appear in logs and alerts (docs/ARCHITECTURE.md, privacy)."""

    pseudonymise: bool = True
    key: Secret | None = None
    interface_descriptions: bool = True


@dataclass(frozen=True, slots=True)
class Config:
    """The whole daemon configuration."""

    site: Annotated[str, Check(_site_id)] = field(default_factory=default_site)
    listen: Listen = field(default_factory=lambda: HostPort("127.0.0.1", DEFAULT_PORT))
    web_config_file: Path | None = None
    state_dir: Path | None = None
    shutdown_timeout: Annotated[float, Duration(min=1, max=300)] = 10.0
    log: LogConfig = field(default_factory=LogConfig)
    local: LocalConfig = field(default_factory=LocalConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    snmp: SnmpConfig = field(default_factory=SnmpConfig)
    capture: CaptureConfig = field(default_factory=CaptureConfig)
    detect: DetectConfig = field(default_factory=DetectConfig)
    alerting: AlertingConfig = field(default_factory=AlertingConfig)
    l2: L2Config = field(default_factory=L2Config)
    probes: ProbesConfig = field(default_factory=ProbesConfig)
