#!/usr/bin/env python3
"""Where ``sentinel analyze`` spends its CPU: per kind of frame and per detector.

The capture bench (bench/capture.py) gives one figure for sentinel with the default
detectors against a C libpcap reader doing the same counting. This script splits that
figure, on the same school mix (bench/capture.py's generator, same seed), so that work on
the detection path can aim at what costs most:

1. counting only (the C engine, no detector: what the anchor does);
2. the default detectors, as ``sentinel analyze`` runs them (no instrumentation);
3. the same run instrumented: every frame the C engine hands to Python timed through the
   decoder and the engine, grouped by the frame's kind (``detect.engine.kinds``: DNS
   queries and responses apart), and every detector's ``observe`` timed inside it. The
   engine's own share is what the engine call took beyond its detectors. Instrumented
   figures are about 10 % above the plain run's; the shares are what to read.

Side by side in the same run: the anchor (bench/anchors/pcapcount.c, C libpcap with
sentinel's per-frame counting) on the same file, and the CPU a frame may cost if
``sentinel analyze`` is to reach a given ratio of it (``--target``, 0.6).

    .venv/bin/python bench/analyze_cost.py                 # 1 M frames, about 1 minute
    .venv/bin/python bench/analyze_cost.py --packets 200000 --out-suffix=-quick

Results: bench/results/analyze-cost-<date><suffix>.{md,json}.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import capture as capbench  # noqa: E402  (bench/capture.py: the school mix, the anchor)
from benchlib import machine, write_results  # noqa: E402

RESULTS = HERE / "results"
CPU = 1  # the core the runs are pinned to


def pipeline(detect: bool) -> Any:
    from sentinel.capture.pipeline import Pipeline, Settings, make_engine
    from sentinel.config.detect import DetectConfig

    # as sentinel analyze runs: recent frames kept for evidence files in its state folder
    evidence = tempfile.mkdtemp(prefix="sentinel-bench-evidence-") if detect else ""
    settings = Settings(
        networks=(capbench.SITE4,),
        detect=DetectConfig() if detect else None,
        evidence_dir=evidence,
    )
    return Pipeline(settings, make_engine(settings))


def walk(path: Path, pl: Any, each_drain: Any) -> tuple[int, float]:
    """Frames read and CPU seconds for one pass, a region at a time as analyze walks it."""
    from sentinel.capture.pcapfile import Region, scan

    n = 0
    cpu0 = time.process_time()
    for region in scan(str(path)):
        assert isinstance(region, Region)
        for got in region.batches(pl.pcap, 1000):
            n += got
            each_drain()
    return n, time.process_time() - cpu0


def plain(path: Path, detect: bool) -> dict[str, float]:
    pl = pipeline(detect)
    n, cpu = walk(path, pl, pl.drain if detect else (lambda: None))
    quiet = getattr(pl.accounting, "answers_quiet", 0)  # learned resolvers' answers
    return {"packets": n, "cpu_s": cpu, "pps_cpu": n / cpu, "decoded": pl.decoded, "quiet": quiet}


def instrumented(path: Path) -> dict[str, Any]:
    """Per kind: frames, decode, engine (own) and detector seconds; per detector too."""
    from sentinel.capture.decode import LINK_ETHERNET, decode
    from sentinel.capture.pipeline import feed_aggregates
    from sentinel.detect.engine import kinds

    pl = pipeline(True)
    engine = pl.engine
    clock = time.perf_counter
    frames: dict[str, int] = defaultdict(int)
    decode_s: dict[str, float] = defaultdict(float)
    engine_s: dict[str, float] = defaultdict(float)
    det_s: dict[tuple[str, str], float] = defaultdict(float)
    kind = [""]
    inside = [0.0]  # detector seconds within the current engine call

    for d in engine.detectors:
        observe = d.observe

        def timed(p: Any, observe: Any = observe, name: str = d.name) -> Any:
            t = clock()
            found = observe(p)
            found = list(found) if found else found  # a generator runs here, not later
            dt_ = clock() - t
            det_s[(kind[0], name)] += dt_
            inside[0] += dt_
            calls[kind[0]] += 1
            return found

        d.observe = timed

    calls: dict[str, int] = defaultdict(int)  # detector calls per kind
    quiet = [0]  # the engine's quiet_version the capture side has
    other = [0.0]

    def drain() -> None:
        acc = pl.accounting
        for ts, wirelen, raw in acc.detector_batch():
            t0 = clock()
            p = decode(raw, LINK_ETHERNET, ts, wirelen)
            t1 = clock()
            k = kinds(p)[-1]
            if k == "dns":
                k = "dns response" if p.sport in (53, 5353) else "dns query"
            kind[0] = k
            inside[0] = 0.0
            engine.packet(p)
            t2 = clock()
            frames[k] += 1
            decode_s[k] += t1 - t0
            engine_s[k] += (t2 - t1) - inside[0]
        t0 = clock()
        feed_aggregates(acc, engine)
        if engine.quiet_version != quiet[0]:  # as Pipeline.drain: learned resolvers
            quiet[0] = engine.quiet_version
            acc.quiet_answers(sorted(engine.quiet_answers()))
        other[0] += clock() - t0

    n, cpu = walk(path, pl, drain)
    cost = wrapper_cost()
    per_kind = {
        k: {
            "frames": frames[k],
            "decode_s": decode_s[k],
            # the timing wrapper's own cost per detector call is the engine's no more
            "engine_s": max(0.0, engine_s[k] - calls[k] * cost),
            "detectors_s": sum(v for (kk, _), v in det_s.items() if kk == k),
            "detectors": {
                name: v for (kk, name), v in sorted(det_s.items(), key=lambda kv: -kv[1]) if kk == k
            },
        }
        for k in frames
    }
    return {
        "packets": n,
        "cpu_s": cpu,
        "kinds": per_kind,
        "aggregates_s": other[0],
        "wrapper_cost_s": cost,
    }


def wrapper_cost(rounds: int = 200_000) -> float:
    """Seconds the timing wrapper adds to one detector call (taken out of the engine's)."""
    clock = time.perf_counter
    sink: dict[tuple[str, str], float] = defaultdict(float)
    inside = [0.0]

    def observe(_p: object) -> tuple[()]:
        return ()

    def timed(p: object) -> object:
        t = clock()
        found = observe(p)
        found = list(found) if found else found
        d = clock() - t
        sink[("k", "d")] += d
        inside[0] += d
        return found

    best = float("inf")
    for _ in range(5):
        t0 = clock()
        for _ in range(rounds):
            observe(None)
        plain = clock() - t0
        t0 = clock()
        for _ in range(rounds):
            timed(None)
        best = min(best, (clock() - t0 - plain) / rounds)
    return max(0.0, best)


def anchor(path: Path) -> dict[str, float] | None:
    exe = capbench.pcapcount()
    if exe is None:
        return None
    net, bits = capbench.SITE4.split("/")
    t = capbench.timed([str(exe), str(path), net, bits], timeout=900)
    return t


def report(res: dict[str, Any]) -> str:
    n = res["packets"]
    count, det, ins = res["counting"], res["detectors"], res["instrumented"]
    lines = [
        f"# Where `sentinel analyze` spends its CPU, {res['date']}",
        "",
        f"Machine: {res['machine']['nproc']} CPUs, {res['machine']['cpu']}, Python "
        f"{res['machine']['python']}. Command: `{res['machine']['command']}`.",
        f"Traffic: bench/capture.py's school mix, {n:,} frames (seed 2026), network "
        f"{capbench.SITE4}. Runs pinned to CPU {CPU}.",
        "",
        "| run | CPU s | pkt/s (CPU) | µs a frame | / anchor |",
        "|---|---|---|---|---|",
    ]
    a = res.get("anchor")
    a_pps = n / a["cpu_s"] if a else 0.0
    rows = [("C libpcap counting (anchor)", a)] if a else []
    rows += [("sentinel counting (C engine)", count), ("sentinel + default detectors", det)]
    for label, r in rows:
        if r is None:
            continue
        pps = n / r["cpu_s"]
        ratio = f"{pps / a_pps:.2f}x" if a_pps else "-"
        lines.append(f"| {label} | {r['cpu_s']:.3f} | {pps:,.0f} | {1e6 / pps:.3f} | {ratio} |")
    lines.append("")
    handed = sum(k["frames"] for k in ins["kinds"].values())
    if a_pps:
        budget = 1e6 / (res["target"] * a_pps)
        left = budget - 1e6 * count["cpu_s"] / n
        lines += [
            f"At {res['target']:g}x the anchor a frame may cost {budget:.3f} µs; counting "
            f"takes {1e6 * count['cpu_s'] / n:.3f} µs, which leaves {max(0.0, left):.3f} µs "
            f"a frame for detection, or {max(0.0, left) * n / max(1, handed):.2f} µs for each "
            f"of the {handed:,} frames ({100 * handed / n:.1f} %) the C engine hands to Python "
            f"today (they cost {1e6 * (det['cpu_s'] - count['cpu_s']) / max(1, handed):.2f} µs "
            "each in the plain run).",
            "",
        ]
    if det.get("quiet"):
        lines += [
            f"Learned resolvers' answers counted by the capture side instead of handed over "
            f"(`quiet_answers`): {det['quiet']:,} in the plain run.",
            "",
        ]
    total = sum(k["decode_s"] + k["engine_s"] + k["detectors_s"] for k in ins["kinds"].values())
    lines += [
        "Instrumented run: frames handed to Python, by kind (the engine's `kinds()`, DNS "
        "queries and responses apart), µs a frame.",
        "",
        "| kind | frames | share of handed | decode | engine | detectors | total | share of "
        "Python time | costliest detectors (µs a frame) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for k, v in sorted(
        ins["kinds"].items(),
        key=lambda kv: -(kv[1]["decode_s"] + kv[1]["engine_s"] + kv[1]["detectors_s"]),
    ):
        f = max(1, v["frames"])
        spent = v["decode_s"] + v["engine_s"] + v["detectors_s"]
        top = ", ".join(f"{name} {1e6 * s / f:.2f}" for name, s in list(v["detectors"].items())[:4])
        lines.append(
            f"| {k} | {v['frames']:,} | {100 * v['frames'] / max(1, handed):.1f} % | "
            f"{1e6 * v['decode_s'] / f:.2f} | {1e6 * v['engine_s'] / f:.2f} | "
            f"{1e6 * v['detectors_s'] / f:.2f} | {1e6 * spent / f:.2f} | "
            f"{100 * spent / max(total, 1e-9):.1f} % | {top} |"
        )
    dec = sum(v["decode_s"] for v in ins["kinds"].values())
    eng = sum(v["engine_s"] for v in ins["kinds"].values())
    dets: dict[str, float] = defaultdict(float)
    for v in ins["kinds"].values():
        for name, s in v["detectors"].items():
            dets[name] += s
    lines += [
        "",
        f"Python time in the instrumented run: {total:.3f} s (decoding "
        f"{100 * dec / total:.0f} %, the engine {100 * eng / total:.0f} %, detectors "
        f"{100 * (total - dec - eng) / total:.0f} %); "
        f"aggregates {ins['aggregates_s']:.3f} s; whole run {ins['cpu_s']:.3f} s CPU.",
        "",
        "| detector | s | share of Python time |",
        "|---|---|---|",
    ]
    for name, s in sorted(dets.items(), key=lambda kv: -kv[1]):
        lines.append(f"| {name} | {s:.3f} | {100 * s / total:.1f} % |")
    lines += [
        "",
        f"The engine's share has the timing wrapper's own cost taken out "
        f"({1e6 * ins['wrapper_cost_s']:.2f} µs a detector call, measured in the same run).",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--file", type=Path, help="a pcap to use instead of the generated mix")
    ap.add_argument("--target", type=float, default=0.6, help="ratio to the anchor (0.6)")
    ap.add_argument("--out-suffix", default="")
    args = ap.parse_args()
    res: dict[str, Any] = {
        "date": dt.date.today().isoformat(),
        "machine": machine("analyze_cost.py"),
        "target": args.target,
    }
    os.sched_setaffinity(0, {CPU % (os.cpu_count() or 1)})
    with tempfile.TemporaryDirectory(prefix="sentinel-analyze-cost-") as tmp:
        path = args.file
        if path is None:
            path = Path(tmp) / "school.pcap"
            rng = random.Random(2026)
            capbench.write_pcap(
                path, capbench.sequence(capbench.school_templates(rng), rng), args.packets
            )
        print("anchor ...", flush=True)
        res["anchor"] = anchor(path)
        print("counting ...", flush=True)
        res["counting"] = plain(path, detect=False)
        print("default detectors ...", flush=True)
        res["detectors"] = plain(path, detect=True)
        print("instrumented ...", flush=True)
        res["instrumented"] = instrumented(path)
        res["packets"] = res["counting"]["packets"]
    stem = RESULTS / f"analyze-cost-{res['date']}{args.out_suffix}"
    write_results(stem, report(res), res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
