"""snmpsim variation module of the demo: a counter whose rate follows a slow wave.

Not imported by sentinel: snmpsim-command-responder loads it with
``--variation-modules-dir`` and calls ``variate`` for every record typed ``TAG:waves``.
The record's value is ``rate=R,initial=I[,period=P][,phase=F][,depth=D][,wrap=M]``: the
counter starts at I and grows at R x (1 + D sin(2 pi t / P + F)) a second (D below 1, so
it never goes back), modulo M+1 with ``wrap`` (32-bit counters).
"""

from __future__ import annotations

import math
import time
from typing import Any

BOOTED = time.time()


def init(**context: Any) -> None:
    return None


def _settings(value: str) -> dict[str, float]:
    out = {}
    for item in str(value).split(","):
        key, _, number = item.partition("=")
        out[key.strip()] = float(number)
    return out


def variate(oid: Any, tag: Any, value: Any, **context: Any) -> tuple[Any, Any, Any]:
    if context["setFlag"] or (not context["nextFlag"] and not context["exactMatch"]):
        return context["origOid"], tag, context["errorStatus"]
    record: dict[str, Any] = globals()["recordContext"]  # set by snmpsim before each call
    if "settings" not in record:
        record["settings"] = _settings(value)
    s = record["settings"]
    t = time.time() - BOOTED
    omega = 2 * math.pi / s.get("period", 600.0)
    phase, depth = s.get("phase", 0.0), min(s.get("depth", 0.0), 0.95)
    grown = s["rate"] * (t + depth * (math.cos(phase) - math.cos(omega * t + phase)) / omega)
    v = int(s["initial"] + grown)
    if "wrap" in s:
        v %= int(s["wrap"]) + 1
    return oid, tag, v


def record(oid: Any, tag: Any, value: Any, **context: Any) -> tuple[Any, Any, Any]:
    return oid, tag, value


def shutdown(**context: Any) -> None:
    return None
