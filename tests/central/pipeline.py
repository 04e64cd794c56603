"""A real edge-to-region pipeline in a network namespace, for the central tests.

Namespace ``A`` holds a VictoriaMetrics single node, a simulated SNMP switch, sentinel
(SNMP polling, local interfaces, LAN capture on ``lan0``) and vmagent scraping sentinel
on loopback and remote-writing to VictoriaMetrics with basic auth read from a file.
Namespace ``B`` holds the other end of the veth pair, where tcpreplay plays a capture.
With ``probes``, sentinel also probes services in ``A`` (HTTP, HTTPS with a certificate that
expires in days, a page that fails, dnsmasq, ICMP to loopback), and with ``alerting``
vmalert notifies a real Alertmanager running deploy/alertmanager/alertmanager.yml there.
Queries run inside ``A`` (everything listens on its loopback only).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import ROOT

CAPTURES = ROOT / "tests" / "data" / "reference"
BINARIES = ("victoria-metrics", "vmagent", "ip")
SITE, REGION = "bs-test-site", "test-region"
VM_PORT, SENTINEL_PORT, SNMP_PORT, VMAGENT_PORT = 8428, 9717, 1161, 8429
VMALERT_PORT, NOTIFIER_PORT = 8880, 9093
USER, PASSWORD = "bs-test-site", "s3cret-site-password"


def sh(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True, timeout=60).stdout


_QUERY = textwrap.dedent(
    """
    import base64, json, sys, urllib.parse, urllib.request
    spec = json.load(open(sys.argv[1]))
    auth = "Basic " + base64.b64encode(spec["auth"].encode()).decode()
    out = []
    for path, params in spec["requests"]:
        req = urllib.request.Request(
            spec["base"] + path, data=urllib.parse.urlencode(params).encode(),
            headers={"Authorization": auth})
        try:
            with urllib.request.urlopen(req, timeout=30) as rsp:
                out.append(json.loads(rsp.read()))
        except Exception as exc:
            body = getattr(exc, "read", lambda: b"")()
            out.append({"status": "error", "error": f"{exc} {body[:500]!r}"})
    json.dump(out, sys.stdout)
    """
)


class Pipeline:
    """sentinel -> vmagent -> VictoriaMetrics, started by ``start`` and ended by ``stop``."""

    def __init__(
        self,
        scrape_interval: str = "2s",
        capture: bool = True,
        rules: bool = False,
        probes: bool = False,
        alerting: bool = False,
    ) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="sentinel-central-"))
        self.tmp.chmod(0o755)
        tag = str(os.getpid() % 100000)
        self.a, self.b = f"sncen-a-{tag}", f"sncen-b-{tag}"
        self.scrape_interval = scrape_interval
        self.capture = capture
        self.rules = rules
        self.probes = probes
        self.alerting = alerting
        self.services: dict[str, Any] = {}
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    # -- processes -------------------------------------------------------------------
    def _spawn(self, name: str, *cmd: str, ns: str | None = None) -> None:
        log = (self.tmp / f"{name}.log").open("ab")
        prefix = ["ip", "netns", "exec", ns or self.a]
        self.procs[name] = subprocess.Popen(
            [*prefix, *cmd], stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
        )
        log.close()

    def _end(self, name: str, timeout: float = 15.0) -> None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def log(self, name: str) -> str:
        path = self.tmp / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def start_vm(self) -> None:
        self._spawn(
            "victoria-metrics",
            "victoria-metrics",
            f"-storageDataPath={self.tmp / 'vm-data'}",
            f"-httpListenAddr=127.0.0.1:{VM_PORT}",
            "-retentionPeriod=1d",
            f"-httpAuth.username={USER}",
            f"-httpAuth.password={PASSWORD}",
            "-search.latencyOffset=0s",
            "-search.disableCache",
            "-loggerLevel=WARN",
        )
        self.wait(lambda: self.http_ok(VM_PORT, "/health"), "victoria-metrics up")

    def stop_vm(self) -> None:
        self._end("victoria-metrics")

    def start(self) -> None:
        sh("ip", "netns", "add", self.a)
        sh("ip", "netns", "add", self.b)
        for ns in (self.a, self.b):
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", self.a, "link", "add", "lan0", "type", "veth", "peer", "name", "peer0")
        sh("ip", "-n", self.a, "link", "set", "peer0", "netns", self.b)
        for ns, dev in ((self.a, "lan0"), (self.b, "peer0")):
            sh("ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv6.conf.{dev}.disable_ipv6=1")
            sh("ip", "-n", ns, "link", "set", dev, "up")
        self.start_vm()
        self._spawn("switch", sys.executable, "-m", "tests.central.switchsim", str(SNMP_PORT))
        self.wait(lambda: "ready" in self.log("switch"), "switch simulator ready")
        self.start_more_switches()
        if self.probes:
            self._start_probe_services()
        self._start_sentinel()
        self._start_vmagent()
        if self.alerting:
            self._start_alertmanager()
        if self.rules:
            self._start_vmalert()

    def start_more_switches(self) -> None:
        """Hook: start further SNMP agents in namespace A before sentinel (none here)."""

    def more_switches(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Hook: SNMP auths and switches that sentinel polls besides ``core`` (none here)."""
        return {}, []

    def _start_probe_services(self) -> None:
        found = self.tmp / "services.json"
        self._spawn("services", sys.executable, "-m", "tests.central.probeservers", str(found))
        self.wait(lambda: "ready" in self.log("services"), "probed services ready")
        self.services = json.loads(found.read_text())

    def _probes_config(self) -> str:
        """Probes every 2 s: loopback, the resolver, an HTTPS portal, a failing platform (500)."""
        s = self.services
        targets = [
            {"name": "lo", "module": "icmp", "address": "127.0.0.1"},
            {"name": "resolver", "module": "dns", "address": f"127.0.0.1:{s['dns']}"},
            {"name": "portal", "module": "http", "address": f"{s['https']}/ok", "essential": True},
            {
                "name": "platform",
                "module": "http",
                "address": f"{s['http']}/error",
                "essential": True,
            },
        ]
        return (
            "probes:\n  default_targets: false\n"
            "  icmp: {interval: 2s, pings: 5, spacing: 100ms, timeout: 500ms}\n"
            "  dns: {interval: 2s, timeout: 1s}\n"
            # The certificate is the test's own: its expiry is read, its issuer not checked.
            "  http: {interval: 2s, timeout: 1s, verify_tls: false}\n"
            "  verdict: {interval: 2s, window: 10s}\n"
            f"  targets: {json.dumps(targets)}\n"
        )

    def _start_alertmanager(self) -> None:
        """The region's Alertmanager config as shipped (mail to the school admin by site)."""
        shipped = ROOT / "deploy" / "alertmanager"
        am = self.tmp / "alertmanager"
        shutil.copytree(shipped / "templates", am / "templates")
        shutil.copy(shipped / "alertmanager.yml", am / "alertmanager.yml")
        binary = shutil.which("prometheus-alertmanager") or "alertmanager"
        self._spawn(
            "alertmanager",
            binary,
            f"--config.file={am / 'alertmanager.yml'}",
            f"--storage.path={am / 'data'}",
            f"--web.listen-address=127.0.0.1:{NOTIFIER_PORT}",
            "--cluster.listen-address=",
            "--log.level=warn",
        )
        self.wait(lambda: self.http_ok(NOTIFIER_PORT, "/-/ready"), "alertmanager ready")

    def alerts(self) -> list[dict[str, Any]]:
        """The alerts Alertmanager holds (its v2 API)."""
        return json.loads(self.get_text(NOTIFIER_PORT, "/api/v2/alerts"))  # type: ignore[no-any-return]

    def _start_sentinel(self) -> None:
        state = self.tmp / "state"
        state.mkdir(exist_ok=True)
        capture = (
            "capture: {interface: lan0, networks: [10.77.0.0/24], ring_size_mb: 8}\n"
            if self.capture
            else ""
        )
        auths, switches = self.more_switches()
        auths = {"v2": {"version": "2c", "community": "public"}, **auths}
        switches = [{"name": "core", "address": f"127.0.0.1:{SNMP_PORT}"}, *switches]
        cfg = self.tmp / "sentinel.yaml"
        cfg.write_text(
            f"site: {SITE}\nlisten: 127.0.0.1:{SENTINEL_PORT}\nstate_dir: {state}\n"
            "local: {enabled: true, interval: 2s, uplinks: [lan0]}\n"
            f"{capture}"
            "snmp:\n  defaults: {auth: v2, interval: 5s, timeout: 500ms, retries: 0}\n"
            f"  auths: {json.dumps(auths)}\n"
            f"  switches: {json.dumps(switches)}\n"
            "l2: {students: 40}\n"
            + (self._probes_config() if self.probes else "probes: {enabled: false}\n")
        )
        self._spawn("sentinel", sys.executable, "-m", "sentinel", "run", "--config", str(cfg))
        self.wait(lambda: self.http_ok(SENTINEL_PORT, "/-/ready"), "sentinel ready")

    def _start_vmagent(self) -> None:
        config = (ROOT / "deploy" / "vmagent" / "scrape.yml").read_text()
        scrape = self.tmp / "scrape.yml"
        scrape.write_text(
            config.replace("scrape_interval: 60s", f"scrape_interval: {self.scrape_interval}")
        )
        secret = self.tmp / "password"
        secret.write_text(PASSWORD)
        secret.chmod(0o600)
        self._spawn(
            "vmagent",
            "env",
            f"SENTINEL_SITE={SITE}",
            f"SENTINEL_REGION={REGION}",
            "vmagent",
            f"-promscrape.config={scrape}",
            f"-httpListenAddr=127.0.0.1:{VMAGENT_PORT}",
            f"-remoteWrite.url=http://127.0.0.1:{VM_PORT}/api/v1/write",
            f"-remoteWrite.basicAuth.username={USER}",
            f"-remoteWrite.basicAuth.passwordFile={secret}",
            f"-remoteWrite.tmpDataPath={self.tmp / 'vmagent-queue'}",
            "-remoteWrite.maxDiskUsagePerURL=64MiB",
            "-remoteWrite.flushInterval=1s",
            "-loggerLevel=WARN",
        )
        self.wait(lambda: self.http_ok(VMAGENT_PORT, "/health"), "vmagent up")

    def _start_vmalert(self) -> None:
        """vmalert with deploy/rules, every group evaluated at the scrape interval.

        Recorded series go back into VictoriaMetrics (as in the region); alerts go to
        Alertmanager when the pipeline has one, else to a port where nothing listens. Every
        alert's ``for`` shrinks to the interval, so an alert fires within seconds, and the
        school day lasts all day (the test runs at any hour; promtool tests check the hours).
        """
        rules_dir = self.tmp / "rules"
        rules_dir.mkdir(exist_ok=True)
        for path in sorted((ROOT / "deploy" / "rules").glob("*.rules.yml")):
            doc = yaml.safe_load(path.read_text())
            for group in doc["groups"]:
                group["interval"] = self.scrape_interval
                for rule in group["rules"]:
                    if "for" in rule:
                        rule["for"] = self.scrape_interval
                    if rule.get("record") == "sentinel:school_day:flag":
                        rule["expr"] = "vector(1)"
            (rules_dir / path.name).write_text(yaml.safe_dump(doc, sort_keys=False))
        secret = self.tmp / "password"
        vm = f"http://127.0.0.1:{VM_PORT}"
        self._spawn(
            "vmalert",
            "vmalert",
            f"-rule={rules_dir}/*.rules.yml",
            f"-httpListenAddr=127.0.0.1:{VMALERT_PORT}",
            f"-datasource.url={vm}",
            f"-datasource.basicAuth.username={USER}",
            f"-datasource.basicAuth.passwordFile={secret}",
            f"-remoteWrite.url={vm}",
            f"-remoteWrite.basicAuth.username={USER}",
            f"-remoteWrite.basicAuth.passwordFile={secret}",
            "-remoteWrite.flushInterval=500ms",
            f"-notifier.url=http://127.0.0.1:{NOTIFIER_PORT}",
            "-loggerLevel=WARN",
        )
        self.wait(lambda: self.http_ok(VMALERT_PORT, "/health"), "vmalert up")

    def replay(self, pcap: Path) -> None:
        """Play a capture into sentinel's LAN interface at its recorded speed, twice as fast."""
        sh("ip", "netns", "exec", self.b, "tcpreplay", "-q", "-x", "4", "-i", "peer0", str(pcap))

    def stop(self) -> None:
        for name in list(self.procs)[::-1]:
            self._end(name)
        for ns in (self.a, self.b):
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- HTTP inside the namespace ----------------------------------------------------
    def http_ok(self, port: int, path: str) -> bool:
        code = (
            "import urllib.request,sys\n"
            "try:\n"
            f"  urllib.request.urlopen('http://127.0.0.1:{port}{path}', timeout=3)\n"
            "except Exception as e:\n"
            "  sys.exit(getattr(e, 'code', 1) != 401 and 1)\n"
        )
        result = subprocess.run(
            ["ip", "netns", "exec", self.a, sys.executable, "-c", code],
            capture_output=True,
            timeout=20,
        )
        return result.returncode == 0

    def get_text(self, port: int, path: str) -> str:
        code = (
            "import urllib.request,sys;sys.stdout.write(urllib.request.urlopen("
            f"'http://127.0.0.1:{port}{path}',timeout=10).read().decode())"
        )
        return sh("ip", "netns", "exec", self.a, sys.executable, "-c", code)

    def vm(self, requests: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
        """Send POST requests to VictoriaMetrics in one go; their decoded JSON answers."""
        spec = self.tmp / "requests.json"
        spec.write_text(
            json.dumps(
                {
                    "base": f"http://127.0.0.1:{VM_PORT}",
                    "auth": f"{USER}:{PASSWORD}",
                    "requests": requests,
                }
            )
        )
        script = self.tmp / "query.py"
        script.write_text(_QUERY)
        out = sh("ip", "netns", "exec", self.a, sys.executable, str(script), str(spec))
        return json.loads(out)  # type: ignore[no-any-return]

    def instant(self, expr: str) -> list[dict[str, Any]]:
        (answer,) = self.vm([("/api/v1/query", {"query": expr})])
        assert answer.get("status") == "success", answer
        return answer["data"]["result"]  # type: ignore[no-any-return]

    def wait(self, predicate: Any, what: str, timeout: float = 40.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise AssertionError(
                        f"{name} exited while waiting for {what}: {self.log(name)}"
                    )
            time.sleep(0.5)
        raise AssertionError(f"timed out waiting for: {what}")
