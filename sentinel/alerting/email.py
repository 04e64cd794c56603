"""Mail each alert event to the school's admin: SMTP over TLS with login, text + HTML.

The connection is ``alerting.smtp``'s (aiosmtplib on the event loop, abandoned at its
deadline). A mail's Message-ID is fixed by its outbox entry, so a retry after a lost
answer carries the same Message-ID and the receiving side can tell it is a repeat. An
alert's later mails (its escalation, its end) reply to its first one (``In-Reply-To``,
``References``; ``alerting.threads``), so mail clients show them as one conversation.
"""

from __future__ import annotations

import hashlib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import TYPE_CHECKING, ClassVar

from sentinel.alerting import smtp, templates
from sentinel.alerting.sink import SinkError
from sentinel.alerting.threads import MAX_THREADS, Step, Threads, thread_key

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sentinel.alerting.sink import Event
    from sentinel.alerting.threads import Store
    from sentinel.config.alerting import EmailConfig
    from sentinel.model import Alert


def message(
    alert: Alert,
    site: str,
    config: EmailConfig,
    event: Event | None = None,
    *,
    msgid: str | None = None,
    reply_to: str | None = None,
) -> EmailMessage:
    """The mail for one event: ``text/plain`` with a ``text/html`` alternative.

    ``msgid`` is its Message-ID (default: ``message_id``'s); ``reply_to`` the Message-ID of
    the first mail of its thread, which this one answers.
    """
    lang = config.language
    msg = EmailMessage()
    msg["Subject"] = templates.subject(alert, site, lang)
    msg["From"] = config.sender
    msg["To"] = ", ".join(config.to)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = msgid or message_id(site, config.sender, event)
    if reply_to is not None:
        msg["In-Reply-To"] = reply_to
        msg["References"] = reply_to
    msg["X-Sentinel-Site"] = site
    msg["X-Sentinel-Detector"] = alert.detector
    msg["X-Sentinel-Status"] = "resolved" if alert.resolved is not None else "firing"
    msg["X-Sentinel-Severity"] = alert.severity.value
    if alert.escalated_from is not None and alert.resolved is None:  # for mail filters
        msg["X-Sentinel-Escalated-From"] = alert.escalated_from.value
    msg.set_content(templates.plain(alert, site, lang))
    msg.add_alternative(templates.html_body(alert, site, lang), subtype="html")
    return msg


def message_id(site: str, sender: str, event: Event | None) -> str:
    """One Message-ID per outbox entry (the same on every retry); a fresh one without."""
    domain = sender.rpartition("@")[2]
    if event is None:
        return make_msgid(domain=domain)
    tag = hashlib.sha256(f"{site}\0{event.id}\0{event.created!r}".encode()).hexdigest()[:24]
    return f"<sentinel.{event.id}.{tag}@{domain}>"


class EmailSink:
    """One message per event, one SMTP connection per batch; an alert's mails one thread."""

    name: ClassVar[str] = "email"
    batch: ClassVar[int] = 10

    def __init__(self, config: EmailConfig, site: str, max_threads: int = MAX_THREADS) -> None:
        self.config = config
        self.site = site
        self.threads = Threads(max_threads)

    def attach(self, store: Store) -> None:
        """Keep the thread table in ``store`` (the router's outbox), going on from it."""
        self.threads.attach(store)

    def plan(self, events: Sequence[Event]) -> list[Step]:
        """Each event's mail in its thread, as if the whole batch were delivered."""
        return self.threads.plan(
            [
                (
                    thread_key(e.alert, self.site),
                    message_id(self.site, self.config.sender, e),
                    e.alert.resolved is not None and e.alert.key == e.alert.lead,
                )
                for e in events
            ]
        )

    async def send(self, events: Sequence[Event]) -> None:
        steps = self.plan(events)
        messages = [
            message(e.alert, self.site, self.config, e, msgid=s.message_id, reply_to=s.parent)
            for e, s in zip(events, steps, strict=True)
        ]
        try:
            await smtp.send(self.config, messages)
        except smtp.SmtpFailed as exc:
            self.threads.commit(steps[: exc.sent])
            raise SinkError(str(exc), [e.id for e in events[: exc.sent]]) from None
        self.threads.commit(steps)

    async def close(self) -> None:
        return None
