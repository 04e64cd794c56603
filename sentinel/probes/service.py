"""The probes as daemon tasks: one per target on its own jittered schedule, and the verdict."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sentinel import logsetup
from sentinel.config.probes import IcmpSettings, ProbeSettings, ProbeTarget, VerdictConfig
from sentinel.probes import targets, verdict
from sentinel.probes.icmp import Pingers
from sentinel.probes.run import probe

if TYPE_CHECKING:
    from sentinel.config import Config
    from sentinel.config.probes import ProbesConfig
    from sentinel.metrics import Metrics
    from sentinel.model import ProbeResult
    from sentinel.supervise import Health

log = logsetup.get(__name__)

JITTER = 0.05  # each round starts up to 5 % of the interval early or late
# Set in the test suite and benches: the default targets are real addresses outside.
NO_DEFAULTS_ENV = "SENTINEL_NO_DEFAULT_PROBES"


@dataclass(frozen=True, slots=True)
class TargetTask:
    """The config slice of one probe task: a change restarts just this target."""

    target: ProbeTarget
    settings: ProbeSettings


@dataclass(frozen=True, slots=True)
class VerdictTask:
    cfg: VerdictConfig
    essential: frozenset[str]


class ProbeService:
    """Shared by the probe tasks: ICMP sockets, recent results, uplink counters."""

    def __init__(self, metrics: Metrics, socket_mode: str = "auto") -> None:
        self.metrics = metrics
        self.pingers = Pingers(socket_mode)
        self.history = verdict.History()
        self.utilisation = verdict.Utilisation()

    def wanted(self, cfg: Config) -> dict[str, object]:
        """Task name -> config slice, for the daemon's ``_wanted_sources``."""
        if cfg.probes.icmp.socket != self.pingers.mode:
            self.pingers.close()
            self.pingers = Pingers(cfg.probes.icmp.socket)
        with_defaults = os.environ.get(NO_DEFAULTS_ENV, "") in ("", "0")
        out: dict[str, object] = {}
        active = targets.active(cfg.probes, with_defaults=with_defaults)
        for t in active:
            out[f"probe:{t.name}"] = TargetTask(t, getattr(cfg.probes, t.module))
        if active and cfg.probes.verdict.enabled:
            essential = frozenset(t.name for t in active if t.essential)
            out["verdict"] = VerdictTask(cfg.probes.verdict, essential)
        return out

    def task(self, key: object) -> Callable[[Health], Awaitable[None]]:
        if isinstance(key, TargetTask):
            return lambda h: self.run_target(h, key)
        assert isinstance(key, VerdictTask)
        return lambda h: self.run_verdict(h, key)

    async def run_target(self, health: Health, key: TargetTask) -> None:
        t, interval = key.target, float(key.settings.interval)
        rng = random.Random()  # noqa: S311 (jitter, not cryptography)
        loop = asyncio.get_running_loop()
        await asyncio.sleep(rng.uniform(0, interval))  # targets do not all start at once
        due = loop.time()
        failing: str | None = None
        try:
            while True:
                r = await probe(t, key.settings, self.pingers)
                self.metrics.probes.publish(r)
                self.history.add(r)
                if not r.success and failing != r.reason:
                    log.warning(
                        "probe failed",
                        target=t.name,
                        probe=t.module,
                        reason=r.reason,
                        detail=r.detail,
                    )
                elif r.success and failing is not None:
                    log.info("probe recovered", target=t.name, probe=t.module)
                failing = None if r.success else r.reason
                health.ok()
                due += interval
                now = loop.time()
                if due < now:  # fell behind (suspended box): skip, don't burst
                    due = now + interval
                await asyncio.sleep(max(0.0, due - now + rng.uniform(-JITTER, JITTER) * interval))
        finally:
            self.metrics.probes.forget(t.name, t.module)
            self.history.forget(t.name)

    async def run_verdict(self, health: Health, key: VerdictTask) -> None:
        cfg = key.cfg
        loop = asyncio.get_running_loop()
        # The uplink counters are read ten times per verdict (at least once a second), so
        # each new snapshot is timed within that of when it was sampled (verdict.py).
        poll = min(1.0, cfg.interval / 10)
        due = loop.time()
        seen = ""
        try:
            while True:
                self.utilisation.add(loop.time(), self.metrics.interfaces.uplinks())
                if loop.time() >= due:
                    seen = self._verdict(key, loop.time(), time.time(), seen)
                    health.ok()
                    due += cfg.interval
                    if due < loop.time():  # fell behind (suspended box): skip, don't burst
                        due = loop.time() + cfg.interval
                await asyncio.sleep(max(0.0, min(poll, due - loop.time())))
        finally:
            self.metrics.probes.set_verdict(None, None)

    def _verdict(self, key: VerdictTask, mono: float, now: float, seen: str) -> str:
        """Decide over the window ending now and publish it; log when it changes from
        ``seen``. The verdict, or ``seen`` while there is none."""
        cfg = key.cfg
        util = self.utilisation.ratio(mono, cfg.window, cfg.uplink_speed)
        results = self.history.window(now - cfg.window)
        if not results:
            self.metrics.probes.set_verdict(None, util)
            return seen
        shift = mono - now  # results carry unix times, the counters loop times
        known = self.utilisation.known_until()

        def peak(start: float, end: float) -> float | None:
            return self.utilisation.peak(start + shift, end + shift, cfg.uplink_speed)

        view = verdict.UplinkView(peak, None if known is None else known - shift, now)
        v = verdict.decide(results, key.essential, util, cfg, view, seen)
        self.metrics.probes.set_verdict(v.verdict, util)
        if v.verdict != seen:
            log.info("connection verdict", verdict=v.verdict, why=v.why or None)
        return v.verdict

    async def once(
        self, cfg: ProbesConfig, module: str, address: str, seconds: float
    ) -> ProbeResult:
        """One probe of ``address`` within ``seconds``, for ``GET /probe``."""
        return await probe_once(cfg, module, address, seconds, self.pingers)

    def close(self) -> None:
        self.pingers.close()


async def probe_once(
    cfg: ProbesConfig,
    module: str,
    address: str,
    seconds: float,
    pingers: Pingers,
    *,
    pings: int = 1,
    spacing: float | None = None,
    ip_protocol: str = "auto",
) -> ProbeResult:
    """One round against an ad-hoc target with the configured module settings.

    ICMP sends ``pings`` echo requests (blackbox_exporter's one by default), each waiting
    no longer than the deadline leaves; a reply that comes too late is a loss.
    """
    target = ProbeTarget("probe", module, address, ip_protocol=ip_protocol)  # type: ignore[arg-type]
    settings: ProbeSettings = getattr(cfg, module)
    if isinstance(settings, IcmpSettings):
        gap = settings.spacing if spacing is None else spacing
        left = seconds - gap * max(0, pings - 1) - 0.05
        settings = dataclasses.replace(settings, timeout=max(0.01, min(settings.timeout, left)))
        return await probe(target, settings, pingers, pings=pings, spacing=gap, limit=seconds)
    return await probe(target, settings, pingers, limit=seconds)


if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
