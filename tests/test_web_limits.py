"""The HTTP endpoint holds against bad clients: body and header bounds, slow clients,
a connection cap; in-process with raw sockets, and a real daemon under ``wrk``."""

from __future__ import annotations

import asyncio
import contextlib
import re
import selectors
import socket
import ssl
import subprocess
import time
from typing import TYPE_CHECKING

import aiohttp
import pytest
from prometheus_client import CollectorRegistry, Gauge

from sentinel import web
from sentinel.config import HostPort, WebConfig
from sentinel.metrics import Metrics
from sentinel.web import WebServer
from tests.conftest import require_tools
from tests.helpers import Daemon, free_port, get, running, sample
from tests.test_web import Cert, make_cert, write_web_config

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from pathlib import Path

LOOPBACK = HostPort("127.0.0.1", 0)
HEALTHY = b"GET /-/healthy HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
REJECTED = "sentinel_http_rejected_connections_total"


@pytest.fixture
def metrics() -> Metrics:
    """A fresh metrics registry without process collectors."""
    return Metrics(CollectorRegistry(), process=False)


@pytest.fixture
async def port(metrics: Metrics, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[int]:
    """A web server on loopback with a 2 s head deadline and a cap of 8 connections."""
    monkeypatch.setattr(web, "HEAD_TIMEOUT", 2.0)
    monkeypatch.setattr(web, "MAX_CONNECTIONS", 8)
    server = WebServer(metrics, ready=lambda: True)
    await server.start(LOOPBACK, WebConfig())
    yield server.addresses[0][1]
    await server.stop()


def rejected(metrics: Metrics, reason: str) -> float:
    value = metrics.registry.get_sample_value(REJECTED, {"reason": reason})
    assert value is not None
    return value


async def exchange(port: int, data: bytes, *, closes: bool = False) -> tuple[bytes, bool]:
    """Send ``data`` on a new connection: what came back, and (asked with ``closes``)
    whether the server then closed it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        answer = await read_response(reader)
        if not closes:
            return answer, False
        try:
            closed = await asyncio.wait_for(reader.read(1), 5) == b""
        except (TimeoutError, ConnectionError):
            closed = False
        return answer, closed
    finally:
        writer.close()


async def read_response(reader: asyncio.StreamReader) -> bytes:
    """One HTTP/1.1 response with a Content-Length, or what arrived before the close."""
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    except asyncio.IncompleteReadError as exc:
        return exc.partial
    except ConnectionError:
        return b""
    found = re.search(rb"(?i)content-length: *(\d+)", head)
    body = await reader.readexactly(int(found.group(1))) if found else b""
    return head + body


async def wait_closed(reader: asyncio.StreamReader, within: float) -> bool:
    """Whether the server closes the connection within ``within`` seconds."""
    try:
        return await asyncio.wait_for(reader.read(), within) == b""
    except ConnectionError:
        return True
    except TimeoutError:
        return False


@pytest.mark.parametrize(
    "request_bytes",
    [
        pytest.param(
            b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n", id="declared"
        ),
        pytest.param(
            b"GET /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
            id="chunked",
        ),
    ],
)
async def test_body_over_limit_is_413_and_closed(
    port: int, metrics: Metrics, request_bytes: bytes
) -> None:
    """A body over 64 KiB (or of unknown length) is answered 413 without being read, and
    the connection is closed rather than drained."""
    answer, closed = await exchange(port, request_bytes, closes=True)
    assert answer.startswith(b"HTTP/1.1 413 "), answer
    assert closed
    assert metrics.registry.get_sample_value(
        "sentinel_http_requests_total", {"handler": "/metrics", "code": "413"}
    )


async def test_small_body_is_ignored(port: int) -> None:
    """A GET with a small body that arrived whole is served as usual."""
    answer, _ = await exchange(
        port, b"GET /-/healthy HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
    )
    assert answer.startswith(b"HTTP/1.1 200 "), answer
    assert answer.endswith(b"Healthy\n")


@pytest.mark.parametrize(
    "request_bytes",
    [
        pytest.param(
            b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", id="field"
        ),
        pytest.param(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", id="line"),
        pytest.param(
            b"GET / HTTP/1.1\r\nHost: x\r\n"
            + b"".join(b"X-%d: y\r\n" % i for i in range(200))
            + b"\r\n",
            id="count",
        ),
    ],
)
async def test_huge_head_is_refused(
    port: int, request_bytes: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    """A header value or request line over 8190 bytes, or 200 headers, is a 400 and the
    connection is closed; the client's fault logs no traceback."""
    answer, closed = await exchange(port, request_bytes, closes=True)
    assert re.match(rb"HTTP/1\.[01] (400|413|414|431) ", answer), answer
    assert closed
    assert not [r for r in caplog.records if r.exc_info], caplog.text


async def test_slow_head_is_dropped(port: int, metrics: Metrics) -> None:
    """A client that sends nothing, or its head a line at a time, is dropped at the head
    deadline; one that sent its head in time is not."""
    silent = await asyncio.open_connection("127.0.0.1", port)
    drip = await asyncio.open_connection("127.0.0.1", port)
    good = await asyncio.open_connection("127.0.0.1", port)
    good[1].write(HEALTHY)
    assert (await read_response(good[0])).endswith(b"Healthy\n")
    drip[1].write(b"GET /metrics HTTP/1.1\r\n")

    async def dribble() -> None:
        with contextlib.suppress(ConnectionError):
            for i in range(100):  # bounded: 10 s at most
                drip[1].write(b"X-%d: y\r\n" % i)
                await drip[1].drain()
                await asyncio.sleep(0.1)

    task = asyncio.create_task(dribble())
    try:
        assert await wait_closed(silent[0], 10)
        assert await wait_closed(drip[0], 10)
    finally:
        task.cancel()
    assert rejected(metrics, "head_timeout") == 2
    # Past the deadline the kept-alive connection still serves.
    good[1].write(HEALTHY)
    assert (await read_response(good[0])).endswith(b"Healthy\n")
    for _, writer in (silent, drip, good):
        writer.close()


async def test_tls_handshake_never_finished_is_dropped(
    metrics: Metrics, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """On a TLS endpoint, a client that connects and never starts the handshake is dropped
    at the head deadline, and its slot is free again."""
    monkeypatch.setattr(web, "HEAD_TIMEOUT", 2.0)
    monkeypatch.setattr(web, "MAX_CONNECTIONS", 1)
    cert = make_cert(tmp_path)
    tls = write_web_config(
        tmp_path, "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n"
    )
    server = WebServer(metrics, ready=lambda: True)
    await server.start(LOOPBACK, tls)
    try:
        tls_port = server.addresses[0][1]
        reader, writer = await asyncio.open_connection("127.0.0.1", tls_port)
        assert await wait_closed(reader, 10)
        writer.close()
        assert rejected(metrics, "head_timeout") == 1
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", tls_port, ssl=cert.client_context
        )
        writer.write(HEALTHY)
        assert (await read_response(reader)).endswith(b"Healthy\n")
        writer.close()
    finally:
        await server.stop()


async def test_connection_cap(port: int, metrics: Metrics) -> None:
    """Beyond the cap a new connection gets a 503 and is closed, while the open ones keep
    being served; once one closes, a new connection is served again."""
    held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(8)]
    for reader, writer in held:
        writer.write(HEALTHY)
        assert (await read_response(reader)).endswith(b"Healthy\n")
    answer, closed = await exchange(port, HEALTHY, closes=True)
    assert answer.startswith(b"HTTP/1.1 503 ") or answer == b"", answer
    assert closed
    assert rejected(metrics, "connection_limit") == 1
    reader, writer = held[0]
    writer.write(HEALTHY)
    assert (await read_response(reader)).endswith(b"Healthy\n")
    held[1][1].close()
    await held[1][1].wait_closed()
    for _ in range(50):  # the server sees the close within a loop turn or two
        answer, _ = await exchange(port, HEALTHY)
        if answer.startswith(b"HTTP/1.1 200 "):
            break
        await asyncio.sleep(0.1)
    assert answer.startswith(b"HTTP/1.1 200 "), answer
    for _, w in held:
        w.close()


async def test_stalled_reader_is_dropped(
    port: int, metrics: Metrics, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client that asks for a large page and stops reading it is dropped once the
    response has waited unread for the stall timeout; a client that reads is served whole."""
    monkeypatch.setattr(web, "STALL_TIMEOUT", 2.0)
    padding = Gauge("padding", "Makes the page large.", ["label"], registry=metrics.registry)
    for i in range(20_000):
        padding.labels("x" * 1000 + str(i)).set(i)
    url = f"http://127.0.0.1:{port}/metrics"
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        page = await resp.read()
    assert len(page) > 20_000_000
    assert rejected(metrics, "stalled_reader") == 0
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=1024)
    try:
        writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        for _ in range(200):  # bounded: 20 s
            if rejected(metrics, "stalled_reader"):
                break
            await asyncio.sleep(0.1)
        assert rejected(metrics, "stalled_reader") == 1
        received = 0
        with contextlib.suppress(ConnectionError):
            while chunk := await asyncio.wait_for(reader.read(1 << 20), 10):
                received += len(chunk)
        assert received < len(page)
    finally:
        writer.close()


async def tls_server(metrics: Metrics, tmp_path: Path, extra: str) -> WebServer:
    """A started TLS endpoint on loopback with the server certificate in ``tmp_path/server``
    and ``extra`` lines added to its tls_server_config."""
    (tmp_path / "server").mkdir()
    make_cert(tmp_path / "server")
    tls = write_web_config(
        tmp_path,
        "tls_server_config:\n  cert_file: server/cert.pem\n  key_file: server/key.pem\n" + extra,
    )
    server = WebServer(metrics, ready=lambda: True)
    await server.start(LOOPBACK, tls)
    return server


async def healthy_over_tls(port: int, context: ssl.SSLContext) -> bool:
    """Whether /-/healthy answers 200 over TLS with ``context``."""
    url = f"https://127.0.0.1:{port}/-/healthy"
    try:
        async with aiohttp.ClientSession() as session, session.get(url, ssl=context) as resp:
            return resp.status == 200 and await resp.text() == "Healthy\n"
    except aiohttp.ClientError:
        return False


async def test_client_certificate_required_when_configured(
    metrics: Metrics, tmp_path: Path
) -> None:
    """With client_auth_type RequireAndVerifyClientCert, a client without a certificate or
    with one from another CA is refused; one with a certificate from client_ca_file is served."""
    for name in ("client", "stranger"):
        (tmp_path / name).mkdir()
    client = make_cert(tmp_path / "client")
    stranger = make_cert(tmp_path / "stranger")
    server = await tls_server(
        metrics,
        tmp_path,
        "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: client/cert.pem\n",
    )
    try:
        tls_port = server.addresses[0][1]
        trust = (tmp_path / "server" / "cert.pem").read_text()

        def context(cert: Cert | None) -> ssl.SSLContext:
            ctx = ssl.create_default_context(cadata=trust)
            if cert is not None:
                ctx.load_cert_chain(cert.cert_file, cert.key_file)
            return ctx

        assert not await healthy_over_tls(tls_port, context(None))
        assert not await healthy_over_tls(tls_port, context(stranger))
        assert await healthy_over_tls(tls_port, context(client))
    finally:
        await server.stop()


async def test_tls_min_version_enforced(metrics: Metrics, tmp_path: Path) -> None:
    """With min_version TLS13, a client that speaks at most TLS 1.2 is refused."""
    server = await tls_server(metrics, tmp_path, "  min_version: TLS13\n")
    try:
        tls_port = server.addresses[0][1]
        trust = (tmp_path / "server" / "cert.pem").read_text()
        old = ssl.create_default_context(cadata=trust)
        old.maximum_version = ssl.TLSVersion.TLSv1_2
        assert not await healthy_over_tls(tls_port, old)
        assert await healthy_over_tls(tls_port, ssl.create_default_context(cadata=trust))
    finally:
        await server.stop()


# A real daemon under wrk.


@contextlib.contextmanager
def daemon(tmp_path: Path) -> Iterator[tuple[Daemon, str]]:
    """``sentinel run`` with the built-in defaults on a free loopback port, once healthy."""
    port = free_port()
    env = {"STATE_DIRECTORY": str(tmp_path / "state")}
    with running(["--listen", f"127.0.0.1:{port}"], env) as d:
        base = f"http://127.0.0.1:{port}"
        for _ in range(150):  # bounded: 15 s
            with contextlib.suppress(OSError):
                if get(f"{base}/-/healthy", timeout=1)[0] == 200:
                    break
            time.sleep(0.1)
        yield d, base


def wrk(url: str, connections: int, seconds: int) -> dict[str, float]:
    """Run wrk against ``url``: its figures (requests, errors, non-2xx) and its output."""
    require_tools("wrk", package="wrk")
    threads = 2
    out = subprocess.run(
        [
            "wrk",
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{seconds}s",
            "--timeout",
            "20s",
            "--latency",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    ).stdout
    print(out)  # the figures, for docs/RELIABILITY.md when run with -s
    requests = re.search(r"(\d+) requests in", out)
    assert requests, out
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "requests": float(requests.group(1)),
        "errors": float(sum(int(g) for g in errors.groups())) if errors else 0.0,
        "non2xx": float(non2xx.group(1)) if non2xx else 0.0,
    }


class Slowloris:
    """Sockets that never finish their request head: half silent, half dripping a header
    line every 0.5 s. ``poll`` notes which the server has closed."""

    def __init__(self, host: str, port: int, count: int) -> None:
        self.sel = selectors.DefaultSelector()
        self.open: dict[socket.socket, bool] = {}  # socket -> drips
        for i in range(count):
            sock = socket.create_connection((host, port), timeout=5)
            sock.setblocking(False)
            drips = i % 2 == 1
            if drips:
                sock.send(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            self.open[sock] = drips
            self.sel.register(sock, selectors.EVENT_READ)
        self.closed = 0
        self._next_drip = time.monotonic()

    def poll(self, timeout: float) -> None:
        for key, _ in self.sel.select(timeout):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            try:
                data = sock.recv(4096)
            except (ConnectionError, BlockingIOError):
                data = b""
            if not data:
                self._close(sock)
        if time.monotonic() >= self._next_drip:
            self._next_drip += 0.5
            for sock, drips in list(self.open.items()):
                if drips:
                    try:
                        sock.send(b"X-Slow: y\r\n")
                    except OSError:
                        self._close(sock)

    def _close(self, sock: socket.socket) -> None:
        if sock in self.open:
            del self.open[sock]
            self.sel.unregister(sock)
            sock.close()
            self.closed += 1

    def close(self) -> None:
        for sock in list(self.open):
            self._close(sock)
        self.sel.close()


@pytest.mark.timeout(120)
def test_slowloris_under_wrk_load(tmp_path: Path) -> None:
    """While wrk -c 200 scrapes /metrics, 40 sockets that never finish their head are all
    closed by the deadline; wrk sees no socket error and no error status; the daemon stays
    up and answers at once afterwards."""
    require_tools("wrk", package="wrk")
    with daemon(tmp_path) as (d, base):
        loris = Slowloris("127.0.0.1", int(base.rsplit(":", 1)[1]), 40)
        try:
            started = time.monotonic()
            load = subprocess.Popen(
                [
                    "wrk",
                    "-t",
                    "2",
                    "-c",
                    "200",
                    "-d",
                    "5s",
                    "--timeout",
                    "20s",
                    "--latency",
                    f"{base}/metrics",
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            while loris.open and time.monotonic() - started < 30:  # bounded
                loris.poll(0.1)
            assert not loris.open, f"{len(loris.open)} slow sockets still open after 30 s"
            print(
                f"slowloris: {loris.closed} closed, the last {time.monotonic() - started:.1f} s in"
            )
            out, _ = load.communicate(timeout=60)
        finally:
            loris.close()
        print(out)
        assert re.search(r"\d+ requests in", out), out
        assert "Socket errors" not in out, out
        assert "Non-2xx" not in out, out
        assert d.proc.poll() is None
        assert get(f"{base}/-/healthy", timeout=5)[0] == 200
        body = get(f"{base}/metrics")[2]
        assert (sample(body, REJECTED, reason="head_timeout") or 0) >= 40
        assert sample(body, REJECTED, reason="connection_limit") == 0


@pytest.mark.timeout(120)
def test_beyond_connection_cap_under_wrk(tmp_path: Path) -> None:
    """wrk with more connections than the cap gets some of them refused while the others
    are served, and once the load ends a new connection is served."""
    require_tools("wrk", package="wrk")
    with daemon(tmp_path) as (d, base):
        figures = wrk(f"{base}/-/healthy", web.MAX_CONNECTIONS + 144, 3)
        assert figures["requests"] > 0
        assert figures["errors"] + figures["non2xx"] > 0, figures
        assert d.proc.poll() is None
        # wrk's closes may still be in flight: the first new connection can be over the cap.
        status = 0
        for _ in range(50):  # bounded: 5 s
            with contextlib.suppress(OSError):  # a refusal may come as a reset
                status = get(f"{base}/-/healthy", timeout=5)[0]
            if status == 200:
                break
            time.sleep(0.1)
        assert status == 200
        body = get(f"{base}/metrics")[2]
        refused = sample(body, REJECTED, reason="connection_limit") or 0
        print(f"connections refused over the cap: {refused:.0f}")
        assert refused > 0
