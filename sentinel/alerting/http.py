"""The one aiohttp client of the alerting sinks: POST bytes, get a ``SinkError`` or nothing."""

from __future__ import annotations

import asyncio
import ssl
from typing import TYPE_CHECKING

import aiohttp

from sentinel.alerting.sink import SinkError

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

BODY_MAX = 4096  # bytes of an error response kept for the message


class HttpClient:
    """A session created on first use (it needs the running loop), closed with ``close()``."""

    def __init__(self, ca_file: Path | None = None) -> None:
        self._ca_file = ca_file
        self._session: aiohttp.ClientSession | None = None

    def _get(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            ctx = ssl.create_default_context(cafile=str(self._ca_file) if self._ca_file else None)
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=ctx, limit=8),
                # Proxy variables from the environment are not honoured: alerts go where
                # the config says.
                trust_env=False,
            )
        return self._session

    async def post(self, url: str, body: bytes, headers: Mapping[str, str], seconds: float) -> None:
        """POST ``body``; raises ``SinkError`` unless the answer is 2xx within ``seconds``."""
        try:
            async with asyncio.timeout(seconds):
                async with self._get().post(
                    url, data=body, headers=dict(headers), allow_redirects=False
                ) as resp:
                    if resp.status // 100 != 2:
                        text = (await resp.content.read(BODY_MAX)).decode("utf-8", "replace")
                        raise SinkError(f"{url}: HTTP {resp.status}: {text.strip()[:200]}")
                    await resp.content.read(BODY_MAX)
        except TimeoutError:
            raise SinkError(f"{url}: no answer within {seconds:g}s") from None
        except aiohttp.ClientError as exc:
            raise SinkError(f"{url}: {type(exc).__name__}: {exc}") from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
