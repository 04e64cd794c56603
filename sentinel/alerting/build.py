"""The sinks an ``AlertingConfig`` asks for, in delivery order."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sentinel.alerting.alertmanager import AlertmanagerSink
from sentinel.alerting.email import EmailSink
from sentinel.alerting.eventlog import EventLogSink
from sentinel.alerting.webhook import WebhookSink

if TYPE_CHECKING:
    from sentinel.alerting.sink import Sink
    from sentinel.config.alerting import AlertingConfig


def sinks(config: AlertingConfig, site: str) -> list[Sink]:
    out: list[Sink] = []
    if config.event_log.enabled:
        out.append(EventLogSink(site))
    if config.alertmanager is not None:
        out.append(AlertmanagerSink(config.alertmanager, site, config.generator_url))
    if config.email is not None:
        out.append(EmailSink(config.email, site))
    if config.webhook is not None:
        out.append(WebhookSink(config.webhook, site))
    return out
