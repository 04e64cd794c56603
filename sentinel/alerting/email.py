"""Mail each alert event to the school's admin: SMTP over TLS with login, text + HTML.

The connection is ``alerting.smtp``'s (aiosmtplib on the event loop, abandoned at its
deadline). A mail's Message-ID is fixed by its outbox entry, so a retry after a lost
answer carries the same Message-ID and the receiving side can tell it is a repeat.
"""

from __future__ import annotations

import hashlib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import TYPE_CHECKING, ClassVar

from sentinel.alerting import smtp, templates
from sentinel.alerting.sink import SinkError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sentinel.alerting.sink import Event
    from sentinel.config.alerting import EmailConfig
    from sentinel.model import Alert


def message(
    alert: Alert, site: str, config: EmailConfig, event: Event | None = None
) -> EmailMessage:
    """The mail for one event: ``text/plain`` with a ``text/html`` alternative."""
    lang = config.language
    msg = EmailMessage()
    msg["Subject"] = templates.subject(alert, site, lang)
    msg["From"] = config.sender
    msg["To"] = ", ".join(config.to)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = message_id(site, config.sender, event)
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
    """One message per event, one SMTP connection per batch."""

    name: ClassVar[str] = "email"
    batch: ClassVar[int] = 10

    def __init__(self, config: EmailConfig, site: str) -> None:
        self.config = config
        self.site = site

    async def send(self, events: Sequence[Event]) -> None:
        messages = [message(e.alert, self.site, self.config, e) for e in events]
        try:
            await smtp.send(self.config, messages)
        except smtp.SmtpFailed as exc:
            raise SinkError(str(exc), [e.id for e in events[: exc.sent]]) from None

    async def close(self) -> None:
        return None
