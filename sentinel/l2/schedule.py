"""The layer-2 loop of one switch: FDB and PoE every interval, neighbours on label_refresh."""

from __future__ import annotations

import asyncio
import random
import time
from typing import TYPE_CHECKING

from sentinel import logsetup
from sentinel.errors import SnmpError

if TYPE_CHECKING:
    from sentinel.l2.reader import L2Reader
    from sentinel.l2.site import Site
    from sentinel.metrics import Metrics
    from sentinel.supervise import Health

log = logsetup.get(__name__)
FIRST_READ_SPREAD = 20.0  # seconds; after the interface polls' own spread


async def run_l2(
    health: Health,
    reader: L2Reader,
    metrics: Metrics,
    site: Site,
    rng: random.Random | None = None,
) -> None:
    """Read forever; an agent without the tables is not an error, an unreachable one is.

    Failures are logged once per streak (the interface poller already reports the switch
    down); the schedule does not drift, and no read runs longer than 90 % of the interval.
    """
    cfg = reader.cfg
    rng = rng or random.Random()  # noqa: S311 (jitter, not cryptography)
    name = cfg.name
    try:
        await asyncio.sleep(rng.uniform(0, min(cfg.interval, FIRST_READ_SPREAD)))
        deadline = time.monotonic()
        failing = False
        while True:
            try:
                async with asyncio.timeout(cfg.interval * 0.9):
                    reading = await reader.read()
            except (SnmpError, TimeoutError) as exc:
                if not failing:
                    log.warning("layer 2 not read", switch=name, error=str(exc) or "timeout")
                failing = True
            else:
                if failing:
                    log.info("layer 2 read again", switch=name)
                failing = False
                metrics.l2.publish(reading.snapshot)
                site.seen(name, reading)
                for note in reader.notes:
                    log.warning("agent quirk", switch=name, note=note)
            health.ok()
            deadline += cfg.interval
            now = time.monotonic()
            if deadline < now:
                deadline = now + cfg.interval
            await asyncio.sleep(deadline - now)
    finally:
        reader.close()
        metrics.l2.forget(name)
        site.forget(name)
