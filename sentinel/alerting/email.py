"""Mail each alert event to the school's admin: SMTP with STARTTLS and login, text + HTML.

smtplib runs in a worker thread (``asyncio.to_thread``) under the configured timeout; it
is standard library and one message per event is a small load, so no new dependency.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import TYPE_CHECKING, ClassVar

from sentinel.alerting import templates
from sentinel.alerting.sink import SinkError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sentinel.alerting.sink import Event
    from sentinel.config.alerting import EmailConfig
    from sentinel.model import Alert


def message(alert: Alert, site: str, config: EmailConfig) -> EmailMessage:
    """The mail for one event: ``text/plain`` with a ``text/html`` alternative."""
    lang = config.language
    msg = EmailMessage()
    msg["Subject"] = templates.subject(alert, site, lang)
    msg["From"] = config.sender
    msg["To"] = ", ".join(config.to)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=config.sender.rpartition("@")[2])
    msg["X-Sentinel-Site"] = site
    msg["X-Sentinel-Detector"] = alert.detector
    msg["X-Sentinel-Status"] = "resolved" if alert.resolved is not None else "firing"
    msg.set_content(templates.plain(alert, site, lang))
    msg.add_alternative(templates.html_body(alert, site, lang), subtype="html")
    return msg


class EmailSink:
    """One message per event, one SMTP connection per batch."""

    name: ClassVar[str] = "email"
    batch: ClassVar[int] = 10

    def __init__(self, config: EmailConfig, site: str) -> None:
        self.config = config
        self.site = site

    async def send(self, events: Sequence[Event]) -> None:
        messages = [message(e.alert, self.site, self.config) for e in events]
        try:
            async with asyncio.timeout(self.config.timeout * 2):
                await asyncio.to_thread(self._deliver, messages)
        except TimeoutError:
            raise SinkError(f"smtp {self._where()}: no answer in time") from None

    def _where(self) -> str:
        host, port = self.config.smtp
        return f"{host}:{port}"

    def _deliver(self, messages: Sequence[EmailMessage]) -> None:
        cfg = self.config
        host, port = cfg.smtp
        try:
            with smtplib.SMTP(host, port, timeout=cfg.timeout) as smtp:
                smtp.ehlo()
                if cfg.starttls:
                    ctx = ssl.create_default_context(
                        cafile=str(cfg.ca_file) if cfg.ca_file else None
                    )
                    smtp.starttls(context=ctx)
                    smtp.ehlo()
                if cfg.username and cfg.password is not None:
                    smtp.login(cfg.username, cfg.password.reveal())
                for msg in messages:
                    smtp.send_message(msg)
        except (OSError, smtplib.SMTPException) as exc:
            raise SinkError(f"smtp {self._where()}: {type(exc).__name__}: {exc}") from None

    async def close(self) -> None:
        return None
