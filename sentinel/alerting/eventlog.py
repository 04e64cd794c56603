"""The local event log: one record per alert event through the log system (journald).

With ``log.format: json`` each is one JSON object per line; alerts carry pseudonyms, never
secrets. Logging cannot fail in a way worth retrying, so this sink always delivers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from sentinel import logsetup

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sentinel.alerting.sink import Event

LOGGER = "sentinel.alerting.events"
log = logsetup.get(LOGGER)


class EventLogSink:
    """Logs ``msg=alert`` with the alert's fields as keys."""

    name: ClassVar[str] = "event_log"
    batch: ClassVar[int] = 256

    def __init__(self, site: str) -> None:
        self.site = site

    async def send(self, events: Sequence[Event]) -> None:
        for e in events:
            a = e.alert
            log.warning(
                "alert",
                event="alert",
                status="resolved" if a.resolved is not None else "firing",
                site=self.site,
                detector=a.detector,
                kind=a.kind,
                severity=a.severity.value,
                escalated_from=a.escalated_from.value if a.escalated_from is not None else "",
                identifier=a.identifier,
                summary=a.summary,
                source_ip=a.source.ip,
                source_mac=a.source.mac,
                target=a.target,
                counts=",".join(f"{k}={v}" for k, v in a.counts),
                evidence=a.evidence,
                incident=a.incident,
                findings=",".join(a.findings),
                first_seen=a.first_seen,
                last_seen=a.last_seen,
                resolved=a.resolved if a.resolved is not None else "",
            )

    async def close(self) -> None:
        return None
