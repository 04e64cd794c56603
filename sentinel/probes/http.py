"""HTTP(S) probe: a GET with redirects followed, split into blackbox_exporter's phases.

``resolve`` (name to address), ``connect`` (TCP handshake), ``tls`` (TLS handshake),
``processing`` (request sent until the first byte of the answer) and ``transfer`` (the
rest of the answer); over redirects each phase is the sum of every hop, as in
blackbox_exporter. Written on asyncio streams because an HTTP library does not tell the
TLS handshake from the TCP one.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from sentinel import __version__
from sentinel.probes import tlsinfo
from sentinel.probes.outcome import ProbeFailure
from sentinel.probes.resolve import resolve

MAX_HEAD = 65536  # status line and headers
CLOSE_TIMEOUT = 0.5  # a TLS close_notify exchange, never longer
_REDIRECTS = frozenset((301, 302, 303, 307, 308))
USER_AGENT = f"sentinel/{__version__} (connection quality probe)"


@dataclass(slots=True)
class Fetch:
    """What the probe learned, filled in as it goes (the runner reads it even on failure)."""

    phases: dict[str, float] = field(
        default_factory=lambda: dict.fromkeys(
            ("resolve", "connect", "tls", "processing", "transfer"), 0.0
        )
    )
    ip: str = ""
    family: int = 0
    status: int | None = None
    version: float = 0.0
    final_url: str = ""
    redirects: int = 0
    content_length: int = -1
    body_length: int = 0
    tls_version: str = ""
    cert_expiry: float | None = None


def _context(verify: bool) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def _head(reader: asyncio.StreamReader) -> tuple[int, float, dict[str, str]]:
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError:
        raise ProbeFailure("protocol", "HTTP header longer than 64 KiB") from None
    except asyncio.IncompleteReadError:
        raise ProbeFailure(
            "protocol", "the server closed the connection before answering"
        ) from None
    lines = raw.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ProbeFailure("protocol", f"not an HTTP status line: {lines[0][:80]!r}")
    try:
        version = float(parts[0][5:])
    except ValueError:
        version = 0.0
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return int(parts[1]), version, headers


async def _body(reader: asyncio.StreamReader, headers: dict[str, str], limit: int) -> int:
    """Read the body (never more than ``limit`` bytes); its length."""
    total = 0

    def add(n: int) -> None:
        nonlocal total
        total += n
        if total > limit:
            raise ProbeFailure("body_too_large", f"body larger than {limit} bytes")

    if "chunked" in headers.get("transfer-encoding", "").lower():
        while True:
            line = await reader.readuntil(b"\r\n")
            size = int(line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # trailers are rare; one empty line ends it
                return total
            add(size)
            await reader.readexactly(size + 2)
    length = headers.get("content-length")
    if length is not None and length.isdigit():
        add(int(length))
        await reader.readexactly(int(length))
        return total
    while chunk := await reader.read(65536):
        add(len(chunk))
    return total


async def fetch(
    url: str,
    f: Fetch,
    *,
    body_limit: int,
    max_redirects: int,
    verify: bool,
    ip_protocol: str = "auto",
) -> None:
    """GET ``url`` into ``f``; raises ``ProbeFailure`` (or an OSError) on the way."""
    ctx: ssl.SSLContext | None = None
    while True:
        parts = urlsplit(url)
        host = parts.hostname or ""
        https = parts.scheme == "https"
        port = parts.port or (443 if https else 80)
        ip, family, took = await resolve(host, ip_protocol)
        f.phases["resolve"] += took
        f.ip, f.family = ip, family
        t = time.perf_counter()
        reader, writer = await asyncio.open_connection(ip, port, family=family, limit=MAX_HEAD)
        f.phases["connect"] += time.perf_counter() - t
        try:
            if https:
                ctx = ctx or _context(verify)
                t = time.perf_counter()
                await writer.start_tls(ctx, server_hostname=host)
                f.phases["tls"] += time.perf_counter() - t
                obj = writer.get_extra_info("ssl_object")
                if obj is not None:
                    f.tls_version = tlsinfo.version(obj)
                    f.cert_expiry = tlsinfo.earliest_expiry(obj)
            path = parts.path or "/"
            if parts.query:
                path += "?" + parts.query
            hostport = host if parts.port is None else f"{host}:{port}"
            if ":" in host:
                hostport = f"[{host}]" if parts.port is None else f"[{host}]:{port}"
            request = (
                f"GET {path} HTTP/1.1\r\nHost: {hostport}\r\nUser-Agent: {USER_AGENT}\r\n"
                "Accept: */*\r\nConnection: close\r\n\r\n"
            )
            t = time.perf_counter()
            writer.write(request.encode("latin-1"))
            await writer.drain()
            status, version, headers = await _head(reader)
            f.phases["processing"] += time.perf_counter() - t
            f.status, f.version, f.final_url = status, version, url
            length = headers.get("content-length", "")
            f.content_length = int(length) if length.isdigit() else -1
            t = time.perf_counter()
            try:
                location = headers.get("location")
                if status in _REDIRECTS and location and f.redirects < max_redirects:
                    await _body(reader, headers, body_limit)
                else:
                    f.body_length = await _body(reader, headers, body_limit)
                    return
            except asyncio.IncompleteReadError:
                raise ProbeFailure("protocol", "the body ended early") from None
            finally:
                f.phases["transfer"] += time.perf_counter() - t
        finally:
            writer.close()
            with contextlib.suppress(OSError, TimeoutError, ssl.SSLError):
                async with asyncio.timeout(CLOSE_TIMEOUT):
                    await writer.wait_closed()
        f.redirects += 1
        url = urljoin(url, location)
