"""Real receivers on loopback: Alertmanager, an SMTP server with STARTTLS and AUTH, a webhook."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import json
import shutil
import ssl
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
from aiohttp import web

from sentinel.model import Alert, Endpoint, Severity
from tests.conftest import needs_tools
from tests.helpers import free_port

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from pathlib import Path

ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
AMTOOL = shutil.which("amtool")
needs_alertmanager = pytest.mark.skipif(
    ALERTMANAGER is None,
    reason="needs prometheus-alertmanager (Debian package prometheus-alertmanager)",
)
needs_amtool = needs_tools("amtool", package="prometheus-alertmanager")


def make_alert(identifier: str = "pseudo-1a2b", **kw: Any) -> Alert:
    """A port scan alert with plausible fields; keywords override any of them."""
    now = time.time()
    base: dict[str, Any] = {
        "detector": "port_scan",
        "severity": Severity.WARNING,
        "identifier": identifier,
        "summary": f"{identifier} probed 40 ports on 10.20.0.5",
        "first_seen": now - 60,
        "last_seen": now,
        "source": Endpoint(ip=identifier, mac="m-" + identifier),
        "target": "10.20.0.5",
        "counts": (("ports", 40),),
        "description": "vertical scan",
        "evidence": f"evidence/{identifier}.pcap",
    }
    base.update(kw)
    return Alert(**base)


async def wait_for(predicate: Any, timeout: float = 20.0, step: float = 0.1) -> None:
    """Poll ``predicate`` (sync, run in a thread) until true; fail after ``timeout``."""
    end = time.monotonic() + timeout
    while not await asyncio.to_thread(predicate):
        if time.monotonic() > end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(step)


# -- Alertmanager ------------------------------------------------------------------------

ROUTE_TO_HOOK = """
route:
  receiver: hook
  group_by: [site, alertname, identifier]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: "http://127.0.0.1:{hook_port}/am"
        send_resolved: true
"""


class AlertmanagerProc:
    """``prometheus-alertmanager`` on one fixed loopback port, startable and stoppable."""

    def __init__(self, tmp: Path, config: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.dir = tmp
        tmp.mkdir(parents=True, exist_ok=True)
        self.config = tmp / "alertmanager.yml"
        self.config.write_text(config)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert ALERTMANAGER is not None
        self.log = (self.dir / "am.log").open("ab")
        self.proc = subprocess.Popen(
            [
                ALERTMANAGER,
                f"--config.file={self.config}",
                f"--storage.path={self.dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",
                "--log.level=warn",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        end = time.monotonic() + 15
        while time.monotonic() < end:
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"{self.url}/-/ready", timeout=1).close()  # noqa: S310
                return
            time.sleep(0.1)
        raise AssertionError("alertmanager did not become ready")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
            self.proc = None
            self.log.close()

    def alerts(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"{self.url}/api/v2/alerts", timeout=5) as r:  # noqa: S310
            data: list[dict[str, Any]] = json.load(r)
            return data


@dataclass
class Recorder:
    """What a loopback HTTP receiver got: (headers, body) per request."""

    port: int
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    status: int = 200

    def json(self) -> list[Any]:
        return [json.loads(b) for _, b in self.requests]


@contextlib.asynccontextmanager
async def http_receiver(path: str) -> AsyncIterator[Recorder]:
    """A tiny aiohttp server on 127.0.0.1 recording every POST to ``path``."""
    rec = Recorder(free_port())

    async def handle(request: web.Request) -> web.Response:
        rec.requests.append((dict(request.headers), await request.read()))
        return web.Response(status=rec.status, text="ok")

    app = web.Application()
    app.router.add_post(path, handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", rec.port)
    await site.start()
    try:
        yield rec
    finally:
        await runner.cleanup()


@pytest.fixture
async def am_hook() -> AsyncIterator[Recorder]:
    """The receiver Alertmanager notifies (webhook_configs), to see what it sends on."""
    async with http_receiver("/am") as rec:
        yield rec


@pytest.fixture
def alertmanager(tmp_path: Path, am_hook: Recorder) -> Iterator[AlertmanagerProc]:
    """A running Alertmanager that forwards every group to ``am_hook``."""
    if ALERTMANAGER is None:
        pytest.skip("needs prometheus-alertmanager (Debian package prometheus-alertmanager)")
    am = AlertmanagerProc(tmp_path / "am", ROUTE_TO_HOOK.format(hook_port=am_hook.port))
    am.start()
    try:
        yield am
    finally:
        am.stop()


# -- TLS and SMTP --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def tls_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (and localhost) and its key, as PEM files."""
    return self_signed(tmp_path_factory.mktemp("tls"))


def self_signed(d: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost and its key, PEM files in d."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = d / "cert.pem", d / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


SMTP_USER, SMTP_PASSWORD = "sentinel", "correct horse battery"


@dataclass
class SmtpServer:
    """An aiosmtpd server on loopback and the messages it accepted."""

    port: int
    messages: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    tls_seen: list[bool] = field(default_factory=list)


@contextlib.contextmanager
def smtp_server(tls_pair: tuple[Path, Path] | None, auth: bool = True) -> Iterator[SmtpServer]:
    """aiosmtpd with STARTTLS required and AUTH (when ``tls_pair``), in its own thread."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    server = SmtpServer(free_port())

    class Handler:
        async def handle_DATA(self, srv: Any, session: Any, envelope: Any) -> str:
            server.tls_seen.append(session.ssl is not None)
            server.messages.append(
                (envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.original_content))
            )
            return "250 OK"

    def authenticator(srv: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        ok = isinstance(data, LoginPassword) and (
            data.login.decode(),
            data.password.decode(),
        ) == (SMTP_USER, SMTP_PASSWORD)
        if ok:
            server.logins.append(data.login.decode())
        return AuthResult(success=ok)

    kwargs: dict[str, Any] = {}
    if tls_pair is not None:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(str(tls_pair[0]), str(tls_pair[1]))
        kwargs = {"tls_context": ctx, "require_starttls": True}
    if auth:
        kwargs |= {"authenticator": authenticator, "auth_required": True}
    controller = Controller(Handler(), hostname="127.0.0.1", port=server.port, **kwargs)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()
