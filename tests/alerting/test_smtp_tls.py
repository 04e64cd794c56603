"""Mail over implicit TLS and STARTTLS to a real SMTP server (aiosmtpd) on loopback, with a
certificate the test makes; a server that stalls costs one deadline, never a second copy."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import ssl
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from sentinel.alerting.email import EmailSink
from sentinel.alerting.router import Router
from sentinel.alerting.sink import Event, SinkError
from sentinel.config.alerting import AlertingConfig, EmailConfig, EventLogConfig
from sentinel.config.secret import Secret, SecretSource
from tests.alerting.conftest import SMTP_PASSWORD, SMTP_USER, make_alert
from tests.helpers import free_port

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = [
    pytest.mark.timeout(60),
    # The test servers' plain and implicit-TLS modes (aiosmtpd sees only STARTTLS as TLS).
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning"),
]


@dataclass
class Server:
    """What the server saw: accepted mails, logins, whether each session was encrypted."""

    port: int
    accepted: list[bytes] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    encrypted: list[bool] = field(default_factory=list)
    commands_after_stall: list[str] = field(default_factory=list)
    stall: set[str] = field(default_factory=set)  # identifiers whose DATA stalls once
    abandoned: list[float] = field(default_factory=list)  # when a stalled client went away
    lock: threading.Lock = field(default_factory=threading.Lock)

    def message_ids(self) -> list[str]:
        return [
            str(email.message_from_bytes(raw, policy=email.policy.default)["Message-ID"])
            for raw in self.accepted
        ]


@contextlib.contextmanager
def smtp(tls_pair: tuple[Path, Path], mode: str, stall_for: float = 30.0) -> Iterator[Server]:
    """aiosmtpd on loopback: ``implicit`` (TLS from the first byte) or ``starttls``
    (required before AUTH and MAIL), or ``plain`` (no TLS offered at all); AUTH required."""
    server = Server(free_port())

    class Handler:
        async def handle_DATA(self, srv: Any, session: Any, envelope: Any) -> str:
            raw = bytes(envelope.original_content)
            stalled = next((s for s in server.stall if s.encode() in raw), None)
            if stalled is not None:
                server.stall.discard(stalled)
                try:
                    await asyncio.sleep(stall_for)  # never answers in time
                except asyncio.CancelledError:
                    server.abandoned.append(time.monotonic())  # the client hung up
                    raise
                return "451 too late"
            with server.lock:
                server.encrypted.append(srv.transport.get_extra_info("ssl_object") is not None)
                server.accepted.append(raw)
            return "250 OK"

    def authenticator(srv: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        ok = isinstance(data, LoginPassword) and (
            data.login.decode(),
            data.password.decode(),
        ) == (SMTP_USER, SMTP_PASSWORD)
        if ok:
            server.logins.append(data.login.decode())
        return AuthResult(success=ok)

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(tls_pair[0]), str(tls_pair[1]))
    kwargs: dict[str, Any] = {"authenticator": authenticator, "auth_required": True}
    if mode == "implicit":
        # aiosmtpd counts only STARTTLS as TLS for AUTH; this listener is TLS from byte one.
        kwargs |= {"ssl_context": ctx, "auth_require_tls": False}
    elif mode == "starttls":
        kwargs |= {"tls_context": ctx, "require_starttls": True}
    else:
        kwargs |= {"auth_require_tls": False}
    controller = Controller(Handler(), hostname="127.0.0.1", port=server.port, **kwargs)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()


def config(port: int, ca: Path | None, **kw: Any) -> EmailConfig:
    base: dict[str, Any] = {
        "smtp": ("127.0.0.1", port),
        "sender": "sentinel@school.example",
        "to": ("ict@school.example",),
        "username": SMTP_USER,
        "password": Secret(SMTP_PASSWORD, SecretSource("inline", "")),
        "language": "en",
        "timeout": 5.0,
        "ca_file": ca,
    }
    base.update(kw)
    return EmailConfig(**base)


@pytest.mark.parametrize("mode", ["implicit", "starttls"])
async def test_mail_over_tls_with_login(tls_pair: tuple[Path, Path], mode: str) -> None:
    """Both TLS modes: the certificate is verified, login happens encrypted, one mail arrives."""
    with smtp(tls_pair, mode) as srv:
        sink = EmailSink(config(srv.port, tls_pair[0], tls=mode), "bs-de-linde-gent")
        await sink.send([Event(1, make_alert("pseudo-tls"), 0.0)])
    assert srv.logins == [SMTP_USER]
    assert srv.encrypted == [True]
    [raw] = srv.accepted
    assert b"pseudo-tls" in raw


@pytest.mark.parametrize("mode", ["implicit", "starttls"])
async def test_an_unverifiable_certificate_sends_nothing(
    tls_pair: tuple[Path, Path], mode: str
) -> None:
    """Without the CA the certificate does not verify: no login, no mail, a SinkError."""
    with smtp(tls_pair, mode) as srv:
        sink = EmailSink(config(srv.port, None, tls=mode), "s")
        with pytest.raises(SinkError, match="CERTIFICATE_VERIFY_FAILED"):
            await sink.send([Event(1, make_alert(), 0.0)])
    assert srv.logins == []
    assert srv.accepted == []


async def test_starttls_is_required_not_attempted(tls_pair: tuple[Path, Path]) -> None:
    """A server that offers no STARTTLS gets neither the password nor the mail."""
    with smtp(tls_pair, "plain") as srv:
        sink = EmailSink(config(srv.port, tls_pair[0], tls="starttls"), "s")
        with pytest.raises(SinkError, match="STARTTLS"):
            await sink.send([Event(1, make_alert(), 0.0)])
    assert srv.logins == []
    assert srv.accepted == []


async def test_implicit_tls_against_a_plain_server_fails_fast(tls_pair: tuple[Path, Path]) -> None:
    """The wrong mode is an error well before the deadline, never clear text."""
    with smtp(tls_pair, "starttls") as srv:
        sink = EmailSink(config(srv.port, tls_pair[0], tls="implicit", timeout=5.0), "s")
        t0 = time.monotonic()
        with pytest.raises(SinkError):
            await sink.send([Event(1, make_alert(), 0.0)])
        assert time.monotonic() - t0 < 5.0
    assert srv.accepted == []


async def test_a_stalling_server_costs_one_deadline_and_no_duplicate(
    tls_pair: tuple[Path, Path], tmp_path: Path
) -> None:
    """Three mails in one batch; the server stalls on the second. At the deadline the client
    hangs up (the server sees it go at once); the first mail is done, the other two are
    retried and arrive once each, the retried one with the same Message-ID."""
    deadline = 1.5
    with smtp(tls_pair, "starttls") as srv:
        cfg = config(srv.port, tls_pair[0], tls="starttls", timeout=deadline)
        sink = EmailSink(cfg, "site-a")
        router = Router(
            AlertingConfig(email=cfg, event_log=EventLogConfig(enabled=False)),
            "site-a",
            tmp_path,
            sinks=[sink],
        )
        try:
            for ident in ("first-mail", "stall-me", "third-mail"):
                router.submit(make_alert(ident))
            srv.stall.add("stall-me")
            t0 = time.monotonic()
            assert await router.deliver_once(sink)  # the first mail went through
            gave_up = time.monotonic() - t0
            assert deadline <= gave_up < deadline + 1.0
            assert len(srv.accepted) == 1
            for _ in range(50):  # the server's side of the hang-up
                if srv.abandoned:
                    break
                await asyncio.sleep(0.05)
            assert srv.abandoned
            assert srv.abandoned[0] - t0 < deadline + 1.0
            stats = router.stats()
            assert stats.queued["email"] == 2
            assert stats.delivered["email"] == 1
            await asyncio.sleep(0.5)
            assert len(srv.accepted) == 1  # nothing more was sent after the deadline
            assert await router.deliver_once(sink, ignore_backoff=True)  # the retry
            assert not await router.deliver_once(sink, ignore_backoff=True)  # nothing left
        finally:
            await router.close()
    bodies = [
        next(i for i in ("first-mail", "stall-me", "third-mail") if i.encode() in raw)
        for raw in srv.accepted
    ]
    assert bodies == ["first-mail", "stall-me", "third-mail"]
    assert len(set(srv.message_ids())) == 3


async def test_the_message_id_is_the_same_on_every_retry() -> None:
    """A retry of one outbox entry carries the Message-ID of the first attempt."""
    from sentinel.alerting.email import message

    cfg = config(25, None)
    event = Event(41, make_alert(), 1_700_000_000.5)
    first = message(event.alert, "site-a", cfg, event)["Message-ID"]
    again = message(event.alert, "site-a", cfg, event)["Message-ID"]
    other = message(event.alert, "site-a", cfg, Event(42, event.alert, event.created))
    assert first == again
    assert other["Message-ID"] != first


@pytest.mark.parametrize(
    ("email_yaml", "port", "problems"),
    [
        ("{smtp: h, sender: a@b.c, to: [d@e.f], tls: implicit}", 465, []),
        ("{smtp: h, sender: a@b.c, to: [d@e.f]}", 587, []),
        ("{smtp: 'h:2525', sender: a@b.c, to: [d@e.f], tls: implicit}", 2525, []),
        (
            "{smtp: h, sender: a@b.c, to: [d@e.f], tls: none, username: u, password: p}",
            None,
            ["alerting.email.tls: must be starttls or implicit when logging in"],
        ),
        (
            "{smtp: h, sender: a@b.c, to: [d@e.f], tls: implicit, starttls: true}",
            None,
            ["alerting.email.starttls: is the older spelling of tls: give only tls"],
        ),
    ],
)
def test_tls_config(tmp_path: Path, email_yaml: str, port: int | None, problems: list[str]) -> None:
    """``tls`` picks the default port; login without TLS and two spellings are errors."""
    from sentinel.config import load_config
    from sentinel.errors import ConfigError

    path = tmp_path / "s.yaml"
    path.write_text(f"site: s\nalerting:\n  email: {email_yaml}\n")
    try:
        cfg = load_config(path)
    except ConfigError as exc:
        found = [str(i).removeprefix(f"{path}:3: ") for i in exc.issues]
        assert [f.split(" (")[0] for f in found] == problems
        return
    assert problems == []
    assert cfg.alerting.email is not None
    assert cfg.alerting.email.smtp == ("h", port)
