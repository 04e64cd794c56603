"""No configured secret ever leaves the daemon: a whole run is scanned for every one.

The daemon runs in a network namespace with every secret it knows configured (SNMP v2c
community, v3 auth and privacy passphrases, the Alertmanager basic-auth password, the
webhook's HMAC key, the SMTP password, the site key), from files, the environment and
inline. A recorded SYN scan is replayed onto its LAN interface, so it raises an alert
that goes to a local Alertmanager receiver, a webhook and an SMTP server (STARTTLS);
its switches do not answer; a broken config is reloaded. Then everything the run wrote
is read: the daemon's whole output (stdout and stderr), /metrics, the index page, every
request body and header the receivers got (bar the Authorization header, which carries
the password by design), every mail, and every file in the state directory (outbox,
evidence, SNMP counter state, census). None may hold a secret, in clear, hex or base64.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.alerting.conftest import self_signed
from tests.conftest import DATA, needs_netns, needs_tools
from tests.helpers import free_port

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [
    needs_netns,
    needs_tools("tcpreplay", package="tcpreplay"),
    pytest.mark.timeout(120),
]

ROOT = Path(__file__).resolve().parents[1]
SCAN = DATA / "reference" / "syn_scan_vertical.pcap"

SECRETS = {
    "snmp community": "c0mmunity-Zq7-v2c",
    "snmp v3 auth": "authPass-Xk4-s3cret",
    "snmp v3 priv": "privPass-Wm9-s3cret",
    "alertmanager password": "amBasic-Jt2-s3cret",
    "webhook key": "hookHmac-Rv8-s3cret-0123",
    "smtp password": "smtpPass-Lp5-s3cret",
    "site key": "siteKey-Hn3-s3cret-0123456789",
}
SMTP_USER = "sentinel"


def forms(secret: str) -> list[bytes]:
    """The ways a secret could leak: as is, hex, base64 (alone, not inside user:pass)."""
    raw = secret.encode()
    return [raw, raw.hex().encode(), base64.b64encode(raw), base64.b64encode(raw).rstrip(b"=")]


def sh(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


# -- the receivers, run inside the namespace: python -c "...serve(...)" -------------------


def serve(out: str, http_port: int, smtp_port: int, cert: str, key: str) -> None:
    """An HTTP receiver (Alertmanager API and webhook) and an SMTP server (STARTTLS, AUTH)
    on 127.0.0.1 that write everything they get into ``out``."""
    asyncio.run(_serve(Path(out), http_port, smtp_port, cert, key))


async def _serve(out: Path, http_port: int, smtp_port: int, cert: str, key: str) -> None:
    from aiohttp import web
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    async def handle(request: web.Request) -> web.Response:
        record = {
            "path": request.path,
            "headers": dict(request.headers),
            "body": (await request.read()).decode("utf-8", "replace"),
        }
        with (out / "http.jsonl").open("a") as f:
            f.write(json.dumps(record) + "\n")
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", http_port).start()

    class Handler:
        n = 0

        async def handle_DATA(self, srv: Any, session: Any, envelope: Any) -> str:
            Handler.n += 1
            (out / f"mail-{Handler.n}.eml").write_bytes(bytes(envelope.original_content))
            return "250 OK"

    def auth(srv: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        ok = isinstance(data, LoginPassword) and data.password.decode() == SECRETS["smtp password"]
        return AuthResult(success=ok)

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    controller = Controller(
        Handler(),
        hostname="127.0.0.1",
        port=smtp_port,
        tls_context=ctx,
        require_starttls=True,
        authenticator=auth,
        auth_required=True,
    )
    controller.start()
    (out / "ready").write_text("1")
    try:
        await asyncio.Event().wait()
    finally:
        controller.stop()


# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture
def work() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="sentinel-secrets-"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def lan() -> Iterator[tuple[str, str]]:
    """Namespace A (sentinel and the receivers, lan0) and B (the scanner, peer0)."""
    tag = str(os.getpid() % 100000)
    a, b = f"snsec-a-{tag}", f"snsec-b-{tag}"
    try:
        for ns in (a, b):
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", a, "link", "add", "lan0", "type", "veth", "peer", "name", "peer0",
           "netns", b)  # fmt: skip
        for ns, dev in ((a, "lan0"), (b, "peer0")):
            sh("ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv6.conf.{dev}.disable_ipv6=1")
            sh("ip", "-n", ns, "link", "set", dev, "up")
        yield a, b
    finally:
        for ns in (a, b):
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)


def write_config(work: Path, port: int, http_port: int, smtp_port: int, ca: Path) -> Path:
    secrets_dir = work / "secrets"
    secrets_dir.mkdir(mode=0o700)
    for name in ("site key", "snmp v3 priv", "smtp password"):
        f = secrets_dir / name.replace(" ", "-")
        f.write_text(SECRETS[name] + "\n")
        f.chmod(0o600)
    silent1, silent2 = free_port(), free_port()
    cfg = work / "sentinel.yaml"
    cfg.write_text(
        f"""
site: bs-secrets
listen: 127.0.0.1:{port}
state_dir: {work / "state"}
local: {{enabled: false}}
privacy:
  key: {{file: {secrets_dir / "site-key"}}}
snmp:
  defaults: {{interval: 5s, timeout: 1s, retries: 0}}
  auths:
    v3:
      version: 3
      user: sentinel
      auth: {{protocol: SHA-256, passphrase: {{env: SENTINEL_TEST_SNMP_AUTH}}}}
      priv: {{protocol: AES, passphrase: {{file: {secrets_dir / "snmp-v3-priv"}}}}}
    v2:
      version: 2c
      community: "{SECRETS["snmp community"]}"
  switches:
    - {{name: core, address: "127.0.0.1:{silent1}", auth: v3}}
    - {{name: gym, address: "127.0.0.1:{silent2}", auth: v2}}
capture: {{interface: lan0, networks: [10.77.0.0/24], ring_size_mb: 8}}
alerting:
  alertmanager:
    urls: ["http://127.0.0.1:{http_port}/"]
    username: bs-secrets
    password: "{SECRETS["alertmanager password"]}"
    insecure: true
    timeout: 5s
  webhook:
    url: http://127.0.0.1:{http_port}/hook
    secret: "{SECRETS["webhook key"]}"
    insecure: true
  email:
    smtp: 127.0.0.1:{smtp_port}
    sender: sentinel@school.example
    to: [ict@school.example]
    tls: starttls
    ca_file: {ca}
    username: {SMTP_USER}
    password: {{file: {secrets_dir / "smtp-password"}}}
    language: en
    timeout: 10s
  outbox: {{retry_initial: 100ms, retry_max: 2s}}
"""
    )
    return cfg


def wait_for(check: Any, what: str, timeout: float = 40.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"never happened: {what}")


def fetch(ns: str, url: str) -> str:
    code = (
        "import urllib.request,sys;sys.stdout.write(urllib.request.urlopen("
        f"{url!r},timeout=5).read().decode())"
    )
    return sh("ip", "netns", "exec", ns, sys.executable, "-c", code)


def test_no_secret_in_anything_a_run_writes(lan: tuple[str, str], work: Path) -> None:
    """Logs, /metrics, alert payloads, mails and state files of a whole run hold no secret."""
    a, b = lan
    port, http_port, smtp_port = free_port(), free_port(), free_port()
    out = work / "received"
    out.mkdir()
    cert, key = self_signed(work)
    cfg = write_config(work, port, http_port, smtp_port, cert)
    receivers = subprocess.Popen(
        ["ip", "netns", "exec", a, sys.executable, "-c",
         "from tests.test_secrets_scan import serve; "
         f"serve({str(out)!r}, {http_port}, {smtp_port}, {str(cert)!r}, {str(key)!r})"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    env = {
        **os.environ,
        "SENTINEL_TEST_SNMP_AUTH": SECRETS["snmp v3 auth"],
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("JOURNAL_STREAM", None)
    daemon = subprocess.Popen(
        ["ip", "netns", "exec", a, sys.executable, "-m", "sentinel", "run", "--config", str(cfg)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    pages: list[str] = []
    try:
        wait_for(lambda: (out / "ready").exists(), "receivers ready", 20)
        wait_for(
            lambda: (
                "sentinel_lan_kernel_drops_total"
                in _try(fetch, a, f"http://127.0.0.1:{port}/metrics")
            ),
            "capture running",
        )
        sh("ip", "netns", "exec", b, "tcpreplay", "-q", "-i", "peer0", "--pps=3000", str(SCAN))

        def delivered() -> bool:
            http = _http(out)
            return (
                any(r["path"] == "/hook" for r in http)
                and any(r["path"].endswith("/api/v2/alerts") for r in http)
                and any(out.glob("mail-*.eml"))
            )

        wait_for(delivered, "the scan alert at all three receivers")
        good = cfg.read_text()
        cfg.write_text(good + "\nsnmp: [broken\n")
        daemon.send_signal(signal.SIGHUP)
        time.sleep(2.0)
        cfg.write_text(good)
        time.sleep(6.0)  # switch polls fail at least once more
        pages.append(fetch(a, f"http://127.0.0.1:{port}/metrics"))
        pages.append(fetch(a, f"http://127.0.0.1:{port}/"))
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            stdout, stderr = daemon.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            daemon.kill()
            stdout, stderr = daemon.communicate()
        receivers.terminate()
        receivers.wait(10)

    log = stdout + stderr
    # The run did what the scan is about: alerts, evidence, polling errors, a failed reload.
    assert b"port_scan" in log or any("port_scan" in r["body"] for r in _http(out))
    assert b"reload failed" in log, log.decode()[-3000:]
    assert b"core" in log  # the silent v3 switch was polled and logged
    evidence = list((work / "state").rglob("*.pcap"))
    assert evidence
    # Authorization carried the password (so it was configured and used), nothing else did.
    auths = [r["headers"].get("Authorization", "") for r in _http(out)]
    assert f"bs-secrets:{SECRETS['alertmanager password']}".encode() in [
        base64.b64decode(h.removeprefix("Basic ")) for h in auths if h.startswith("Basic ")
    ]

    places: dict[str, bytes] = {"daemon output": log}
    places |= {f"page {i}": p.encode() for i, p in enumerate(pages)}
    for i, r in enumerate(_http(out)):
        headers = {k: v for k, v in r["headers"].items() if k.lower() != "authorization"}
        places[f"request {i} to {r['path']}"] = json.dumps(headers).encode() + r["body"].encode()
    for mail in sorted(out.glob("mail-*.eml")):
        places[mail.name] = mail.read_bytes()
    for f in sorted((work / "state").rglob("*")):
        if f.is_file():
            places[str(f.relative_to(work))] = f.read_bytes()
    leaks = [
        f"{name} in {where}"
        for where, data in places.items()
        for name, secret in SECRETS.items()
        if any(form in data for form in forms(secret))
    ]
    assert leaks == []
    assert any(where.startswith("state/alerts") for where in places)  # the outbox was read
    assert sum(where.startswith("mail-") for where in places) >= 1


def _http(out: Path) -> list[dict[str, Any]]:
    path = out / "http.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _try(fn: Any, *args: Any) -> str:
    try:
        return str(fn(*args))
    except subprocess.CalledProcessError:
        return ""
