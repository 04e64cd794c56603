"""Alertmanager API v2: POST /api/v2/alerts to every configured Alertmanager, as Prometheus does.

Labels identify an alert in Alertmanager, so besides ``alertname``, ``detector``,
``severity`` and ``site`` every alert carries ``identifier`` (already pseudonymised):
two scanners on one site are two alerts, not one. An escalated alert names the severity
it was notified at before in the ``escalated_from`` annotation. While an alert is active
it is posted again every ``resend`` with ``endsAt`` 4 x ``resend`` ahead (Prometheus'
rule), so Alertmanager resolves it by itself if sentinel stops; a resolution posts the
real end.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

from sentinel import logsetup
from sentinel.alerting.http import HttpClient
from sentinel.alerting.sink import SinkError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from sentinel.alerting.sink import Event
    from sentinel.config.alerting import AlertmanagerConfig
    from sentinel.model import Alert

log = logsetup.get(__name__)

ENDS_AHEAD = 4  # endsAt = now + ENDS_AHEAD x resend while active


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def describe(alert: Alert) -> str:
    """The description annotation: the detector's text, then who and what, then counts."""
    lines = [alert.description] if alert.description else []
    if alert.source.ip or alert.source.mac:
        lines.append(f"source: {' '.join(x for x in (alert.source.ip, alert.source.mac) if x)}")
    if alert.target:
        lines.append(f"target: {alert.target}")
    if alert.counts:
        lines.append("counts: " + ", ".join(f"{k}={v}" for k, v in alert.counts))
    return "\n".join(lines)


def payload(
    alert: Alert, site: str, now: float, resend: float, generator_url: str
) -> dict[str, Any]:
    """One element of the POST body."""
    if alert.resolved is not None:
        ends = max(alert.resolved, alert.first_seen)
    else:
        ends = now + ENDS_AHEAD * resend
    item: dict[str, Any] = {
        "labels": {
            "alertname": alert.detector,
            "detector": alert.detector,
            "severity": alert.severity.value,
            "site": site,
            "identifier": alert.identifier,
        },
        "annotations": {
            "summary": alert.summary,
            "description": describe(alert),
            "evidence": alert.evidence,
        },
        "startsAt": rfc3339(alert.first_seen),
        "endsAt": rfc3339(ends),
    }
    if len(alert.findings) > 1:  # an incident: every finding of its source, in order
        item["annotations"]["findings"] = ", ".join(alert.findings)
    if alert.escalated_from is not None and alert.resolved is None:
        # An annotation, not a label: labels are the alert's identity (its grouping,
        # silences and inhibitions), and an escalation is the same alert become worse.
        item["annotations"]["escalated_from"] = alert.escalated_from.value
    if generator_url:
        item["generatorURL"] = (
            f"{generator_url}{'&' if '?' in generator_url else '?'}"
            f"site={quote(site)}&detector={quote(alert.detector)}"
        )
    return item


class AlertmanagerSink:
    """Posts to every URL; delivered when at least one Alertmanager accepted the batch."""

    name: ClassVar[str] = "alertmanager"
    batch: ClassVar[int] = 64

    def __init__(
        self,
        config: AlertmanagerConfig,
        site: str,
        generator_url: str = "",
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.config = config
        self.site = site
        self.generator_url = generator_url
        self.resend = config.resend
        self._clock = clock or time.time
        self._http = HttpClient(config.ca_file)
        self._headers = {"Content-Type": "application/json"}
        if config.bearer_token is not None:
            self._headers["Authorization"] = f"Bearer {config.bearer_token.reveal()}"
        elif config.password is not None:
            token = f"{config.username}:{config.password.reveal()}".encode()
            self._headers["Authorization"] = f"Basic {base64.b64encode(token).decode()}"

    async def send(self, events: Sequence[Event]) -> None:
        await self.post([e.alert for e in events])

    async def refresh(self, alerts: Sequence[Alert]) -> None:
        """Post the active alerts again (keeps ``endsAt`` ahead of now)."""
        if alerts:
            await self.post(alerts)

    async def post(self, alerts: Sequence[Alert]) -> None:
        now = self._clock()
        body = json.dumps(
            [payload(a, self.site, now, self.resend, self.generator_url) for a in alerts]
        ).encode()
        urls = [u.rstrip("/") + "/api/v2/alerts" for u in self.config.urls]
        results = await asyncio.gather(
            *(self._http.post(u, body, self._headers, self.config.timeout) for u in urls),
            return_exceptions=True,
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        for r in errors:
            if not isinstance(r, SinkError):
                raise r
        if len(errors) == len(urls):
            raise SinkError("; ".join(str(e) for e in errors))
        for e in errors:  # some Alertmanager of the cluster is down: the others have it
            log.debug("alertmanager post failed", error=e)

    async def close(self) -> None:
        await self._http.close()
