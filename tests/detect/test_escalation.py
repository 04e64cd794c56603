"""The engine escalates an active alert when a repeat of its finding is more severe."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from sentinel.config.detect import DetectConfig
from sentinel.detect.base import Finding
from sentinel.detect.engine import Engine
from sentinel.model import Severity

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sentinel.model import Alert

W, C = Severity.WARNING, Severity.CRITICAL


class Scripted:
    """A detector whose findings come from a script: packet second -> severity."""

    name: ClassVar[str] = "brute_force"
    wants: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, script: dict[int, Severity]) -> None:
        self.script = script

    def observe(self, p: object) -> Iterable[Finding]:
        return ()

    def tick(self, now: float) -> Iterable[Finding]:
        severity = self.script.get(int(now))
        if severity is None:
            return ()
        why = "refused logins" if severity is C else "accepted sessions"
        return [
            Finding(
                detector=self.name,
                severity=severity,
                identifier="10.77.0.66|*|21",
                summary=f"{{source}} is spraying port 21 over 9 servers: {why}",
                ts=now,
                src_ip="10.77.0.66",
                kind="ftp",
                counts={"servers": 9, "failures": int(now)},
                description=f"{why}, counted per client and port",
            )
        ]

    def stats(self) -> dict[str, int]:
        return {}


def run(script: dict[int, Severity], end: int, **cfg: float) -> tuple[Engine, list[Alert]]:
    e = Engine(DetectConfig(**cfg))  # type: ignore[arg-type]
    e.detectors = [Scripted(script)]  # type: ignore[list-item]
    alerts: list[Alert] = []
    for t in range(end + 1):
        alerts += e.tick(float(t))
    return e, alerts


def test_a_more_severe_repeat_escalates_the_alert_at_once() -> None:
    """Warnings from second 0, critical from second 20: the second alert goes out at
    second 20 (not after suppress_for), critical, with the summary that says why."""
    script = dict.fromkeys(range(0, 20), W) | dict.fromkeys(range(20, 40), C)
    e, alerts = run(script, 60, suppress_for=3600.0)
    assert [(a.severity, a.resolved) for a in alerts] == [(W, None), (C, None)]
    first, escalated = alerts
    assert first.last_seen == 0.0
    assert escalated.last_seen == 20.0
    assert escalated.key == first.key
    assert escalated.first_seen == first.first_seen  # the same alert, still going on
    assert escalated.summary == "10.77.0.66 is spraying port 21 over 9 servers: refused logins"
    assert escalated.description == "refused logins, counted per client and port"
    assert escalated.incident == first.incident
    assert dict(escalated.counts)["failures"] == 20
    assert e.detections == {("brute_force", "warning"): 1, ("brute_force", "critical"): 1}


def test_a_less_severe_repeat_never_downgrades() -> None:
    """Critical first, warnings after: no new alert, the active one stays critical."""
    script = {0: C} | dict.fromkeys(range(1, 30), W)
    e, alerts = run(script, 40, suppress_for=10.0)
    assert [a.severity for a in alerts] == [C, C, C]  # re-sent each suppress_for, as is
    assert {a.summary for a in alerts} == {
        "10.77.0.66 is spraying port 21 over 9 servers: refused logins"
    }
    assert all(a.description.startswith("refused logins") for a in alerts)
    assert e.detections == {("brute_force", "critical"): 1}


def test_an_escalation_is_sent_once_and_then_suppressed() -> None:
    """Flapping between warning and critical: one escalation, repeats suppressed."""
    script = {t: (C if t % 2 else W) for t in range(0, 50)}
    _, alerts = run(script, 50, suppress_for=3600.0)
    assert [a.severity for a in alerts] == [W, C]


def test_the_escalated_alert_is_what_resolves() -> None:
    script = {0: W, 5: C}
    _, alerts = run(script, 700, resolve_after=600.0)
    assert [(a.severity, a.resolved is not None) for a in alerts] == [
        (W, False),
        (C, False),
        (C, True),
    ]
