"""Pure units of alerting: cleaning, templates, outbox, rate limits, router, config."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pytest

from sentinel.alerting import clean, codec, templates
from sentinel.alerting.alertmanager import payload
from sentinel.alerting.outbox import FILE, Outbox
from sentinel.alerting.ratelimit import RateLimiter
from sentinel.alerting.router import Router
from sentinel.alerting.sink import SinkError
from sentinel.config.alerting import AlertingConfig, OutboxConfig, RateLimitConfig
from sentinel.config.validate import Context, convert_dataclass
from sentinel.config.yamlsrc import parse
from sentinel.metrics import Metrics
from sentinel.model import Endpoint, Severity
from sentinel.supervise import Health
from tests.alerting.conftest import make_alert

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sentinel.alerting.sink import Event


class Clock:
    """A settable wall clock."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FakeSink:
    """Records what it was sent; fails while ``failing`` is set."""

    name: ClassVar[str] = "fake"
    batch: ClassVar[int] = 5

    def __init__(self) -> None:
        self.sent: list[Event] = []
        self.failing = False
        self.calls = 0

    async def send(self, events: Sequence[Event]) -> None:
        self.calls += 1
        if self.failing:
            raise SinkError("receiver down")
        self.sent.extend(events)

    async def close(self) -> None:
        return None


def router(tmp: Path | None, clock: Clock, sink: FakeSink, **cfg: Any) -> Router:
    config = AlertingConfig(**cfg)
    return Router(config, "site-a", tmp, sinks=[sink], clock=clock, rng=random.Random(1))


# -- clean and templates -------------------------------------------------------------------


def test_clean_strips_control_and_format_characters() -> None:
    """Newlines, escapes and bidi overrides from the network never reach a sink."""
    assert clean.text("evil\r\nBcc: x\x1b[31m\u202egnp.exe") == "evil  Bcc: x[31mgnp.exe"


def test_clean_bounds_every_field() -> None:
    """Each string field is cut to its bound, marked with an ellipsis."""
    a = clean.clean(
        make_alert(
            identifier="i" * 5000,
            summary="s" * 5000,
            description="d" * 50000,
            source=Endpoint(ip="x" * 999),
            counts=tuple((f"k{i}", i) for i in range(100)),
        )
    )
    assert len(a.identifier) == clean.FIELD_MAX
    assert a.identifier.endswith(clean.ELLIPSIS)
    assert len(a.summary) == clean.SUMMARY_MAX
    assert len(a.description) == clean.DESCRIPTION_MAX
    assert len(a.source.ip) == clean.FIELD_MAX
    assert len(a.counts) == clean.COUNTS_MAX


def test_html_mail_escapes_markup_in_every_field() -> None:
    """A DNS name holding markup shows as text in the HTML body."""
    evil = '<script>alert(1)</script>"><img src=x onerror=y>.evil.example'
    a = clean.clean(make_alert(summary=f"tunnel via {evil}", target=evil, description=evil))
    body = templates.html_body(a, "site-a", "en")
    assert "<script>" not in body
    assert "<img" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x" in body


@pytest.mark.parametrize(
    ("lang", "words"),
    [("nl", ("MELDING", "Ernst", "waarschuwing", "Bron")), ("en", ("ALERT", "Severity", "Source"))],
)
def test_templates_speak_the_configured_language(
    lang: templates.Language, words: tuple[str]
) -> None:
    """Subject and bodies use the Dutch or English words."""
    a = make_alert()
    text = templates.subject(a, "s", lang) + templates.plain(a, "s", lang)
    text += templates.html_body(a, "s", lang)
    for w in words:
        assert w in text


def test_resolved_subject_says_so() -> None:
    """A resolution is marked resolved in both languages."""
    a = make_alert(resolved=1.0)
    assert templates.subject(a, "s", "en").startswith("[RESOLVED]")
    assert templates.subject(a, "s", "nl").startswith("[OPGELOST]")


def test_codec_round_trip() -> None:
    """The stored form gives back the same alert."""
    a = make_alert(severity=Severity.CRITICAL, resolved=123.5)
    assert codec.loads(codec.dumps(a)) == a
    b = make_alert(severity=Severity.CRITICAL, escalated_from=Severity.INFO)
    assert codec.loads(codec.dumps(b)) == b


def test_alertmanager_payload_ends_ahead_while_active_and_at_resolution() -> None:
    """Active: endsAt 4 x resend ahead; resolved: endsAt is the resolution time."""
    a = make_alert(first_seen=1000.0, last_seen=1010.0)
    p = payload(a, "site-a", now=2000.0, resend=60.0, generator_url="https://g.example/d?x=1")
    assert p["labels"] == {
        "alertname": "port_scan",
        "detector": "port_scan",
        "severity": "warning",
        "site": "site-a",
        "identifier": "pseudo-1a2b",
    }
    assert p["startsAt"] == "1970-01-01T00:16:40.000Z"
    assert p["endsAt"] == "1970-01-01T00:37:20.000Z"  # 2000 + 240
    assert p["generatorURL"] == "https://g.example/d?x=1&site=site-a&detector=port_scan"
    r = payload(dataclasses.replace(a, resolved=1500.0), "site-a", 2000.0, 60.0, "")
    assert r["endsAt"] == "1970-01-01T00:25:00.000Z"
    assert "generatorURL" not in r


# -- outbox and rate limits ----------------------------------------------------------------


def test_outbox_evicts_lowest_severity_oldest_first(tmp_path: Path) -> None:
    """When full, info goes before warning before critical, the oldest of each first."""
    box = Outbox(tmp_path / FILE, max_entries=3)
    box.put(make_alert("w1", severity=Severity.WARNING), ["s"], 1.0)
    box.put(make_alert("i1", severity=Severity.INFO), ["s"], 2.0)
    box.put(make_alert("c1", severity=Severity.CRITICAL), ["s"], 3.0)
    assert box.put(make_alert("w2", severity=Severity.WARNING), ["s"], 4.0) == 1
    assert [p.event.alert.identifier for p in box.due("s", 10.0, 10)] == ["w1", "c1", "w2"]
    assert box.put(make_alert("c2", severity=Severity.CRITICAL), ["s"], 5.0) == 1
    assert [p.event.alert.identifier for p in box.due("s", 10.0, 10)] == ["c1", "w2", "c2"]


def test_outbox_survives_reopen_with_retry_state(tmp_path: Path) -> None:
    """Entries, attempts and the active set are still there after closing and reopening."""
    box = Outbox(tmp_path / FILE, max_entries=100)
    a = make_alert("x")
    box.put(a, ["am", "mail"], 1.0)
    box.activate(a)
    [p] = box.due("am", 1.0, 10)
    box.retry([p.event.id], 50.0)
    box.close()
    box = Outbox(tmp_path / FILE, max_entries=100)
    assert box.due("am", 49.0, 10) == []
    [p2] = box.due("am", 50.0, 10)
    assert (p2.event.alert, p2.attempts) == (a, 1)
    assert box.counts() == {"am": 1, "mail": 1}
    assert box.active() == [a]
    assert box.expire(2.0) == 2


def test_rate_limit_per_detector_and_site() -> None:
    """A detector hits its own limit; the site limit caps all detectors; the window slides."""
    rl = RateLimiter(per_detector=2, per_site=3, window=60.0)
    assert [rl.allow("a", 0.0) for _ in range(3)] == [True, True, False]
    assert rl.allow("b", 1.0) is True
    assert rl.allow("c", 1.0) is False  # site full
    assert rl.allow("a", 61.0) is True  # window moved on


# -- router --------------------------------------------------------------------------------


async def test_router_sends_once_and_suppresses_repeats(tmp_path: Path) -> None:
    """Repeats of an active alert are not sent again; its resolution is, once."""
    clock, sink = Clock(), FakeSink()
    r = router(tmp_path, clock, sink)
    for _ in range(5):
        r.submit(make_alert("x"))
    r.submit(make_alert("x", resolved=clock.now))
    r.submit(make_alert("x", resolved=clock.now))  # not active any more: ignored
    while await r.deliver_once(sink):
        pass
    assert [e.alert.resolved is not None for e in sink.sent] == [False, True]
    s = r.stats()
    assert (s.received, s.suppressed, s.active, s.delivered["fake"], s.queued["fake"]) == (
        7,
        4,
        0,
        2,
        0,
    )
    await r.close()


async def test_router_rate_limits_and_counts(tmp_path: Path) -> None:
    """Alerts over the per-detector limit are dropped and counted, others still pass."""
    clock, sink = Clock(), FakeSink()
    r = router(tmp_path, clock, sink, rate_limit=RateLimitConfig(per_detector=2, per_site=10))
    for i in range(4):
        r.submit(make_alert(f"x{i}"))
    r.submit(make_alert("y", detector="arp_spoof"))
    assert r.stats().dropped == {"rate_limited": 2}
    assert r.stats().queued == {"fake": 3}
    await r.close()


async def test_router_backs_off_then_delivers(tmp_path: Path) -> None:
    """A failing sink is retried with growing, jittered delays, and delivers when back."""
    clock, sink = Clock(), FakeSink()
    r = router(tmp_path, clock, sink, outbox=OutboxConfig(retry_initial=1.0, retry_max=30.0))
    r.submit(make_alert("x"))
    sink.failing = True
    delays = []
    for _ in range(6):
        assert await r.deliver_once(sink) is False
        at = r.outbox.next_due("fake")
        assert at is not None
        delays.append(at - clock.now)
        assert await r.deliver_once(sink) is False  # not due yet: no attempt
        clock.now = at
    assert sink.calls == 6
    assert all(1.0 <= d <= 30.0 for d in delays)
    assert max(delays[3:]) > max(delays[:2])  # the upper bound grows
    assert r.stats().sink_up == {"fake": False}
    sink.failing = False
    assert await r.deliver_once(sink) is True
    assert len(sink.sent) == 1
    s = r.stats()
    assert (s.failures["fake"], s.sink_up["fake"]) == (6, True)
    await r.close()


async def test_router_keeps_alerts_across_restart(tmp_path: Path) -> None:
    """Queued events and the active set survive a new Router on the same state dir."""
    clock, sink = Clock(), FakeSink()
    r = router(tmp_path, clock, sink)
    r.submit(make_alert("x"))
    await r.close()
    r2 = router(tmp_path, clock, sink)
    r2.submit(make_alert("x"))  # still active: a repeat
    assert await r2.deliver_once(sink) is True
    assert [e.alert.identifier for e in sink.sent] == ["x"]
    assert r2.stats().suppressed == 1
    await r2.close()


async def test_router_resolves_stale_alerts_and_expires_old_events(tmp_path: Path) -> None:
    """Housekeeping resolves alerts not repeated for resolve_after and drops old events."""
    clock, sink = Clock(), FakeSink()
    r = router(tmp_path, clock, sink, resolve_after=600.0, outbox=OutboxConfig(max_age=3600.0))
    r.submit(make_alert("x"))
    clock.now += 601
    r.housekeep()
    assert r.stats().active == 0
    assert r.stats().queued == {"fake": 2}
    clock.now += 3602
    r.housekeep()
    assert r.stats().dropped == {"expired": 2}
    await r.close()


async def test_submit_never_raises(tmp_path: Path) -> None:
    """A broken outbox is logged and counted; the caller carries on."""
    clock, sink = Clock(), FakeSink()
    r = router(tmp_path, clock, sink)
    r.outbox.close()
    r.submit(make_alert("x"))
    assert r.stats().dropped == {"error": 1}


async def test_run_delivers_in_the_background_and_flush_drains(tmp_path: Path) -> None:
    """run() wakes on submit; flush() delivers what is left, ignoring backoff."""
    sink = FakeSink()
    r = Router(AlertingConfig(), "site-a", tmp_path, sinks=[sink])
    task = asyncio.create_task(r.run(Health("alerting", Metrics(process=False))))
    r.submit(make_alert("x"))
    for _ in range(50):
        if sink.sent:
            break
        await asyncio.sleep(0.02)
    assert len(sink.sent) == 1
    sink.failing = True
    r.submit(make_alert("y"))
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    sink.failing = False
    await r.flush(asyncio.get_running_loop().time() + 2)
    assert [e.alert.identifier for e in sink.sent] == ["x", "y"]
    await r.close()


# -- config --------------------------------------------------------------------------------


def load(text: str) -> tuple[Any, list[str]]:
    node = parse(textwrap.dedent(text))
    assert node is not None
    ctx = Context("a.yaml", {}, Path("/etc/sentinel"))
    value = convert_dataclass(AlertingConfig, node, "alerting", ctx)
    return value, [str(i) for i in ctx.issues]


def test_config_full_section() -> None:
    """Every sink and setting parses into the frozen dataclasses."""
    cfg, issues = load(
        """
        alertmanager: {urls: ["https://am1.example/", "https://am2.example/"], resend: 2m,
                       timeout: 5s, bearer_token: tok}
        email: {smtp: "smtp.school.example", sender: s@x.example, to: [ict@x.example],
                username: u, password: p, language: en}
        webhook: {url: "https://hook.example/in", secret: 0123456789abcdef}
        rate_limit: {per_detector: 5}
        outbox: {max_entries: 500, max_age: 1d}
        """
    )
    assert issues == []
    assert cfg.alertmanager.resend == 120.0
    assert cfg.alertmanager.bearer_token.reveal() == "tok"
    assert cfg.email.smtp == ("smtp.school.example", 587)
    assert str(cfg.webhook.secret) == "<secret>"
    assert (cfg.outbox.max_entries, cfg.outbox.max_age) == (500, 86400.0)


def test_config_errors_are_located() -> None:
    """Bad values and cross-field problems are reported with their key paths."""
    _, issues = load(
        """
        alertmanager: {urls: ["ftp://x"], resend: 10s, timeout: 30s}
        email: {smtp: "h:99999", sender: nobody, to: [], username: u, password: p,
                starttls: false}
        webhook: {url: "https://u:p@h/", secret: short}
        """
    )
    assert issues == [
        "a.yaml:2: alerting.alertmanager.urls[0]: must be an http:// or https:// URL",
        "a.yaml:3: alerting.email.smtp: port 99999 is out of range 1-65535",
        "a.yaml:3: alerting.email.sender: must be an e-mail address such as ict@school.example",
        "a.yaml:5: alerting.webhook.url: must not carry credentials "
        "(use username/password or bearer_token)",
    ]
    _, issues = load(
        """
        alertmanager: {urls: ["http://x"], resend: 10s, timeout: 30s}
        email: {smtp: "h", sender: a@b.c, to: [], username: u, password: p, starttls: false}
        """
    )
    assert issues == [
        "a.yaml:2: alerting.alertmanager.timeout: must be shorter than resend (10s)",
        "a.yaml:3: alerting.email.to: needs at least one recipient",
        "a.yaml:3: alerting.email.starttls: must be true when logging in "
        "(the password would be sent in clear)",
    ]
