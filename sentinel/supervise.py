"""Keep a long-lived loop running: log on state change, back off with jitter, show it in metrics."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sentinel import logsetup

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from sentinel.metrics import Metrics

log = logsetup.get(__name__)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with jitter: delay n is uniform in [initial, min(cap, initial * 2^n)]."""

    initial: float = 1.0
    cap: float = 60.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        upper = min(self.cap, self.initial * (2 ** min(attempt, 30)))
        return rng.uniform(self.initial, max(self.initial, upper))


class Health:
    """Handed to a supervised loop; the loop calls ``ok()`` after each good iteration."""

    def __init__(
        self,
        name: str,
        metrics: Metrics,
        on_change: Callable[[str, BaseException | None], None] | None = None,
    ) -> None:
        self.name = name
        self._metrics = metrics
        self._on_change = on_change  # (task, error or None when recovered)
        self.failing = False
        self.failures = 0  # consecutive
        self.restarts = 0

    def ok(self) -> None:
        """The loop did useful work: mark it up, and log recovery once after a failure."""
        if self.failing:
            log.info("task recovered", task=self.name, after_failures=self.failures)
            if self._on_change is not None:
                self._on_change(self.name, None)
        self.failing = False
        self.failures = 0
        self._metrics.task_up.labels(self.name).set(1)

    def failed(self, exc: BaseException) -> None:
        self.failures += 1
        self.restarts += 1
        self._metrics.task_up.labels(self.name).set(0)
        self._metrics.task_restarts.labels(self.name).inc()
        if not self.failing:
            log.error("task failed, restarting with backoff", task=self.name, error=exc)
            if self._on_change is not None:
                self._on_change(self.name, exc)
        else:
            log.debug("task failed again", task=self.name, failures=self.failures, error=exc)
        self.failing = True


async def supervise(
    name: str,
    loop: Callable[[Health], Awaitable[None]],
    metrics: Metrics,
    backoff: Backoff = Backoff(),
    rng: random.Random | None = None,
    on_change: Callable[[str, BaseException | None], None] | None = None,
) -> None:
    """Run ``loop(health)`` until it returns or is cancelled; restart it when it raises.

    ``CancelledError`` always propagates (that is how the daemon stops a task); any other
    exception is logged once per failure streak, counted, and followed by a backoff.
    """
    health = Health(name, metrics, on_change)
    rng = rng or random.Random()  # noqa: S311 (jitter, not cryptography)
    metrics.task_up.labels(name).set(1)
    try:
        while True:
            try:
                await loop(health)
            except Exception as exc:
                health.failed(exc)
                await asyncio.sleep(backoff.delay(health.failures - 1, rng))
            else:
                log.debug("task finished", task=name)
                return
    finally:
        metrics.task_up.labels(name).set(0)
