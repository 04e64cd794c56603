"""Connection-quality probing cost: sentinel against blackbox_exporter and smokeping's fping.

Fifty targets on loopback, each tool probing them at sentinel's default schedule, all at
once in one run; CPU seconds per hour and memory (PSS) of each, and ratios to the anchors.

Two rows, one after the other:

- ``icmp``: 50 ICMP targets (``127.0.1.1`` ... ``127.0.1.50``), 20 echo requests per
  target per minute. sentinel: its default ICMP schedule (a burst of 20 pings 1 s apart
  every 60 s). blackbox_exporter: module ``icmp`` (one echo per probe) scraped every 3 s
  per target, the same 20 echoes a minute. fping: what smokeping's FPing probe runs every
  minute, ``fping -C 20 -q -B1 -r1 -i10`` over every target; CPU from ``wait4``.
- ``mixed``: 20 ICMP, 10 HTTP (a local HTTP server), 10 DNS (dnsmasq on loopback) and 10
  TCP targets. sentinel: default schedules (ICMP as above, the others one round a
  minute). blackbox_exporter: ICMP scraped every 3 s, the others every 60 s (as a
  Prometheus would, with a 60 s scrape interval). fping has no HTTP, DNS or TCP.

Sentinel runs twice side by side: with the targets, and the same daemon with no
targets (the baseline), so "added" is what probing costs the daemon. Memory is PSS from
``/proc/PID/smaps_rollup``: anonymous plus shared memory (``Pss_Anon + Pss_Shmem``), and
the whole PSS beside it. The scraping of blackbox_exporter is done by this script (it
is Prometheus's cost, not the exporter's) and is not counted.

    .venv/bin/python bench/probes.py             # 2 rows x 5 min: about 11 min
    .venv/bin/python bench/probes.py --quick     # 2 rows x 2 min

Needs root (ICMP raw sockets for blackbox_exporter and fping), prometheus-blackbox-exporter,
fping and dnsmasq (``scripts/test`` installs them). Traffic stays on 127.0.0.0/8.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.server
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from benchlib import machine, proc_cpu, pss, stop, write_results  # noqa: E402

ROOT = HERE.parent
MIB = 1024 * 1024
PINGS = 20  # echo requests per target per minute, sentinel's and smokeping's default
ROUND = 60.0  # seconds
BLACKBOX = "prometheus-blackbox-exporter"
QUERY_NAME = "portal.school.test"


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[Any], timeout: float = 30) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SystemExit(f"{proc.args!r} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {timeout:g} s")


class _Quiet(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<html><body>school portal</body></html>\n" * 10
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return


@contextlib.contextmanager
def web_server() -> Any:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield int(srv.server_address[1])
    finally:
        srv.shutdown()
        srv.server_close()


@contextlib.contextmanager
def dnsmasq(tmp: Path) -> Any:
    port = free_port(socket.SOCK_DGRAM)
    p = subprocess.Popen(
        [
            "dnsmasq", "-k", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
            f"--port={port}", "--listen-address=127.0.0.1", "--bind-interfaces",
            f"--address=/{QUERY_NAME}/10.20.0.10", f"--pid-file={tmp / 'dnsmasq.pid'}",
            "--user=root",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    time.sleep(0.5)
    if p.poll() is not None:
        raise SystemExit(f"dnsmasq failed: {p.stderr.read() if p.stderr else ''}")
    try:
        yield port
    finally:
        stop(p)


def targets(row: str, http_port: int, dns_port: int, tcp_port: int) -> list[tuple[str, str, str]]:
    """(name, module, address) of the row's 50 targets."""
    icmp = 50 if row == "icmp" else 20
    out = [(f"icmp{i:02d}", "icmp", f"127.0.1.{i}") for i in range(1, icmp + 1)]
    if row == "mixed":
        out += [(f"web{i:02d}", "http", f"http://127.0.0.1:{http_port}/page{i}") for i in range(10)]
        out += [(f"dns{i:02d}", "dns", f"127.0.0.1:{dns_port}") for i in range(10)]
        out += [(f"tcp{i:02d}", "tcp", f"127.0.0.1:{tcp_port}") for i in range(10)]
    return out


def sentinel_config(port: int, tlist: list[tuple[str, str, str]]) -> str:
    lines = [
        f"listen: 127.0.0.1:{port}",
        "local: {enabled: false}",
        "probes:",
        "  default_targets: false",
        f"  dns: {{query_name: {QUERY_NAME}}}",
        "  targets:",
    ]
    lines += [f'    - {{name: {n}, module: {m}, address: "{a}"}}' for n, m, a in tlist]
    if not tlist:
        lines[-1] = "  targets: []"
    return "\n".join(lines) + "\n"


def blackbox_config() -> str:
    return f"""\
modules:
  icmp:
    prober: icmp
    timeout: 2s
    icmp: {{preferred_ip_protocol: ip4}}
  http_2xx:
    prober: http
    timeout: 10s
    http: {{preferred_ip_protocol: ip4}}
  tcp_connect:
    prober: tcp
    timeout: 5s
    tcp: {{preferred_ip_protocol: ip4}}
  dns:
    prober: dns
    timeout: 5s
    dns: {{query_name: {QUERY_NAME}, query_type: A, preferred_ip_protocol: ip4}}
"""


BB_MODULE = {"icmp": "icmp", "http": "http_2xx", "tcp": "tcp_connect", "dns": "dns"}


async def scrape_blackbox(
    base: str, tlist: list[tuple[str, str, str]], seconds: float, stats: dict[str, int]
) -> None:
    """Scrape every target as a Prometheus would: its own period, a random phase."""
    import aiohttp  # the bench's own client; the daemon's is not involved

    async def one(session: aiohttp.ClientSession, module: str, address: str) -> None:
        period = ROUND / PINGS if module == "icmp" else ROUND
        await asyncio.sleep(random.uniform(0, period))
        end = time.monotonic() + seconds
        nxt = time.monotonic()
        while time.monotonic() < end:
            url = f"{base}/probe?module={BB_MODULE[module]}&target={address}"
            try:
                async with session.get(url, timeout=aiohttp.ClientTimeout(total=15)) as r:
                    body = await r.text()
                ok = "probe_success 1" in body
                stats["ok" if ok else "failed"] += 1
            except (aiohttp.ClientError, TimeoutError):
                stats["error"] += 1
            nxt += period
            await asyncio.sleep(max(0.0, nxt - time.monotonic()))

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(one(session, m, a) for _, m, a in tlist))


def run_fping(addresses: list[str], seconds: float, stats: dict[str, float]) -> None:
    """smokeping's FPing probe: one ``fping -C 20`` over every target a minute."""
    end = time.monotonic() + seconds
    nxt = time.monotonic()
    while time.monotonic() + 25 < end:  # a round takes about 20 s
        p = subprocess.Popen(
            ["fping", "-C", str(PINGS), "-q", "-B1", "-r1", "-i10", *addresses],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        time.sleep(5)  # mid-round: fping's own memory (ru_maxrss would count the fork)
        with contextlib.suppress(OSError):
            stats["pss"] = max(stats["pss"], float(anon_shared(pss(p.pid))))
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        err = p.stderr.read().decode() if p.stderr else ""
        p.stderr and p.stderr.close()
        stats["cpu"] += usage.ru_utime + usage.ru_stime
        stats["rounds"] += 1
        stats["replies"] += sum(
            sum(1 for v in line.split(":", 1)[1].split() if v != "-")
            for line in err.splitlines()
            if ":" in line
        )
        nxt += ROUND
        time.sleep(max(0.0, min(nxt, end) - time.monotonic()))


def start_sentinel(tmp: Path, name: str, tlist: list[tuple[str, str, str]]) -> tuple[Any, str]:
    port = free_port()
    cfg = tmp / f"{name}.yaml"
    cfg.write_text(sentinel_config(port, tlist))
    env = {**os.environ, "STATE_DIRECTORY": str(tmp / f"{name}-state")}
    env.pop("SENTINEL_NO_DEFAULT_PROBES", None)
    exe = Path(sys.executable).with_name("sentinel")
    p = subprocess.Popen(
        [str(exe), "run", "--config", str(cfg)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp / f"{name}.log", "w"),  # noqa: SIM115 (closed with the process)
    )
    url = f"http://127.0.0.1:{port}/metrics"
    wait_http(url, p)
    return p, url


def sentinel_counts(url: str) -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url, timeout=5) as r:
        text = r.read().decode()
    out = {"rounds": 0.0, "failures": 0.0, "success": 0.0}
    per_target: dict[tuple[str, str], float] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == "sentinel_probe_duration_seconds_count":
                key = (s.labels["probe"], s.labels["target"])
                per_target[key] = max(per_target.get(key, 0.0), s.value)  # phases of a round
            elif s.name == "sentinel_probe_failures_total":
                out["failures"] += s.value
            elif s.name == "sentinel_probe_success":
                out["success"] += s.value
    out["rounds"] = sum(per_target.values()) + out["failures"]
    return out


def measure_row(tmp: Path, row: str, seconds: float, warmup: float) -> dict[str, Any]:
    with web_server() as http_port, dnsmasq(tmp) as dns_port, web_server() as tcp_port:
        tlist = targets(row, http_port, dns_port, tcp_port)
        assert len(tlist) == 50, len(tlist)
        bb_port = free_port()
        (tmp / "blackbox.yml").write_text(blackbox_config())
        bb = subprocess.Popen(
            [
                BLACKBOX, f"--config.file={tmp / 'blackbox.yml'}",
                f"--web.listen-address=127.0.0.1:{bb_port}", "--log.level=warn",
            ],
            stdout=subprocess.DEVNULL,
            stderr=open(tmp / "blackbox.log", "w"),  # noqa: SIM115
        )  # fmt: skip
        procs: list[subprocess.Popen[Any]] = [bb]
        try:
            wait_http(f"http://127.0.0.1:{bb_port}/metrics", bb)
            sp, surl = start_sentinel(tmp, f"sentinel-{row}", tlist)
            procs.append(sp)
            base, _ = start_sentinel(tmp, f"baseline-{row}", [])
            procs.append(base)
            bb_stats = {"ok": 0, "failed": 0, "error": 0}
            fp_stats: dict[str, float] = {"cpu": 0.0, "rounds": 0, "pss": 0, "replies": 0}
            icmp_addrs = [a for _, m, a in tlist if m == "icmp"]

            def blackbox_thread() -> None:
                asyncio.run(
                    scrape_blackbox(
                        f"http://127.0.0.1:{bb_port}", tlist, warmup + seconds, bb_stats
                    )
                )

            threads = [
                threading.Thread(target=blackbox_thread, daemon=True),
                threading.Thread(
                    target=run_fping, args=(icmp_addrs, warmup + seconds, fp_stats), daemon=True
                ),
            ]
            for t in threads:
                t.start()
            print(f"  {row}: warm-up {warmup:g} s, then {seconds:g} s measured", flush=True)
            time.sleep(warmup)
            c0 = {p.pid: proc_cpu(p.pid) for p in procs}
            fp0 = fp_stats["cpu"]
            t0 = time.monotonic()
            before = sentinel_counts(surl)
            time.sleep(seconds)
            wall = time.monotonic() - t0
            cpu = {p.pid: proc_cpu(p.pid) - c0[p.pid] for p in procs}
            mem = {p.pid: pss(p.pid) for p in procs}
            after = sentinel_counts(surl)
            for t in threads:
                t.join(timeout=ROUND + 30)
            fp_cpu = fp_stats["cpu"] - fp0
            per_hour = 3600 / wall
            res: dict[str, Any] = {
                "row": row,
                "targets": {m: sum(1 for _, mm, _ in tlist if mm == m) for m in BB_MODULE},
                "seconds": round(wall, 1),
                "sentinel": {
                    "cpu_s_per_h": cpu[sp.pid] * per_hour,
                    "baseline_cpu_s_per_h": cpu[base.pid] * per_hour,
                    "added_cpu_s_per_h": (cpu[sp.pid] - cpu[base.pid]) * per_hour,
                    "pss": mem[sp.pid],
                    "baseline_pss": mem[base.pid],
                    "rounds": after["rounds"] - before["rounds"],
                    "failures": after["failures"] - before["failures"],
                    "success_now": after["success"],
                },
                "blackbox": {
                    "cpu_s_per_h": cpu[bb.pid] * per_hour,
                    "pss": mem[bb.pid],
                    "probes": bb_stats,
                },
            }
            if row == "icmp":
                res["fping"] = {
                    "cpu_s_per_h": fp_cpu * per_hour,
                    "pss": fp_stats["pss"],
                    "rounds": fp_stats["rounds"],
                    "replies": fp_stats["replies"],
                }
            return res
        finally:
            for p in procs:
                stop(p)


def anon_shared(m: dict[str, int]) -> int:
    return m.get("Pss_Anon", 0) + m.get("Pss_Shmem", 0)


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b > 0 else "n/a"


def markdown(res: dict[str, Any]) -> str:
    meta = res["meta"]
    out = [
        f"# Probing cost, {meta['date']}",
        "",
        f"`{meta['command']}` on {meta['nproc']} CPUs ({meta['cpu']}), kernel "
        f"{meta['kernel']}, Python {meta['python']}, sentinel {meta['sentinel']}, "
        f"{meta['blackbox']}, fping {meta['fping']}.",
        "",
        "| row | tool | CPU s/h | vs blackbox | memory (anon+shm PSS) | PSS |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in res["rows"]:
        s, b = r["sentinel"], r["blackbox"]
        bb_cpu = b["cpu_s_per_h"]
        out.append(
            f"| {r['row']} | sentinel (whole daemon) | {s['cpu_s_per_h']:.1f} | "
            f"{ratio(s['cpu_s_per_h'], bb_cpu)} | {anon_shared(s['pss']) / MIB:.1f} MiB | "
            f"{s['pss']['Pss'] / MIB:.1f} MiB |"
        )
        added_mem = anon_shared(s["pss"]) - anon_shared(s["baseline_pss"])
        out.append(
            f"| {r['row']} | sentinel, added by probing | {s['added_cpu_s_per_h']:.1f} | "
            f"{ratio(s['added_cpu_s_per_h'], bb_cpu)} | {added_mem / MIB:+.1f} MiB | "
            f"{(s['pss']['Pss'] - s['baseline_pss']['Pss']) / MIB:+.1f} MiB |"
        )
        out.append(
            f"| {r['row']} | blackbox_exporter | {bb_cpu:.1f} | 1.00x | "
            f"{anon_shared(b['pss']) / MIB:.1f} MiB | {b['pss']['Pss'] / MIB:.1f} MiB |"
        )
        if "fping" in r:
            f = r["fping"]
            out.append(
                f"| {r['row']} | fping (smokeping) | {f['cpu_s_per_h']:.1f} | "
                f"{ratio(f['cpu_s_per_h'], bb_cpu)} | {f['pss'] / MIB:.1f} MiB | |"
            )
    out += ["", "Work done in the measured window:", ""]
    for r in res["rows"]:
        s, b = r["sentinel"], r["blackbox"]
        line = (
            f"- {r['row']} ({r['seconds']:g} s, targets {r['targets']}): sentinel "
            f"{s['rounds']:g} rounds, {s['failures']:g} failed; blackbox_exporter "
            f"{b['probes']} probes over the whole run"
        )
        if "fping" in r:
            line += f"; fping {r['fping']['rounds']} rounds, {r['fping']['replies']} replies"
        out.append(line)
    out += [
        "",
        "CPU is utime + stime of each process over the measured window, scaled to an hour;",
        "fping's from wait4 of each round. 'added by probing' subtracts the same daemon",
        "running with no targets beside it. Memory is PSS at the end of the window.",
        "",
    ]
    return "\n".join(out)


def version(cmd: list[str]) -> str:
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return "missing"
    return ((r.stdout or r.stderr).splitlines() or ["?"])[0].strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=5.0, help="measured minutes per row")
    ap.add_argument("--warmup", type=float, default=65.0, help="seconds before measuring")
    ap.add_argument("--quick", action="store_true", help="2 measured minutes per row")
    ap.add_argument("--rows", default="icmp,mixed", help="comma-separated: icmp, mixed")
    args = ap.parse_args()
    if args.quick:
        args.minutes = 2.0
    for tool in (BLACKBOX, "fping", "dnsmasq"):
        if shutil.which(tool) is None:
            raise SystemExit(f"bench/probes.py needs {tool} (apt-get install it)")
    if os.geteuid() != 0:
        raise SystemExit("bench/probes.py needs root (ICMP raw sockets for the anchors)")
    meta = machine("probes.py")
    date = meta["date"]
    res: dict[str, Any] = {
        "meta": {
            **meta,
            "blackbox": version([BLACKBOX, "--version"]),
            "fping": version(["fping", "-v"]).removeprefix("fping: Version "),
        },
        "rows": [],
    }
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    with tempfile.TemporaryDirectory(prefix="sentinel-bench-probes-") as d:
        for row in args.rows.split(","):
            res["rows"].append(measure_row(Path(d), row, args.minutes * 60, args.warmup))
    stem = HERE / "results" / f"probes-{date}{'-quick' if args.quick else ''}"
    write_results(stem, markdown(res), res)


if __name__ == "__main__":
    main()
