"""An alert's mails are one thread: later mails reply to the first, through a real SMTP server."""

from __future__ import annotations

import email
import email.policy
import sqlite3
from typing import TYPE_CHECKING

import pytest

from sentinel.alerting.email import EmailSink
from sentinel.alerting.outbox import FILE, Outbox
from sentinel.alerting.router import Router
from sentinel.alerting.sink import Event
from sentinel.alerting.threads import Threads, thread_key
from sentinel.config.alerting import AlertingConfig, EventLogConfig
from sentinel.model import Severity
from tests.alerting.conftest import make_alert, smtp_server
from tests.alerting.test_email_webhook import mail_config
from tests.alerting.test_escalation import spray
from tests.alerting.test_units import Clock

if TYPE_CHECKING:
    from email.message import EmailMessage
    from pathlib import Path

    from sentinel.model import Alert

pytestmark = pytest.mark.timeout(30)

W, C = Severity.WARNING, Severity.CRITICAL
THREAD_HEADERS = ("Message-ID", "In-Reply-To", "References")


def parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, email.message.EmailMessage)
    return msg


def mail_router(sink: EmailSink, clock: Clock, state: Path | None = None) -> Router:
    cfg = AlertingConfig(event_log=EventLogConfig(enabled=False), incident_hold=0.0)
    return Router(cfg, "site-a", state, sinks=[sink], clock=clock)


async def deliver(r: Router, sink: EmailSink, *alerts: Alert, clock: Clock) -> None:
    for alert in alerts:
        clock.now += 5
        r.submit(alert)
        while await r.deliver_once(sink):
            pass


async def test_the_escalation_and_the_end_reply_to_the_first_mail(
    tls_pair: tuple[Path, Path],
) -> None:
    """Warning, critical, end: the second and third mail reply to the first; the next
    alert under the same key, after the end, starts a thread of its own."""
    clock = Clock()
    with smtp_server(tls_pair) as srv:
        sink = EmailSink(mail_config(srv.port, tls_pair[0]), "site-a")
        r = mail_router(sink, clock)
        try:
            await deliver(r, sink, spray(), spray(C), spray(resolved=clock.now + 20), clock=clock)
            await deliver(r, sink, spray(), clock=clock)  # it starts again
        finally:
            await r.close()
    mails = [parse(m[2]) for m in srv.messages]
    assert [m["X-Sentinel-Escalated-From"] for m in mails] == [None, "warning", None, None]
    first = mails[0]["Message-ID"]
    assert first
    assert mails[0]["In-Reply-To"] is None
    assert mails[0]["References"] is None
    for later in mails[1:3]:
        assert later["In-Reply-To"] == first
        assert later["References"] == first
        assert later["Message-ID"] not in (None, first)
    assert mails[3]["In-Reply-To"] is None
    assert mails[3]["Message-ID"] != first
    assert len({m["Message-ID"] for m in mails}) == 4


async def test_two_alerts_are_two_threads_and_name_no_device(
    tls_pair: tuple[Path, Path],
) -> None:
    """Two devices' alerts, each escalated: each escalation replies to its own first mail,
    never to the other's; no thread header names the devices' addresses."""
    clock = Clock()
    devices = ("10.20.0.7", "10.20.0.8")
    with smtp_server(tls_pair) as srv:
        sink = EmailSink(mail_config(srv.port, tls_pair[0]), "site-a")
        r = mail_router(sink, clock)
        try:
            await deliver(r, sink, *(make_alert(d) for d in devices), clock=clock)
            await deliver(r, sink, make_alert(devices[0], severity=C), clock=clock)
            await deliver(r, sink, make_alert(devices[1], severity=C), clock=clock)
        finally:
            await r.close()
    first_a, first_b, up_a, up_b = (parse(m[2]) for m in srv.messages)
    assert first_a["In-Reply-To"] is None
    assert first_b["In-Reply-To"] is None  # not threaded under the other device's alert
    assert up_a["In-Reply-To"] == first_a["Message-ID"]
    assert up_b["In-Reply-To"] == first_b["Message-ID"]
    assert first_a["Message-ID"] != first_b["Message-ID"]
    for msg in (first_a, first_b, up_a, up_b):
        values = " ".join(str(msg[h]) for h in THREAD_HEADERS)
        assert not any(d in values for d in devices), values
        assert "port_scan" not in values


async def test_a_queued_escalation_replies_to_its_first_mail_after_a_restart(
    tls_pair: tuple[Path, Path], tmp_path: Path
) -> None:
    """The first mail goes out; the escalation is queued when the daemon stops (the server
    refuses the login); after the restart it still replies to the first mail, and the
    stored table holds neither the device nor the detector's key in clear text."""
    clock = Clock()
    with smtp_server(tls_pair) as srv:
        cfg = mail_config(srv.port, tls_pair[0])
        sink = EmailSink(cfg, "site-a")
        r = mail_router(sink, clock, tmp_path)
        try:
            await deliver(r, sink, spray(), clock=clock)
            sink.config = mail_config(srv.port, tls_pair[0], username="wrong")
            await deliver(r, sink, spray(C), clock=clock)  # refused: kept in the outbox
            assert r.stats().queued["email"] == 1
        finally:
            await r.close()
        assert len(srv.messages) == 1
        sink = EmailSink(cfg, "site-a")
        r = mail_router(sink, clock, tmp_path)
        try:
            assert await r.deliver_once(sink, ignore_backoff=True)
        finally:
            await r.close()
    first, escalation = (parse(m[2]) for m in srv.messages)
    assert escalation["X-Sentinel-Escalated-From"] == "warning"
    assert escalation["In-Reply-To"] == first["Message-ID"]
    assert escalation["References"] == first["Message-ID"]
    db = sqlite3.connect(tmp_path / FILE)
    try:
        rows = db.execute("SELECT key, message_id FROM threads").fetchall()
    finally:
        db.close()
    assert rows == [(thread_key(spray(), "site-a"), first["Message-ID"])]
    assert "pseudo-1" not in repr(rows)
    assert "brute_force" not in repr(rows)


async def test_one_batch_is_threaded_too(tls_pair: tuple[Path, Path]) -> None:
    """A first mail and its escalation in one SMTP session: the second replies to the first."""
    with smtp_server(tls_pair) as srv:
        sink = EmailSink(mail_config(srv.port, tls_pair[0]), "site-a")
        await sink.send(
            [
                Event(1, spray(), 1.0),
                Event(2, spray(C, escalated_from=W), 2.0),
                Event(3, make_alert("pseudo-2"), 3.0),
            ]
        )
    first, escalation, other = (parse(m[2]) for m in srv.messages)
    assert escalation["In-Reply-To"] == first["Message-ID"]
    assert other["In-Reply-To"] is None


async def test_a_finding_notified_on_its_own_replies_to_its_incident(
    tls_pair: tuple[Path, Path],
) -> None:
    """A more severe finding of an incident, notified on its own, is in the incident's
    thread: the router treats the incident as the alert it escalates."""
    lead = "host_sweep:pseudo-1"
    sweep = make_alert("pseudo-1", detector="host_sweep", kind="icmp", incident=lead)
    scan = make_alert("pseudo-1", severity=C, kind="vertical", incident=lead)
    clock = Clock()
    with smtp_server(tls_pair) as srv:
        sink = EmailSink(mail_config(srv.port, tls_pair[0]), "site-a")
        r = mail_router(sink, clock)
        try:
            await deliver(r, sink, sweep, scan, clock=clock)
        finally:
            await r.close()
    first, own = (parse(m[2]) for m in srv.messages)
    assert own["X-Sentinel-Detector"] == "port_scan"
    assert own["In-Reply-To"] == first["Message-ID"]


def test_only_delivered_mails_start_threads() -> None:
    """A batch whose first mail was not delivered starts nothing; its escalation, delivered
    later on its own, starts the thread, and the end replies to it and ends it."""
    threads = Threads()
    plan = threads.plan([("k", "<1@x>", False), ("k", "<2@x>", False)])
    assert [(s.parent, s.starts) for s in plan] == [(None, True), ("<1@x>", False)]
    threads.commit(plan[:0])  # the server took none of them
    assert threads.first("k") is None
    threads.commit(threads.plan([("k", "<2@x>", False)]))
    assert threads.first("k") == "<2@x>"
    end = threads.plan([("k", "<3@x>", True), ("k", "<4@x>", False)])
    assert [(s.parent, s.starts) for s in end] == [("<2@x>", False), (None, True)]
    threads.commit(end[:1])
    assert threads.first("k") is None
    assert len(threads) == 0


def test_the_table_keeps_the_newest_threads_up_to_its_cap() -> None:
    """Past the cap the oldest started thread is evicted, in memory and in the outbox; a
    thread started again counts as new; a later table goes on from the stored one."""
    outbox = Outbox(None, 100)
    try:
        threads = Threads(cap=3)
        threads.attach(outbox)
        for k in ("k1", "k2", "k3", "k4"):
            threads.commit(threads.plan([(k, f"<{k}@x>", False)]))
        assert [threads.first(k) for k in ("k1", "k2", "k3", "k4")] == [
            None,
            "<k2@x>",
            "<k3@x>",
            "<k4@x>",
        ]
        assert outbox.threads() == [("k2", "<k2@x>"), ("k3", "<k3@x>"), ("k4", "<k4@x>")]
        threads.commit(threads.plan([("k2", "<end@x>", True), ("k2", "<k2b@x>", False)]))
        threads.commit(threads.plan([("k5", "<k5@x>", False)]))
        assert threads.first("k3") is None  # now the oldest started
        assert outbox.threads() == [("k4", "<k4@x>"), ("k2", "<k2b@x>"), ("k5", "<k5@x>")]
        later = Threads(cap=2)
        later.attach(outbox)
        assert len(later) == 2
        assert (later.first("k4"), later.first("k5")) == (None, "<k5@x>")
    finally:
        outbox.close()
