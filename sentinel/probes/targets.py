"""Which targets run: the configured ones, plus the defaults this box can find by itself."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import TYPE_CHECKING

from sentinel.config.probes import ProbeTarget

if TYPE_CHECKING:
    from sentinel.config.probes import ProbesConfig


def default_gateway(root: Path = Path("/")) -> str | None:
    """The IPv4 default route's gateway, else the IPv6 one (``/proc/net/route``)."""
    try:
        for line in (root / "proc/net/route").read_text().splitlines()[1:]:
            cols = line.split()
            if len(cols) > 7 and cols[1] == "00000000" and cols[7] == "00000000":
                gw = int(cols[2], 16)
                if gw:
                    return str(ipaddress.IPv4Address(gw.to_bytes(4, "little")))
    except (OSError, ValueError):
        pass
    try:
        for line in (root / "proc/net/ipv6_route").read_text().splitlines():
            cols = line.split()
            if len(cols) == 10 and cols[0] == "0" * 32 and cols[1] == "00" and cols[4] != "0" * 32:
                return str(ipaddress.IPv6Address(bytes.fromhex(cols[4])))
    except (OSError, ValueError):
        pass
    return None


def resolvers(root: Path = Path("/")) -> list[str]:
    """``nameserver`` lines of ``/etc/resolv.conf``, in order."""
    out: list[str] = []
    try:
        text = (root / "etc/resolv.conf").read_text()
    except OSError:
        return out
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            addr = parts[1].split("%")[0]
            try:
                ipaddress.ip_address(addr)
            except ValueError:
                continue
            out.append(f"[{addr}]" if ":" in addr else addr)
    return out


def defaults(cfg: ProbesConfig, root: Path = Path("/")) -> list[ProbeTarget]:
    """gateway (ICMP), resolver (DNS), outside (ICMP) and outside-dns (DNS)."""
    out = []
    gw = default_gateway(root)
    if gw is not None:
        out.append(ProbeTarget("gateway", "icmp", gw))
    found = resolvers(root)
    if found:
        out.append(ProbeTarget("resolver", "dns", found[0]))
    if cfg.outside_resolver:
        host = cfg.outside_resolver
        out.append(ProbeTarget("outside", "icmp", host.strip("[]")))
        out.append(ProbeTarget("outside-dns", "dns", f"[{host}]" if ":" in host else host))
    return out


def active(cfg: ProbesConfig, *, with_defaults: bool, root: Path = Path("/")) -> list[ProbeTarget]:
    """Configured targets, then the defaults whose names the config does not use."""
    if not cfg.enabled:
        return []
    out = list(cfg.targets)
    if cfg.default_targets and with_defaults:
        names = {t.name for t in out}
        out += [t for t in defaults(cfg, root) if t.name not in names]
    return out
