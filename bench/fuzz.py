"""Coverage-guided fuzzing of sentinel's parsers with atheris (libFuzzer for Python).

The first byte of an input picks the target (tests/fuzz/targets.py: decoder, payload
parsers, pcap/pcapng readers, the C engine against the Python one, ring blocks, the
detection pipeline, SNMP values, the config loader); the rest is the target's input.
sentinel's modules are instrumented, so libFuzzer steers towards new branches. The
corpus starts from well-formed inputs of each kind.

    nice -n 10 .venv/bin/python bench/fuzz.py --runs 1000000 --json bench/results/fuzz.json

Any exception other than the ones a target declares is a finding: libFuzzer stops,
writes the input to --artifacts and the exit status is non-zero. The test suite runs a
short version (tests/fuzz/test_fuzz.py). Run it niced: the machine is shared.
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

ROOT = Path(__file__).resolve().parents[1]


def child(argv: list[str]) -> None:
    """In the fuzzing process: instrument, seed, run libFuzzer (which exits)."""
    import atheris

    sys.path.insert(0, str(ROOT))
    with atheris.instrument_imports(include=["sentinel", "tests.fuzz"]):
        from tests.fuzz import targets

    names = sorted(targets.TARGETS)
    chosen = os.environ.get("FUZZ_TARGETS", "")
    if chosen:
        names = [n for n in names if n in chosen.split(",")]
    funcs = [targets.TARGETS[n] for n in names]
    corpus = Path(argv[-1])
    for i, seed in enumerate(targets.seeds()):
        for k in range(len(funcs)):
            (corpus / f"seed-{k}-{i}").write_bytes(bytes([k]) + seed)

    def one(data: bytes) -> None:
        if data:
            funcs[data[0] % len(funcs)](data[1:])

    atheris.Setup([sys.argv[0], *argv], one)
    atheris.Fuzz()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=1_000_000, help="inputs to run")
    ap.add_argument("--max-len", type=int, default=4096)
    ap.add_argument("--targets", default="", help="comma-separated (default: all)")
    ap.add_argument("--artifacts", type=Path, help="where a crashing input goes")
    ap.add_argument("--json", type=Path, help="write the figures here")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("rest", nargs="*", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.rest)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp, "corpus")
        corpus.mkdir()
        artifacts = args.artifacts or Path(tmp, "artifacts")
        artifacts.mkdir(parents=True, exist_ok=True)
        fuzz_args = [
            f"-runs={args.runs}",
            f"-max_len={args.max_len}",
            "-print_final_stats=1",
            "-rss_limit_mb=3072",
            "-timeout=20",
            f"-artifact_prefix={artifacts}/",
            str(corpus),
        ]
        env = {**os.environ, "FUZZ_TARGETS": args.targets, "PYTHONHASHSEED": "0"}
        t0 = time.monotonic()
        proc = subprocess.run(
            [sys.executable, __file__, "--child", "--", *fuzz_args],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.monotonic() - t0
        log = proc.stderr
        stats = dict(re.findall(r"stat::(\w+):\s*(\d+)", log))
        cov = re.findall(r"cov: (\d+) ft: (\d+)", log)
        crashes = sorted(p.name for p in artifacts.iterdir())
        result = {
            "runs_requested": args.runs,
            "executed": int(stats.get("number_of_executed_units", 0)),
            "exec_per_sec": int(stats.get("average_exec_per_sec", 0)),
            "peak_rss_mb": int(stats.get("peak_rss_mb", 0)),
            "coverage_edges": int(cov[-1][0]) if cov else 0,
            "features": int(cov[-1][1]) if cov else 0,
            "corpus_files": len(list(corpus.iterdir())),
            "wall_s": round(wall, 1),
            "exit_status": proc.returncode,
            "findings": crashes,
            "targets": args.targets or "all",
        }
        print(json.dumps(result, indent=2))
        if proc.returncode:
            sys.stderr.write(log[-6000:])
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(result, indent=2) + "\n")
        return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
