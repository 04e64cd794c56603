"""Mail through a real SMTP server (STARTTLS, AUTH) and the signed webhook on loopback."""

from __future__ import annotations

import email
import email.policy
import json
from typing import TYPE_CHECKING

import pytest

from sentinel.alerting import clean
from sentinel.alerting.email import EmailSink
from sentinel.alerting.sink import Event, SinkError
from sentinel.alerting.webhook import SIGNATURE, TIMESTAMP, WebhookSink, verify
from sentinel.config.alerting import EmailConfig, WebhookConfig
from sentinel.config.secret import Secret, SecretSource
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
