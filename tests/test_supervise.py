"""A supervised loop that fails is restarted with backoff, logged once, and shown in metrics."""

from __future__ import annotations

import asyncio
import logging
import random

import pytest
from prometheus_client import CollectorRegistry

from sentinel.metrics import Metrics
from sentinel.supervise import Backoff, Health, supervise


def _up(m: Metrics, task: str) -> float | None:
    return m.registry.get_sample_value("sentinel_task_up", {"task": task})


async def test_failing_loop_recovers_and_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    """Three failures, then success: one error line, one recovery line, metrics follow."""
    metrics = Metrics(CollectorRegistry(), process=False)
    calls = 0
    seen_down: list[float | None] = []
    recovered = asyncio.Event()

    async def loop(health: Health) -> None:
        nonlocal calls
        calls += 1
        if calls <= 3:
            raise ConnectionError(f"switch unreachable ({calls})")
        health.ok()
        recovered.set()
        await asyncio.Event().wait()

    caplog.set_level(logging.DEBUG, logger="sentinel.supervise")
    task = asyncio.create_task(
        supervise("poll", loop, metrics, Backoff(0.01, 0.02), random.Random(1))
    )

    async def watch() -> None:
        while not recovered.is_set():
            seen_down.append(_up(metrics, "poll"))
            await asyncio.sleep(0.002)

    await asyncio.wait_for(asyncio.gather(recovered.wait(), watch()), 5)
    assert calls == 4
    assert 0.0 in seen_down
    assert _up(metrics, "poll") == 1.0
    restarts = metrics.registry.get_sample_value("sentinel_task_restarts_total", {"task": "poll"})
    assert restarts == 3
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    infos = [r for r in caplog.records if r.levelno == logging.INFO]
    assert [r.getMessage() for r in errors] == ["task failed, restarting with backoff"]
    assert [r.getMessage() for r in infos] == ["task recovered"]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _up(metrics, "poll") == 0.0


async def test_cancellation_is_never_swallowed() -> None:
    """Cancelling a supervised task stops it instead of restarting it."""
    metrics = Metrics(CollectorRegistry(), process=False)
    started = asyncio.Event()

    async def loop(health: Health) -> None:
        health.ok()
        started.set()
        await asyncio.sleep(3600)

    task = asyncio.create_task(supervise("x", loop, metrics))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_backoff_grows_and_is_capped() -> None:
    """Delays stay within [initial, cap] and grow with the attempt."""
    b = Backoff(1.0, 8.0)
    rng = random.Random(0)
    for attempt in range(10):
        d = b.delay(attempt, rng)
        assert 1.0 <= d <= min(8.0, 2**attempt)
