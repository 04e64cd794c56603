"""Fleet bench: one real school of 20 switches, multiplied to N schools in VictoriaMetrics.

    sudo nice -n 15 .venv/bin/python bench/fleet.py --sites 100 300 1000

1. **Site shape.** The central test pipeline (tests/central/pipeline.py, in a network
   namespace; needs root) with 20 switches: the pipeline's simulated 52-port switch
   with moving counters and 19 Catalyst 3560 served by snmpsim from the snmpsim-data
   recording (57 ifIndexes, uplinks Gi0/49-52 in the full tier), sentinel's own
   interfaces, LAN capture with a replayed port scan, L2 (neighbours, PoE, devices) and
   connection-quality probes of four targets (tests/central/probeservers.py) with the
   verdict. vmagent scrapes sentinel with deploy/vmagent/scrape.yml and remote-writes to
   VictoriaMetrics; the bench reads the site's latest sample of every series back from
   that store, so the shape is what the region stores (labels the agent adds, `up`,
   vmagent's own kept series).
2. **N schools, one hour.** For each N, a fresh victoria-metrics (caches off) receives N
   copies with distinct `site`/`instance` values, 5 regions, and counters that move
   (interface octets at 1-95 % of the port speed, varied per school and port; every other
   counter by a per-series step), 61 samples 60 s apart:
   - minutes 0-56 backfilled through /api/v1/import (JSON lines, one line a series
     with all its samples): the fast path, reported separately;
   - minutes 57-60 sent through a real vmagent (Prometheus text to its
     /api/v1/import/prometheus; vmagent remote-writes to victoria-metrics with the
     remote-write protocol, as a school's agent does). **Ingest CPU per sample** is
     victoria-metrics' CPU for this part over its samples (the series exist already,
     as in steady state); vmagent's CPU is reported apart (it runs at each school).
3. **Rules.** A real vmalert replays deploy/rules over the hour (-replay.timeFrom/To), so
   the recorded series have a history; then every rule's expression runs as the instant
   query vmalert sends each interval (median of 3): the evaluation time per interval,
   and victoria-metrics' CPU per evaluation. With `--rule-cpus 1 2` the same data is
   opened again by a victoria-metrics pinned (taskset) to 1 CPU, then 2, and the rules
   timed again: how evaluation scales with cores.
4. **Dashboards.** Every panel target of the Fleet, Security, School, School bandwidth
   and Switch dashboards runs as Grafana sends it (range over the hour, step 60 s,
   $__rate_interval 4m, $__range 1h, or instant where the panel is instant; Fleet and
   Security with every region and school, the others with one school), 20 refreshes,
   one query at a time: median and p95 per query, and per refresh the sum over the
   dashboard (Grafana runs a dashboard's queries concurrently: the sum bounds it).
5. RSS (peak and after the queries) and disk of victoria-metrics per million series.

Results: bench/results/fleet-<date>.json and .md; `--fit` adds least-squares lines
through the measured points, evaluated at 3,800 and 40,000 schools (extrapolated).
"""

from __future__ import annotations

import argparse
import bz2
import concurrent.futures as cf
import datetime as dt
import json
import math
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
import zlib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from tests.central.pipeline import CAPTURES, REGION, SITE, Pipeline  # noqa: E402
from tests.test_grafana import load, query_panels, variables  # noqa: E402

DASHBOARDS = ROOT / "grafana" / "dashboards"
RULES = sorted((ROOT / "deploy" / "rules").glob("*.rules.yml"))
RESULTS = ROOT / "bench" / "results"
STEP = 60  # seconds between samples, the edge scrape interval
MINUTES = 60  # one hour: 61 samples
LIVE = 4  # the last 4 samples go through vmagent
REGIONS = 5
VARIANTS = 16  # distinct traffic patterns; school i gets pattern i % VARIANTS
REFRESHES = 20
RECORDED_SWITCHES = 19  # plus the pipeline's own 52-port switch: 20
RECORDING = "data/network/switch/cisco-c3560.snmprec.bz2"
KEEP = ("1.3.6.1.2.1.1.", "1.3.6.1.2.1.2.", "1.3.6.1.2.1.31.")
UPLINKS = r"Gi0/(49|5[0-2])"
SNMPSIM_PORT = 1162
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
SITE_MARK, REGION_MARK = "@@SITE@@", "@@REGION@@"


# -- 1. one real site -------------------------------------------------------------------
class SitePipeline(Pipeline):
    """The central pipeline with 19 recorded Catalyst 3560 switches besides ``core``."""

    def start_more_switches(self) -> None:
        import snmpsim_data

        data, cache = self.tmp / "snmpsim-data", self.tmp / "snmpsim-cache"
        data.mkdir()
        cache.mkdir()
        with bz2.open(Path(snmpsim_data.__file__).parent / RECORDING, "rt") as f:
            text = "".join(line for line in f if line.startswith(KEEP))
        for i in range(1, RECORDED_SWITCHES + 1):
            (data / f"sw{i:02d}.snmprec").write_text(text)
        exe = Path(sys.executable).parent / "snmpsim-command-responder"
        self._spawn(
            "snmpsim", "env", "SNMPSIM_ALLOW_ROOT=true", str(exe), "--log-level=error",
            f"--data-dir={data}", f"--cache-dir={cache}",
            f"--agent-udpv4-endpoint=127.0.0.1:{SNMPSIM_PORT}",
        )  # fmt: skip

        def answers() -> bool:
            get = ["snmpget", "-v2c", "-c", f"sw{RECORDED_SWITCHES:02d}", "-t", "1", "-r", "0"]
            r = subprocess.run(
                ["ip", "netns", "exec", self.a, *get, f"127.0.0.1:{SNMPSIM_PORT}", SYS_UPTIME],
                capture_output=True, text=True, check=False, timeout=10,
            )  # fmt: skip
            return "Timeticks" in r.stdout

        self.wait(answers, "snmpsim answers", timeout=120)

    def more_switches(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        names = [f"sw{i:02d}" for i in range(1, RECORDED_SWITCHES + 1)]
        auths = {n: {"version": "2c", "community": n} for n in names}
        switches = [
            {"name": n, "address": f"127.0.0.1:{SNMPSIM_PORT}", "auth": n, "uplinks": [UPLINKS]}
            for n in names
        ]
        return auths, switches


def real_site() -> list[tuple[dict[str, str], float]]:
    """Every series of one school as the region stores it, with its latest value."""
    # Probes as a school runs them (ICMP, DNS, HTTP and HTTPS targets; docs/PROBES.md), so
    # the shape holds their histograms and the verdict beside the switches' L2 series.
    p = SitePipeline(scrape_interval="5s", probes=True)
    try:
        p.start()
        p.replay(CAPTURES / "syn_scan_vertical.pcap")
        p.wait(lambda: p.instant(f'sentinel_detections_total{{site="{SITE}"}}'), "a detection")
        p.wait(
            lambda: len(p.instant(f'sentinel_switch_up{{site="{SITE}"}} == 1')) == 20,
            "all 20 switches answer",
            timeout=120,
        )
        time.sleep(12)  # two more scrapes, so every series has a fresh sample
        rows = p.instant(f'{{site="{SITE}"}}')
    finally:
        p.stop()
    found = [(r["metric"], float(r["value"][1])) for r in rows]
    return [(labels, v) for labels, v in found if math.isfinite(v)]


def shape(series: list[tuple[dict[str, str], float]]) -> dict[str, Any]:
    """Series counts of the site by kind."""
    names: dict[str, int] = {}
    for labels, _ in series:
        names[labels["__name__"]] = names.get(labels["__name__"], 0) + 1
    interfaces = sum(v for k, v in names.items() if k.startswith("sentinel_interface_"))
    switches = {labels.get("switch") for labels, _ in series if "switch" in labels} - {"local"}
    return {
        "series_per_site": len(series),
        "switches": len(switches),
        "interface_series": interfaces,
        "other_series": len(series) - interfaces,
        "series_by_name": dict(sorted(names.items(), key=lambda kv: -kv[1])),
    }


# -- 2. N sites, one hour -------------------------------------------------------------
def _frac(*key: object) -> float:
    return zlib.crc32(repr(key).encode()) / 2**32


def increments(series: list[tuple[dict[str, str], float]], variant: int) -> list[float]:
    """Per-minute increment of each series (0 for gauges)."""
    speed = {
        (lab.get("switch"), lab.get("ifindex")): v
        for lab, v in series
        if lab["__name__"] == "sentinel_interface_speed_bytes"
    }
    out = []
    for lab, _ in series:
        name = lab["__name__"]
        port = (lab.get("switch"), lab.get("ifindex"))
        if name.startswith("sentinel_interface_") and name.endswith(
            ("_bytes_total", "_packets_total")
        ):
            direction = "receive" if "receive" in name else "transmit"
            u = 0.01 + 0.94 * _frac(variant, port, direction) ** 2
            rate = (speed.get(port) or 12.5e6) * u * STEP
            out.append(rate if name.endswith("_bytes_total") else rate / 700)
        elif name.endswith(("_bucket", "_count", "_sum")):
            out.append(1.0)
        elif name.endswith("_total"):
            out.append(float(1 + int(50 * _frac(variant, name, sorted(lab.items())))))
        else:
            out.append(0.0)
    return out


def _marked(labels: dict[str, str]) -> dict[str, str]:
    out = {}
    for k, v in labels.items():
        out[k] = v.replace(SITE, SITE_MARK).replace(REGION, REGION_MARK)
    return out


def _num(x: float) -> str:
    return str(int(x)) if x == int(x) and abs(x) < 2**63 else repr(x)


def _text_labels(labels: dict[str, str]) -> str:
    parts = []
    for k, v in labels.items():
        if k == "__name__":
            continue
        v = v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
        parts.append(f'{k}="{v}"')
    return labels["__name__"] + "{" + ",".join(parts) + "}"


def site_name(i: int) -> tuple[str, str]:
    return f"school-{i:05d}", f"region-{i % REGIONS}"


class Blobs:
    """The site's series rendered once per traffic pattern, with the site to fill in."""

    def __init__(self, series: list[tuple[dict[str, str], float]], start: int) -> None:
        ts_back = [(start + k * STEP) * 1000 for k in range(MINUTES + 1 - LIVE)]
        ts_json = json.dumps(ts_back)
        self.backfill: list[str] = []
        self.live: list[list[str]] = []
        metrics = [json.dumps(_marked(lab), separators=(",", ":")) for lab, _ in series]
        texts = [_text_labels(_marked(lab)) for lab, _ in series]
        for variant in range(VARIANTS):
            inc = increments(series, variant)
            lines = []
            for m, (_, value), d in zip(metrics, series, inc, strict=True):
                values = ",".join(_num(value + d * k) for k in range(len(ts_back)))
                lines.append(f'{{"metric":{m},"values":[{values}],"timestamps":{ts_json}}}')
            self.backfill.append("\n".join(lines) + "\n")
            steps = []
            for k in range(MINUTES + 1 - LIVE, MINUTES + 1):
                ts = (start + k * STEP) * 1000
                steps.append(
                    "".join(
                        f"{t} {_num(value + d * k)} {ts}\n"
                        for t, (_, value), d in zip(texts, series, inc, strict=True)
                    )
                )
            self.live.append(steps)

    @staticmethod
    def fill(blob: str, i: int) -> bytes:
        site, region = site_name(i)
        return blob.replace(SITE_MARK, site).replace(REGION_MARK, region).encode()


# -- processes and HTTP -----------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_stats(pid: int) -> tuple[float, int, int]:
    """(CPU seconds, RSS bytes, peak RSS bytes) of a process."""
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
    status = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return cpu, int(status["VmRSS"].split()[0]) * 1024, int(status["VmHWM"].split()[0]) * 1024


def post(url: str, data: bytes, timeout: float = 600) -> bytes:
    req = urllib.request.Request(url, data=data)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.read()  # type: ignore[no-any-return]


def get(url: str, timeout: float = 30) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()  # type: ignore[no-any-return]


def wait_http(url: str, proc: subprocess.Popen[bytes], what: str) -> None:
    for _ in range(300):
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited")
        try:
            get(url, timeout=1)
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not start")


def counter(metrics: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in metrics.splitlines():
        if line.startswith(name) and all(f'{k}="{v}"' in line for k, v in labels.items()):
            rest = line[len(name) :]
            if rest[:1] in ("{", " "):
                total += float(line.rsplit(" ", 1)[1])
    return total


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


# -- 3. rules -------------------------------------------------------------------------
def rules(files: list[Path] = RULES) -> list[tuple[str, str, str]]:
    """(group, name, expr) of every rule."""
    return [
        (group["name"], rule.get("record") or rule["alert"], rule["expr"])
        for path in files
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    ]


def _seconds(duration: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([smh])", duration))


def group_intervals(files: list[Path] = RULES) -> dict[str, int]:
    """Each rule group's evaluation interval in seconds (vmalert's default: 1m)."""
    return {
        group["name"]: _seconds(group.get("interval", "1m"))
        for path in files
        for group in yaml.safe_load(path.read_text())["groups"]
    }


def time_rules(vm_url: str, pid: int, at: int, files: list[Path] = RULES) -> dict[str, Any]:
    """Every rule's query at ``at``: median wall ms of 3, victoria-metrics CPU ms per run,
    and per group the sum per evaluation and the share of its interval."""
    wall: dict[str, float] = {}
    cpu: dict[str, float] = {}
    found: dict[str, int] = {}
    load0 = os.getloadavg()[0]
    for group, name, expr in rules(files):
        times = []
        c0, _, _ = proc_stats(pid)
        for _ in range(3):
            params = urllib.parse.urlencode({"query": expr, "time": at}).encode()
            t = time.monotonic()
            answer = json.loads(post(vm_url + "/api/v1/query", params))
            times.append(time.monotonic() - t)
            if answer.get("status") != "success":
                raise RuntimeError(f"rule {name}: {answer}")
        c1, _, _ = proc_stats(pid)
        wall[f"{group}/{name}"] = round(statistics.median(times) * 1000, 1)
        found[f"{group}/{name}"] = len(answer["data"]["result"])
        cpu[f"{group}/{name}"] = round((c1 - c0) / 3 * 1000, 1)
    return summarise(wall, cpu, found, [round(load0, 2), round(os.getloadavg()[0], 2)], files)


def summarise(
    wall: dict[str, float],
    cpu: dict[str, float],
    found: dict[str, int],
    load: list[float],
    files: list[Path] = RULES,
) -> dict[str, Any]:
    """Per-rule figures (keys ``group/name``) with their sums per group."""
    intervals = group_intervals(files)

    def per_group(ms: dict[str, float]) -> dict[str, float]:
        return {
            g: round(sum(v for k, v in ms.items() if k.startswith(g + "/")), 1)
            for g in dict.fromkeys(k.split("/")[0] for k in ms)
        }

    per_eval = per_group(wall)
    cpu_eval = per_group(cpu)
    return {
        "rule_query_ms": wall,
        "rule_query_cpu_ms": cpu,
        "rule_result_series": found,
        "rules_per_interval_ms": per_eval,
        "rules_cpu_per_interval_ms": cpu_eval,
        "rule_group_interval_s": {g: intervals[g] for g in per_eval},
        # Wall time of a group's evaluation over its interval (vmalert runs a group's
        # rules one after the other): must stay well under 1.
        "rules_interval_share": {g: round(v / 1000 / intervals[g], 4) for g, v in per_eval.items()},
        # victoria-metrics CPU seconds per second for all groups: cores the rules keep busy.
        "rules_cpu_cores": round(sum(v / 1000 / intervals[g] for g, v in cpu_eval.items()), 4),
        "load_average_1m": load,
    }


def regroup(timed: dict[str, Any]) -> dict[str, Any]:
    """Figures timed under an earlier grouping, summed by the groups of RULES now (each
    rule's query is the same whichever group holds it)."""
    group_of = {name: group for group, name, _ in rules()}

    def key(k: str) -> str:
        name = k.split("/", 1)[1]
        return f"{group_of[name]}/{name}"

    order = [f"{g}/{n}" for g, n, _ in rules()]

    def remap(d: dict[str, Any]) -> dict[str, Any]:
        m = {key(k): v for k, v in d.items()}
        return {k: m[k] for k in order if k in m}

    return summarise(
        remap(timed["rule_query_ms"]),
        remap(timed["rule_query_cpu_ms"]),
        remap(timed["rule_result_series"]),
        timed["load_average_1m"],
    )


# -- 4. dashboards --------------------------------------------------------------------
LABEL_VALUES = re.compile(r"\s*label_values\((.*),\s*(\w+)\s*\)\s*", re.DOTALL)
_VAR = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\$(\w+)|\[\[(\w+)\]\]")


def dashboard_queries(path: Path, site: str, switch: str) -> list[tuple[str, str, bool]]:
    """(panel title, query, instant) of every target, variables as the bench selects them."""
    d = load(path)
    values = {"__rate_interval": "4m", "__interval": "1m", "__range": "1h", "datasource": "x"}
    for v in variables(d):
        if v["name"] in ("datasource", "region") or v.get("includeAll"):
            values[v["name"]] = ".*" if v["name"] != "datasource" else "x"
        elif v["name"] == "site":
            values["site"] = site
        elif v["name"] == "switch":
            values["switch"] = switch
        else:
            values[v["name"]] = ".*"
    out = []
    for v in variables(d):
        query = v.get("query")
        query = query.get("query", "") if isinstance(query, dict) else str(query or "")
        if v["type"] == "query" and query:
            out.append(
                (
                    f"${v['name']}",
                    _VAR.sub(lambda m: values[next(g for g in m.groups() if g)], query),
                    False,
                )
            )
    for panel in query_panels(d):
        for t in panel["targets"]:
            expr = _VAR.sub(lambda m: values[next(g for g in m.groups() if g)], t["expr"])
            out.append((panel["title"], expr, bool(t.get("instant"))))
    return out


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(q * (len(xs) - 1))))]


# -- one N ----------------------------------------------------------------------------
def run_n(
    series: list[tuple[dict[str, str], float]],
    n: int,
    refreshes: int,
    rule_cpus: list[int],
    baseline: list[Path],
) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="fleet-bench-"))
    end = int(time.time()) // STEP * STEP - STEP
    start = end - MINUTES * STEP
    t_blobs = time.monotonic()
    blobs = Blobs(series, start)
    print(f"N={n}: site blobs in {time.monotonic() - t_blobs:.1f} s", flush=True)
    vm_port, agent_port = free_port(), free_port()
    vm_url = f"http://127.0.0.1:{vm_port}"
    data = tmp / "vm"
    vm_args = [
        "victoria-metrics", f"-storageDataPath={data}", f"-httpListenAddr=127.0.0.1:{vm_port}",
        "-retentionPeriod=30d", "-search.disableCache", "-search.latencyOffset=0s",
        "-search.maxUniqueTimeseries=100000000", "-search.maxQueryDuration=600s",
        "-search.maxSamplesPerQuery=10000000000", "-loggerLevel=ERROR",
    ]  # fmt: skip
    vm = subprocess.Popen(vm_args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs = [vm]
    result: dict[str, Any] = {"sites": n, "series": n * len(series)}
    try:
        wait_http(vm_url + "/health", vm, "victoria-metrics")
        # Backfill: minutes 0-56 through /api/v1/import.
        cpu0, _, _ = proc_stats(vm.pid)
        t0 = time.monotonic()
        with cf.ThreadPoolExecutor(2) as pool:
            list(
                pool.map(
                    lambda i: post(
                        vm_url + "/api/v1/import", Blobs.fill(blobs.backfill[i % VARIANTS], i)
                    ),
                    range(n),
                )
            )
        post(vm_url + "/internal/force_flush", b"")
        cpu1, rss1, _ = proc_stats(vm.pid)
        back_samples = n * len(series) * (MINUTES + 1 - LIVE)
        result["backfill"] = {
            "path": "/api/v1/import (JSON lines)",
            "samples": back_samples,
            "wall_s": round(time.monotonic() - t0, 1),
            "vm_cpu_s": round(cpu1 - cpu0, 1),
            "vm_cpu_us_per_sample": round((cpu1 - cpu0) / back_samples * 1e6, 3),
            "rss_mib": round(rss1 / 2**20),
        }
        print(f"N={n}: backfill {result['backfill']}", flush=True)
        # Live: minutes 57-60 through vmagent's remote write.
        agent = subprocess.Popen(
            [
                "vmagent", f"-httpListenAddr=127.0.0.1:{agent_port}",
                f"-remoteWrite.url={vm_url}/api/v1/write",
                f"-remoteWrite.tmpDataPath={tmp / 'vmagent'}",
                "-remoteWrite.maxDiskUsagePerURL=8GiB", "-loggerLevel=ERROR",
            ],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        procs.append(agent)
        agent_url = f"http://127.0.0.1:{agent_port}"
        wait_http(agent_url + "/health", agent, "vmagent")
        inserted0 = counter(
            get(vm_url + "/metrics"), "vm_rows_inserted_total", type="promremotewrite"
        )
        vm_cpu0, _, _ = proc_stats(vm.pid)
        ag_cpu0, _, _ = proc_stats(agent.pid)
        t0 = time.monotonic()
        live_samples = n * len(series) * LIVE
        for k in range(LIVE):
            with cf.ThreadPoolExecutor(2) as pool:
                list(
                    pool.map(
                        lambda i, k=k: post(
                            agent_url + "/api/v1/import/prometheus",
                            Blobs.fill(blobs.live[i % VARIANTS][k], i),
                        ),
                        range(n),
                    )
                )
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            done = counter(
                get(vm_url + "/metrics"), "vm_rows_inserted_total", type="promremotewrite"
            )
            if done - inserted0 >= live_samples:
                break
            time.sleep(0.5)
        else:
            raise RuntimeError("vmagent did not deliver every sample in 15 minutes")
        post(vm_url + "/internal/force_flush", b"")
        vm_cpu1, rss2, _ = proc_stats(vm.pid)
        ag_cpu1, _, _ = proc_stats(agent.pid)
        result["live"] = {
            "path": "Prometheus text -> vmagent -> remote write -> victoria-metrics",
            "samples": live_samples,
            "wall_s": round(time.monotonic() - t0, 1),
            "vm_cpu_s": round(vm_cpu1 - vm_cpu0, 1),
            "vm_cpu_us_per_sample": round((vm_cpu1 - vm_cpu0) / live_samples * 1e6, 3),
            "vmagent_cpu_us_per_sample": round((ag_cpu1 - ag_cpu0) / live_samples * 1e6, 3),
            "vm_rss_mib": round(rss2 / 2**20),
        }
        print(f"N={n}: live {result['live']}", flush=True)
        stop(agent)
        procs.remove(agent)
        # Rules: replay the hour with the real vmalert, then time each rule's query.
        vm_cpu0, _, _ = proc_stats(vm.pid)
        t0 = time.monotonic()
        fmt = "%Y-%m-%dT%H:%M:%SZ"
        replay = subprocess.run(
            [
                "vmalert", *(f"-rule={p}" for p in RULES), f"-datasource.url={vm_url}",
                f"-remoteWrite.url={vm_url}", "-replay.rulesDelay=2s",
                "-remoteWrite.maxQueueSize=50000000",
                "-replay.timeFrom=" + time.strftime(fmt, time.gmtime(start + 10 * STEP)),
                "-replay.timeTo=" + time.strftime(fmt, time.gmtime(end + 1)),
                "-loggerLevel=ERROR", f"-httpListenAddr=127.0.0.1:{free_port()}",
            ],
            capture_output=True, text=True, timeout=1800, check=False, cwd=tmp,
        )  # fmt: skip
        if replay.returncode != 0:
            raise RuntimeError(
                f"vmalert replay failed: {replay.stdout[-2000:]}{replay.stderr[-2000:]}"
            )
        post(vm_url + "/internal/force_flush", b"")
        vm_cpu1, _, _ = proc_stats(vm.pid)
        result["replay"] = {
            "wall_s": round(time.monotonic() - t0, 1),
            "vm_cpu_s": round(vm_cpu1 - vm_cpu0, 1),
            "evaluations": MINUTES - 10,
        }
        result.update(time_rules(vm_url, vm.pid, end))
        print(f"N={n}: rules {result['rules_per_interval_ms']}", flush=True)
        if baseline:  # other rule files' expressions on the same data, for comparison
            result["baseline_rules"] = {
                "files": [str(f) for f in baseline],
                **time_rules(vm_url, vm.pid, end, baseline),
            }
            print(f"N={n}: baseline {result['baseline_rules']['rules_per_interval_ms']}")
        # Dashboards.
        site, _ = site_name(0)
        dashboards: dict[str, Any] = {}
        for path in sorted(DASHBOARDS.glob("*.json")):
            queries = dashboard_queries(path, site, "sw01")  # no regex characters
            lat: list[list[float]] = [[] for _ in queries]
            empty = set()
            for _ in range(refreshes):
                for j, (title, q, instant) in enumerate(queries):
                    m = LABEL_VALUES.fullmatch(q)
                    if title.startswith("$") and m:  # a variable: Grafana asks the label API
                        params = {"match[]": m.group(1), "start": end - 3600, "end": end}
                        url = vm_url + f"/api/v1/label/{m.group(2)}/values"
                    elif instant:
                        params = {"query": q, "time": end}
                        url = vm_url + "/api/v1/query"
                    else:
                        params = {"query": q, "start": end - 3600, "end": end, "step": STEP}
                        url = vm_url + "/api/v1/query_range"
                    t = time.monotonic()
                    answer = json.loads(post(url, urllib.parse.urlencode(params).encode()))
                    lat[j].append(time.monotonic() - t)
                    if answer.get("status") != "success":
                        raise RuntimeError(f"{path.name}: {q}: {answer}")
                    got = answer["data"]
                    if not (got if isinstance(got, list) else got["result"]):
                        empty.add(j)
            totals = [sum(lat[j][r] for j in range(len(queries))) for r in range(refreshes)]
            dashboards[load(path)["title"]] = {
                "queries": [
                    {
                        "panel": title,
                        "instant": instant,
                        "median_ms": round(statistics.median(lat[j]) * 1000, 1),
                        "p95_ms": round(percentile(lat[j], 0.95) * 1000, 1),
                        "empty": j in empty,
                        "expr": " ".join(q.split()),
                    }
                    for j, (title, q, instant) in enumerate(queries)
                ],
                "total_median_ms": round(statistics.median(totals) * 1000, 1),
                "total_p95_ms": round(percentile(totals, 0.95) * 1000, 1),
            }
            total = dashboards[load(path)["title"]]["total_p95_ms"]
            print(f"N={n}: {path.name} total p95 {total} ms", flush=True)
        result["dashboards"] = dashboards
        post(vm_url + "/internal/force_flush", b"")
        _, rss, peak = proc_stats(vm.pid)
        disk = du(data)
        million = n * len(series) / 1e6
        result["vm"] = {
            "rss_mib": round(rss / 2**20),
            "peak_rss_mib": round(peak / 2**20),
            "disk_mib": round(disk / 2**20),
            "peak_rss_mib_per_million_series": round(peak / 2**20 / million),
            "disk_mib_per_million_series_hour": round(disk / 2**20 / million),
        }
        # The same data opened by a victoria-metrics pinned to 1, 2, ... CPUs: the rules again.
        by_cpus: dict[str, Any] = {}
        for cpus in rule_cpus:
            stop(vm)
            procs.remove(vm)
            vm = subprocess.Popen(
                ["taskset", "-c", f"0-{cpus - 1}", *vm_args],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            procs.append(vm)
            wait_http(vm_url + "/health", vm, "victoria-metrics")
            by_cpus[str(cpus)] = time_rules(vm_url, vm.pid, end)
            print(f"N={n}, {cpus} CPU: rules {by_cpus[str(cpus)]['rules_per_interval_ms']}")
        if by_cpus:
            result["rules_by_cpus"] = by_cpus
        return result
    finally:
        for p in procs[::-1]:
            stop(p)
        shutil.rmtree(tmp, ignore_errors=True)


# -- fit --------------------------------------------------------------------------------
def line(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares a + b·x."""
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else 0.0
    return my - b * mx, b


def fit(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each figure as a line in N through the measured points, at 3,800 and 40,000 sites."""
    if len(runs) < 2:
        return {}
    xs = [float(r["sites"]) for r in runs]
    figures: dict[str, list[float]] = {
        "vm peak RSS MiB": [r["vm"]["peak_rss_mib"] for r in runs],
        "vm disk MiB (1 h)": [r["vm"]["disk_mib"] for r in runs],
        **{
            f"rules {g} ms per interval": [r["rules_per_interval_ms"][g] for r in runs]
            for g in runs[0]["rules_per_interval_ms"]
        },
    }
    if all("rules_cpu_cores" in r for r in runs):
        figures["rules: victoria-metrics cores busy"] = [r["rules_cpu_cores"] for r in runs]
        for g in runs[0]["rules_cpu_per_interval_ms"]:
            figures[f"rules {g} CPU ms per interval"] = [
                r["rules_cpu_per_interval_ms"][g] for r in runs
            ]
    for cpus in runs[0].get("rules_by_cpus", {}):
        if all(cpus in r.get("rules_by_cpus", {}) for r in runs):
            for g in runs[0]["rules_by_cpus"][cpus]["rules_per_interval_ms"]:
                figures[f"rules {g} ms per interval, {cpus} CPU"] = [
                    r["rules_by_cpus"][cpus]["rules_per_interval_ms"][g] for r in runs
                ]
    for title in runs[0]["dashboards"]:
        figures[f"{title}: total p95 ms"] = [r["dashboards"][title]["total_p95_ms"] for r in runs]
        figures[f"{title}: slowest query p95 ms"] = [
            max(q["p95_ms"] for q in r["dashboards"][title]["queries"]) for r in runs
        ]
    out = {}
    for name, ys in figures.items():
        a, b = line(xs, ys)
        out[name] = {
            "measured": dict(zip([int(x) for x in xs], ys, strict=True)),
            "intercept": round(a, 3),
            "per_site": round(b, 5),
            "at_3800": round(a + b * 3800, 1),
            "at_40000": round(a + b * 40000, 1),
        }
    return out


# -- report ---------------------------------------------------------------------------
def markdown(result: dict[str, Any]) -> str:
    s = result["site"]
    lines = [
        f"# Fleet bench, {result['date']}",
        "",
        f"victoria-metrics {result['victoria_metrics']}; {result['cpu']}; shared with other",
        "work while it ran (latencies are upper bounds). One hour of 60 s samples per series.",
        "",
        f"Site: {s['switches']} switches, {s['series_per_site']:,} series "
        f"({s['interface_series']:,} interface series, {s['other_series']:,} others).",
        "",
        "## Ingestion, memory, disk",
        "",
        "| sites | series | backfill µs/sample | remote-write µs/sample (vm) | vmagent µs/sample"
        " | peak RSS MiB | RSS MiB/M series | disk MiB | disk MiB/M series |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    lines.extend(
        f"| {r['sites']:,} | {r['series']:,} | {r['backfill']['vm_cpu_us_per_sample']} | "
        f"{r['live']['vm_cpu_us_per_sample']} | {r['live']['vmagent_cpu_us_per_sample']} | "
        f"{r['vm']['peak_rss_mib']:,} | {r['vm']['peak_rss_mib_per_million_series']:,} | "
        f"{r['vm']['disk_mib']:,} | {r['vm']['disk_mib_per_million_series_hour']:,} |"
        for r in result["runs"]
    )
    lines += ["", "## Rule evaluation (one interval: each rule's query, summed per group)", ""]
    lines += [
        "| sites | "
        + " | ".join(result["runs"][0]["rules_per_interval_ms"])
        + " | replay of the hour s |"
    ]
    lines += ["|---|" + "---|" * (len(result["runs"][0]["rules_per_interval_ms"]) + 1)]
    for r in result["runs"]:
        lines.append(
            f"| {r['sites']:,} | "
            + " | ".join(f"{v:,} ms" for v in r["rules_per_interval_ms"].values())
            + f" | {r['replay']['wall_s']} |"
        )
    if "rules_cpu_cores" in result["runs"][0]:
        lines += [
            "",
            "Per group: wall ms per evaluation / interval (share of the interval), "
            "victoria-metrics CPU ms per evaluation; cores = CPU s per s over all groups.",
            "",
            "| sites | CPUs | group | interval s | wall ms | share | CPU ms |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in result["runs"]:
            timed = [("all", r), *((c, t) for c, t in r.get("rules_by_cpus", {}).items())]
            for cpus, t in timed:
                for g, v in t["rules_per_interval_ms"].items():
                    lines.append(
                        f"| {r['sites']:,} | {cpus} | {g} | {t['rule_group_interval_s'][g]} | "
                        f"{v:,} | {t['rules_interval_share'][g]} | "
                        f"{t['rules_cpu_per_interval_ms'][g]:,} |"
                    )
                lines.append(
                    f"| {r['sites']:,} | {cpus} | cores busy | | | | {t['rules_cpu_cores']} "
                    f"(load {t['load_average_1m'][0]}-{t['load_average_1m'][1]}) |"
                )
    lines += ["", "## Dashboards (20 refreshes; total = sum of the dashboard's queries)", ""]
    lines += ["| dashboard | sites | total median ms | total p95 ms | slowest query p95 ms |"]
    lines += ["|---|---|---|---|---|"]
    for title in result["runs"][0]["dashboards"]:
        for r in result["runs"]:
            d = r["dashboards"][title]
            slow = max(d["queries"], key=lambda q: q["p95_ms"])
            lines.append(
                f"| {title} | {r['sites']:,} | {d['total_median_ms']} | {d['total_p95_ms']} | "
                f"{slow['p95_ms']} ({slow['panel']}) |"
            )
    if result.get("fit"):
        lines += [
            "",
            "## Fitted (least squares a + b·N through the measured points; extrapolated)",
            "",
            "| figure | measured | at 3,800 sites | at 40,000 sites |",
            "|---|---|---|---|",
        ]
        for name, f in result["fit"].items():
            measured = ", ".join(f"{k:,}: {v:,}" for k, v in f["measured"].items())
            lines.append(f"| {name} | {measured} | {f['at_3800']:,} | {f['at_40000']:,} |")
    lines += ["", "## Per query (p95 ms at each N)", ""]
    for title in result["runs"][0]["dashboards"]:
        lines.append(f"- {title}:")
        for j, q in enumerate(result["runs"][0]["dashboards"][title]["queries"]):
            p95 = ", ".join(
                f"{r['dashboards'][title]['queries'][j]['p95_ms']}" for r in result["runs"]
            )
            empty = (
                " (empty)"
                if any(r["dashboards"][title]["queries"][j]["empty"] for r in result["runs"])
                else ""
            )
            lines.append(f"  - {q['panel']}: {p95}{empty}")
    with_baseline = [r for r in result["runs"] if "baseline_rules" in r]  # runs that had one
    if with_baseline:
        lines += ["", "## Baseline rule files on the same data (ms at each N)", ""]
        lines += ["Files: " + ", ".join(with_baseline[0]["baseline_rules"]["files"]), ""]
        for name in with_baseline[0]["baseline_rules"]["rule_query_ms"]:
            lines.append(
                f"- {name}: "
                + ", ".join(
                    f"{r['baseline_rules']['rule_query_ms'][name]}"
                    f" (CPU {r['baseline_rules']['rule_query_cpu_ms'][name]})"
                    for r in with_baseline
                )
            )
        for r in with_baseline:
            b = r["baseline_rules"]
            lines.append(
                f"- {r['sites']:,} sites, per group: {b['rules_per_interval_ms']}; "
                f"cores busy {b['rules_cpu_cores']}"
            )
    lines += ["", "## Rule queries (ms at each N)", ""]
    for name in result["runs"][0]["rule_query_ms"]:
        lines.append(
            f"- {name}: "
            + ", ".join(
                f"{r['rule_query_ms'][name]}"
                + (f" (CPU {r['rule_query_cpu_ms'][name]})" if "rule_query_cpu_ms" in r else "")
                + (f" [{r['rule_result_series'][name]:,}]" if "rule_result_series" in r else "")
                + "".join(
                    f"; {c} CPU {t['rule_query_ms'][name]}"
                    for c, t in r.get("rules_by_cpus", {}).items()
                )
                for r in result["runs"]
            )
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sites", type=int, nargs="*", default=[100, 300])
    ap.add_argument("--refreshes", type=int, default=REFRESHES)
    ap.add_argument("--site-shape", type=Path, help="reuse a site shape saved by an earlier run")
    ap.add_argument("--merge", type=Path, nargs="*", default=[], help="earlier results to fit with")
    ap.add_argument("--out", default="", help="suffix of the result files")
    ap.add_argument(
        "--rule-cpus", type=int, nargs="*", default=[],
        help="time the rules again with victoria-metrics pinned to this many CPUs (taskset)",
    )  # fmt: skip
    ap.add_argument(
        "--baseline-rules", type=Path, nargs="*", default=[],
        help="rule files (e.g. an earlier revision's) whose expressions are timed as well",
    )  # fmt: skip
    args = ap.parse_args()
    for tool in ("victoria-metrics", "vmagent", "vmalert"):
        if shutil.which(tool) is None:
            sys.exit(f"needs {tool} (Debian package victoria-metrics)")
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.site_shape:
        series = [(lab, v) for lab, v in json.loads(args.site_shape.read_text())]
    else:
        if os.geteuid() != 0:
            sys.exit("needs root (network namespaces) to record the site")
        series = real_site()
        (RESULTS / "fleet-site.json").write_text(json.dumps(series) + "\n")
    version = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", "victoria-metrics"],
        capture_output=True, text=True, check=False,
    ).stdout  # fmt: skip
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")), "unknown CPU",
    )  # fmt: skip
    runs = []
    for path in args.merge:
        for run in json.loads(path.read_text())["runs"]:
            if "rule_result_series" in run:  # timed with this bench: sum by today's groups
                run.update(regroup(run))
                for t in run.get("rules_by_cpus", {}).values():
                    t.update(regroup(t))
            runs.append(run)
    runs.extend(
        run_n(series, n, args.refreshes, args.rule_cpus, args.baseline_rules) for n in args.sites
    )
    runs.sort(key=lambda r: r["sites"])
    result: dict[str, Any] = {
        "date": dt.date.today().isoformat(),
        "victoria_metrics": version,
        "cpu": f"{cpu}, {os.cpu_count()} CPUs",
        "site": shape(series),
        "runs": runs,
        "fit": fit(runs),
    }
    stem = RESULTS / f"fleet-{result['date']}{args.out}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    stem.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
