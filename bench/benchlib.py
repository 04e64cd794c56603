"""What the benchmarks share: process figures from /proc, the machine, the result files."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import subprocess
import sys
from importlib import metadata
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int) -> float:
    """utime + stime of a whole process (every thread), seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def pss(pid: int) -> dict[str, int]:
    """RSS and the PSS parts of a process (bytes), from /proc/PID/smaps_rollup."""
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("Rss", "Pss", "Pss_Anon", "Pss_Shmem", "Pss_File"):
                out[key] = int(rest.split()[0]) * 1024
    return out


def stop(p: subprocess.Popen[Any], wait: float = 10) -> None:
    """Terminate, then kill: every process a benchmark starts, it stops."""
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(wait)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(wait)


def machine(script: str) -> dict[str, Any]:
    """The date, the command line and the machine a result was measured on."""
    cpu = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "")
    return {
        "date": dt.date.today().isoformat(),
        "command": f"bench/{script} " + " ".join(sys.argv[1:]),
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": cpu,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sentinel": metadata.version("sentinel-school"),
    }


def write_results(stem: Path, text: str, res: dict[str, Any]) -> None:
    """bench/results/<stem>.md (for people) and .json (for the next comparison)."""
    print(text)
    stem.with_suffix(".md").write_text(text)
    stem.with_suffix(".json").write_text(json.dumps(res, indent=2) + "\n")
    print(f"written {stem}.md and .json")
