"""Tests for the HTTP endpoint against a real server on loopback and a real client."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

import aiohttp
import bcrypt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from prometheus_client import CollectorRegistry

from sentinel.config import HostPort, WebConfig, load_web_config
from sentinel.config.webconfig import HTTPServerConfig
from sentinel.metrics import Metrics
from sentinel.web import WebServer

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

LOOPBACK = HostPort("127.0.0.1", 0)
PASSWORD = "correct horse"
OPENMETRICS = "application/openmetrics-text; version=1.0.0"


@dataclass
class Flag:
    """A readiness callable the test can flip."""

    value: bool = False

    def __call__(self) -> bool:
        return self.value


@dataclass(frozen=True)
class Cert:
    """A self-signed certificate for 127.0.0.1 written to a directory."""

    directory: Path
    cert_file: Path
    key_file: Path
    client_context: ssl.SSLContext = field(repr=False)


@pytest.fixture
def metrics() -> Metrics:
    """A fresh metrics registry without process collectors."""
    return Metrics(CollectorRegistry(), process=False)


@pytest.fixture
def ready() -> Flag:
    """The server's readiness, initially false."""
    return Flag()


@pytest.fixture
async def server(metrics: Metrics, ready: Flag) -> AsyncIterator[WebServer]:
    """A web server that is stopped after the test (start it in the test)."""
    srv = WebServer(metrics, ready=ready)
    yield srv
    await srv.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """A real HTTP client session."""
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture(scope="module")
def password_hash() -> str:
    """A cheap bcrypt hash of PASSWORD."""
    return bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()


@pytest.fixture
def cert(tmp_path: Path) -> Cert:
    """A self-signed EC certificate with SAN IP 127.0.0.1, and a client context trusting it."""
    return make_cert(tmp_path)


def make_cert(directory: Path) -> Cert:
    """Write a fresh self-signed certificate and key for 127.0.0.1 into ``directory``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sentinel test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.IPv4Address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = certificate.public_bytes(serialization.Encoding.PEM)
    cert_file = directory / "cert.pem"
    key_file = directory / "key.pem"
    cert_file.write_bytes(cert_pem)
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(cadata=cert_pem.decode())
    return Cert(directory, cert_file, key_file, context)


def write_web_config(directory: Path, text: str) -> WebConfig:
    """Write an exporter-toolkit web config file and load it the way the daemon does."""
    path = directory / "web.yml"
    path.write_text(text, encoding="utf-8")
    return load_web_config(path)


def auth_config(password_hash: str) -> WebConfig:
    """A web config with the single user alice."""
    return WebConfig(basic_auth_users=MappingProxyType({"alice": password_hash}))


def basic(user: str, password: str) -> dict[str, str]:
    """An Authorization header for HTTP basic auth."""
    return {"Authorization": aiohttp.encode_basic_auth(user, password)}


def url(server: WebServer, path: str, scheme: str = "http") -> str:
    """The URL of ``path`` on the server's first bound address."""
    host, port = server.addresses[0]
    return f"{scheme}://{host}:{port}{path}"


def free_port() -> int:
    """A loopback port that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_addresses_report_the_real_port(server: WebServer) -> None:
    """Port 0 is reported as the port the kernel chose; nothing is reported when stopped."""
    assert server.addresses == []
    await server.start(LOOPBACK, WebConfig())
    [(host, port)] = server.addresses
    assert host == "127.0.0.1"
    assert port > 0
    await server.stop()
    assert server.addresses == []


async def test_metrics_text_format_by_default(
    server: WebServer, session: aiohttp.ClientSession
) -> None:
    """/metrics serves the text format 0.0.4 when no OpenMetrics is asked for."""
    await server.start(LOOPBACK, WebConfig())
    async with session.get(url(server, "/metrics")) as resp:
        body = await resp.text()
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "sentinel_build_info{" in body


async def test_metrics_openmetrics_when_asked(
    server: WebServer, session: aiohttp.ClientSession
) -> None:
    """/metrics serves OpenMetrics, ending in # EOF, to a client that accepts it."""
    await server.start(LOOPBACK, WebConfig())
    async with session.get(url(server, "/metrics"), headers={"Accept": OPENMETRICS}) as resp:
        body = await resp.text()
        assert resp.headers["Content-Type"].startswith("application/openmetrics-text")
    assert body.endswith("# EOF\n")
    assert "sentinel_build_info{" in body


async def test_metrics_gzip_only_when_accepted(
    server: WebServer, session: aiohttp.ClientSession
) -> None:
    """The /metrics body is gzipped for clients that accept gzip, and only for them."""
    await server.start(LOOPBACK, WebConfig())
    async with session.get(url(server, "/metrics"), headers={"Accept-Encoding": "gzip"}) as resp:
        assert resp.headers.get("Content-Encoding") == "gzip"
        assert "sentinel_build_info{" in await resp.text()
    async with session.get(
        url(server, "/metrics"), headers={"Accept-Encoding": "identity"}
    ) as resp:
        assert "Content-Encoding" not in resp.headers
        assert "sentinel_build_info{" in await resp.text()


async def test_landing_page_links_metrics(
    server: WebServer, session: aiohttp.ClientSession
) -> None:
    """/ is a small HTML page linking /metrics."""
    await server.start(LOOPBACK, WebConfig())
    async with session.get(url(server, "/")) as resp:
        assert resp.status == 200
        assert resp.content_type == "text/html"
        assert 'href="/metrics"' in await resp.text()


async def test_healthy(server: WebServer, session: aiohttp.ClientSession) -> None:
    """/-/healthy answers 200 Healthy."""
    await server.start(LOOPBACK, WebConfig())
    async with session.get(url(server, "/-/healthy")) as resp:
        assert resp.status == 200
        assert await resp.text() == "Healthy\n"


async def test_ready_follows_callable(
    server: WebServer, session: aiohttp.ClientSession, ready: Flag
) -> None:
    """/-/ready is 503 until the readiness callable returns true, then 200."""
    await server.start(LOOPBACK, WebConfig())
    async with session.get(url(server, "/-/ready")) as resp:
        assert resp.status == 503
        assert await resp.text() == "Not ready\n"
    ready.value = True
    async with session.get(url(server, "/-/ready")) as resp:
        assert resp.status == 200
        assert await resp.text() == "Ready\n"


async def test_requests_counted_unknown_path_as_other(
    server: WebServer, session: aiohttp.ClientSession, metrics: Metrics
) -> None:
    """Requests are counted by route and code; unknown paths all count as handler "other"."""
    await server.start(LOOPBACK, WebConfig())
    for path in ("/nope", "/nope/again", "/-/healthy"):
        async with session.get(url(server, path)):
            pass
    async with session.get(url(server, "/-/healthy")) as resp:
        assert resp.status == 200
    async with session.get(url(server, "/x")) as resp:
        assert resp.status == 404
    sample = metrics.registry.get_sample_value
    assert sample("sentinel_http_requests_total", {"handler": "other", "code": "404"}) == 3
    assert sample("sentinel_http_requests_total", {"handler": "/-/healthy", "code": "200"}) == 2
    assert sample("sentinel_http_requests_total", {"handler": "/x", "code": "404"}) is None


async def test_basic_auth(
    server: WebServer, session: aiohttp.ClientSession, password_hash: str, metrics: Metrics
) -> None:
    """With users configured, only the right user and password get through."""
    await server.start(LOOPBACK, auth_config(password_hash))
    target = url(server, "/metrics")
    async with session.get(target) as resp:
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"] == 'Basic realm="sentinel"'
    async with session.get(target, headers=basic("alice", "wrong")) as resp:
        assert resp.status == 401
    async with session.get(target, headers=basic("mallory", PASSWORD)) as resp:
        assert resp.status == 401
    async with session.get(target, headers={"Authorization": "Basic !!notbase64"}) as resp:
        assert resp.status == 401
    for _ in range(2):  # the second request is answered from the verification cache
        async with session.get(target, headers=basic("alice", PASSWORD)) as resp:
            assert resp.status == 200
            assert "sentinel_build_info{" in await resp.text()
    sample = metrics.registry.get_sample_value
    assert sample("sentinel_http_requests_total", {"handler": "/metrics", "code": "401"}) == 4


async def test_basic_auth_covers_every_route(
    server: WebServer, session: aiohttp.ClientSession, password_hash: str
) -> None:
    """Health, readiness, the landing page and unknown paths all require auth too."""
    await server.start(LOOPBACK, auth_config(password_hash))
    for path in ("/", "/-/healthy", "/-/ready", "/nope"):
        async with session.get(url(server, path)) as resp:
            assert resp.status == 401, path
    async with session.get(url(server, "/-/healthy"), headers=basic("alice", PASSWORD)) as resp:
        assert resp.status == 200


async def test_custom_headers(server: WebServer, session: aiohttp.ClientSession) -> None:
    """Headers from http_server_config are added to every response, errors included."""
    headers = MappingProxyType({"X-Frame-Options": "deny", "X-Content-Type-Options": "nosniff"})
    await server.start(LOOPBACK, WebConfig(http_server_config=HTTPServerConfig(headers=headers)))
    for path in ("/metrics", "/-/healthy", "/nope"):
        async with session.get(url(server, path)) as resp:
            assert resp.headers["X-Frame-Options"] == "deny"
            assert resp.headers["X-Content-Type-Options"] == "nosniff"


async def test_tls_from_web_config_file(
    server: WebServer, session: aiohttp.ClientSession, cert: Cert
) -> None:
    """A web config file with relative cert paths serves HTTPS; plain HTTP is refused."""
    web = write_web_config(
        cert.directory,
        "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n"
        "http_server_config:\n  headers:\n    X-Frame-Options: deny\n",
    )
    await server.start(LOOPBACK, web)
    async with session.get(url(server, "/metrics", "https"), ssl=cert.client_context) as resp:
        assert resp.status == 200
        assert resp.headers["X-Frame-Options"] == "deny"
        assert "sentinel_build_info{" in await resp.text()
    with pytest.raises(aiohttp.ClientError):
        async with session.get(url(server, "/metrics")) as resp:
            await resp.read()


async def test_tls_with_basic_auth(
    server: WebServer, session: aiohttp.ClientSession, cert: Cert, password_hash: str
) -> None:
    """TLS and basic auth from one web config file work together."""
    web = write_web_config(
        cert.directory,
        "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n"
        f"basic_auth_users:\n  alice: '{password_hash}'\n",
    )
    await server.start(LOOPBACK, web)
    target = url(server, "/metrics", "https")
    async with session.get(target, ssl=cert.client_context) as resp:
        assert resp.status == 401
    async with session.get(
        target, ssl=cert.client_context, headers=basic("alice", "wrong")
    ) as resp:
        assert resp.status == 401
    async with session.get(
        target, ssl=cert.client_context, headers=basic("alice", PASSWORD)
    ) as resp:
        assert resp.status == 200


async def test_start_raises_on_bind_failure(server: WebServer) -> None:
    """start() raises OSError when the port is held by a socket without SO_REUSEPORT."""
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        with pytest.raises(OSError):
            await server.start(HostPort("127.0.0.1", port), WebConfig())
    assert server.addresses == []


async def test_apply_adds_auth_without_dropping_requests(
    server: WebServer, session: aiohttp.ClientSession, password_hash: str
) -> None:
    """Turning auth on keeps the socket: a client hammering the endpoint never fails to connect."""
    await server.start(LOOPBACK, WebConfig())
    before = server.addresses
    target = url(server, "/-/healthy")
    statuses: list[int] = []
    errors: list[BaseException] = []
    stop = asyncio.Event()

    async def hammer() -> None:
        deadline = time.monotonic() + 3
        # A new connection per request, so every request goes through accept().
        connector = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(connector=connector) as fresh:
            while not stop.is_set() and len(statuses) < 200 and time.monotonic() < deadline:
                try:
                    async with fresh.get(target) as resp:
                        statuses.append(resp.status)
                except aiohttp.ClientError as exc:
                    errors.append(exc)

    task = asyncio.create_task(hammer())
    while len(statuses) < 20 and not task.done():
        await asyncio.sleep(0.005)
    await server.apply(LOOPBACK, auth_config(password_hash))
    applied_at = len(statuses)
    while len(statuses) < applied_at + 20 and not task.done():
        await asyncio.sleep(0.005)
    stop.set()
    await task
    assert errors == []
    assert server.addresses == before
    assert statuses[0] == 200
    assert statuses[-1] == 401
    assert set(statuses) == {200, 401}
    async with session.get(target, headers=basic("alice", PASSWORD)) as resp:
        assert resp.status == 200


async def test_apply_moves_to_new_port(server: WebServer) -> None:
    """apply() to another port serves there and stops serving on the old one."""
    await server.start(LOOPBACK, WebConfig())
    old = url(server, "/-/healthy")
    new_port = free_port()
    async with aiohttp.ClientSession() as session:
        async with session.get(old) as resp:
            assert resp.status == 200
        await server.apply(HostPort("127.0.0.1", new_port), WebConfig())
        assert server.addresses == [("127.0.0.1", new_port)]
        async with session.get(url(server, "/-/healthy")) as resp:
            assert resp.status == 200
        with pytest.raises(aiohttp.ClientConnectionError):
            async with session.get(old) as resp:
                await resp.read()


async def test_apply_failure_keeps_old_endpoint(
    server: WebServer, session: aiohttp.ClientSession, password_hash: str
) -> None:
    """apply() to an address that cannot be bound raises OSError and changes nothing."""
    await server.start(LOOPBACK, WebConfig())
    before = server.addresses
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        with pytest.raises(OSError):
            await server.apply(HostPort("127.0.0.1", port), auth_config(password_hash))
    assert server.addresses == before
    async with session.get(url(server, "/-/healthy")) as resp:
        assert resp.status == 200  # the old settings (no auth) still apply


async def test_apply_same_port_to_tls(
    server: WebServer, session: aiohttp.ClientSession, cert: Cert
) -> None:
    """Switching an explicit port from HTTP to HTTPS rebinds the same port with TLS."""
    await server.start(LOOPBACK, WebConfig())
    [(_, port)] = server.addresses
    listen = HostPort("127.0.0.1", port)
    web = write_web_config(
        cert.directory, "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n"
    )
    await server.apply(listen, web)
    assert server.addresses == [("127.0.0.1", port)]
    async with session.get(url(server, "/-/healthy", "https"), ssl=cert.client_context) as resp:
        assert resp.status == 200


async def test_apply_renewed_certificate(server: WebServer, cert: Cert) -> None:
    """A certificate renewed in place is served after apply() with an unchanged config."""
    web = write_web_config(
        cert.directory, "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n"
    )
    await server.start(LOOPBACK, web)
    [(_, port)] = server.addresses
    listen = HostPort("127.0.0.1", port)
    await server.apply(listen, web)
    renewed = make_cert(cert.directory)
    await server.apply(listen, web)
    assert server.addresses == [("127.0.0.1", port)]
    async with aiohttp.ClientSession() as fresh:
        async with fresh.get(url(server, "/", "https"), ssl=renewed.client_context) as resp:
            assert resp.status == 200
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            async with fresh.get(url(server, "/", "https"), ssl=cert.client_context) as resp:
                await resp.read()


async def test_listen_on_host_name(server: WebServer, session: aiohttp.ClientSession) -> None:
    """A host name is resolved and every address it names is bound."""
    await server.start(HostPort("localhost", 0), WebConfig())
    assert server.addresses
    for host, port in server.addresses:
        literal = f"[{host}]" if ":" in host else host
        async with session.get(f"http://{literal}:{port}/-/healthy") as resp:
            assert resp.status == 200
