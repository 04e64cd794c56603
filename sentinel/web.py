"""The HTTP endpoint: /metrics, health and readiness, with exporter-toolkit TLS and basic auth.

It holds against bad clients: a cap on open connections, a deadline for the request
head (slowloris), a keep-alive idle timeout, and bounds on header lines and bodies.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, cast

import bcrypt
from aiohttp import hdrs, web
from aiohttp.http_exceptions import HttpProcessingError

from sentinel.config import HostPort, TLSServerConfig, WebConfig, ssl_context
from sentinel.config.probes import MODULES, EndpointConfig, check_address
from sentinel.probemetrics import render_blackbox

if TYPE_CHECKING:
    import ssl
    from pathlib import Path

    from sentinel.metrics import Metrics
    from sentinel.model import ProbeResult

    # (module, target, seconds) -> one probe's result; the daemon wires the probe engine in.
    Prober = Callable[[str, str, float], Awaitable[ProbeResult]]

REALM = "sentinel"
SHUTDOWN_TIMEOUT = 1.5  # seconds an in-flight scrape may finish when the endpoint moves or stops
AUTH_CACHE_SIZE = 64
# Checked for unknown users so that timing does not reveal which users exist; the same
# bcrypt hash of "fakepassword" (cost 10) as exporter-toolkit uses.
_DUMMY_HASH = b"$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi"
_BCRYPT_MAX_PASSWORD = 72  # bcrypt ignores later bytes; bcrypt>=5 refuses longer passwords
_OTHER = "other"  # handler label for unknown paths, so label cardinality stays bounded

# blackbox_exporter's /probe: the scrape timeout header, its default offset (a probe ends
# that long before Prometheus gives up) and the default module; the module names of its
# shipped blackbox.yml are accepted for ours, so existing scrape configs keep working.
SCRAPE_TIMEOUT_HEADER = "X-Prometheus-Scrape-Timeout-Seconds"
TIMEOUT_OFFSET = 0.5
DEFAULT_MODULE = "http"
MODULE_ALIASES = {"http_2xx": "http", "tcp_connect": "tcp"}
MAX_TARGET = 2048  # characters of the target parameter
_PROBE_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Limits that keep one bad or hostile client from tying up the endpoint (issue 15). Every
# consumer (vmagent on loopback, Prometheus, /probe callers, an admin) needs a handful of
# connections and sends its request head at once; the numbers leave wide room for that.
MAX_CONNECTIONS = 256  # open at once; a new one beyond gets a 503 and is closed at once
HEAD_TIMEOUT = 5.0  # seconds from accept to a complete request head, TLS handshake included
STALL_TIMEOUT = 30.0  # seconds a client may leave a response unread before it is dropped
KEEPALIVE_TIMEOUT = 30.0  # seconds an idle kept-alive connection waits for its next request
MAX_BODY = 64 * 1024  # bytes of a request body (every route is a GET): 413 beyond
MAX_LINE = 8190  # bytes of the request line or of one header line: 400 beyond
MAX_FIELD = 8190  # bytes of one header value: 400 beyond (aiohttp also caps headers at 128)
REJECT_REASONS = ("connection_limit", "head_timeout", "stalled_reader")
_REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\n"
    b"Content-Type: text/plain\r\nContent-Length: 29\r\n\r\nToo many connections at once\n"
)


class _QuietBadRequests(logging.Filter):
    """Drops aiohttp's traceback for a malformed request: the client's fault, answered 400,
    and a client sending them in a loop would otherwise fill the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, HttpProcessingError)


# The logger of aiohttp's protocol (under "aiohttp", so quiet unless debugging).
_SERVER_LOG = logging.getLogger("aiohttp.server.sentinel")
_SERVER_LOG.addFilter(_QuietBadRequests())

_BODY_HEADERS = frozenset((hdrs.CONTENT_TYPE, hdrs.CONTENT_LENGTH))
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class _Settings:
    """What may change on reload without rebinding: users and extra headers."""

    users: Mapping[str, str]
    headers: Mapping[str, str]

    @classmethod
    def of(cls, web_config: WebConfig) -> _Settings:
        return cls(
            MappingProxyType(dict(web_config.basic_auth_users)),
            MappingProxyType(dict(web_config.http_server_config.headers)),
        )


class _Binding:
    """One listening endpoint: its address, TLS identity, runner and current settings."""

    def __init__(
        self, listen: HostPort, tls: TLSServerConfig | None, fingerprint: bytes, settings: _Settings
    ) -> None:
        self.listen = listen
        self.tls = tls
        self.fingerprint = fingerprint
        self.settings = settings  # replaced (one assignment) on a reload that keeps the socket
        self.runner: web.AppRunner | None = None

    def same_endpoint(self, listen: HostPort, tls: TLSServerConfig | None, fp: bytes) -> bool:
        return self.listen == listen and self.tls == tls and self.fingerprint == fp


class _Gate:
    """The protocol factory of one endpoint: caps its open connections, guards each one."""

    def __init__(self, server: web.Server, rejected: Callable[[str], None]) -> None:
        self._server = server
        self._rejected = rejected
        self.open = 0

    def __call__(self) -> asyncio.Protocol:
        if self.open >= MAX_CONNECTIONS:
            self._rejected("connection_limit")
            return _Refused()
        self.open += 1
        return _Guarded(self, self._server())

    def rejected(self, reason: str) -> None:
        self._rejected(reason)


class _Refused(asyncio.Protocol):
    """A connection beyond the cap: answered 503 and closed without reading it."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        cast("asyncio.Transport", transport).write(_REFUSAL)
        transport.close()


class _Guarded(asyncio.Protocol):
    """aiohttp's protocol for one connection, closed if no request head arrives in time.

    The deadline starts at accept, so a client that never finishes the TLS handshake or
    sends its head a byte at a time is dropped after ``HEAD_TIMEOUT``; once a head has been
    read, aiohttp's keep-alive timeout bounds the wait for the next one. A client that stops
    reading a response (the transport's buffer stays full) is dropped after
    ``STALL_TIMEOUT``, so it cannot hold a page's worth of memory per connection forever.
    """

    __slots__ = (
        "_connected",
        "_gate",
        "_inner",
        "_released",
        "_stall",
        "_timer",
        "_transport",
    )

    def __init__(self, gate: _Gate, inner: asyncio.Protocol) -> None:
        self._gate = gate
        self._inner = inner
        self._transport: asyncio.Transport | None = None
        self._connected = False
        self._released = False
        self._stall: asyncio.TimerHandle | None = None
        self._timer: asyncio.TimerHandle | None = asyncio.get_running_loop().call_later(
            HEAD_TIMEOUT, self._too_slow
        )

    def head_read(self) -> None:
        """A request head arrived: the deadline no longer applies to this connection."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _too_slow(self) -> None:
        self._timer = None
        self._gate.rejected("head_timeout")
        if self._transport is not None:
            self._transport.abort()  # connection_lost follows and frees the slot
        else:  # still in the TLS handshake, which times out by itself: free the slot now
            self._release()

    def _release(self) -> None:
        if not self._released:
            self._released = True
            self._gate.open -= 1

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        stream = cast("asyncio.Transport", transport)  # TCP, or TLS over TCP
        if self._released:  # the handshake finished after the deadline
            stream.abort()
            return
        self._transport = stream
        self._connected = True
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        if self._stall is None:
            self._stall = asyncio.get_running_loop().call_later(STALL_TIMEOUT, self._stalled)
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._unstall()
        self._inner.resume_writing()

    def _unstall(self) -> None:
        if self._stall is not None:
            self._stall.cancel()
            self._stall = None

    def _stalled(self) -> None:
        self._stall = None
        self._gate.rejected("stalled_reader")
        if self._transport is not None:
            self._transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.head_read()
        self._unstall()
        self._release()
        if self._connected:
            self._connected = False
            self._inner.connection_lost(exc)


class _Site(web.BaseSite):
    """A TCP site whose connections go through a ``_Gate``."""

    def __init__(
        self,
        runner: web.AppRunner,
        listen: HostPort,
        gate: _Gate,
        context: ssl.SSLContext | None,
    ) -> None:
        super().__init__(runner, ssl_context=context)
        self._listen = listen
        self._gate = gate

    @property
    def name(self) -> str:
        scheme = "https" if self._ssl_context else "http"
        return f"{scheme}://{self._listen.host}:{self._listen.port}"

    async def start(self) -> None:
        await super().start()
        self._server = await asyncio.get_running_loop().create_server(
            self._gate,
            self._listen.host,
            self._listen.port,
            ssl=self._ssl_context,
            ssl_handshake_timeout=HEAD_TIMEOUT if self._ssl_context else None,
            backlog=self._backlog,
            reuse_address=True,
            reuse_port=True,
        )


class WebServer:
    """Serves the metrics endpoint; ``apply`` reloads its config without dropping it."""

    def __init__(self, metrics: Metrics, *, ready: Callable[[], bool]) -> None:
        self._metrics = metrics
        self._ready = ready
        self._binding: _Binding | None = None
        self._lock = asyncio.Lock()  # start, apply and stop never interleave
        self._bcrypt_lock = asyncio.Lock()  # one bcrypt at a time, as exporter-toolkit does
        self._auth_cache: dict[tuple[str, bytes, str], None] = {}
        self._prober: Prober | None = None
        self._probe_cfg = EndpointConfig()
        self._probes_running = 0
        for reason in REJECT_REASONS:
            metrics.http_rejected_connections.labels(reason)

    def _rejected(self, reason: str) -> None:
        self._metrics.http_rejected_connections.labels(reason).inc()

    def set_prober(self, prober: Prober | None, cfg: EndpointConfig) -> None:
        """What ``/probe`` runs and which modules it serves (on start and on every reload)."""
        self._prober = prober
        self._probe_cfg = cfg

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """The (host, port) pairs actually bound; empty when not serving."""
        if self._binding is None or self._binding.runner is None:
            return []
        return [(str(a[0]), int(a[1])) for a in self._binding.runner.addresses]

    async def start(self, listen: HostPort, web_config: WebConfig) -> None:
        """Bind ``listen`` and serve; raises ``OSError`` when it cannot be bound."""
        async with self._lock:
            if self._binding is not None:
                raise RuntimeError("web server already started")
            self._binding = await self._bind(listen, web_config)

    async def apply(self, listen: HostPort, web_config: WebConfig) -> None:
        """Switch to a new config; on failure the old endpoint keeps serving and this raises."""
        async with self._lock:
            old = self._binding
            if old is None:
                self._binding = await self._bind(listen, web_config)
                return
            tls = web_config.tls_server_config
            fingerprint = await _tls_fingerprint(tls)
            if old.same_endpoint(listen, tls, fingerprint):
                old.settings = _Settings.of(web_config)
                return
            # Bind the new endpoint before closing the old one (SO_REUSEPORT allows the same
            # port twice), so something always listens; if binding fails, the old one stays.
            self._binding = await self._bind(listen, web_config, fingerprint)
            if old.runner is not None:
                await old.runner.cleanup()

    async def stop(self) -> None:
        """Stop listening; in-flight requests get ``SHUTDOWN_TIMEOUT`` seconds to finish."""
        async with self._lock:
            binding, self._binding = self._binding, None
            if binding is not None and binding.runner is not None:
                await binding.runner.cleanup()

    async def _bind(
        self, listen: HostPort, web_config: WebConfig, fingerprint: bytes | None = None
    ) -> _Binding:
        tls = web_config.tls_server_config
        if fingerprint is None:
            fingerprint = await _tls_fingerprint(tls)
        context: ssl.SSLContext | None = None
        if tls is not None:
            context = await asyncio.to_thread(ssl_context, tls)
        binding = _Binding(listen, tls, fingerprint, _Settings.of(web_config))
        runner = web.AppRunner(
            self._app(binding),
            access_log=None,
            shutdown_timeout=SHUTDOWN_TIMEOUT,
            keepalive_timeout=KEEPALIVE_TIMEOUT,
            lingering_time=0,  # a body left unread closes the connection, never drained
            max_line_size=MAX_LINE,
            max_field_size=MAX_FIELD,
            logger=_SERVER_LOG,
        )
        await runner.setup()
        assert runner.server is not None
        site = _Site(runner, listen, _Gate(runner.server, self._rejected), context)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        binding.runner = runner
        return binding

    def _app(self, binding: _Binding) -> web.Application:
        @web.middleware
        async def middleware(request: web.Request, handler: _Handler) -> web.StreamResponse:
            return await self._serve(binding, request, handler)

        async def add_headers(_request: web.Request, response: web.StreamResponse) -> None:
            response.headers.update(binding.settings.headers)

        app = web.Application(middlewares=[middleware], client_max_size=MAX_BODY)
        app.on_response_prepare.append(add_headers)
        app.router.add_get("/", self._index)
        app.router.add_get("/metrics", self._metrics_page)
        app.router.add_get("/probe", self._probe_page)
        app.router.add_get("/-/healthy", self._healthy)
        app.router.add_get("/-/ready", self._readiness)
        return app

    async def _serve(
        self, binding: _Binding, request: web.Request, handler: _Handler
    ) -> web.StreamResponse:
        transport = request.transport
        guard = transport.get_protocol() if transport is not None else None
        if isinstance(guard, _Guarded):
            guard.head_read()
        match = request.match_info
        resource = match.route.resource
        label = resource.canonical if match.http_exception is None and resource else _OTHER
        response: web.StreamResponse
        users = binding.settings.users
        if request.body_exists and (
            request.content_length is None or request.content_length > MAX_BODY
        ):
            response = web.Response(status=413, text=f"Request body larger than {MAX_BODY} bytes\n")
        elif users and not await self._authorized(request, users):
            response = web.Response(
                status=401,
                text="Unauthorized\n",
                headers={hdrs.WWW_AUTHENTICATE: f'Basic realm="{REALM}"'},
            )
        else:
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                headers = {k: v for k, v in exc.headers.items() if k not in _BODY_HEADERS}
                response = web.Response(status=exc.status, text=exc.text, headers=headers)
        self._metrics.http_requests.labels(label, str(response.status)).inc()
        return response

    async def _authorized(self, request: web.Request, users: Mapping[str, str]) -> bool:
        credentials = _basic_credentials(request.headers.get(hdrs.AUTHORIZATION, ""))
        if credentials is None:
            return False
        return await self._check_password(users, *credentials)

    async def _check_password(self, users: Mapping[str, str], user: str, password: str) -> bool:
        hashed = users.get(user)
        secret = password.encode()
        key = (user, hashlib.sha256(secret).digest(), hashed or "")
        if hashed is not None and key in self._auth_cache:
            return True
        async with self._bcrypt_lock:
            ok = await asyncio.to_thread(_bcrypt_check, secret, hashed)
        if not ok:
            return False
        if len(self._auth_cache) >= AUTH_CACHE_SIZE:
            del self._auth_cache[next(iter(self._auth_cache))]  # the oldest entry
        self._auth_cache[key] = None
        return True

    async def _index(self, _request: web.Request) -> web.Response:
        body = (
            "<!DOCTYPE html>\n<html><head><title>Sentinel</title></head><body>\n"
            "<h1>Sentinel</h1>\n"
            '<p><a href="/metrics">Metrics</a></p>\n</body></html>\n'
        )
        return web.Response(text=body, content_type="text/html")

    async def _metrics_page(self, request: web.Request) -> web.Response:
        accept = request.headers.get(hdrs.ACCEPT)
        body, content_type = await asyncio.to_thread(self._metrics.render, accept)
        response = web.Response(body=body, headers={hdrs.CONTENT_TYPE: content_type})
        if _accepts_gzip(request.headers.get(hdrs.ACCEPT_ENCODING, "")):
            response.enable_compression(web.ContentCoding.gzip)
        return response

    async def _probe_page(self, request: web.Request) -> web.Response:
        """One probe now, answered as blackbox_exporter's ``/probe`` answers it."""
        cfg, prober = self._probe_cfg, self._prober
        asked = request.query.get("module", "") or DEFAULT_MODULE
        module = MODULE_ALIASES.get(asked, asked)
        if prober is None or module not in MODULES or module not in cfg.modules:
            served = ", ".join(cfg.modules) if prober is not None and cfg.modules else "none"
            return _bad_request(
                f'Unknown module "{asked}": this box serves {served} (probes.endpoint.modules)'
            )
        try:
            seconds = probe_timeout(request.headers.get(SCRAPE_TIMEOUT_HEADER), cfg.timeout)
        except ValueError as exc:
            return _bad_request(f"Failed to parse timeout from Prometheus header: {exc}")
        target = request.query.get("target", "")
        if not target:
            return _bad_request("Target parameter is missing")
        if len(target) > MAX_TARGET:
            return _bad_request(f"Target parameter is longer than {MAX_TARGET} characters")
        if module == "http" and "://" not in target:
            target = "http://" + target  # as blackbox_exporter does
        try:
            check_address(module, target)
        except ValueError as exc:
            return _bad_request(f'Bad target "{target}" for module {module}: {exc}')
        if self._probes_running >= cfg.max_concurrent:
            return web.Response(
                status=503,
                text=f"Too many probes at once (probes.endpoint.max_concurrent: "
                f"{cfg.max_concurrent})\n",
                headers={hdrs.RETRY_AFTER: "1"},
            )
        self._probes_running += 1
        try:
            result = await prober(module, target, seconds)
        finally:
            self._probes_running -= 1
        return web.Response(body=render_blackbox(result), headers={hdrs.CONTENT_TYPE: _PROBE_TYPE})

    async def _healthy(self, _request: web.Request) -> web.Response:
        return web.Response(text="Healthy\n")

    async def _readiness(self, _request: web.Request) -> web.Response:
        if self._ready():
            return web.Response(text="Ready\n")
        return web.Response(status=503, text="Not ready\n")


def probe_timeout(header: str | None, limit: float) -> float:
    """Seconds a ``/probe`` may take: the scrape timeout less ``TIMEOUT_OFFSET``, at most
    ``limit``; ``ValueError`` when the header is not a number."""
    if header is None or not header.strip():
        return limit
    scrape = float(header)
    if not math.isfinite(scrape) or scrape <= 0:
        raise ValueError(f"{header!r} is not a positive number of seconds")
    wanted = scrape - TIMEOUT_OFFSET
    if wanted <= 0:  # a very short scrape timeout: use it whole rather than nothing
        wanted = scrape
    return min(limit, wanted)


def _bad_request(message: str) -> web.Response:
    return web.Response(status=400, text=message + "\n")


def _bcrypt_check(password: bytes, hashed: str | None) -> bool:
    """bcrypt-compare ``password``; with no hash, spend the same time and fail."""
    target = _DUMMY_HASH if hashed is None else hashed.encode()
    too_long = len(password) > _BCRYPT_MAX_PASSWORD
    try:
        ok = bcrypt.checkpw(password[:_BCRYPT_MAX_PASSWORD], target)
    except ValueError:  # a malformed hash never matches
        return False
    return ok and hashed is not None and not too_long


def _basic_credentials(header: str) -> tuple[str, str] | None:
    """User and password from an ``Authorization: Basic`` value (UTF-8), or None."""
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def _accepts_gzip(accept_encoding: str) -> bool:
    """Whether an ``Accept-Encoding`` value allows gzip (``gzip;q=0`` refuses it)."""
    for item in accept_encoding.split(","):
        coding, _, params = item.strip().partition(";")
        if coding.strip().lower() not in ("gzip", "x-gzip", "*"):
            continue
        q = params.strip().replace(" ", "").lower()
        if q.startswith("q="):
            try:
                return float(q[2:]) > 0
            except ValueError:
                return False
        return True
    return False


async def _tls_fingerprint(tls: TLSServerConfig | None) -> bytes:
    """A digest of the certificate, key and CA files, so a renewed certificate rebinds."""
    if tls is None:
        return b""
    paths = [p for p in (tls.cert_file, tls.key_file, tls.client_ca_file) if p is not None]
    return await asyncio.to_thread(_digest_files, paths)


def _digest_files(paths: list[Path]) -> bytes:
    digest = hashlib.sha256()
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError:
            data = b""  # ssl_context() reports the unreadable file
        digest.update(len(data).to_bytes(8, "big") + data)
    return digest.digest()
