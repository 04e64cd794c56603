"""Each switch on its own jittered schedule; a dead or slow switch never delays another."""

from __future__ import annotations

import asyncio
import random
import time
from typing import TYPE_CHECKING

from sentinel import logsetup
from sentinel.errors import SnmpError

if TYPE_CHECKING:
    from sentinel.metrics import Metrics
    from sentinel.snmp.poller import SwitchPoller
    from sentinel.supervise import Health

log = logsetup.get(__name__)
FIRST_POLL_SPREAD = 15.0  # seconds: the first polls spread out, but data comes soon


async def run_switch(
    health: Health, poller: SwitchPoller, metrics: Metrics, rng: random.Random | None = None
) -> None:
    """Poll forever. SNMP failures mark the switch down (logged once); they are not crashes.

    The next deadline is the previous one plus the interval on the monotonic clock, so the
    schedule does not drift; a poll never runs longer than 90 % of the interval.
    """
    cfg = poller.cfg
    rng = rng or random.Random()  # noqa: S311 (jitter, not cryptography)
    name = cfg.name
    metrics.switches.publish(poller.health())
    try:
        await asyncio.sleep(rng.uniform(0, min(cfg.interval, FIRST_POLL_SPREAD)))
        deadline = time.monotonic()
        was_up: bool | None = None
        while True:
            start = time.monotonic()
            try:
                async with asyncio.timeout(cfg.interval * 0.9):
                    samples = await poller.poll()
            except TimeoutError:
                err: SnmpError | None = SnmpError(f"poll took longer than {cfg.interval * 0.9:g}s")
                assert err is not None
                poller.failed(err, time.monotonic() - start)
            except SnmpError as exc:
                err = exc
            else:
                err = None
                metrics.interfaces.publish(name, samples)
            if err is None:
                if was_up is False:
                    log.info("switch up again", switch=name)
                elif was_up is None:
                    log.info(
                        "switch polled",
                        switch=name,
                        interfaces=len(samples),
                        duration_s=round(poller.last_duration or 0, 3),
                    )
                for event in poller.events:
                    log.warning(event, switch=name)
                for note in poller.notes:
                    log.warning("agent quirk", switch=name, note=note)
                was_up = True
            else:
                if was_up is not False:
                    log.error("switch down", switch=name, kind=err.kind, error=str(err))
                was_up = False
            log.debug(
                "poll", switch=name, ok=err is None, duration_s=round(poller.last_duration or 0, 3)
            )
            metrics.switches.publish(poller.health())
            health.ok()
            deadline += cfg.interval
            now = time.monotonic()
            if deadline < now:
                deadline = now + cfg.interval
            await asyncio.sleep(deadline - now)
    finally:
        metrics.switches.forget(name)
        metrics.interfaces.forget(name)
