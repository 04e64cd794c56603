"""The one SMTP client (aiosmtplib): a batch of mails over one connection, under a deadline.

It runs on the event loop, so the deadline is real: when it passes, the connection is
closed and nothing more is sent (a client in a worker thread would go on talking to a
server that answered late, and the retry would send the mail twice). TLS is implicit
(SMTPS, port 465) or STARTTLS, required, with the certificate verified against the system's
CAs or ``ca_file``; ``tls: none`` only without login (the config refuses the rest).
"""

from __future__ import annotations

import asyncio
import ssl
from typing import TYPE_CHECKING

import aiosmtplib

from sentinel.alerting.sink import SinkError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from email.message import EmailMessage

    from sentinel.config.alerting import EmailConfig


class SmtpFailed(SinkError):
    """Not every mail got through; ``sent`` is how many of the batch did, in order."""

    def __init__(self, message: str, sent: int) -> None:
        super().__init__(message)
        self.sent = sent


async def send(config: EmailConfig, messages: Sequence[EmailMessage]) -> None:
    """Deliver ``messages`` in order within ``config.timeout``, or raise ``SmtpFailed``."""
    host, port = config.smtp
    mode = config.mode
    ctx = ssl.create_default_context(cafile=str(config.ca_file) if config.ca_file else None)
    client = aiosmtplib.SMTP(
        hostname=host,
        port=port,
        use_tls=mode == "implicit",
        start_tls=mode == "starttls",  # required: no silent fallback to clear text
        tls_context=ctx,
        timeout=config.timeout,
    )
    sent = 0
    where = f"smtp {host}:{port}"
    try:
        async with asyncio.timeout(config.timeout):
            await client.connect()
            if config.username and config.password is not None:
                await client.login(config.username, config.password.reveal())
            for msg in messages:
                await client.send_message(msg)
                sent += 1
            await client.quit()
    except TimeoutError:
        raise SmtpFailed(
            f"{where}: no answer within {config.timeout:g}s (connection closed)", sent
        ) from None
    except (OSError, aiosmtplib.SMTPException) as exc:
        raise SmtpFailed(f"{where}: {type(exc).__name__}: {_reason(exc)}", sent) from None
    finally:
        client.close()  # at the deadline too: nothing more goes out on this connection


def _reason(exc: BaseException) -> str:
    """The error and what caused it (aiosmtplib wraps TLS failures in its own errors)."""
    text = str(exc)
    cause = exc.__cause__ or exc.__context__
    if cause is not None and str(cause) and str(cause) not in text:
        text = f"{text} ({type(cause).__name__}: {cause})"
    return text
