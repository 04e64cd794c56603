"""The router delivers one notification per incident and folds its findings into it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sentinel.model import Severity
from tests.alerting.conftest import make_alert
from tests.alerting.test_units import Clock, FakeSink, router

if TYPE_CHECKING:
    from pathlib import Path

    from sentinel.alerting.router import Router
    from sentinel.model import Alert

LEAD = "host_sweep:pseudo-1"


def sweep(**kw: Any) -> Alert:
    return make_alert("pseudo-1", detector="host_sweep", kind="icmp", incident=LEAD, **kw)


def scan(**kw: Any) -> Alert:
    return make_alert("pseudo-1", detector="port_scan", kind="vertical", incident=LEAD, **kw)


async def drain(r: Router, sink: FakeSink) -> None:
    while await r.deliver_once(sink):
        pass


async def test_one_notification_names_every_finding(tmp_path: Path) -> None:
    """The sweep's alert waits the hold; the scan that follows is named in it, once."""
    clock, sink = Clock(), FakeSink()
    r = router(tmp_path, clock, sink)
    r.submit(sweep())
    await drain(r, sink)
    assert sink.sent == []  # held for the source's next findings
    clock.now += 1
    r.submit(scan())
    r.submit(scan())  # a repeat of a folded finding
    clock.now += 5
    await drain(r, sink)
    [note] = sink.sent
    assert note.alert.detector == "host_sweep"
    assert note.alert.findings == ("host_sweep/icmp", "port_scan/vertical")
    st = r.stats()
    assert (st.correlated, st.active, st.suppressed) == (1, 1, 1)
    # The scan ends first: nothing is sent; the incident ends with the sweep, once.
    r.submit(scan(resolved=clock.now))
    await drain(r, sink)
    assert len(sink.sent) == 1
    r.submit(sweep(resolved=clock.now + 1))
    await drain(r, sink)
    assert [e.alert.resolved is not None for e in sink.sent] == [False, True]
    assert sink.sent[1].alert.findings == ("host_sweep/icmp", "port_scan/vertical")
    assert r.stats().active == 0
    await r.close()


async def test_the_incident_lasts_while_any_finding_goes_on(tmp_path: Path) -> None:
    clock, sink = Clock(), FakeSink()
    r = router(tmp_path, clock, sink, incident_hold=0.0)
    r.submit(sweep())
    r.submit(scan())
    r.submit(sweep(resolved=clock.now))  # the sweep is over, the scan is not
    await drain(r, sink)
    assert [e.alert.resolved for e in sink.sent] == [None]
    clock.now += 60
    r.submit(scan(resolved=clock.now))
    await drain(r, sink)
    assert [e.alert.resolved is not None for e in sink.sent] == [False, True]
    assert sink.sent[1].alert.detector == "host_sweep"
    await r.close()


async def test_a_more_severe_finding_is_notified_on_its_own(tmp_path: Path) -> None:
    clock, sink = Clock(), FakeSink()
    r = router(tmp_path, clock, sink, incident_hold=0.0)
    r.submit(sweep())
    r.submit(
        make_alert("pseudo-1", detector="arp_spoof", severity=Severity.CRITICAL, incident=LEAD)
    )
    await drain(r, sink)
    assert [e.alert.detector for e in sink.sent] == ["host_sweep", "arp_spoof"]
    assert sink.sent[1].alert.incident == LEAD  # still names its incident
    assert r.stats().correlated == 0
    await r.close()


async def test_alerts_outside_incidents_are_not_held(tmp_path: Path) -> None:
    """The daemon's own alerts (no incident) go out at once."""
    clock, sink = Clock(), FakeSink()
    r = router(tmp_path, clock, sink)
    r.submit(make_alert("uplink", detector="sentinel_capture_down"))
    await drain(r, sink)
    assert len(sink.sent) == 1
    await r.close()


async def test_folded_findings_survive_a_restart_and_go_stale(tmp_path: Path) -> None:
    clock, sink = Clock(), FakeSink()
    r = router(tmp_path, clock, sink, incident_hold=0.0)
    r.submit(sweep())
    r.submit(scan())
    await drain(r, sink)
    await r.close()
    r = router(tmp_path, clock, sink)
    [active] = r.outbox.active()
    assert active.findings == ("host_sweep/icmp", "port_scan/vertical")
    clock.now += r.config.resolve_after + 1
    r.housekeep()
    await drain(r, sink)
    assert [e.alert.resolved is not None for e in sink.sent] == [False, True]
    await r.close()


async def test_a_folded_finding_repeating_after_a_restart_is_folded_again(
    tmp_path: Path,
) -> None:
    """The incident's alert is kept in the outbox across a restart: a folded finding
    that repeats after it joins the incident again (no notification of its own), and the
    incident ends once, with its last finding."""
    clock, sink = Clock(), FakeSink()
    r = router(tmp_path, clock, sink, incident_hold=0.0)
    r.submit(sweep())
    r.submit(scan())
    await drain(r, sink)
    await r.close()
    r = router(tmp_path, clock, sink, incident_hold=0.0)
    clock.now += 10
    r.submit(scan())
    await drain(r, sink)
    assert [e.alert.detector for e in sink.sent] == ["host_sweep"]
    r.submit(sweep(resolved=clock.now))
    await drain(r, sink)
    assert len(sink.sent) == 1  # the scan goes on: the incident is not over
    r.submit(scan(resolved=clock.now + 1))
    await drain(r, sink)
    [_, end] = sink.sent
    assert end.alert.resolved == clock.now + 1
    assert end.alert.findings == ("host_sweep/icmp", "port_scan/vertical")
    await r.close()


async def test_stale_folded_finding_lets_the_incident_end(tmp_path: Path) -> None:
    clock, sink = Clock(), FakeSink()
    r = router(tmp_path, clock, sink, incident_hold=0.0)
    r.submit(sweep())
    r.submit(scan())
    r.submit(sweep(resolved=clock.now))
    clock.now += r.config.resolve_after + 1
    r.housekeep()  # the scan stopped repeating: it resolves, and with it the incident
    await drain(r, sink)
    assert [e.alert.resolved is not None for e in sink.sent] == [False, True]
    assert r.stats().active == 0
    await r.close()
