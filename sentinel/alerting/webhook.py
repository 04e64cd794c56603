"""POST each alert event as JSON, signed with HMAC-SHA256 so the receiver can trust it.

Signature: ``X-Sentinel-Signature: sha256=<hex>`` over ``<timestamp>.<body>`` with the
timestamp in ``X-Sentinel-Timestamp`` (unix seconds). Signing the timestamp with the body
lets a receiver reject replays of old requests (say, older than 5 minutes).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import TYPE_CHECKING, ClassVar

from sentinel.alerting import codec
from sentinel.alerting.http import HttpClient

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from sentinel.alerting.sink import Event
    from sentinel.config.alerting import WebhookConfig

SIGNATURE = "X-Sentinel-Signature"
TIMESTAMP = "X-Sentinel-Timestamp"
VERSION = 1


def sign(key: bytes, timestamp: str, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify(key: bytes, timestamp: str, body: bytes, signature: str) -> bool:
    """What a receiver checks (constant-time compare); the timestamp's age is its own check."""
    return hmac.compare_digest(sign(key, timestamp, body), signature)


class WebhookSink:
    """One POST per event: ``{"version", "site", "status", "alert"}``."""

    name: ClassVar[str] = "webhook"
    batch: ClassVar[int] = 1

    def __init__(
        self, config: WebhookConfig, site: str, clock: Callable[[], float] | None = None
    ) -> None:
        self.config = config
        self.site = site
        self._clock = clock or time.time
        self._http = HttpClient(config.ca_file)

    def body(self, event: Event) -> bytes:
        status = "resolved" if event.alert.resolved is not None else "firing"
        doc = {
            "version": VERSION,
            "site": self.site,
            "status": status,
            "id": event.id,
            "alert": codec.to_dict(event.alert),
        }
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()

    async def send(self, events: Sequence[Event]) -> None:
        for event in events:
            body = self.body(event)
            headers = {"Content-Type": "application/json"}
            if self.config.secret is not None:
                ts = str(int(self._clock()))
                headers[TIMESTAMP] = ts
                headers[SIGNATURE] = sign(self.config.secret.reveal().encode(), ts, body)
            await self._http.post(self.config.url, body, headers, self.config.timeout)

    async def close(self) -> None:
        await self._http.close()
