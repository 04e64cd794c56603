"""Fleet bench: a real sentinel scrape, written N times as N schools into a real VictoriaMetrics.

    sudo /path/to/python bench/fleet.py [--sites 100 1000] [--minutes 10]

1. Runs the central test pipeline (tests/central/pipeline.py: sentinel polling a simulated
   52-port switch with 4 uplinks, its own interfaces and LAN capture with a replayed port
   scan, in a network namespace; needs root) and takes one /metrics scrape.
2. Counts the series of that scrape per tier (full-tier interface, lean-tier interface,
   the rest) and extrapolates a site of 20 such switches and the 3,800-site region.
3. For each N: a fresh victoria-metrics (127.0.0.1, storage in a temporary directory)
   receives the scrape's series N times with `site`/`region` changed, one sample per
   60 s for --minutes minutes, through /api/v1/import/prometheus; then every query of the
   Fleet dashboard runs (all regions and schools selected) over that window.
   Reported: series and samples written, victoria-metrics CPU seconds and RSS for the
   ingestion, and each query's latency (median of 3, caches off).

Results go to bench/results/fleet-<date>.json and .md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.central.pipeline import CAPTURES, Pipeline  # noqa: E402
from tests.test_grafana import exprs, load  # noqa: E402

FLEET = ROOT / "grafana" / "dashboards" / "fleet.json"
RESULTS = ROOT / "bench" / "results"
SAMPLE = re.compile(r"^([a-zA-Z_:][\w:]*)(\{.*\})?\s+(\S+)(?:\s+\d+)?$")
SCRAPE_INTERVAL = 60


def real_scrape() -> str:
    """One /metrics body of a sentinel with a 52-port switch, capture and a detection."""
    p = Pipeline(scrape_interval="2s")
    try:
        p.start()
        p.replay(CAPTURES / "syn_scan_vertical.pcap")
        p.wait(lambda: "sentinel_detections_total{" in p.get_text(9717, "/metrics"), "detection")
        time.sleep(6)
        return p.get_text(9717, "/metrics")
    finally:
        p.stop()


def parse(body: str) -> list[tuple[str, str, float]]:
    """(name, label block without braces, value) of every sample."""
    out = []
    for line in body.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if m:
            out.append((m.group(1), (m.group(2) or "{}")[1:-1], float(m.group(3))))
    return out


def tiers(samples: list[tuple[str, str, float]]) -> dict[str, object]:
    """Series per interface by tier, per switch, and for the daemon itself."""
    per_port: dict[tuple[str, str], int] = {}
    full_ports = set()
    other = 0
    for name, labels, _ in samples:
        sw = re.search(r'switch="([^"]*)"', labels)
        idx = re.search(r'ifindex="([^"]*)"', labels)
        if name.startswith("sentinel_interface_") and sw and idx:
            key = (sw.group(1), idx.group(1))
            per_port[key] = per_port.get(key, 0) + 1
            if name == "sentinel_interface_receive_packets_total":
                full_ports.add(key)
        else:
            other += 1
    switch_ports = {k: v for k, v in per_port.items() if k[0] != "local"}
    full = [v for k, v in switch_ports.items() if k in full_ports]
    lean = [v for k, v in switch_ports.items() if k not in full_ports]
    switch_level = sum(
        1 for name, labels, _ in samples if 'switch="core"' in labels and "ifindex=" not in labels
    )
    per_switch = sum(full) + sum(lean) + switch_level
    local = sum(v for k, v in per_port.items() if k[0] == "local")
    base = other - switch_level + local
    return {
        "series_in_scrape": len(samples),
        "full_tier_series_per_port": max(full) if full else 0,
        "lean_tier_series_per_port": max(lean) if lean else 0,
        "full_ports": len(full),
        "lean_ports": len(lean),
        "series_per_switch_52_ports_4_uplinks": per_switch,
        "series_per_site_without_switches": base,
        "series_per_site_20_switches": base + 20 * per_switch,
        "series_region_3800_sites_20_switches": 3800 * (base + 20 * per_switch),
        "samples_per_second_region_at_60s": round(3800 * (base + 20 * per_switch) / 60),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_rss(pid: int) -> tuple[float, int]:
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(stat[11]) + int(stat[12])) / ticks
    rss = next(
        int(line.split()[1]) * 1024
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if line.startswith("VmRSS:")
    )
    return cpu, rss


def post(url: str, data: bytes, timeout: float = 120) -> bytes:
    with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=timeout) as r:
        return r.read()  # type: ignore[no-any-return]


def fleet_queries() -> list[str]:
    values = {
        "region": ".*", "site": ".*", "datasource": "x", "__rate_interval": "4m",
        "__interval": "1m", "__range": "10m",
    }  # fmt: skip
    pattern = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\$(\w+)")
    return [
        pattern.sub(lambda m: values[m.group(1) or m.group(2)], e)
        for e in exprs(load(FLEET))
        if e.strip() and not e.startswith("label_values")
    ]


def run_n(samples: list[tuple[str, str, float]], n: int, minutes: int) -> dict[str, object]:
    data = Path(tempfile.mkdtemp(prefix="fleet-bench-"))
    port = free_port()
    vm = subprocess.Popen(
        [
            "victoria-metrics", f"-storageDataPath={data}", f"-httpListenAddr=127.0.0.1:{port}",
            "-retentionPeriod=1d", "-search.disableCache", "-search.latencyOffset=0s",
            "-loggerLevel=ERROR",
        ],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/health", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        cpu0, rss0 = cpu_rss(vm.pid)
        now = int(time.time()) // SCRAPE_INTERVAL * SCRAPE_INTERVAL
        start = now - minutes * SCRAPE_INTERVAL
        written = 0
        t0 = time.monotonic()
        for step in range(minutes + 1):
            ts = (start + step * SCRAPE_INTERVAL) * 1000
            for chunk in range(0, n, 50):
                lines = []
                for i in range(chunk, min(n, chunk + 50)):
                    site = f'site="school-{i:04d}",region="region-{i % 10}",job="sentinel"'
                    for name, labels, value in samples:
                        v = value + step * 1000 if name.endswith("_total") else value
                        lab = f"{labels},{site}" if labels else site
                        lines.append(f"{name}{{{lab}}} {v} {ts}")
                post(base + "/api/v1/import/prometheus", "\n".join(lines).encode())
                written += len(lines)
        post(base + "/internal/force_flush", b"")
        wall = time.monotonic() - t0
        cpu1, rss1 = cpu_rss(vm.pid)
        latencies = {}
        for q in fleet_queries():
            times = []
            for _ in range(3):
                params = urllib.parse.urlencode(
                    {"query": q, "start": start, "end": now, "step": SCRAPE_INTERVAL}
                ).encode()
                t = time.monotonic()
                answer = json.loads(post(base + "/api/v1/query_range", params))
                times.append(time.monotonic() - t)
                assert answer["status"] == "success", q
                assert answer["data"]["result"], q
            latencies[q] = round(statistics.median(times) * 1000, 1)
        _, rss2 = cpu_rss(vm.pid)
        return {
            "sites": n,
            "series": n * len(samples),
            "samples_written": written,
            "ingest_wall_seconds": round(wall, 2),
            "ingest_cpu_seconds": round(cpu1 - cpu0, 2),
            "cpu_microseconds_per_sample": round((cpu1 - cpu0) / written * 1e6, 2),
            "rss_idle_mib": round(rss0 / 2**20, 1),
            "rss_after_ingest_mib": round(rss1 / 2**20, 1),
            "rss_after_queries_mib": round(rss2 / 2**20, 1),
            "fleet_query_ms": latencies,
            "fleet_dashboard_total_ms": round(sum(latencies.values()), 1),
            "slowest_query_ms": max(latencies.values()),
        }
    finally:
        vm.terminate()
        try:
            vm.wait(30)
        except subprocess.TimeoutExpired:
            vm.kill()
            vm.wait(5)
        shutil.rmtree(data, ignore_errors=True)


def markdown(result: dict[str, object]) -> str:
    t = result["tiers"]
    assert isinstance(t, dict)
    lines = [
        f"# Fleet bench, {result['date']}",
        "",
        f"victoria-metrics {result['victoria_metrics']}; {result['cpu']}; "
        f"{result['minutes']} minutes of 60 s samples per series.",
        "",
        "## Series per site (one real sentinel scrape)",
        "",
        "| quantity | series |",
        "|---|---|",
        *(f"| {k.replace('_', ' ')} | {v:,} |" for k, v in t.items()),
        "",
        "## Ingestion and Fleet dashboard latency",
        "",
        "| sites | series | samples | ingest CPU s | CPU µs/sample | RSS after ingest MiB"
        " | Fleet dashboard total ms | slowest query ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    runs = result["runs"]
    assert isinstance(runs, list)
    lines.extend(
        f"| {r['sites']:,} | {r['series']:,} | {r['samples_written']:,} | "
        f"{r['ingest_cpu_seconds']} | {r['cpu_microseconds_per_sample']} | "
        f"{r['rss_after_ingest_mib']} | {r['fleet_dashboard_total_ms']} | "
        f"{r['slowest_query_ms']} |"
        for r in runs
    )
    lines += ["", "Per query (ms, median of 3):", ""]
    for r in runs:
        lines.append(f"- N = {r['sites']:,}:")
        for q, ms in r["fleet_query_ms"].items():
            short = " ".join(q.split())[:110]
            lines.append(f"  - {ms} ms: `{short}`")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sites", type=int, nargs="+", default=[100, 1000])
    ap.add_argument("--minutes", type=int, default=10)
    args = ap.parse_args()
    if os.geteuid() != 0 or shutil.which("victoria-metrics") is None:
        sys.exit("needs root (network namespaces) and victoria-metrics, vmagent, tcpreplay")
    body = real_scrape()
    samples = parse(body)
    version = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", "victoria-metrics"],
        capture_output=True, text=True, check=False,
    ).stdout  # fmt: skip
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")), "unknown CPU",
    )  # fmt: skip
    result: dict[str, object] = {
        "date": dt.date.today().isoformat(),
        "victoria_metrics": version,
        "cpu": f"{cpu}, {os.cpu_count()} CPUs",
        "minutes": args.minutes,
        "tiers": tiers(samples),
        "runs": [run_n(samples, n, args.minutes) for n in args.sites],
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = RESULTS / f"fleet-{result['date']}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    stem.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
