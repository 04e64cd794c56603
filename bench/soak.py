"""Soak: the whole daemon for half an hour at a school's rates; memory and file descriptors.

    .venv/bin/python bench/soak.py                 # 30 min measured after 5 min warm-up
    .venv/bin/python bench/soak.py --minutes 10    # a shorter look

One `sentinel run` (root: it captures) with everything a school has, at once:

- **polling**: 50 simulated switches (the Cisco Catalyst 3560 recording of snmpsim-data,
  as in bench/snmp.py, 57 interfaces each) every 60 s, over SNMP on 127.0.0.1;
- **traffic**: 5,000 devices on a LAN, replayed by tcpreplay from a network namespace
  into a veth pair whose other end sentinel captures: each device's ARP, DHCP, DNS
  query, a TCP handshake to the internet and an HTTPS flow, and one device's SYN scan
  of 200 ports every pass (so the detectors raise alerts all along), at `--pps`;
- **probes**: ICMP to 127.0.0.1, HTTP and TCP to a local web server, every 60 s;
- **alerts**: to a webhook on 127.0.0.1 (this script), counted.

Every 30 s: RSS and PSS (anonymous + shared, from /proc/PID/smaps_rollup) of the daemon's
processes (the main process and its capture worker), their open file descriptors, and
the daemon's own counters. Reported: memory at the start and end of the measured
window and its growth, the peak, file descriptors first/last/max. Targets
(docs/RELIABILITY.md): RSS growth under 5 %, file descriptors flat, anonymous + shared
PSS at most 100 MiB with 50 switches and 5,000 devices.

Traffic stays in the namespace and its veth pair; SNMP, probes and alerts on 127.0.0.1.
Results: bench/results/soak-<date>.{md,json}.
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import importlib.util
import os
import secrets
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
from typing import Any, ClassVar

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from benchlib import machine, pss, stop, write_results  # noqa: E402

MIB = 1024 * 1024
SAMPLE_EVERY = 30.0


def _snmp_bench() -> Any:
    """bench/snmp.py's simulated switches (one definition of the lab)."""
    spec = importlib.util.spec_from_file_location("bench_snmp", HERE / "snmp.py")
    assert spec is not None
    assert spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_snmp"] = mod
    spec.loader.exec_module(mod)
    return mod


def sh(*args: str, check: bool = True) -> str:
    return subprocess.run(args, check=check, capture_output=True, text=True).stdout


def children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            out += [int(c) for c in (task / "children").read_text().split()]
    return out


def fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def lan_pcap(path: Path, devices: int) -> int:
    """A pass of the LAN: every device's ordinary traffic and one scan; returns frames."""
    from scapy.layers.dhcp import BOOTP, DHCP
    from scapy.layers.dns import DNS, DNSQR
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.l2 import ARP, Ether
    from scapy.utils import PcapWriter

    gw_mac, gw_ip = "02:00:00:00:00:01", "10.50.0.1"
    frames = 0
    with PcapWriter(str(path), linktype=1, sync=False) as w:
        for i in range(devices):
            mac = f"02:10:{(i >> 16) & 255:02x}:{(i >> 8) & 255:02x}:{i & 255:02x}:01"
            ip = f"10.50.{1 + i // 250}.{1 + i % 250}"
            srv = f"198.51.100.{1 + i % 200}"
            sport = 40000 + i % 20000
            pkts = [
                Ether(src=mac, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=mac, psrc=ip, pdst=gw_ip),
                Ether(src=mac, dst="ff:ff:ff:ff:ff:ff")
                / IP(src="0.0.0.0", dst="255.255.255.255")  # renewals: every 50th device
                / UDP(sport=68, dport=67)
                / BOOTP(chaddr=bytes.fromhex(mac.replace(":", "")), xid=i)
                / DHCP(options=[("message-type", "request"), ("requested_addr", ip), "end"]),
                Ether(src=mac, dst=gw_mac)
                / IP(src=ip, dst=gw_ip)
                / UDP(sport=sport, dport=53)
                / DNS(id=i & 0xFFFF, qd=DNSQR(qname=f"host{i % 300}.learning.example")),
                Ether(src=mac, dst=gw_mac)
                / IP(src=ip, dst=srv)
                / TCP(sport=sport, dport=443, flags="S"),
                Ether(src=gw_mac, dst=mac)
                / IP(src=srv, dst=ip)
                / TCP(sport=443, dport=sport, flags="SA"),
                Ether(src=mac, dst=gw_mac)
                / IP(src=ip, dst=srv)
                / TCP(sport=sport, dport=443, flags="A"),
                Ether(src=mac, dst=gw_mac)
                / IP(src=ip, dst=srv)
                / TCP(sport=sport, dport=443, flags="PA")
                / (b"\x16\x03\x01" + bytes(200)),
                Ether(src=gw_mac, dst=mac)
                / IP(src=srv, dst=ip)
                / TCP(sport=443, dport=sport, flags="PA")
                / (b"\x17\x03\x03" + bytes(1200)),
            ]
            if i % 50:
                del pkts[1]  # a lease is renewed every few hours, not every pass
            for p in pkts:
                w.write(p)
            frames += len(pkts)
        scanner, scanner_mac = "10.50.9.9", "02:10:99:99:99:01"
        for port in range(1, 201):
            w.write(
                Ether(src=scanner_mac, dst=gw_mac)
                / IP(src=scanner, dst="10.50.0.20")
                / TCP(sport=55555, dport=port, flags="S")
            )
            frames += 1
    return frames


def flood_pcap(path: Path, count: int) -> None:
    """``count`` TCP SYNs to one LAN server, each from a new spoofed MAC and IP address."""
    import struct

    dst_mac = bytes.fromhex("020000000030")
    dst_ip = bytes([10, 50, 0, 30])
    with path.open("wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        now = int(time.time())
        for i in range(count):
            n = i + 1
            src_mac = bytes([0x02, 0x66, (n >> 24) & 255, (n >> 16) & 255, (n >> 8) & 255, n & 255])
            src_ip = bytes([10 + (n >> 24) % 100, (n >> 16) & 255, (n >> 8) & 255, n & 255])
            tcp = struct.pack("!HHIIBBHHH", 1024 + n % 60000, 80, n, 0, 5 << 4, 0x02, 64240, 0, 0)
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, n & 0xFFFF, 0, 64, 6, 0, src_ip, dst_ip)
            frame = dst_mac + src_mac + b"\x08\x00" + ip + tcp + bytes(6)
            f.write(
                struct.pack("<IIII", now + i // 1_000_000, i % 1_000_000, len(frame), len(frame))
            )
            f.write(frame)


class Sink(http.server.BaseHTTPRequestHandler):
    count = 0
    lock = threading.Lock()
    received: ClassVar[list[tuple[float, bytes]]] = []  # (monotonic time, body), last 1,000

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with Sink.lock:
            Sink.count += 1
            Sink.received = [*Sink.received[-999:], (time.monotonic(), body)]
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        body = b"<html>portal</html>\n" * 20
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return


def config(port: int, lan: str, switches: list[tuple[int, str]], web: int) -> str:
    sw = "\n".join(
        f"    - {{name: {community}, address: '127.0.0.1:{p}', auth: {community}}}"
        for p, community in switches
    )
    auths = "\n".join(f"    {c}: {{version: 2c, community: {c}}}" for _, c in switches)
    return f"""\
listen: 127.0.0.1:{port}
local: {{enabled: true}}
snmp:
  defaults: {{interval: 60s, timeout: 10s, retries: 3, max_repetitions: 25}}
  auths:
{auths}
  switches:
{sw}
capture:
  interface: {lan}
  networks: [10.50.0.0/16]
probes:
  default_targets: false
  targets:
    - {{name: lo, module: icmp, address: 127.0.0.1}}
    - {{name: portal, module: http, address: "http://127.0.0.1:{web}/", essential: true}}
    - {{name: portal-tcp, module: tcp, address: "127.0.0.1:{web}"}}
alerting:
  webhook: {{url: "http://127.0.0.1:{web}/alerts", timeout: 5s}}
"""


def metric_sum(url: str, names: tuple[str, ...]) -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url, timeout=10) as r:
        text = r.read().decode()
    out = dict.fromkeys(names, 0.0)
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name in out:
                out[s.name] += s.value
    return out


COUNTERS = (
    "sentinel_lan_device_table_full_total",
    "sentinel_lan_kernel_packets_total",
    "sentinel_lan_kernel_drops_total",
    "sentinel_detections_total",
    "sentinel_snmp_requests_total",
    "sentinel_lan_active_devices",
    "sentinel_switch_up",
)


def markdown(res: dict[str, Any]) -> str:
    m, s = res["meta"], res["summary"]
    out = [
        f"# Soak, {m['date']}",
        "",
        f"`{m['command']}` on {m['nproc']} CPUs ({m['cpu']}), kernel {m['kernel']}, "
        f"Python {m['python']}, sentinel {m['sentinel']}.",
        "",
        f"{m['switches']} switches every 60 s, {m['devices']} devices replayed at "
        f"{m['pps']} frames/s ({m['frames_per_pass']} frames a pass), 3 probes, webhook "
        f"alerts; {m['warmup_min']:g} min warm-up, {m['minutes']:g} min measured.",
        "",
        "| figure | start | end | growth | peak | target |",
        "|---|---:|---:|---:|---:|---|",
        f"| RSS (all processes) | {s['rss_start'] / MIB:.1f} MiB | {s['rss_end'] / MIB:.1f} MiB "
        f"| {s['rss_growth_pct']:+.1f} % | {s['rss_peak'] / MIB:.1f} MiB | growth < 5 % |",
        f"| PSS anon + shm | {s['pss_start'] / MIB:.1f} MiB | {s['pss_end'] / MIB:.1f} MiB "
        f"| {s['pss_growth_pct']:+.1f} % | {s['pss_peak'] / MIB:.1f} MiB | <= 100 MiB |",
        f"| open file descriptors | {s['fds_start']} | {s['fds_end']} | "
        f"{s['fds_end'] - s['fds_start']:+d} | {s['fds_peak']} | flat |",
        "",
        f"In the window: {s['frames']:,.0f} frames captured, {s['drops']:,.0f} kernel drops, "
        f"{s['snmp_requests']:,.0f} SNMP requests answered. Since the start: "
        f"{s['detections']:,.0f} detections (a repeat of the same finding is not counted "
        f"again), {s['alerts']} webhook deliveries. At the end "
        f"{s['switches_up']:.0f} switches up and {s['devices_active']:.0f} active devices "
        "(sum of the mac and ip kinds).",
        "",
        "Samples every 30 s are in the JSON file.",
        "",
    ]
    f = res.get("flood")
    if f:
        out += [
            f"## Flood: {f['sources']:,} spoofed sources and an nmap scan",
            "",
            f"tcpreplay --topspeed of {f['sources']:,} TCP SYNs, each from a new MAC and IP "
            f"address, to one LAN server ({f['replay_s']:g} s), with `nmap -sS -T4 -p 1-1000` "
            "from a LAN address inside it.",
            "",
            f"- PSS anon + shm: {f['pss_before'] / MIB:.1f} MiB before, peak "
            f"{f['pss_peak'] / MIB:.1f} MiB, {f['pss_after'] / MIB:.1f} MiB after (target "
            "<= 150 MiB); RSS peak "
            f"{f['rss_peak'] / MIB:.1f} MiB",
            f"- frames captured {f['kernel_packets']:,.0f}, kernel drops "
            f"{f['kernel_drops']:,.0f}, sightings beyond the device table "
            f"{f['device_table_full']:,.0f}",
            f"- alerts delivered since the flood began: {f['alerts_after_start']}; "
            f"detectors among them: {', '.join(f['detected']) or 'none'}",
            f"- nmap: {f['nmap']}",
            f"- tcpreplay: {f['tcpreplay']}",
            "",
        ]
    return "\n".join(out)


def run_flood(tmp: Path, ns: str, peer: str, host: str, count: int, take: Any) -> dict[str, Any]:
    """A spoofed-source SYN flood and a real nmap SYN scan at once; memory every 2 s."""
    print(f"soak: writing a flood of {count:,} spoofed sources", flush=True)
    flood_pcap(tmp / "flood.pcap", count)
    sh("ip", "-n", ns, "addr", "add", "10.50.0.5/16", "dev", peer)
    # The scanned host is the box's own capture interface: it answers ARP and resets
    # closed ports, so nmap runs a real SYN scan (the flood's frames are for another MAC).
    sh("ip", "addr", "add", "10.50.0.20/16", "dev", host)
    before = take()
    t0 = time.monotonic()
    replay = subprocess.Popen(
        ["ip", "netns", "exec", ns, "timeout", "600", "tcpreplay", "--topspeed",
         f"--intf1={peer}", str(tmp / "flood.pcap")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    time.sleep(1)
    scan = subprocess.Popen(
        ["ip", "netns", "exec", ns, "timeout", "300", "nmap", "-Pn", "-n", "-sS", "-T4",
         "--max-retries", "0", "-p", "1-1000", "-e", peer, "10.50.0.20"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    during: list[dict[str, Any]] = []
    while replay.poll() is None or scan.poll() is None:
        during.append(take())
        time.sleep(2)
    replay_s = time.monotonic() - t0
    out = replay.stdout.read() if replay.stdout else ""
    nmap = scan.stdout.read() if scan.stdout else ""
    nmap_done = " ".join(ln for ln in nmap.splitlines() if "Nmap done" in ln or "Not shown" in ln)
    for _ in range(10):  # 20 s for the last alerts
        during.append(take())
        time.sleep(2)
    after = during[-1]
    with Sink.lock:
        got = [body for t, body in Sink.received if t >= t0]
    detected = sorted(
        {
            d
            for d in ("port_scan", "syn_flood", "flood", "mac_flood")
            if any(f'"{d}"'.encode() in b for b in got)
        }
    )
    return {
        "sources": count,
        "replay_s": round(replay_s, 1),
        "tcpreplay": " ".join(out.split()[-40:]),
        "nmap": nmap_done,
        "pss_before": before["pss_anon_shm"],
        "pss_peak": max(s["pss_anon_shm"] for s in during),
        "pss_after": after["pss_anon_shm"],
        "rss_peak": max(s["rss"] for s in during),
        "kernel_packets": after["sentinel_lan_kernel_packets_total"]
        - before["sentinel_lan_kernel_packets_total"],
        "kernel_drops": after["sentinel_lan_kernel_drops_total"]
        - before["sentinel_lan_kernel_drops_total"],
        "device_table_full": after["sentinel_lan_device_table_full_total"]
        - before["sentinel_lan_device_table_full_total"],
        "alerts_after_start": len(got),
        "detected": detected,
        "samples": during,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=30.0, help="measured minutes")
    ap.add_argument("--warmup", type=float, default=5.0, help="minutes before measuring")
    ap.add_argument("--switches", type=int, default=50)
    ap.add_argument("--devices", type=int, default=5000)
    ap.add_argument("--pps", type=int, default=2000, help="replayed frames per second")
    ap.add_argument(
        "--flood",
        type=int,
        default=0,
        metavar="N",
        help="after the window: N SYNs from N spoofed sources at full speed, with an nmap "
        "scan from the LAN inside it (1000000 for the issue's figure)",
    )
    ap.add_argument("--out", default="", help="suffix of the result files")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench/soak.py needs root (a namespace, and capture)")
    for tool in ("tcpreplay", "ip", "snmpget"):
        if shutil.which(tool) is None:
            raise SystemExit(f"bench/soak.py needs {tool}")
    snmpbench = _snmp_bench()
    tag = secrets.token_hex(2)
    ns, host, peer = f"soak-{tag}", f"soak{tag}h", f"soak{tag}p"
    procs: list[subprocess.Popen[Any]] = []
    samples: list[dict[str, Any]] = []
    flood: dict[str, Any] = {}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    with tempfile.TemporaryDirectory(prefix="sentinel-soak-") as d:
        tmp = Path(d)
        lab = None
        web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
        threading.Thread(target=web.serve_forever, daemon=True).start()
        try:
            sh("ip", "netns", "add", ns)
            sh("ip", "link", "add", host, "type", "veth", "peer", "name", peer)
            sh("ip", "link", "set", peer, "netns", ns)
            sh("ip", "link", "set", host, "up")
            sh("ip", "-n", ns, "link", "set", peer, "up")
            print("soak: writing the LAN capture", flush=True)
            frames = lan_pcap(tmp / "lan.pcap", args.devices)
            print(f"soak: starting {args.switches} simulated switches", flush=True)
            lab = snmpbench.start_simulators(tmp, args.switches, 2)
            procs += lab.sims
            port = snmpbench.free_port(socket.SOCK_STREAM)
            (tmp / "sentinel.yaml").write_text(
                config(port, host, lab.switches, int(web.server_address[1]))
            )
            env = {**os.environ, "STATE_DIRECTORY": str(tmp / "state")}
            env.pop("SENTINEL_NO_DEFAULT_PROBES", None)
            log = open(tmp / "sentinel.log", "w")  # noqa: SIM115 (closed below)
            daemon = subprocess.Popen(
                [str(Path(sys.executable).with_name("sentinel")), "run", "--config",
                 str(tmp / "sentinel.yaml")],
                env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
            procs.append(daemon)
            url = f"http://127.0.0.1:{port}/metrics"
            for _ in range(120):
                if daemon.poll() is not None:
                    raise SystemExit((tmp / "sentinel.log").read_text()[-3000:])
                with contextlib.suppress(OSError):
                    urllib.request.urlopen(url, timeout=2).close()
                    break
                time.sleep(0.5)
            total = (args.warmup + args.minutes) * 60 + 30
            replay = subprocess.Popen(
                ["ip", "netns", "exec", ns, "timeout", str(int(total)), "tcpreplay", "-q",
                 f"--pps={args.pps}", "--loop=0", f"--intf1={peer}", str(tmp / "lan.pcap")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            procs.append(replay)
            print(
                f"soak: warm-up {args.warmup:g} min, then {args.minutes:g} min measured",
                flush=True,
            )
            start = time.monotonic()
            end = start + (args.warmup + args.minutes) * 60

            def take() -> dict[str, Any]:
                if daemon.poll() is not None:
                    raise SystemExit(
                        "sentinel exited:\n" + (tmp / "sentinel.log").read_text()[-3000:]
                    )
                pids = [daemon.pid, *children(daemon.pid)]
                mems = [pss(p) for p in pids if Path(f"/proc/{p}").exists()]
                sample = {
                    "t": round(time.monotonic() - start, 1),
                    "processes": len(mems),
                    "rss": sum(m.get("Rss", 0) for m in mems),
                    "pss": sum(m.get("Pss", 0) for m in mems),
                    "pss_anon_shm": sum(m.get("Pss_Anon", 0) + m.get("Pss_Shmem", 0) for m in mems),
                    "per_process": [
                        {k: m.get(k, 0) for k in ("Rss", "Pss_Anon", "Pss_Shmem", "Pss_File")}
                        for m in mems
                    ],
                    "fds": sum(fds(p) for p in pids),
                    "alerts": Sink.count,
                    **metric_sum(url, COUNTERS),
                }
                print(
                    f"  t={sample['t']:6.0f} s  rss={sample['rss'] / MIB:6.1f} MiB  "
                    f"pss(anon+shm)={sample['pss_anon_shm'] / MIB:6.1f} MiB  fds={sample['fds']}",
                    flush=True,
                )
                return sample

            while time.monotonic() < end:
                samples.append(take())
                time.sleep(SAMPLE_EVERY)
            if args.flood:
                flood = run_flood(tmp, ns, peer, host, args.flood, take)
        finally:
            for p in reversed(procs):
                stop(p, 15)
            web.shutdown()
            sh("ip", "link", "del", host, check=False)
            sh("ip", "netns", "del", ns, check=False)
    window = [s for s in samples if s["t"] >= args.warmup * 60] or samples
    first, last = window[0], window[-1]

    def growth(key: str) -> float:
        return 100.0 * (last[key] - first[key]) / first[key] if first[key] else 0.0

    res = {
        "meta": {
            **machine("soak.py"),
            "switches": args.switches,
            "devices": args.devices,
            "pps": args.pps,
            "frames_per_pass": frames,
            "warmup_min": args.warmup,
            "minutes": args.minutes,
        },
        "summary": {
            "rss_start": first["rss"],
            "rss_end": last["rss"],
            "rss_growth_pct": growth("rss"),
            "rss_peak": max(s["rss"] for s in window),
            "pss_start": first["pss_anon_shm"],
            "pss_end": last["pss_anon_shm"],
            "pss_growth_pct": growth("pss_anon_shm"),
            "pss_peak": max(s["pss_anon_shm"] for s in window),
            "fds_start": first["fds"],
            "fds_end": last["fds"],
            "fds_peak": max(s["fds"] for s in window),
            "frames": last["sentinel_lan_kernel_packets_total"]
            - first["sentinel_lan_kernel_packets_total"],
            "drops": last["sentinel_lan_kernel_drops_total"]
            - first["sentinel_lan_kernel_drops_total"],
            "detections": last["sentinel_detections_total"],
            "alerts": last["alerts"],
            "snmp_requests": last["sentinel_snmp_requests_total"]
            - first["sentinel_snmp_requests_total"],
            "switches_up": last["sentinel_switch_up"],
            "devices_active": last["sentinel_lan_active_devices"],
        },
        "samples": samples,
        "flood": flood,
    }
    write_results(HERE / "results" / f"soak-{res['meta']['date']}{args.out}", markdown(res), res)


if __name__ == "__main__":
    main()
