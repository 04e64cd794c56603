"""The gateway box's own interfaces, read from the kernel and exported as switch ``local``."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING

from sentinel import logsetup
from sentinel.errors import SampleError
from sentinel.model import InterfaceSample, Role, Tier

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sentinel.config import LocalConfig
    from sentinel.metrics import Metrics
    from sentinel.supervise import Health

SWITCH = "local"
_IFF_UP = 0x1
_IFF_RUNNING = 0x40

log = logsetup.get(__name__)


def parse_proc_net_dev(text: str) -> dict[str, tuple[int, ...]]:
    """``/proc/net/dev`` to name -> 16 counters (8 receive, then 8 transmit)."""
    out: dict[str, tuple[int, ...]] = {}
    for line in text.splitlines()[2:]:
        name, sep, rest = line.partition(":")
        if not sep:
            continue
        values = rest.split()
        if len(values) < 16:
            continue
        out[name.strip()] = tuple(int(v) for v in values[:16])
    return out


def default_route_interfaces(root: Path) -> set[str]:
    """Interfaces that carry an IPv4 or IPv6 default route: the box's uplinks by default."""
    names: set[str] = set()
    try:
        for line in (root / "proc/net/route").read_text().splitlines()[1:]:
            cols = line.split()
            if len(cols) > 7 and cols[1] == "00000000" and cols[7] == "00000000":
                names.add(cols[0])
    except OSError:
        pass
    try:
        for line in (root / "proc/net/ipv6_route").read_text().splitlines():
            cols = line.split()
            if len(cols) == 10 and cols[0] == "0" * 32 and cols[1] == "00" and cols[9] != "lo":
                names.add(cols[9])
    except OSError:
        pass
    return names


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:  # virtual links answer EINVAL for speed; vanished interfaces ENOENT
        return None


def _selected(name: str, cfg: LocalConfig) -> bool:
    if cfg.include and not any(p.fullmatch(name) for p in cfg.include):
        return False
    return not any(p.fullmatch(name) for p in cfg.exclude)


def read_interfaces(cfg: LocalConfig, root: Path = Path("/")) -> list[InterfaceSample]:
    """One snapshot of the selected interfaces; ``SampleError`` if the kernel can't be read."""
    try:
        counters = parse_proc_net_dev((root / "proc/net/dev").read_text())
    except OSError as exc:
        raise SampleError(f"cannot read {root / 'proc/net/dev'}: {exc.strerror}") from None
    uplinks = default_route_interfaces(root) if not cfg.uplinks else set()
    samples = []
    for name, c in counters.items():
        if not _selected(name, cfg):
            continue
        sysdir = root / "sys/class/net" / name
        ifindex = _read(sysdir / "ifindex")
        if ifindex is None or not ifindex.isdigit():
            continue  # gone between the two reads
        flags = int(_read(sysdir / "flags") or "0", 16)
        oper = _read(sysdir / "operstate")
        oper_up = oper == "up" or (oper == "unknown" and bool(flags & _IFF_RUNNING))
        speed = _read(sysdir / "speed")
        mbps = int(speed) if speed and speed.lstrip("-").isdigit() else -1
        is_uplink = any(p.fullmatch(name) for p in cfg.uplinks) if cfg.uplinks else name in uplinks
        samples.append(
            InterfaceSample(
                switch=SWITCH,
                ifindex=int(ifindex),
                ifname=name,
                ifdescr=name,
                ifalias=_read(sysdir / "ifalias") or "",
                role=Role.UPLINK if is_uplink else Role.ACCESS,
                tier=Tier.FULL,
                rx_bytes=c[0],
                rx_packets=c[1],
                rx_errors=c[2],
                rx_discards=c[3],
                tx_bytes=c[8],
                tx_packets=c[9],
                tx_errors=c[10],
                tx_discards=c[11],
                oper_up=oper_up,
                admin_up=bool(flags & _IFF_UP),
                speed_bytes=mbps * 1e6 / 8 if mbps > 0 else None,
            )
        )
    samples.sort(key=lambda s: s.ifindex)
    return samples


def describe(samples: Iterable[InterfaceSample]) -> str:
    return ",".join(f"{s.ifname}({s.role.value})" for s in samples) or "none"


async def run(health: Health, cfg: LocalConfig, metrics: Metrics, root: Path = Path("/")) -> None:
    """Sample every ``cfg.interval`` seconds on the monotonic clock (no drift), forever."""
    seen: str | None = None
    deadline = time.monotonic()
    try:
        while True:
            start = time.monotonic()
            samples = await asyncio.to_thread(read_interfaces, cfg, root)
            metrics.local_sample_duration.observe(time.monotonic() - start)
            metrics.interfaces.publish(SWITCH, samples)
            health.ok()
            names = describe(samples)
            if names != seen:
                log.info("local interfaces", interfaces=names)
                seen = names
            log.debug("sampled local interfaces", count=len(samples))
            deadline += cfg.interval
            now = time.monotonic()
            if deadline < now:  # fell behind (suspended box): skip, don't burst
                deadline = now + cfg.interval
            await asyncio.sleep(deadline - now)
    finally:
        metrics.interfaces.forget(SWITCH)
