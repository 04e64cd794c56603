"""``GET /probe`` on a running daemon, name for name against the real blackbox_exporter."""

from __future__ import annotations

import base64
import contextlib
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING

import bcrypt
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import require_tools
from tests.helpers import free_port, get, running
from tests.probes.netns import daemon_in, get_in, namespaces, sh
from tests.probes.servers import dnsmasq, make_cert, stop, web_server

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.helpers import Daemon

pytestmark = pytest.mark.timeout(120)

BLACKBOX = "prometheus-blackbox-exporter"
ENV = {"SENTINEL_NO_DEFAULT_PROBES": "1"}
# What sentinel's /probe leaves out of blackbox_exporter's answer (docs/PROBES.md says why).
ONLY_BLACKBOX = {"probe_ssl_last_chain_info"}
# Figures both must agree on exactly, where either prints them.
SAME_VALUE = (
    "probe_success",
    "probe_ip_protocol",
    "probe_ip_addr_hash",
    "probe_http_status_code",
    "probe_http_redirects",
    "probe_http_ssl",
    "probe_http_version",
    "probe_http_content_length",
    "probe_http_uncompressed_body_length",
    "probe_failed_due_to_regex",
    "probe_ssl_earliest_cert_expiry",
    "probe_dns_query_succeeded",
    "probe_dns_answer_rrs",
    "probe_dns_authority_rrs",
    "probe_dns_additional_rrs",
    "probe_icmp_reply_hop_limit",
)


def daemon_config(port: int, modules: str, extra: str = "") -> str:
    return f"""\
listen: 127.0.0.1:{port}
local: {{enabled: false}}
probes:
  default_targets: false
  icmp: {{timeout: 1s}}
  dns: {{timeout: 2s, query_name: example.com}}
  http: {{timeout: 5s, verify_tls: false}}
  endpoint: {{modules: [{modules}], max_concurrent: 2, timeout: 5s}}
{extra}"""


@contextlib.contextmanager
def daemon(tmp_path: Path, modules: str, extra: str = "") -> Iterator[tuple[str, Daemon]]:
    port = free_port()
    cfg = tmp_path / "sentinel.yaml"
    cfg.write_text(daemon_config(port, modules, extra))
    env = {**ENV, "STATE_DIRECTORY": str(tmp_path / "state")}
    with running(["--config", str(cfg)], env) as d:
        d.wait_log("sentinel started")
        yield f"http://127.0.0.1:{port}", d
        d.signal(signal.SIGTERM)
        assert d.wait() == 0


@contextlib.contextmanager
def blackbox(tmp_path: Path, ns: str | None = None, port: int = 0) -> Iterator[str]:
    """blackbox_exporter on loopback (of ``ns``) with modules named and set up as sentinel's."""
    require_tools(BLACKBOX, package="prometheus-blackbox-exporter")
    cfg = tmp_path / "blackbox.yml"
    cfg.write_text(
        """\
modules:
  icmp: {prober: icmp, timeout: 5s, icmp: {preferred_ip_protocol: ip4}}
  tcp: {prober: tcp, timeout: 5s, tcp: {preferred_ip_protocol: ip4}}
  dns:
    prober: dns
    timeout: 5s
    dns: {query_name: example.com, query_type: A, preferred_ip_protocol: ip4}
  http:
    prober: http
    timeout: 5s
    http: {preferred_ip_protocol: ip4, tls_config: {insecure_skip_verify: true}}
"""
    )
    port = port or free_port()
    argv = [BLACKBOX, f"--config.file={cfg}", f"--web.listen-address=127.0.0.1:{port}"]
    proc = subprocess.Popen(
        ["ip", "netns", "exec", ns, *argv] if ns else argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        end = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError):
                if ns is not None:
                    if get_in(ns, "127.0.0.1", port, "/-/healthy", 1).startswith("Healthy"):
                        break
                elif get(f"{base}/-/healthy", 1)[0] == 200:
                    break
            assert proc.poll() is None, "blackbox_exporter exited"
            assert time.monotonic() < end, "blackbox_exporter did not start"
            time.sleep(0.05)
        yield base
    finally:
        stop(proc)


def families(body: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Family name -> {labels: value}, parsed by prometheus_client's own parser."""
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for fam in text_string_to_metric_families(body):
        series = out.setdefault(fam.name, {})
        for s in fam.samples:
            series[tuple(sorted(s.labels.items()))] = s.value
    return out


def probe(
    base: str, module: str, target: str
) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    query = urllib.parse.urlencode({"module": module, "target": target})
    status, ctype, body = get(f"{base}/probe?{query}", 10)
    assert status == 200, body
    assert ctype.startswith("text/plain"), ctype
    return families(body)


def request(
    url: str, headers: dict[str, str] | None = None, context: ssl.SSLContext | None = None
) -> tuple[int, str, float]:
    """GET with headers: status, body, seconds taken."""
    req = urllib.request.Request(url, headers=headers or {})  # noqa: S310 (loopback only)
    start = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=15, context=context) as r:  # noqa: S310
            return r.status, r.read().decode(), time.monotonic() - start
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), time.monotonic() - start


def closed_port() -> int:
    return free_port()


def test_probe_matches_blackbox_exporter(tmp_path: Path) -> None:
    """Each module, succeeding and failing: the same family names and the same figures."""
    cert = make_cert(tmp_path, "site", days=30)
    with (
        dnsmasq() as dns_port,
        web_server() as plain,
        web_server(cert=cert) as tls,
        blackbox(tmp_path) as bb,
        daemon(tmp_path, "icmp, dns, tcp, http") as (base, _),
    ):
        http_port = plain.rsplit(":", 1)[1]
        cases = [
            ("icmp", "127.0.0.1", 1),
            ("tcp", f"127.0.0.1:{http_port}", 1),
            ("tcp", f"127.0.0.1:{closed_port()}", 0),
            ("dns", f"127.0.0.1:{dns_port}", 1),
            ("http", f"{plain}/ok", 1),
            ("http", f"{plain}/redirect", 1),
            ("http", f"{plain}/error", 0),
            ("http", f"{tls}/ok", 1),
            ("http", f"http://127.0.0.1:{closed_port()}/", 0),
            ("dns", f"127.0.0.1:{closed_port()}", 0),
        ]
        for module, target, success in cases:
            ours = probe(base, module, target)
            theirs = probe(bb, module, target)
            case = f"{module} {target}"
            assert set(ours) | ONLY_BLACKBOX == set(theirs) | ONLY_BLACKBOX, (
                case,
                sorted(set(ours) ^ set(theirs)),
            )
            assert ours["probe_success"][()] == success, case
            for name in SAME_VALUE:
                if name in theirs:
                    assert ours[name] == theirs[name], (case, name, ours[name], theirs[name])
            for name in ("probe_icmp_duration_seconds", "probe_http_duration_seconds"):
                if name in theirs:  # the same phases, each measured
                    assert set(ours[name]) == set(theirs[name]), (case, name)
            if "probe_tls_version_info" in theirs:
                assert ours["probe_tls_version_info"] == theirs["probe_tls_version_info"]
        ours = probe(base, "http", f"{tls}/ok")
        assert ours["probe_ssl_earliest_cert_expiry"][()] == pytest.approx(cert.not_after)
        assert ours["probe_http_redirects"][()] == 0
        assert probe(base, "http", f"{plain}/redirect")["probe_http_redirects"][()] == 2
        assert probe(base, "http_2xx", f"{plain}/ok")["probe_success"][()] == 1  # blackbox's name
        assert probe(base, "http", f"{plain}/ok".removeprefix("http://"))["probe_success"][()] == 1


def test_failures_match_blackbox_exporter(tmp_path: Path) -> None:
    """No route, and a neighbour that never answers ARP, in a namespace of the test's own:
    both exporters fail the same way and print the same families."""
    require_tools(BLACKBOX, package="prometheus-blackbox-exporter")
    with namespaces("bb") as (ns,):
        sh("ip", "-n", ns, "link", "add", "v0", "type", "veth", "peer", "name", "v1")
        sh("ip", "-n", ns, "addr", "add", "10.9.0.1/24", "dev", "v0")
        for dev in ("v0", "v1"):
            sh("ip", "-n", ns, "link", "set", dev, "up")
        cfg = tmp_path / "sentinel.yaml"
        cfg.write_text(daemon_config(9717, "icmp, dns, tcp, http"))
        env = {**ENV, "STATE_DIRECTORY": str(tmp_path / "state")}
        with (
            blackbox(tmp_path, ns, 9115),
            daemon_in(ns, ["--config", str(cfg)], env) as d,
        ):
            d.wait_log("sentinel started")
            for module, target in (
                ("icmp", "10.255.0.1"),  # no route
                ("icmp", "10.9.0.2"),  # on the link, never answers
                ("tcp", "10.255.0.1:80"),
                ("tcp", "10.9.0.2:80"),
                ("http", "http://10.255.0.1/"),
                ("dns", "10.255.0.1"),
            ):
                path = "/probe?" + urllib.parse.urlencode({"module": module, "target": target})
                ours = families(get_in(ns, "127.0.0.1", 9717, path, 15))
                theirs = families(get_in(ns, "127.0.0.1", 9115, path, 15))
                case = f"{module} {target}"
                assert set(ours) == set(theirs), (case, sorted(set(ours) ^ set(theirs)))
                assert ours["probe_success"][()] == theirs["probe_success"][()] == 0, case
                for name in SAME_VALUE:
                    if name in theirs:
                        assert ours[name] == theirs[name], (case, name, ours[name], theirs[name])
            d.signal(signal.SIGTERM)
            assert d.wait() == 0


def test_bad_requests(tmp_path: Path) -> None:
    """Unconfigured or unknown module, missing or malformed target: 400 and one line."""
    with daemon(tmp_path, "tcp, http") as (base, d):
        cases = {
            "module=icmp&target=127.0.0.1": 'Unknown module "icmp"',
            "module=ftp&target=127.0.0.1": 'Unknown module "ftp"',
            "module=tcp": "Target parameter is missing",
            "module=tcp&target=127.0.0.1": "Bad target",
            "module=tcp&target=127.0.0.1:99999": "out of range",
        }
        for query, message in cases.items():
            status, _, body = get(f"{base}/probe?{query}")
            assert status == 400, (query, status, body)
            assert message in body, (query, body)
            assert body.count("\n") == 1, body
        status, body, _ = request(
            f"{base}/probe?module=tcp&target=127.0.0.1:1",
            {"X-Prometheus-Scrape-Timeout-Seconds": "soon"},
        )
        assert status == 400
        assert body.startswith("Failed to parse timeout from Prometheus header"), body
        _, _, metrics = get(f"{base}/metrics")
        assert 'sentinel_http_requests_total{code="400",handler="/probe"} 6.0' in metrics
        # A reload that lists icmp serves it from then on.
        cfg = tmp_path / "sentinel.yaml"
        cfg.write_text(
            cfg.read_text().replace("modules: [tcp, http]", "modules: [tcp, http, icmp]")
        )
        d.signal(signal.SIGHUP)
        d.wait_log("config reloaded")
        status, _, body = get(f"{base}/probe?module=icmp&target=127.0.0.1")
        assert status == 200, body
        assert families(body)["probe_success"][()] == 1


class Silent:
    """A TCP server that accepts and never answers: a probe to it waits for its deadline."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.sock.accept()
                self.accepted.append(conn)

    def close(self) -> None:
        self.sock.close()
        for c in self.accepted:
            c.close()


def timed_probe(base: str, target: str, scrape_timeout: str) -> tuple[int, str, float]:
    query = urllib.parse.urlencode({"module": "http", "target": target})
    return request(f"{base}/probe?{query}", {"X-Prometheus-Scrape-Timeout-Seconds": scrape_timeout})


def test_deadline_and_concurrency_cap(tmp_path: Path) -> None:
    """The scrape timeout header shortens the probe; beyond max_concurrent probes, 503."""
    silent = Silent()
    target = f"http://127.0.0.1:{silent.port}/"
    try:
        with daemon(tmp_path, "http") as (base, _):
            status, body, took = timed_probe(base, target, "1.5")
            assert status == 200
            assert families(body)["probe_success"][()] == 0
            assert 0.9 < took < 1.5, took  # 1.5 s less blackbox's 0.5 s offset
            status, body, took = timed_probe(base, target, "60")
            assert 4.8 < took < 6, took  # capped by probes.endpoint.timeout (5 s)

            results: list[tuple[int, str, float]] = []
            hold = [
                threading.Thread(target=lambda: results.append(timed_probe(base, target, "3")))
                for _ in range(2)
            ]
            for t in hold:
                t.start()
            end = time.monotonic() + 5
            while len(silent.accepted) < 4 and time.monotonic() < end:  # 2 earlier, 2 now
                time.sleep(0.02)
            assert len(silent.accepted) >= 4
            status, body, took = timed_probe(base, target, "3")
            assert status == 503, body
            assert "max_concurrent" in body
            assert took < 0.5
            for t in hold:
                t.join(10)
            assert [r[0] for r in results] == [200, 200]
            status, _, _ = timed_probe(base, target, "1")  # slots are free again
            assert status == 200
    finally:
        silent.close()


def test_probe_needs_the_same_auth_as_metrics(tmp_path: Path) -> None:
    """With basic auth (and TLS) on the listener, /probe refuses a request without them."""
    cert = make_cert(tmp_path, "listener", days=30)
    hashed = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4)).decode()
    web = tmp_path / "web.yml"
    web.write_text(
        f"tls_server_config: {{cert_file: {cert.cert}, key_file: {cert.key}}}\n"
        f"basic_auth_users:\n  prometheus: '{hashed}'\n"
    )
    ctx = ssl.create_default_context(cafile=str(cert.cert))
    with (
        web_server() as plain,
        daemon(tmp_path, "http", f"web_config_file: {web}\n") as (base, _),
    ):
        url = (
            base.replace("http://", "https://")
            + "/probe?"
            + urllib.parse.urlencode({"module": "http", "target": f"{plain}/ok"})
        )
        for auth in (None, "prometheus:wrong"):
            headers = {} if auth is None else {"Authorization": basic(auth)}
            status, _, _ = request(url, headers, ctx)
            assert status == 401
        status, body, _ = request(url, {"Authorization": basic("prometheus:s3cret")}, ctx)
        assert status == 200
        assert families(body)["probe_success"][()] == 1
        with pytest.raises((urllib.error.URLError, ConnectionError)):  # no plain HTTP
            request(url.replace("https://", "http://"))


def basic(credentials: str) -> str:
    return "Basic " + base64.b64encode(credentials.encode()).decode()
