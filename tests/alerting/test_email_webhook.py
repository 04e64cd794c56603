"""Mail through a real SMTP server (STARTTLS, AUTH) and the signed webhook on loopback."""

from __future__ import annotations

import email
import email.policy
import json
from typing import TYPE_CHECKING

import pytest

from sentinel.alerting import clean, templates
from sentinel.alerting.email import EmailSink
from sentinel.alerting.router import Router
from sentinel.alerting.sink import Event, SinkError
from sentinel.alerting.webhook import SIGNATURE, TIMESTAMP, WebhookSink, verify
from sentinel.config.alerting import AlertingConfig, EmailConfig, WebhookConfig
from sentinel.config.secret import Secret, SecretSource
from sentinel.model import Severity
from tests.alerting.conftest import (
    SMTP_PASSWORD,
    SMTP_USER,
    http_receiver,
    make_alert,
    smtp_server,
)

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.timeout(30)

EVIL = '<b>x</b><script>alert("pwn")</script>.evil.example'


def secret(value: str) -> Secret:
    return Secret(value, SecretSource("inline", ""))


def rows(body: str) -> list[str]:
    """The lines of a plain mail body, each with its padding collapsed."""
    return [" ".join(line.split()) for line in body.splitlines()]


def mail_config(port: int, ca: Path | None, **kw: object) -> EmailConfig:
    base: dict[str, object] = {
        "smtp": ("127.0.0.1", port),
        "sender": "sentinel@school.example",
        "to": ("ict@school.example", "backup@school.example"),
        "username": SMTP_USER,
        "password": secret(SMTP_PASSWORD),
        "language": "en",
        "timeout": 5.0,
        "ca_file": ca,
    }
    base.update(kw)
    return EmailConfig(**base)  # type: ignore[arg-type]


async def test_mail_over_starttls_with_auth_shows_markup_as_text(
    tls_pair: tuple[Path, Path],
) -> None:
    """The admin gets one mail, over STARTTLS after login, text and HTML; markup is escaped."""
    with smtp_server(tls_pair) as srv:
        sink = EmailSink(mail_config(srv.port, tls_pair[0]), "bs-de-linde-gent")
        alert = clean.clean(make_alert(summary=f"DNS tunnel via {EVIL}", target=EVIL))
        await sink.send([Event(1, alert, 0.0)])
    assert srv.logins == [SMTP_USER]
    assert srv.tls_seen == [True]
    [(sender, rcpts, raw)] = srv.messages
    assert sender == "sentinel@school.example"
    assert rcpts == ["ict@school.example", "backup@school.example"]
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Subject"].startswith("[ALERT] bs-de-linde-gent: warning port_scan: DNS tunnel")
    plain = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert EVIL in plain
    assert "<script>" not in html
    assert "<b>x</b>" not in html
    assert "&lt;b&gt;x&lt;/b&gt;&lt;script&gt;alert(&quot;pwn&quot;)&lt;/script&gt;" in html


async def test_mail_in_dutch(tls_pair: tuple[Path, Path]) -> None:
    """language: nl gives the Dutch subject and words."""
    with smtp_server(tls_pair) as srv:
        sink = EmailSink(mail_config(srv.port, tls_pair[0], language="nl"), "site-a")
        await sink.send([Event(1, make_alert(), 0.0)])
    msg = email.message_from_bytes(srv.messages[0][2], policy=email.policy.default)
    assert msg["Subject"].startswith("[MELDING] site-a: waarschuwing")
    assert "Ernst:" in msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]


async def test_mail_wrong_password_or_untrusted_cert_is_a_sink_error(
    tls_pair: tuple[Path, Path],
) -> None:
    """A refused login and an unverifiable certificate fail delivery (kept for retry)."""
    with smtp_server(tls_pair) as srv:
        bad = EmailSink(mail_config(srv.port, tls_pair[0], password=secret("nope")), "s")
        with pytest.raises(SinkError, match=r"smtp 127\.0\.0\.1:"):
            await bad.send([Event(1, make_alert(), 0.0)])
        untrusted = EmailSink(mail_config(srv.port, None), "s")
        with pytest.raises(SinkError, match="CERTIFICATE_VERIFY_FAILED"):
            await untrusted.send([Event(1, make_alert(), 0.0)])
    assert srv.messages == []


async def test_webhook_is_signed_with_hmac() -> None:
    """Each event is one POST whose HMAC-SHA256 signature verifies with the shared key."""
    key = "0123456789abcdef-key"
    async with http_receiver("/hook") as rec:
        cfg = WebhookConfig(url=f"http://127.0.0.1:{rec.port}/hook", secret=secret(key))
        sink = WebhookSink(cfg, "site-a", clock=lambda: 1_700_000_000.0)
        try:
            await sink.send([Event(7, make_alert(), 0.0), Event(8, make_alert(resolved=5.0), 0.0)])
        finally:
            await sink.close()
    assert len(rec.requests) == 2
    for headers, body in rec.requests:
        assert headers[TIMESTAMP] == "1700000000"
        assert verify(key.encode(), headers[TIMESTAMP], body, headers[SIGNATURE])
        assert not verify(b"other key", headers[TIMESTAMP], body, headers[SIGNATURE])
        assert not verify(key.encode(), "1700000001", body, headers[SIGNATURE])
    docs = [json.loads(b) for _, b in rec.requests]
    assert [(d["site"], d["status"], d["id"]) for d in docs] == [
        ("site-a", "firing", 7),
        ("site-a", "resolved", 8),
    ]
    assert docs[0]["alert"]["detector"] == "port_scan"


async def test_webhook_error_status_is_a_sink_error() -> None:
    """A 5xx answer means not delivered."""
    async with http_receiver("/hook") as rec:
        rec.status = 503
        sink = WebhookSink(WebhookConfig(url=f"http://127.0.0.1:{rec.port}/hook"), "s")
        try:
            with pytest.raises(SinkError, match="HTTP 503"):
                await sink.send([Event(1, make_alert(), 0.0)])
        finally:
            await sink.close()


async def test_an_escalation_says_so_in_the_mail_and_the_webhook(
    tls_pair: tuple[Path, Path],
) -> None:
    """Warning, then critical, then the end, through the router to a real SMTP server and a
    webhook receiver: only the escalation names the severity notified before."""
    from tests.alerting.test_escalation import WHY, spray
    from tests.alerting.test_units import Clock

    clock = Clock()
    with smtp_server(tls_pair) as srv:
        async with http_receiver("/hook") as rec:
            mail = EmailSink(mail_config(srv.port, tls_pair[0]), "site-a")
            hook = WebhookSink(WebhookConfig(url=f"http://127.0.0.1:{rec.port}/hook"), "site-a")
            r = Router(AlertingConfig(), "site-a", None, sinks=[mail, hook], clock=clock)
            try:
                for alert in (spray(), spray(Severity.CRITICAL), spray(resolved=clock.now + 5)):
                    clock.now += 5
                    r.submit(alert)
                    for sink in (mail, hook):
                        while await r.deliver_once(sink):
                            pass
            finally:
                await r.close()
    mails = [email.message_from_bytes(m[2], policy=email.policy.default) for m in srv.messages]
    assert [m["Subject"] for m in mails] == [
        "[ALERT] site-a: warning brute_force: pseudo-1 is spraying port 21 over 9 servers: "
        "sessions",
        f"[ALERT] site-a: critical (escalated from warning) brute_force: {WHY}",
        f"[RESOLVED] site-a: critical brute_force: {WHY}",
    ]
    assert [m["X-Sentinel-Escalated-From"] for m in mails] == [None, "warning", None]
    assert [m["X-Sentinel-Severity"] for m in mails] == ["warning", "critical", "critical"]
    bodies = [m.get_body(("plain",)).get_content() for m in mails]  # type: ignore[union-attr]
    assert "Escalated: from warning to critical" in rows(bodies[1])
    assert "Escalated" not in bodies[0] + bodies[2]
    html = mails[1].get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert '<th align="left" valign="top">Escalated</th>' in html
    docs = rec.json()
    assert [(d["status"], d["alert"]["severity"], d["alert"]["escalated_from"]) for d in docs] == [
        ("firing", "warning", None),
        ("firing", "critical", "warning"),
        ("resolved", "critical", None),
    ]
    assert docs[1]["alert"]["source"] == {"ip": "pseudo-1", "mac": "m-pseudo-1"}  # pseudonyms


def test_the_escalation_in_dutch() -> None:
    """language: nl names the escalation in Dutch words, in the subject and the body."""
    a = make_alert(severity=Severity.CRITICAL, escalated_from=Severity.WARNING)
    subject = templates.subject(a, "site-a", "nl")
    assert subject.startswith("[MELDING] site-a: kritiek (geëscaleerd van waarschuwing) port_scan")
    assert "Escalatie: van waarschuwing naar kritiek" in rows(templates.plain(a, "site-a", "nl"))
