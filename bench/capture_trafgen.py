"""Live capture at rates tcpreplay cannot reach: trafgen (C, TX ring) as the sender.

Namespaces A (receiver, lan0) and B (sender, peer0) joined by a veth pair; trafgen
pinned to one core sends a bounded count of frames at each asked rate; on the other core
the receiver is either sentinel (TPACKET_V3 ring + accounting, as the capture worker
runs them) or tcpdump (``-w /dev/null``, the C anchor). Reported per rate: the rate
trafgen achieved, packets received, kernel drops, loss, and the receiver's CPU per
packet. On a 2-core box the sender also pays the kernel's veth delivery, so it tops out
first; the receiver's CPU per packet says how far it could go.

    python bench/capture_trafgen.py [--count 1000000] [--rates 300000,450000,600000]
    (as root; needs trafgen from netsniff-ng and tcpdump)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from capture import Lab

SENDER_CPU, RECEIVER_CPU = 0, 1
FRAMES = {  # trafgen packet templates: 64-byte and 700-byte UDP frames, LAN to internet
    64: 18,
    700: 654,
}
TEMPLATE = """{{
  0x02,0x00,0x00,0x00,0x0a,0x01, 0x02,0x00,0x00,0x00,0x0b,0x02, 0x08,0x00,
  0x45,0x00,c16({iplen}), 0x00,0x00,0x40,0x00, 0x40,0x11,csumip(14,33),
  10,30,0,5, 198,51,100,7,
  dinc(1024, 60000, 1), 0x01,0xbb, c16({udplen}), 0x00,0x00,
  fill(0x41, {fill})
}}
"""

RECEIVER = """
import os, sys, time
os.sched_setaffinity(0, {{{cpu}}})
from sentinel.capture.ring import Ring
from sentinel.capture.pipeline import Pipeline, Settings
p = Pipeline(Settings(networks=("10.30.0.0/16",)))
r = Ring("lan0", block_size=1 << 20, block_count=32, snaplen=128)
r.statistics()
print("ready", flush=True)
n = quiet = 0
c0 = time.process_time()
while True:
    got = r.read(p.ring_block, 200)
    if got:
        n += got
        quiet = 0
        if n % 8192 < got:
            p.drain()
    else:
        quiet += 1
        if (n and quiet > 10) or quiet > 300:
            break
cpu = time.process_time() - c0
kp, kd = r.statistics()
print(f"received={{n}} drops={{kd}} cpu={{cpu}}", flush=True)
"""


def send(lab: Lab, conf: Path, rate: int, count: int) -> float:
    """trafgen a bounded count at ``rate``; the rate it achieved (pkt/s of wall time)."""
    t0 = time.perf_counter()
    subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            lab.b,
            "taskset",
            "-c",
            str(SENDER_CPU),
            "trafgen",
            "--dev",
            "peer0",
            "--conf",
            str(conf),
            "--rate",
            f"{rate}pps",
            "--num",
            str(count),
            "--cpus",
            "1",
            "-q",
        ],
        check=True,
        capture_output=True,
        timeout=max(60, 5 * count / rate),
    )
    return count / (time.perf_counter() - t0)


def sentinel(lab: Lab, conf: Path, rate: int, count: int) -> dict[str, float]:
    code = RECEIVER.format(cpu=RECEIVER_CPU)
    proc = subprocess.Popen(
        ["ip", "netns", "exec", lab.a, sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    proc.stdout.readline()  # ready
    achieved = send(lab, conf, rate, count)
    line = proc.stdout.readline()
    proc.wait(60)
    proc.stdout.close()
    m = re.search(r"received=(\d+) drops=(\d+) cpu=([\d.]+)", line)
    assert m, line
    got, drops, cpu = int(m[1]), int(m[2]), float(m[3])
    return {
        "asked": rate,
        "achieved": achieved,
        "received": got,
        "kernel_drops": drops,
        "loss": 1 - got / count,
        "us_per_packet": cpu / max(got, 1) * 1e6,
    }


def tcpdump(lab: Lab, conf: Path, rate: int, count: int) -> dict[str, float]:
    proc = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            lab.a,
            "taskset",
            "-c",
            str(RECEIVER_CPU),
            "tcpdump",
            "-i",
            "lan0",
            "-w",
            "/dev/null",
            "-B",
            "65536",
            "-n",
            "-s",
            "128",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    proc.stderr.readline()  # listening on lan0
    time.sleep(0.5)
    achieved = send(lab, conf, rate, count)
    time.sleep(1)
    proc.terminate()
    err = proc.stderr.read()
    proc.wait(10)
    proc.stderr.close()
    got = int(re.search(r"(\d+) packets captured", err)[1])  # type: ignore[index]
    drops = int(re.search(r"(\d+) packets dropped by kernel", err)[1])  # type: ignore[index]
    return {
        "asked": rate,
        "achieved": achieved,
        "received": got,
        "kernel_drops": drops,
        "loss": 1 - got / count,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=1_000_000)
    ap.add_argument("--rates", default="300000,450000,600000")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    results: dict[str, list[dict[str, float]]] = {}
    with Lab() as lab, tempfile.TemporaryDirectory() as tmp:
        for size, fill in FRAMES.items():
            conf = Path(tmp) / f"frame{size}.cfg"
            conf.write_text(
                TEMPLATE.format(iplen=size - 14 - 4, udplen=size - 14 - 4 - 20, fill=fill)
            )
            for who, fn in (("sentinel", sentinel), ("tcpdump", tcpdump)):
                for rate in rates:
                    r = fn(lab, conf, rate, args.count)
                    results.setdefault(f"{who}-{size}B", []).append(r)
                    print(who, size, json.dumps({k: round(v, 4) for k, v in r.items()}), flush=True)
    args.out.mkdir(exist_ok=True)
    stamp = time.strftime("%Y-%m-%d")
    (args.out / f"capture-trafgen-{stamp}.json").write_text(json.dumps(results, indent=1))
    lines = [
        f"# Live capture with trafgen as the sender, {time.strftime('%Y-%m-%d %H:%M')}",
        "",
        f"{args.count} frames per run; sender pinned to CPU {SENDER_CPU}, receiver to "
        f"CPU {RECEIVER_CPU}; {os.cpu_count()} CPUs.",
        "",
        "| receiver | frame | asked pkt/s | achieved pkt/s | received | kernel drops | loss "
        "| receiver µs/packet |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, runs in results.items():
        who, size = key.split("-")
        for r in runs:
            us = f"{r['us_per_packet']:.2f}" if "us_per_packet" in r else "n/a"
            lines.append(
                f"| {who} | {size} | {r['asked']:,.0f} | {r['achieved']:,.0f} | "
                f"{r['received']:,.0f} | {r['kernel_drops']:,.0f} | "
                f"{r['loss'] * 100:.3f} % | {us} |"
            )
    (args.out / f"capture-trafgen-{stamp}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
