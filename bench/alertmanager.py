"""Alertmanager at region size: config load time, memory and routing with a route per school.

    nice -n 15 .venv/bin/python bench/alertmanager.py [--sites 380 3800 40000]

For each N, an inventory of N schools goes through deploy/alertmanager/make_site_routes.py
twice: the template only (one `school-admin` receiver whose address comes from
templates/sites.tmpl: the base config) and with --config (one route and one receiver per
school). A real prometheus-alertmanager (Debian package) then loads each config; measured:
the time from start to /-/ready, RSS after start (VmHWM, the peak), the time of a
/-/reload, `amtool check-config`, and, up to --alert-sites schools, one SwitchDown alert per
school posted at once: the time until every school's mail has reached an SMTP sink on
127.0.0.1 and Alertmanager's CPU for it. Mail goes to that sink only.

Results: bench/results/alertmanager-<date>.json and .md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests import inventories  # noqa: E402  (the region's inventory, as the tests write it)

DEPLOY = ROOT / "deploy" / "alertmanager"
RESULTS = ROOT / "bench" / "results"
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_stats(pid: int) -> tuple[float, int]:
    """(CPU seconds, peak RSS bytes)."""
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
    status = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return cpu, int(status["VmHWM"].split()[0]) * 1024


class Sink:
    """An SMTP server on 127.0.0.1 counting the mails it receives (aiosmtpd)."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.count = 0
        sink = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                sink.count += 1
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()


def mapping(tmp: Path, n: int) -> Path:
    """The region's inventory of n schools (the one source of the routes)."""
    schools = [(f"school-{i:05d}", [f"ict@school-{i:05d}.example"]) for i in range(n)]
    return inventories.write(tmp / "inventory.yml", schools)


def configs(tmp: Path, n: int, smtp_port: int) -> dict[str, Path]:
    """The template-only and the per-school-route configs for n schools."""
    base = yaml.safe_load((DEPLOY / "alertmanager.yml").read_text())
    base["global"] |= {"smtp_smarthost": f"127.0.0.1:{smtp_port}", "smtp_require_tls": False}
    for route in [base["route"], *base["route"]["routes"]]:
        route |= {"group_wait": "0s", "group_interval": "1s"}
    base["templates"] = [str(tmp / "templates" / "*.tmpl")]
    (tmp / "base.yml").write_text(yaml.safe_dump(base))
    subprocess.run(
        [
            sys.executable, str(DEPLOY / "make_site_routes.py"), str(mapping(tmp, n)),
            str(tmp / "templates" / "sites.tmpl"), f"--config={tmp / 'base.yml'}",
            f"--config-out={tmp / 'routes.yml'}",
        ],
        check=True, capture_output=True,
    )  # fmt: skip
    return {"template": tmp / "base.yml", "routes": tmp / "routes.yml"}


def post(url: str, body: bytes) -> None:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=60).close()


def measure(tmp: Path, config: Path, n: int, alert_sites: int, sink: Sink) -> dict[str, Any]:
    assert ALERTMANAGER is not None
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data = tmp / f"data-{config.stem}"
    t0 = time.monotonic()
    am = subprocess.Popen(
        [
            ALERTMANAGER, f"--config.file={config}", f"--storage.path={data}",
            f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        while True:
            try:
                urllib.request.urlopen(url + "/-/ready", timeout=1).close()
                break
            except OSError:
                if am.poll() is not None or time.monotonic() - t0 > 300:
                    raise RuntimeError(f"alertmanager did not start with {config}") from None
                time.sleep(0.02)
        ready = time.monotonic() - t0
        cpu0, peak0 = proc_stats(am.pid)
        t = time.monotonic()
        post(url + "/-/reload", b"")
        reload_s = time.monotonic() - t
        out: dict[str, Any] = {
            "config_bytes": config.stat().st_size,
            "ready_s": round(ready, 3),
            "start_cpu_s": round(cpu0, 2),
            "reload_s": round(reload_s, 3),
            "peak_rss_mib_after_start": round(peak0 / 2**20, 1),
        }
        k = min(n, alert_sites)
        if k:
            now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 5))
            alerts = [
                {
                    "labels": {
                        "alertname": "SwitchDown",
                        "site": f"school-{i:05d}",
                        "severity": "warning",
                        "switch": "gym",
                    },
                    "annotations": {"summary": "SwitchDown"},
                    "startsAt": now,
                }
                for i in range(k)
            ]
            before = sink.count
            cpu1, _ = proc_stats(am.pid)
            t = time.monotonic()
            for j in range(0, k, 1000):
                post(url + "/api/v2/alerts", json.dumps(alerts[j : j + 1000]).encode())
            while sink.count - before < k and time.monotonic() - t < 300:
                time.sleep(0.05)
            cpu2, peak2 = proc_stats(am.pid)
            out |= {
                "alerts": k,
                "mails": sink.count - before,
                "all_mailed_s": round(time.monotonic() - t, 2),
                "cpu_s_for_alerts": round(cpu2 - cpu1, 2),
                "peak_rss_mib": round(peak2 / 2**20, 1),
            }
        return out
    finally:
        am.terminate()
        am.wait(30)


def amtool_check(config: Path) -> float:
    t = time.monotonic()
    subprocess.run(["amtool", "check-config", str(config)], check=True, capture_output=True)
    return round(time.monotonic() - t, 3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sites", type=int, nargs="+", default=[380, 3800, 40000])
    ap.add_argument("--alert-sites", type=int, default=3800, help="schools sent an alert")
    args = ap.parse_args()
    if ALERTMANAGER is None or shutil.which("amtool") is None:
        sys.exit("needs prometheus-alertmanager and amtool (Debian prometheus-alertmanager)")
    version = subprocess.run(
        [ALERTMANAGER, "--version"], capture_output=True, text=True, check=False
    ).stdout.split("\n")[0]
    runs = []
    sink = Sink()
    try:
        for n in args.sites:
            tmp = Path(tempfile.mkdtemp(prefix="am-bench-"))
            try:
                t = time.monotonic()
                paths = configs(tmp, n, sink.port)
                gen = round(time.monotonic() - t, 2)
                row: dict[str, Any] = {"sites": n, "generate_s": gen}
                for kind, path in paths.items():
                    row[kind] = measure(tmp, path, n, args.alert_sites, sink)
                    row[kind]["amtool_check_s"] = amtool_check(path)
                runs.append(row)
                print(json.dumps(row), flush=True)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    finally:
        sink.stop()
    result = {"date": dt.date.today().isoformat(), "alertmanager": version, "runs": runs}
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = RESULTS / f"alertmanager-{result['date']}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        f"# Alertmanager at region size, {result['date']}",
        "",
        f"{version}; 2 CPUs shared with other work while it ran.",
        "",
        "| sites | config | size KiB | ready s | reload s | peak RSS MiB after start"
        " | amtool check s | alerts | all mailed s | CPU s for the alerts | peak RSS MiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        for kind in ("template", "routes"):
            m = r[kind]
            lines.append(
                f"| {r['sites']:,} | {kind} | {m['config_bytes'] // 1024:,} | {m['ready_s']} | "
                f"{m['reload_s']} | {m['peak_rss_mib_after_start']} | {m['amtool_check_s']} | "
                f"{m.get('alerts', '-')} | {m.get('all_mailed_s', '-')} | "
                f"{m.get('cpu_s_for_alerts', '-')} | {m.get('peak_rss_mib', '-')} |"
            )
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
