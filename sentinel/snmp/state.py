"""Counter state kept across daemon restarts, so the exported totals never go back.

After a switch reboot or a 32-bit wrap, sentinel's total is ahead of the agent's raw
counter. Starting again from the raw value would look like a counter reset to
Prometheus, and rate() would count the agent's whole counter again: a false spike. The
pollers' state is written to the state directory on shutdown and every few minutes, and
read back at start.
"""

from __future__ import annotations

import json
import os
import tempfile
from array import array
from pathlib import Path
from typing import Any

from sentinel.snmp.ifmib import OCTET_SLOTS
from sentinel.snmp.poller import UNSET, SwitchPoller

FILE = "snmp-counters.json"
VERSION = 1


def snapshot(poller: SwitchPoller) -> dict[str, Any]:
    """The part of a poller's state that must survive a restart."""
    return {
        "host": poller.cfg.host,
        "port": poller.cfg.port,
        "ticks": poller.prev_ticks,
        "wall": poller.last_success,
        "interfaces": {str(i): list(a) for i, a in poller.counters.items()},
    }


def restore(poller: SwitchPoller, saved: dict[str, Any]) -> bool:
    """Seed a new poller from a snapshot of the same switch; False if it does not fit."""
    try:
        if saved["host"] != poller.cfg.host or saved["port"] != poller.cfg.port:
            return False
        ticks, wall = saved["ticks"], saved["wall"]
        if not isinstance(ticks, int) or not isinstance(wall, int | float):
            return False
        counters = {}
        for key, values in saved["interfaces"].items():
            a = array("Q", (min(int(v), UNSET) for v in values))
            if len(a) not in (2 * OCTET_SLOTS, len(poller.counters_template)):
                return False
            counters[int(key)] = a
    except (KeyError, TypeError, ValueError, OverflowError):
        return False
    poller.counters = counters
    poller.prev_ticks = ticks
    # The poller measures time on the monotonic clock; place the saved poll on it.
    poller.prev_at = poller.clock() - max(0.0, poller.wall() - wall)
    return True


def save(path: Path, pollers: list[SwitchPoller]) -> None:
    """Write every poller's snapshot atomically (write, fsync, rename)."""
    data = {"version": VERSION, "switches": {}}
    for p in pollers:
        if p.prev_ticks is not None and p.last_success is not None:
            data["switches"][p.cfg.name] = snapshot(p)  # type: ignore[index]
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".snmp-counters.")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, separators=(",", ":"))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: Path) -> dict[str, dict[str, Any]]:
    """Snapshots by switch name; empty when the file is missing or unreadable."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != VERSION:
        return {}
    switches = data.get("switches")
    return switches if isinstance(switches, dict) else {}
