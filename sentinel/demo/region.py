"""The region on one machine, for ``sentinel demo --region``: every piece on loopback.

- VictoriaMetrics, the regional store;
- vmalert evaluating the project's rules (``deploy/rules/*.rules.yml``) against it,
  writing recording rules and alert state back, notifying Alertmanager;
- Alertmanager with the project's routing (``deploy/alertmanager/alertmanager.yml``:
  routes by ``site``, inhibitions, the per-school template), its mail receivers replaced
  by webhooks to the demo page, so nothing leaves the machine and the page shows which
  receiver each notification went to;
- vmagent as on a school's box (``deploy/vmagent/scrape.yml``), scraping the demo's
  sentinel and remote-writing to VictoriaMetrics with ``site`` and ``region`` added.

The daemon also sends its own alerts straight to this Alertmanager, as a school's does.
Where Grafana is installed (Grafana's own apt repository; it is not in Debian), a Grafana
on 127.0.0.1:3000 gets the project's provisioning, its datasource pointed at this
VictoriaMetrics, anonymous read-only access, and no calls home.
Ports: the usual ones (VictoriaMetrics 8428, as grafana/provisioning expects; vmalert
8880; Alertmanager 9093; vmagent 8429), or free ones with ``free_ports``. It reads
``deploy/`` from the checkout it runs from.
"""

from __future__ import annotations

import json
import shutil
import socket
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sentinel.config.yamlsrc import plain

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable

    from sentinel.demo.procs import Child

REGION = "demo"
BINARIES = {
    "victoria-metrics": "victoria-metrics",
    "vmalert": "victoria-metrics",
    "vmagent": "victoria-metrics",
    "prometheus-alertmanager": "prometheus-alertmanager",
}
SCRAPE_INTERVAL = "10s"  # the edge's 60s, shortened so the demo fills in quickly
USUAL_PORTS = {"vm": 8428, "vmalert": 8880, "alertmanager": 9093, "vmagent": 8429}
GRAFANA_PORT = 3000
GRAFANA_HOME = Path("/usr/share/grafana")  # where Grafana's Debian package puts it


class RegionError(RuntimeError):
    """The region cannot start here; the message says what is missing."""


def checkout() -> Path:
    """The sentinel checkout this code runs from (it holds deploy/ and grafana/)."""
    for root in (Path(__file__).resolve().parents[2], Path.cwd()):
        if (root / "deploy" / "rules").is_dir() and (root / "deploy" / "alertmanager").is_dir():
            return root
    raise RegionError(
        "--region reads deploy/ from a checkout of sentinel: run it from the checkout "
        "(deploy/region/up.sh)"
    )


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise RegionError(f"--region needs {name} (Debian: apt-get install {BINARIES[name]})")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as rsp:  # noqa: S310 (loopback URLs)
            return bool(rsp.status == 200)
    except (OSError, ValueError):
        return False


def load_plain(path: Path) -> dict[str, Any]:
    data = plain(path.read_text())
    if not isinstance(data, dict):
        raise RegionError(f"{path}: not a YAML mapping")
    return data


def dump_yaml(data: object) -> str:
    """JSON, which every YAML reader (Alertmanager's and vmagent's too) takes as YAML."""
    return json.dumps(data, indent=1) + "\n"


def alertmanager_config(source: dict[str, Any], notify_url: str) -> dict[str, Any]:
    """The project's Alertmanager config with every receiver a webhook to ``notify_url``.

    The route tree, grouping, inhibitions and templates stay as they are; only the
    receivers' mail settings and the global SMTP settings go.
    """
    config: dict[str, Any] = json.loads(json.dumps(source))  # a deep copy of plain data
    for key in [k for k in config.get("global", {}) if k.startswith("smtp_")]:
        del config["global"][key]
    config["receivers"] = [
        {
            "name": r["name"],
            "webhook_configs": [
                {"url": f"{notify_url}/{r['name']}", "send_resolved": True, "max_alerts": 50}
            ],
        }
        for r in config["receivers"]
    ]
    return config


class Region:
    """The regional stack of one demo run; its children belong to the demo."""

    def __init__(
        self,
        workdir: Path,
        spawn: Callable[..., Child],
        stop: threading.Event,
        *,
        free_ports: bool = False,
    ) -> None:
        self.dir = workdir
        self.spawn = spawn
        self.stop = stop
        self.root = checkout()
        self.exe = {name: _binary(name) for name in BINARIES}
        self.ports = {k: _free_port() for k in USUAL_PORTS} if free_ports else dict(USUAL_PORTS)
        for name, port in self.ports.items():
            with socket.socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    raise RegionError(
                        f"port 127.0.0.1:{port} ({name}) is in use: stop what holds it, "
                        "or run the region demo with free ports (--region-free-ports)"
                    ) from None

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    @property
    def alertmanager_url(self) -> str:
        return self.url("alertmanager")

    def _wait(self, name: str, path: str, wait: Callable[..., None]) -> None:
        wait(lambda: _ok(self.url(name) + path), f"{name} {path}", 60, self.stop)

    def start_receivers(self, notify_url: str, wait: Callable[..., None]) -> None:
        """VictoriaMetrics, Alertmanager and vmalert: what must be up before the daemon."""
        self.dir.mkdir(parents=True)
        self.spawn(
            "victoria-metrics",
            [
                self.exe["victoria-metrics"],
                f"-storageDataPath={self.dir / 'vm-data'}",
                f"-httpListenAddr=127.0.0.1:{self.ports['vm']}",
                "-retentionPeriod=1d",
                "-search.latencyOffset=0s",  # show what just arrived
                "-loggerLevel=WARN",
            ],
        )
        self._wait("vm", "/health", wait)

        am_dir = self.dir / "alertmanager"
        shutil.copytree(self.root / "deploy" / "alertmanager" / "templates", am_dir / "templates")
        source = load_plain(self.root / "deploy" / "alertmanager" / "alertmanager.yml")
        am_config = am_dir / "alertmanager.yml"
        am_config.write_text(
            "# The project's deploy/alertmanager/alertmanager.yml for the demo: the same routes\n"
            "# and inhibitions, receivers as webhooks to the demo page (no mail leaves).\n"
            + dump_yaml(alertmanager_config(source, notify_url))
        )
        self.spawn(
            "alertmanager",
            [
                self.exe["prometheus-alertmanager"],
                f"--config.file={am_config}",
                f"--storage.path={am_dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.ports['alertmanager']}",
                "--cluster.listen-address=",  # no gossip port: a single instance
                "--log.level=warn",
            ],
        )
        self._wait("alertmanager", "/-/ready", wait)

        rules = self.dir / "rules"
        rules.mkdir()
        for path in sorted((self.root / "deploy" / "rules").glob("*.rules.yml")):
            shutil.copyfile(path, rules / path.name)
        vm = self.url("vm")
        self.spawn(
            "vmalert",
            [
                self.exe["vmalert"],
                f"-rule={rules}/*.rules.yml",
                f"-datasource.url={vm}",
                f"-remoteWrite.url={vm}",
                f"-remoteRead.url={vm}",
                f"-notifier.url={self.alertmanager_url}",
                f"-httpListenAddr=127.0.0.1:{self.ports['vmalert']}",
                f"-external.url={self.url('vmalert')}",
                "-loggerLevel=WARN",
            ],
        )
        self._wait("vmalert", "/health", wait)

    def start_agent(
        self, sentinel: tuple[str, int], page_port: int, site: str, wait: Callable[..., None]
    ) -> None:
        """vmagent as on the school's box, once the daemon serves /metrics."""
        config = load_plain(self.root / "deploy" / "vmagent" / "scrape.yml")
        config["global"]["scrape_interval"] = SCRAPE_INTERVAL
        config["global"]["scrape_timeout"] = "5s"
        for job in config["scrape_configs"]:
            static = job["static_configs"][0]
            if job["job_name"] == "sentinel":
                static["targets"] = [f"{sentinel[0]}:{sentinel[1]}"]
            elif job["job_name"] == "vmagent":
                static["targets"] = [f"127.0.0.1:{self.ports['vmagent']}"]
        config["scrape_configs"].append(
            {
                "job_name": "sentinel-demo",  # sentinel_demo_info: this site is a demo
                "static_configs": [
                    {
                        "targets": [f"127.0.0.1:{page_port}"],
                        "labels": {"site": "%{SENTINEL_SITE}", "region": "%{SENTINEL_REGION}"},
                    }
                ],
            }
        )
        scrape = self.dir / "scrape.yml"
        scrape.write_text(
            "# deploy/vmagent/scrape.yml for the demo: its targets, a 10s interval.\n"
            + dump_yaml(config)
        )
        self.spawn(
            "vmagent",
            [
                self.exe["vmagent"],
                f"-promscrape.config={scrape}",
                f"-httpListenAddr=127.0.0.1:{self.ports['vmagent']}",
                f"-remoteWrite.url={self.url('vm')}/api/v1/write",
                f"-remoteWrite.tmpDataPath={self.dir / 'vmagent-queue'}",
                "-remoteWrite.maxDiskUsagePerURL=64MiB",
                "-remoteWrite.flushInterval=1s",
                "-loggerLevel=WARN",
            ],
            env={"SENTINEL_SITE": site, "SENTINEL_REGION": REGION, "PATH": "/usr/bin:/bin"},
        )
        self._wait("vmagent", "/health", wait)

    def start_grafana(self, wait: Callable[..., None]) -> str | None:
        """Grafana with grafana/provisioning, when installed; its URL, else None."""
        server = shutil.which("grafana") or shutil.which("grafana-server")
        if server is None or not GRAFANA_HOME.is_dir():
            return None
        port = GRAFANA_PORT if self.ports["vm"] == USUAL_PORTS["vm"] else _free_port()
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if s.connect_ex(("127.0.0.1", port)) == 0:  # 3000 taken: any free port
                port = _free_port()
        ini = grafana_files(self.root, self.dir / "grafana", self.url("vm"), port)
        argv = [server, "server"] if Path(server).name == "grafana" else [server]
        self.spawn("grafana", [*argv, f"--homepath={GRAFANA_HOME}", f"--config={ini}"])
        self.ports["grafana"] = port
        self._wait("grafana", "/api/health", wait)
        return self.url("grafana")

    def announce(self, say: Callable[[str], None]) -> None:
        say(
            f"region: victoria-metrics={self.url('vm')} vmalert={self.url('vmalert')} "
            f"alertmanager={self.alertmanager_url} vmagent={self.url('vmagent')} "
            f"(site=demo-school region={REGION})"
        )
        if "grafana" in self.ports:
            say(f"region: grafana={self.url('grafana')} (folder Sentinel, site demo-school)")
        else:
            say(
                f"region: no Grafana installed; add a Prometheus datasource at {self.url('vm')} "
                "to one (deploy/region/README.md) and import grafana/dashboards/*.json"
            )


def grafana_files(root: Path, home: Path, vm_url: str, port: int) -> Path:
    """Grafana's config under ``home``: the project's provisioning with the datasource at
    ``vm_url`` and the dashboards copied; anonymous read-only, no calls home. The ini."""
    prov = home / "provisioning"
    (prov / "datasources").mkdir(parents=True)
    (prov / "dashboards").mkdir()
    boards = home / "dashboards"
    shutil.copytree(root / "grafana" / "dashboards", boards)
    source = root / "grafana" / "provisioning"
    ds = load_plain(source / "datasources" / "sentinel.yaml")
    for d in ds["datasources"]:
        d["url"] = vm_url
        d.setdefault("jsonData", {})["timeInterval"] = SCRAPE_INTERVAL
    (prov / "datasources" / "sentinel.yaml").write_text(dump_yaml(ds))
    db = load_plain(source / "dashboards" / "sentinel.yaml")
    for provider in db["providers"]:
        provider["options"]["path"] = str(boards)
    (prov / "dashboards" / "sentinel.yaml").write_text(dump_yaml(db))
    ini = home / "grafana.ini"
    ini.write_text(
        f"[paths]\ndata = {home / 'data'}\nlogs = {home / 'logs'}\n"
        f"plugins = {home / 'plugins'}\nprovisioning = {prov}\n"
        f"[server]\nhttp_addr = 127.0.0.1\nhttp_port = {port}\n"
        "[auth.anonymous]\nenabled = true\norg_role = Viewer\n"
        "[analytics]\nreporting_enabled = false\ncheck_for_updates = false\n"
        "check_for_plugin_updates = false\n[news]\nnews_feed_enabled = false\n"
    )
    return ini
