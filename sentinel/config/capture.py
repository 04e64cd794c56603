"""The ``capture`` section: which interface to watch and what the site's own ranges are."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from sentinel.config.validate import Duration, Network

PRIVATE = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")


@dataclass(frozen=True, slots=True)
class CaptureConfig:
    """LAN capture. Off until ``interface`` is set; needs CAP_NET_RAW."""

    interface: str | None = None
    networks: tuple[Network, ...] = PRIVATE
    ring_size_mb: int = 32
    snaplen: int = 65535
    header_snaplen: int = 256
    promiscuous: bool = True
    device_window: Annotated[float, Duration(min=10, max=86400)] = 300.0
    max_devices: int = 65536

    def validate(self) -> list[tuple[str, str]]:
        issues = []
        if self.interface is not None and not (0 < len(self.interface) < 16):
            issues.append(("interface", "must be a network interface name (1-15 characters)"))
        if not 4 <= self.ring_size_mb <= 1024:
            issues.append(("ring_size_mb", "must be between 4 and 1024"))
        if not 64 <= self.snaplen <= 65535:
            issues.append(("snaplen", "must be between 64 and 65535"))
        if self.header_snaplen and not 128 <= self.header_snaplen <= 65535:
            issues.append(("header_snaplen", "must be 0 (whole frames) or between 128 and 65535"))
        if not 1024 <= self.max_devices <= 10_000_000:
            issues.append(("max_devices", "must be between 1024 and 10000000"))
        return issues
