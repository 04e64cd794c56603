"""Layer 2 for the daemon: one reader per switch, the site's census, discovered switches."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from typing import TYPE_CHECKING

from sentinel import logsetup
from sentinel.config.snmp import Switch
from sentinel.l2 import census as census_mod
from sentinel.l2.reader import L2Reader
from sentinel.l2.schedule import run_l2
from sentinel.l2.site import Site
from sentinel.snmp.poller import SwitchPoller
from sentinel.snmp.schedule import run_switch

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

    from sentinel.config.schema import Config
    from sentinel.config.snmp import Resolved, SnmpConfig
    from sentinel.metrics import Metrics
    from sentinel.snmp.client import SnmpClient
    from sentinel.supervise import Health

log = logsetup.get(__name__)
MAX_DISCOVERED = 64
DISCOVER_EVERY = 5.0  # seconds between looks at the unconfigured neighbours (no I/O)


def discovered_name(neighbor: str) -> str:
    """A valid switch name from a neighbour's system name (``core-sw1.school.lan``)."""
    name = re.sub(r"[^A-Za-z0-9._:-]", "-", neighbor).strip("-.")[:63]
    return name or "switch"


class L2Service:
    """Owns the census and the site view; hands the daemon one loop per switch."""

    def __init__(self, metrics: Metrics, state_dir: Path, site_key: bytes, cfg: Config) -> None:
        self.metrics = metrics
        self.path = state_dir / census_mod.FILE
        self.census = census_mod.Census(census_mod.census_key(site_key), cap=cfg.l2.max_devices)
        self.site = Site(metrics, self.census)
        self.configure(cfg)
        self.load(time.time())

    def configure(self, cfg: Config) -> None:
        self.census.cap = cfg.l2.max_devices
        self.site.configure(cfg.snmp.resolve(s) for s in cfg.snmp.switches)
        self.metrics.l2.students = cfg.l2.students

    def load(self, now: float) -> None:
        n = self.census.load(self.path, now)
        if n:
            log.info("device census restored", devices=n)

    def save(self) -> None:
        try:
            self.census.save(self.path)
        except OSError as exc:
            log.error("cannot save the device census", error=exc)

    def capture_seen(self, hashes: list[tuple[int, bool]]) -> None:
        """Devices the LAN showed (from the capture worker, already keyed hashes)."""
        self.census.add_hashes(hashes, time.time())
        self.site.publish()

    def loop(
        self, cfg: Resolved, client: SnmpClient, semaphore: asyncio.Semaphore
    ) -> Callable[[Health], Awaitable[None]]:
        reader = L2Reader(cfg, client, semaphore=semaphore)
        return lambda h: run_l2(h, reader, self.metrics, self.site)

    def discover_loop(
        self, snmp: SnmpConfig, client: SnmpClient, semaphore: asyncio.Semaphore
    ) -> Callable[[Health], Awaitable[None]]:
        """Poll switch neighbours that are not configured, with ``snmp.defaults``."""
        return lambda h: self._discover(h, snmp, client, semaphore)

    async def _discover(
        self, health: Health, snmp: SnmpConfig, client: SnmpClient, sem: asyncio.Semaphore
    ) -> None:
        polled: set[str] = set()
        async with asyncio.TaskGroup() as tg:
            while True:
                health.ok()
                for u in self.site.unconfigured():
                    if not u.address or u.address in polled or len(polled) >= MAX_DISCOVERED:
                        continue
                    polled.add(u.address)
                    sw = Switch(name=discovered_name(u.name), address=(u.address, 161))
                    cfg = dataclasses.replace(snmp.resolve(sw), name=sw.name)
                    log.info("polling discovered switch", switch=sw.name, address=u.address)
                    poller = SwitchPoller(cfg, client, semaphore=sem)
                    tg.create_task(run_switch(health, poller, self.metrics))
                    reader = L2Reader(cfg, client, semaphore=sem)
                    tg.create_task(run_l2(health, reader, self.metrics, self.site))
                await asyncio.sleep(DISCOVER_EVERY)
