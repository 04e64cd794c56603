"""Delivery to a real Alertmanager: once, with labels; resolved; outages; SIGKILL."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import textwrap
import time
from typing import TYPE_CHECKING

import pytest

from sentinel.alerting.router import Router
from sentinel.config.alerting import AlertingConfig, AlertmanagerConfig, EventLogConfig
from sentinel.metrics import Metrics
from sentinel.model import Severity
from sentinel.supervise import Health
from tests.alerting.conftest import (
    ROUTE_TO_HOOK,
    AlertmanagerProc,
    Recorder,
    make_alert,
    needs_alertmanager,
    wait_for,
)
from tests.conftest import ROOT

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

pytestmark = [needs_alertmanager, pytest.mark.timeout(90)]


def config(url: str, resend: float = 5.0) -> AlertingConfig:
    return AlertingConfig(
        alertmanager=AlertmanagerConfig(urls=(url,), resend=resend, timeout=1.0),
        event_log=EventLogConfig(enabled=False),
    )


@contextlib.asynccontextmanager
async def running(router: Router) -> AsyncIterator[Router]:
    """``router.run`` in the background; cancelled and closed on exit."""
    task = asyncio.create_task(router.run(Health("alerting", Metrics(process=False))))
    try:
        yield router
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await router.close()


async def test_alert_arrives_once_with_labels_then_resolved(
    tmp_path: Path, alertmanager: AlertmanagerProc, am_hook: Recorder
) -> None:
    """One alert (repeated by its detector) is one Alertmanager alert; its end arrives resolved."""
    r = Router(config(alertmanager.url), "bs-de-linde-gent", tmp_path)
    async with running(r):
        alert = make_alert("pseudo-77", severity=Severity.CRITICAL)
        for _ in range(3):
            r.submit(alert)
        await wait_for(lambda: len(alertmanager.alerts()) == 1)
        [got] = alertmanager.alerts()
        assert got["labels"] == {
            "alertname": "port_scan",
            "detector": "port_scan",
            "severity": "critical",
            "site": "bs-de-linde-gent",
            "identifier": "pseudo-77",
        }
        assert got["annotations"] == {
            "summary": "pseudo-77 probed 40 ports on 10.20.0.5",
            "description": "vertical scan\nsource: pseudo-77 m-pseudo-77\n"
            "target: 10.20.0.5\ncounts: ports=40",
            "evidence": "evidence/pseudo-77.pcap",
        }
        assert got["status"]["state"] == "active"
        await wait_for(lambda: any(n["status"] == "firing" for n in am_hook.json()))
        r.submit(make_alert("pseudo-77", resolved=time.time()))
        await wait_for(lambda: any(n["status"] == "resolved" for n in am_hook.json()))
        await wait_for(lambda: alertmanager.alerts() == [])
    notes = am_hook.json()
    firing = [n for n in notes if n["status"] == "firing"]
    assert len(firing) == 1
    assert len(firing[0]["alerts"]) == 1
    resolved = [n for n in notes if n["status"] == "resolved"]
    assert resolved[0]["alerts"][0]["labels"]["identifier"] == "pseudo-77"
    assert r.stats().delivered == {"alertmanager": 2}


async def test_an_incident_is_one_alertmanager_alert_naming_its_findings(
    tmp_path: Path, alertmanager: AlertmanagerProc, am_hook: Recorder
) -> None:
    """A sweep and the scan that follows it from one source: one alert, one notification,
    the findings annotation naming both; the scan's own alert never reaches Alertmanager."""
    lead = "host_sweep:pseudo-5"
    r = Router(config(alertmanager.url), "site-a", tmp_path)
    async with running(r):
        r.submit(make_alert("pseudo-5", detector="host_sweep", kind="icmp", incident=lead))
        r.submit(make_alert("pseudo-5", detector="port_scan", kind="vertical", incident=lead))
        await wait_for(lambda: len(alertmanager.alerts()) == 1)
        [got] = alertmanager.alerts()
        assert got["labels"]["detector"] == "host_sweep"
        assert got["annotations"]["findings"] == "host_sweep/icmp, port_scan/vertical"
        await wait_for(lambda: any(n["status"] == "firing" for n in am_hook.json()))
        now = time.time()
        r.submit(make_alert("pseudo-5", detector="port_scan", resolved=now, incident=lead))
        r.submit(make_alert("pseudo-5", detector="host_sweep", resolved=now, incident=lead))
        await wait_for(lambda: any(n["status"] == "resolved" for n in am_hook.json()))
    notes = am_hook.json()
    assert [n["status"] for n in notes] == ["firing", "resolved"]
    assert all(len(n["alerts"]) == 1 for n in notes)
    assert r.stats().correlated == 1


async def test_active_alert_is_resent(tmp_path: Path, alertmanager: AlertmanagerProc) -> None:
    """While active, the alert is posted again every resend, pushing endsAt ahead."""
    r = Router(config(alertmanager.url, resend=5.0), "site-a", tmp_path)
    async with running(r):
        r.submit(make_alert("x"))
        await wait_for(lambda: len(alertmanager.alerts()) == 1)
        first = alertmanager.alerts()[0]["endsAt"]
        await wait_for(lambda: alertmanager.alerts()[0]["endsAt"] != first, timeout=12)
        assert len(alertmanager.alerts()) == 1


async def test_second_alertmanager_down_is_no_failure(
    tmp_path: Path, alertmanager: AlertmanagerProc
) -> None:
    """With two URLs (HA) one answering is enough; nothing is retried."""
    dead = "http://127.0.0.1:1"
    r = Router(
        AlertingConfig(
            alertmanager=AlertmanagerConfig(urls=(dead, alertmanager.url), timeout=1.0),
            event_log=EventLogConfig(enabled=False),
        ),
        "site-a",
        tmp_path,
    )
    async with running(r):
        r.submit(make_alert("x"))
        await wait_for(lambda: len(alertmanager.alerts()) == 1)
        assert r.stats().failures == {"alertmanager": 0}


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_receiver_down_30s_then_back(tmp_path: Path, alertmanager: AlertmanagerProc) -> None:
    """Alerts raised while Alertmanager is down for 30 s are delivered once it is back."""
    alertmanager.stop()
    r = Router(config(alertmanager.url), "site-a", tmp_path)
    async with running(r):
        r.submit(make_alert("during-outage"))
        await asyncio.sleep(30)
        s = r.stats()
        assert s.failures["alertmanager"] >= 2
        assert s.sink_up == {"alertmanager": False}
        assert s.queued == {"alertmanager": 1}
        await asyncio.to_thread(alertmanager.start)
        # Backoff is capped by retry_max (5 min by default): wait for the due retry. The
        # 30 s outage puts the next attempt at most ~32 s after the last failure.
        await wait_for(lambda: len(alertmanager.alerts()) == 1, timeout=45, step=0.5)
        [got] = alertmanager.alerts()
        assert got["labels"]["identifier"] == "during-outage"
        await wait_for(lambda: r.stats().sink_up == {"alertmanager": True})


CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from sentinel.alerting.router import Router
    from sentinel.config.alerting import AlertingConfig, AlertmanagerConfig, EventLogConfig
    from sentinel.model import Alert, Severity
    url, state = sys.argv[1], Path(sys.argv[2])
    cfg = AlertingConfig(
        alertmanager=AlertmanagerConfig(urls=(url,), timeout=1.0),
        event_log=EventLogConfig(enabled=False),
    )
    r = Router(cfg, "site-k", state)
    now = time.time()
    for i in range(3):
        r.submit(Alert("arp_spoof", Severity.CRITICAL, f"k{i}", f"spoof {i}", now, now))
    print("queued", flush=True)
    time.sleep(60)
    """
)


async def test_queued_alerts_survive_sigkill(tmp_path: Path) -> None:
    """Alerts queued by a process killed with SIGKILL are delivered by the next one."""
    am = AlertmanagerProc(tmp_path / "am", ROUTE_TO_HOOK.format(hook_port=1))
    state = tmp_path / "state"
    state.mkdir()
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, am.url, str(state)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert child.stdout is not None
        assert await asyncio.to_thread(child.stdout.readline) == "queued\n"
        child.send_signal(signal.SIGKILL)
        assert child.wait(10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
        if child.stdout is not None:
            child.stdout.close()
    await asyncio.to_thread(am.start)
    try:
        r = Router(config(am.url), "site-k", state)
        assert r.stats().queued == {"alertmanager": 3}
        async with running(r):
            await wait_for(lambda: len(am.alerts()) == 3)
        ids = sorted(a["labels"]["identifier"] for a in am.alerts())
        assert ids == ["k0", "k1", "k2"]
    finally:
        am.stop()
