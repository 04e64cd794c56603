"""An alert that becomes more severe reaches the admin once, at once, with its new severity."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from typing import TYPE_CHECKING, Any, ClassVar

from sentinel.alerting import codec
from sentinel.alerting.eventlog import LOGGER, EventLogSink
from sentinel.alerting.outbox import FILE
from sentinel.alerting.router import Router
from sentinel.config.alerting import AlertingConfig
from sentinel.metrics import Metrics
from sentinel.model import Severity
from tests.alerting.conftest import make_alert, needs_alertmanager, wait_for
from tests.alerting.test_alertmanager import config, running
from tests.alerting.test_units import Clock, FakeSink, router

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    import pytest

    from sentinel.alerting.sink import Event
    from sentinel.model import Alert
    from tests.alerting.conftest import AlertmanagerProc, Recorder

W, C = Severity.WARNING, Severity.CRITICAL
LEAD = "host_sweep:pseudo-1"
WHY = "pseudo-1 is spraying port 21 over 9 servers: refused logins"


def spray(severity: Severity = W, **kw: Any) -> Alert:
    summary = WHY if severity is C else "pseudo-1 is spraying port 21 over 9 servers: sessions"
    return make_alert(
        "pseudo-1", detector="brute_force", kind="ftp", severity=severity, summary=summary, **kw
    )


async def drain(r: Router, sink: FakeSink) -> None:
    while await r.deliver_once(sink):
        pass


def escalations(r: Router) -> dict[tuple[str, str], float]:
    """``sentinel_alerts_escalated_total`` as a scrape renders it, by (detector, severity)."""
    m = Metrics(process=False)
    m.alerting.source = r.stats
    return {
        (s.labels["detector"], s.labels["severity"]): s.value
        for f in m.registry.collect()
        if f.name == "sentinel_alerts_escalated"
        for s in f.samples
        if s.name == "sentinel_alerts_escalated_total"
    }


async def test_an_escalation_names_what_the_admin_was_told(tmp_path: Path) -> None:
    """Info was delivered, the warning it became failed to go out (and is dropped unsent
    once it is critical): the critical escalated from info, the severity last notified."""
    clock, sink = Clock(), FakeSink()
    r = router(tmp_path, clock, sink)
    r.submit(spray(Severity.INFO))
    await drain(r, sink)
    sink.failing = True
    clock.now += 10
    r.submit(spray())
    await r.deliver_once(sink)
    sink.failing = False
    clock.now += 10
    r.submit(spray(C))
    await r.deliver_once(sink, ignore_backoff=True)
    await drain(r, sink)
    assert [(e.alert.severity, e.alert.escalated_from) for e in sink.sent] == [
        (Severity.INFO, None),
        (C, Severity.INFO),
    ]
    assert escalations(r) == {("brute_force", "warning"): 1.0, ("brute_force", "critical"): 1.0}
    await r.close()


class SlowSink(FakeSink):
    """A sink that takes each batch only once ``go`` is set (a slow mail server)."""

    def __init__(self) -> None:
        super().__init__()
        self.go = asyncio.Event()
        self.busy = asyncio.Event()

    async def send(self, events: Sequence[Event]) -> None:
        self.busy.set()
        async with asyncio.timeout(5):
            await self.go.wait()
        await super().send(events)


async def test_an_escalation_while_the_warning_is_being_sent(tmp_path: Path) -> None:
    """The detector turns critical while the warning's mail is still in transit: the
    warning arrives, so the critical escalated from it."""
    clock, sink = Clock(), SlowSink()
    r = router(tmp_path, clock, sink)
    r.submit(spray())
    sending = asyncio.create_task(r.deliver_once(sink))
    async with asyncio.timeout(5):
        await sink.busy.wait()
    clock.now += 10
    r.submit(spray(C))
    sink.go.set()
    await sending
    await drain(r, sink)
    assert [(e.alert.severity, e.alert.escalated_from) for e in sink.sent] == [(W, None), (C, W)]
    await r.close()


async def test_an_escalation_after_a_restart_from_an_older_outbox(tmp_path: Path) -> None:
    """An outbox written before escalations were named (no ``escalated_from`` in its
    records) still opens: its active warning, escalated after the restart, escalated from
    warning; a repeat keeps the escalated form active (what Alertmanager is re-sent)."""
    clock, sink = Clock(), FakeSink()
    r = router(tmp_path, clock, sink)
    r.submit(spray())
    await drain(r, sink)
    await r.close()
    db = sqlite3.connect(tmp_path / FILE)
    [(stored,)] = db.execute("SELECT alert FROM active").fetchall()
    old = json.loads(stored)
    del old["escalated_from"]
    with db:
        db.execute("UPDATE active SET alert = ?", (json.dumps(old),))
    db.close()
    assert codec.loads(json.dumps(old)).escalated_from is None
    r = router(tmp_path, clock, sink)
    clock.now += 10
    r.submit(spray(C))
    r.submit(spray(C))
    r.submit(spray())
    await drain(r, sink)
    assert [(e.alert.severity, e.alert.escalated_from) for e in sink.sent] == [(W, None), (C, W)]
    [active] = r.outbox.active()
    assert (active.severity, active.escalated_from) == (C, W)
    await r.close()


async def test_the_event_log_names_the_escalation(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The journal's alert lines: escalated_from is the old severity on the escalation,
    empty on the first alert and on the end."""
    clock, log = Clock(), EventLogSink("site-a")
    r = Router(AlertingConfig(), "site-a", tmp_path, sinks=[log], clock=clock)
    caplog.set_level(logging.WARNING, logger=LOGGER)
    for alert in (spray(), spray(C), spray(resolved=clock.now + 5)):
        clock.now += 5
        r.submit(alert)
        while await r.deliver_once(log):
            pass
    await r.close()
    lines = [rec.kv for rec in caplog.records if rec.name == LOGGER]
    assert [(kv["status"], kv["severity"], kv["escalated_from"]) for kv in lines] == [
        ("firing", "warning", ""),
        ("firing", "critical", "warning"),
        ("resolved", "critical", ""),
    ]


async def test_an_escalation_is_notified_at_once_and_once(tmp_path: Path) -> None:
    clock, sink = Clock(), FakeSink()
    r = router(tmp_path, clock, sink)
    r.submit(spray())
    await drain(r, sink)
    clock.now += 10
    r.submit(spray())  # a repeat: suppressed
    r.submit(spray(C))  # more severe: news
    r.submit(spray(C))
    r.submit(spray())  # less severe again: no downgrade, nothing sent
    await drain(r, sink)
    assert [(e.alert.severity, e.alert.summary, e.alert.escalated_from) for e in sink.sent] == [
        (W, "pseudo-1 is spraying port 21 over 9 servers: sessions", None),
        (C, WHY, W),
    ]
    assert escalations(r) == {("brute_force", "critical"): 1.0}
    r.submit(spray(resolved=clock.now))
    await drain(r, sink)
    end = sink.sent[-1].alert
    assert (end.severity, end.summary, end.resolved) == (C, WHY, clock.now)  # what was sent
    assert end.escalated_from is None  # an end, not the escalation again
    assert len(sink.sent) == 3
    await r.close()


async def test_an_escalation_within_the_incident_hold_is_one_notification(
    tmp_path: Path,
) -> None:
    """The first alert of an incident is held 5 s; it became critical in the meantime:
    the admin gets the critical one at once, the held warning never."""
    clock, sink = Clock(), FakeSink()
    r = router(tmp_path, clock, sink)
    r.submit(spray(incident="brute_force:pseudo-1"))
    await drain(r, sink)
    assert sink.sent == []
    clock.now += 1
    r.submit(spray(C, incident="brute_force:pseudo-1"))
    await drain(r, sink)
    assert [e.alert.severity for e in sink.sent] == [C]
    clock.now += 10
    await drain(r, sink)
    assert [e.alert.severity for e in sink.sent] == [C]
    assert r.stats().queued == {"fake": 0}
    # the warning never went out: the critical does not point the admin at it
    assert sink.sent[0].alert.escalated_from is None
    assert escalations(r) == {("brute_force", "critical"): 1.0}
    await r.close()


async def test_a_folded_finding_that_becomes_more_severe_is_notified_on_its_own(
    tmp_path: Path,
) -> None:
    """A sweep opened the incident; the spraying that followed was folded into it (as
    severe); once it is critical it is notified on its own, naming its incident."""
    clock, sink = Clock(), FakeSink()
    r = router(tmp_path, clock, sink, incident_hold=0.0)
    r.submit(make_alert("pseudo-1", detector="host_sweep", kind="icmp", incident=LEAD))
    r.submit(spray(incident=LEAD))
    await drain(r, sink)
    assert [e.alert.detector for e in sink.sent] == ["host_sweep"]
    clock.now += 30
    r.submit(spray(C, incident=LEAD))
    r.submit(spray(C, incident=LEAD))
    await drain(r, sink)
    assert [(e.alert.detector, e.alert.severity) for e in sink.sent] == [
        ("host_sweep", W),
        ("brute_force", C),
    ]
    assert sink.sent[1].alert.incident == LEAD
    # the admin saw the finding in the incident's warning: it escalated from that
    assert [e.alert.escalated_from for e in sink.sent] == [None, W]
    assert escalations(r) == {("brute_force", "critical"): 1.0}
    # each ends on its own: the sweep's incident, then the spraying
    r.submit(make_alert("pseudo-1", detector="host_sweep", resolved=clock.now, incident=LEAD))
    r.submit(spray(C, resolved=clock.now, incident=LEAD))
    await drain(r, sink)
    ends = [(e.alert.detector, e.alert.severity) for e in sink.sent if e.alert.resolved]
    assert ends == [("host_sweep", W), ("brute_force", C)]
    assert r.stats().active == 0
    await r.close()


class RefreshSink(FakeSink):
    """A sink that tells alerts apart by labels, severity among them (Alertmanager)."""

    name: ClassVar[str] = "labels"
    resend = 60.0

    async def refresh(self, alerts: Sequence[Alert]) -> None:
        return None


async def test_alertmanager_is_told_the_old_severity_ended(tmp_path: Path) -> None:
    clock, mail, am = Clock(), FakeSink(), RefreshSink()
    r = Router(AlertingConfig(), "site-a", tmp_path, sinks=[mail, am], clock=clock)
    r.submit(spray())
    await drain(r, mail)
    await drain(r, am)
    clock.now += 10
    r.submit(spray(C))
    await drain(r, mail)
    await drain(r, am)
    assert [(e.alert.severity, e.alert.resolved) for e in mail.sent] == [(W, None), (C, None)]
    assert [(e.alert.severity, e.alert.resolved) for e in am.sent] == [
        (W, None),
        (C, None),
        (W, clock.now),
    ]
    await r.close()


@needs_alertmanager
async def test_a_real_alertmanager_shows_one_alert_with_the_new_severity(
    tmp_path: Path, alertmanager: AlertmanagerProc, am_hook: Recorder
) -> None:
    """Warning, then critical: Alertmanager ends the warning and fires the critical in
    one group; the admin's receiver is notified of it with the new summary."""
    r = Router(config(alertmanager.url), "site-a", tmp_path)
    async with running(r):
        r.submit(spray())
        await wait_for(lambda: len(alertmanager.alerts()) == 1)
        await wait_for(lambda: any(n["status"] == "firing" for n in am_hook.json()))
        [first] = alertmanager.alerts()
        assert "escalated_from" not in first["annotations"]
        r.submit(spray(C, last_seen=time.time()))
        await wait_for(
            lambda: [a["labels"]["severity"] for a in alertmanager.alerts()] == ["critical"]
        )
        await wait_for(
            lambda: any(
                a["status"] == "firing" and a["labels"]["severity"] == "critical"
                for n in am_hook.json()
                for a in n["alerts"]
            )
        )
        [got] = alertmanager.alerts()
        assert got["annotations"]["summary"] == WHY
        assert got["annotations"]["escalated_from"] == "warning"
        assert "escalated_from" not in got["labels"]  # the same alert, become worse
    firing = [
        a["labels"]["severity"]
        for n in am_hook.json()
        for a in n["alerts"]
        if a["status"] == "firing"
    ]
    assert firing.count("critical") == 1
    told = {
        (a["labels"]["severity"], a["annotations"].get("escalated_from"))
        for n in am_hook.json()
        for a in n["alerts"]
        if a["status"] == "firing"
    }
    assert told == {("warning", None), ("critical", "warning")}  # what the receiver got


async def test_from_the_engine_to_the_notifications(tmp_path: Path) -> None:
    """A detector's warnings for 20 s, then critical for 40 s, repeats every second: the
    admin reads two notifications (the warning, the escalation), then the one end."""
    from tests.detect.test_escalation import run as engine_run

    script = dict.fromkeys(range(0, 20), W) | dict.fromkeys(range(20, 60), C)
    _, alerts = engine_run(script, 700, suppress_for=10.0, resolve_after=600.0)
    clock, sink = Clock(), FakeSink()
    r = router(tmp_path, clock, sink)
    last = 0.0
    for a in alerts:  # the router's clock moves as packet time did
        seen = a.resolved if a.resolved is not None else a.last_seen
        for _ in range(int(seen - last)):
            clock.now += 1
            await drain(r, sink)
        last = seen
        r.submit(a)
        await drain(r, sink)
    clock.now += 10
    await drain(r, sink)
    assert [(e.alert.severity, e.alert.resolved is not None) for e in sink.sent] == [
        (W, False),
        (C, False),
        (C, True),
    ]
    assert sink.sent[1].alert.summary.endswith("refused logins")
    await r.close()
