"""Live capture at rates tcpreplay cannot reach: trafgen (C, TX ring) as the sender.

Namespaces A (receiver, lan0) and B (sender, peer0) joined by a veth pair; trafgen
sends a bounded count of frames at each asked rate; the receiver, pinned to one core, is
sentinel (TPACKET_V3 ring, accounting, the decoder and the default detectors on wanted
frames, as the capture worker runs them, with its default snap lengths), libpcap doing
the same per-frame counting (bench/anchors/pcapcount.c -i) or tcpdump
(``-w /dev/null``). scapy's ``sniff()`` is measured by bench/capture.py (tcpreplay).
Frames: 64-byte and 700-byte UDP, and the school mix of bench/capture.py (1,024 frames
drawn by weight from its templates: TLS bulk and ACKs, QUIC, DNS, ARP, DHCP, ICMP,
IPv6), which trafgen cycles. Reported per rate: the rate trafgen achieved, packets
received, kernel drops, loss, and the receiver's CPU per packet.

The sender pays the kernel's veth delivery (the receive path, down to the copy into the
receiver's ring, runs in its softirq), so on a 2-core box one trafgen process paced with
``--rate`` tops out near 440,000 frames/s; rate 0 sends unpaced, at 540,000-600,000.
The achieved rate is trafgen's own count over its own sending time. ``--sender-cpus 2``
runs one trafgen process per core (the receiver then shares its core with one of them);
on this veth it does not raise the ceiling.

    python bench/capture_trafgen.py [--count 1000000] [--rates 300000,450000,0]
        [--frames school,64,700] [--sender-cpus 1|2] [--python] [--no-tcpdump]
    (as root; needs trafgen from netsniff-ng, tcpdump, cc and libpcap-dev)
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
from capture import Lab, pcapcount, school_templates, sequence

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
from sentinel.capture.pipeline import Pipeline, Settings, make_engine
from sentinel.capture.accounting import engine
from sentinel.config.detect import DetectConfig
# As the capture worker runs: the daemon's default detectors and capture settings, the
# detectors drained ten times a second.
settings = Settings(networks=("10.30.0.0/16", "10.77.0.0/16"), detect=DetectConfig())
p = Pipeline(settings, make_engine(settings))
r = Ring("lan0", block_size=1 << 20, block_count=32, snaplen=settings.snaplen,
         header_snaplen=settings.header_snaplen)
r.statistics()
print("ready", flush=True)
n = quiet = alerts = 0
next_drain = 0.0
c0 = time.process_time()
while True:
    got = r.read(p.ring_block, 200)
    now = time.monotonic()
    if now >= next_drain:
        next_drain = now + 0.1
        alerts += len(p.drain()) + len(p.tick(max(p.last_ts, time.time() - 1.0)))
    if got:
        n += got
        quiet = 0
    else:
        quiet += 1
        if (n and quiet > 10) or quiet > 300:
            break
alerts += len(p.drain())
cpu = time.process_time() - c0
kp, kd = r.statistics()
s = p.snapshot()
print(f"received={{n}} drops={{kd}} cpu={{cpu}} engine={{engine()}} "
      f"detector_frames={{s.detector_frames}} detector_dropped={{s.detector_frames_dropped}} "
      f"decoded={{p.decoded}} alerts={{alerts}}", flush=True)
"""


def school_conf() -> tuple[str, float]:
    """A trafgen configuration cycling 1,024 school-mix frames; their mean size."""
    import random

    rng = random.Random(2026)
    picks = sequence(school_templates(rng), rng)[:1024]
    blocks = ["{ " + ", ".join(f"0x{b:02x}" for b in t.frame) + " }" for t in picks]
    return "\n".join(blocks) + "\n", sum(len(t.frame) for t in picks) / len(picks)


SENDER_CPUS = 1


def send(lab: Lab, conf: Path, rate: int, count: int) -> float:
    """trafgen a bounded count at ``rate`` (0: as fast as it can); the rate it achieved,
    from trafgen's own account of its sending time (its start-up not included)."""
    t0 = time.perf_counter()
    cpus = ",".join(str(c) for c in range(SENDER_CPUS)) if SENDER_CPUS > 1 else str(SENDER_CPU)
    pace = ["--rate", f"{rate}pps"] if rate else []
    proc = subprocess.run(
        [
            *("ip", "netns", "exec", lab.b, "taskset", "-c", cpus, "trafgen", "--dev", "peer0"),
            *("--conf", str(conf), *pace, "--num", str(count), "--cpus", str(SENDER_CPUS)),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=max(60, 5 * count / (rate or 400_000)),
    )
    wall = time.perf_counter() - t0
    spans = re.findall(r"(\d+) sec, (\d+) usec on CPU\d+ \((\d+) packets\)", proc.stdout)
    if not spans:
        return count / wall
    seconds = max(int(sec) + int(usec) / 1e6 for sec, usec, _ in spans)
    return sum(int(n) for _, _, n in spans) / seconds


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
    m = re.search(r"received=(\d+) drops=(\d+) cpu=([\d.]+) engine=(\w+)", line)
    assert m, line
    got, drops, cpu = int(m[1]), int(m[2]), float(m[3])
    extra = dict(re.findall(r"(detector_frames|detector_dropped|decoded|alerts)=(\d+)", line))
    print(f"  sentinel engine {m[4]}, {extra}", flush=True)
    return {
        "asked": rate,
        "achieved": achieved,
        "received": got,
        "kernel_drops": drops,
        "loss": 1 - got / count,
        "us_per_packet": cpu / max(got, 1) * 1e6,
        **{k: int(v) for k, v in extra.items()},
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
    cpu = cpu_seconds(proc.pid)  # ip netns exec and taskset exec: this pid is tcpdump
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
        "us_per_packet": cpu / max(got, 1) * 1e6,
    }


def libpcap(lab: Lab, conf: Path, rate: int, count: int) -> dict[str, float]:
    """bench/anchors/pcapcount.c live: libpcap's ring and the same per-frame counting."""
    anchor = pcapcount()
    assert anchor is not None, "needs cc and libpcap-dev"
    cmd = ["taskset", "-c", str(RECEIVER_CPU), str(anchor), "-i", "lan0", "10.77.0.0", "16"]
    proc = subprocess.Popen(
        ["ip", "netns", "exec", lab.a, *cmd, str(count)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    achieved = send(lab, conf, rate, count)
    out, _ = proc.communicate(timeout=60)
    m = re.search(r"received=(\d+) drops=(\d+) macs=\d+ cpu=([\d.]+)", out)
    assert m, out
    got, drops, cpu = int(m[1]), int(m[2]), float(m[3])
    return {
        "asked": rate,
        "achieved": achieved,
        "received": got,
        "kernel_drops": drops,
        "loss": 1 - got / count,
        "us_per_packet": cpu / max(got, 1) * 1e6,
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=1_000_000)
    ap.add_argument("--rates", default="300000,450000,0", help="pkt/s; 0: top speed")
    ap.add_argument("--frames", default="school,64,700")
    ap.add_argument("--sender-cpus", type=int, choices=(1, 2), default=1)
    ap.add_argument("--python", action="store_true", help="sentinel's pure-Python engine")
    ap.add_argument("--no-tcpdump", action="store_true")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()
    global SENDER_CPUS
    SENDER_CPUS = args.sender_cpus
    if args.python:
        os.environ["SENTINEL_NO_EXTENSIONS"] = "1"
    rates = [int(r) for r in args.rates.split(",")]
    results: dict[str, list[dict[str, float]]] = {}
    receivers = [("sentinel", sentinel), ("libpcap", libpcap)]
    receivers += [] if args.no_tcpdump else [("tcpdump", tcpdump)]
    with Lab() as lab, tempfile.TemporaryDirectory() as tmp:
        for size in args.frames.split(","):
            conf = Path(tmp) / f"frame{size}.cfg"
            if size == "school":
                text, mean = school_conf()
                conf.write_text(text)
                print(f"school mix: 1024 frames, mean {mean:.0f} B", flush=True)
            else:
                n = int(size)
                text = TEMPLATE.format(iplen=n - 14 - 4, udplen=n - 14 - 4 - 20, fill=FRAMES[n])
                conf.write_text(text)
            runs = [(who, fn, rate, args.count) for who, fn in receivers for rate in rates]
            for who, fn, rate, count in runs:
                r = fn(lab, conf, rate, count)
                key = f"{who}-{size if size == 'school' else size + 'B'}"
                results.setdefault(key, []).append(r)
                print(who, size, json.dumps({k: round(v, 4) for k, v in r.items()}), flush=True)
    args.out.mkdir(exist_ok=True)
    stamp = (
        time.strftime("%Y-%m-%d") + f"-senders{SENDER_CPUS}" + ("-python" if args.python else "")
    )
    (args.out / f"capture-trafgen-{stamp}.json").write_text(json.dumps(results, indent=1))
    lines = [
        f"# Live capture with trafgen as the sender, {time.strftime('%Y-%m-%d %H:%M')}",
        "",
        f"{args.count} frames per run; {SENDER_CPUS} trafgen process(es)"
        f" ({'CPU ' + str(SENDER_CPU) if SENDER_CPUS == 1 else 'one per CPU'}), receiver "
        f"pinned to CPU {RECEIVER_CPU}; {os.cpu_count()} CPUs;"
        f" sentinel engine {'python' if args.python else 'c'}" + ".",
        "",
        "| receiver | frame | asked pkt/s | achieved pkt/s | received | kernel drops | loss "
        "| receiver µs/packet | detector frames: decoded / over budget |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for key, runs in results.items():
        who, size = key.split("-")
        for r in runs:
            us = f"{r['us_per_packet']:.2f}" if "us_per_packet" in r else "n/a"
            det = f"{r['decoded']:,} / {r['detector_dropped']:,}" if "decoded" in r else "n/a"
            asked = f"{r['asked']:,.0f}" if r["asked"] else "top speed"
            lines.append(
                f"| {who} | {size} | {asked} | {r['achieved']:,.0f} | "
                f"{r['received']:,.0f} | {r['kernel_drops']:,.0f} | "
                f"{r['loss'] * 100:.3f} % | {us} | {det} |"
            )
    (args.out / f"capture-trafgen-{stamp}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
