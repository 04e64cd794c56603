"""The demo's switches: real recorded walks (snmpsim-data) served by snmpsim on loopback.

Each switch is one recording of a real device from the snmpsim-data package, cut down to
what the pollers read (SNMPv2-MIB system, IF-MIB interfaces and ifMIB, and the layer 2
tables: forwarding, LLDP, CDP, PoE), each kept run followed by the record after it, so a
walk ends where the full recording ends. The
recorded counters of interfaces that were up are served through the demo's own snmpsim
variation module (``variation/waves.py``): they grow from their recorded value at a rate
of their own per port (uplinks at a fair share of their speed, access ports at a few per
cent) that rises and falls over a few minutes, so the bandwidth panels move. sysUpTime
advances in real time. Everything else is served exactly as recorded.
"""

from __future__ import annotations

import bz2
import hashlib
import importlib.util
import math
import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

RESPONDER = "snmpsim-command-responder"
# The subtrees a poller reads: system, interfaces, ifMIB; and for layer 2, BRIDGE-MIB and
# Q-BRIDGE (forwarding tables), POWER-ETHERNET, LLDP, Cisco CDP and PoE, HP's PoE.
KEPT = re.compile(
    r"^(1\.3\.6\.1\.2\.1\.(1|2|31|17|105)\.|1\.0\.8802\.1\.1\.2\.|"
    r"1\.3\.6\.1\.4\.1\.9\.9\.(23|402)\.|1\.3\.6\.1\.4\.1\.11\.2\.14\.11\.1\.9\.)"
)
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
IF = "1.3.6.1.2.1.2.2.1."
IFX = "1.3.6.1.2.1.31.1.1.1."
OPER_STATUS = IF + "8."
SPEED = IF + "5."  # bit/s, 32-bit
HIGH_SPEED = IFX + "15."  # Mbit/s

# Counter columns -> share of the octet rate (octets 1.0, packets per 800 bytes, ...).
COUNTERS: dict[str, float] = {
    IF + "10.": 1.0,  # ifInOctets
    IF + "16.": 0.6,  # ifOutOctets
    IF + "11.": 1 / 800,  # ifInUcastPkts
    IF + "17.": 0.6 / 800,  # ifOutUcastPkts
    IF + "13.": 1 / 8e6,  # ifInDiscards
    IF + "14.": 1 / 2e7,  # ifInErrors
    IF + "19.": 1 / 8e6,  # ifOutDiscards
    IF + "20.": 1 / 2e7,  # ifOutErrors
    IFX + "6.": 1.0,  # ifHCInOctets
    IFX + "10.": 0.6,  # ifHCOutOctets
    IFX + "7.": 1 / 800,  # ifHCInUcastPkts
    IFX + "11.": 0.6 / 800,  # ifHCOutUcastPkts
}
COUNTER32_MAX = 2**32 - 1


@dataclass(frozen=True, slots=True)
class DemoSwitch:
    """One simulated switch: its name in sentinel, the recording, which ports are uplinks."""

    name: str
    recording: str  # path under snmpsim-data's data/, without .snmprec.bz2
    uplinks: tuple[str, ...]  # ifName patterns (the uplinks' rates are higher)
    saturated: tuple[str, ...] = ()  # ifNames of uplinks run at 95 % (UplinkSaturated)


SWITCHES = (
    DemoSwitch("demo-core", "network/switch/cisco-c3560", ("Gi0/49", "Gi0/50")),
    DemoSwitch("demo-wing-b", "network/switch/hpe-procurve-516733-b21", ("1", "2")),
    DemoSwitch("demo-gym", "network/switch/dlink-des3200", ("8", "17"), saturated=("8",)),
)


class SwitchDataError(RuntimeError):
    """snmpsim or its recordings are not installed."""


def data_root() -> Path:
    """The ``data`` folder of the installed snmpsim-data package."""
    spec = importlib.util.find_spec("snmpsim_data")
    if spec is None or spec.origin is None:
        raise SwitchDataError(
            "the demo's switches need the Python packages snmpsim and snmpsim-data "
            "(pip install 'sentinel-school[demo]')"
        )
    return Path(spec.origin).resolve().parent / "data"


def responder() -> str:
    """snmpsim's responder: next to this Python (its venv) first, else on PATH."""
    local = Path(sys.executable).parent / RESPONDER
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    found = shutil.which(RESPONDER)
    if found is None:
        raise SwitchDataError(
            f"no {RESPONDER} next to {sys.executable} or on PATH "
            "(pip install 'sentinel-school[demo]')"
        )
    return found


def _share(key: str) -> float:
    """A stable number in [0, 1) for ``key``: each port keeps its own rate across runs."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") / 2**32


def _cut(lines: list[str]) -> list[str]:
    """The records under the kept subtrees, each kept run followed by the next record."""
    out: list[str] = []
    keep_next = False
    for line in lines:
        if KEPT.match(line):
            out.append(line)
            keep_next = True
        elif keep_next:
            out.append(line)
            keep_next = False
    return out


def _records(lines: list[str]) -> dict[str, tuple[str, str]]:
    recs = {}
    for line in lines:
        oid, _, rest = line.partition("|")
        tag, _, value = rest.partition("|")
        recs[oid] = (tag, value)
    return recs


def _speed_bytes(recs: dict[str, tuple[str, str]], index: str) -> float:
    high = recs.get(HIGH_SPEED + index)
    if high and high[0] == "66" and high[1].isdigit() and int(high[1]) > 0:
        return int(high[1]) * 1e6 / 8
    low = recs.get(SPEED + index)
    if low and low[0] == "66" and low[1].isdigit() and int(low[1]) > 0:
        return int(low[1]) / 8
    return 1e6 / 8  # virtual interfaces: count as 1 Mbit/s


def octet_rate(switch: DemoSwitch, ifname: str, index: str, speed: float) -> float:
    """Bytes a second into one port: uplinks 25-70 % of their speed, access ports 0.2-4 %,
    a saturated uplink 95 %."""
    if ifname in switch.saturated:
        return speed * 0.94
    share = _share(f"{switch.name}/{index}")
    uplink = any(re.fullmatch(p, ifname) for p in switch.uplinks)
    util = 0.25 + 0.45 * share if uplink else 0.002 + 0.038 * share
    return speed * util


def _ifname(recs: dict[str, tuple[str, str]], index: str) -> str:
    tag, value = recs.get(IFX + "1." + index, ("", ""))
    if tag == "4x":
        try:
            return bytes.fromhex(value).decode("ascii", "replace")
        except ValueError:
            return value
    return value


def moving(switch: DemoSwitch, lines: list[str]) -> list[str]:
    """The cut recording with its counters and sysUpTime turned into numeric variations."""
    recs = _records(lines)
    out = []
    for line in lines:
        oid, _, rest = line.partition("|")
        tag, _, value = rest.partition("|")
        if oid == SYS_UPTIME and tag == "67" and value.isdigit():
            out.append(f"{oid}|67:waves|rate=100,initial={value}")
            continue
        column = next((c for c in COUNTERS if oid.startswith(c)), None)
        if column is None or tag not in ("65", "70") or not value.isdigit():
            out.append(line)
            continue
        index = oid[len(column) :]
        if recs.get(OPER_STATUS + index, ("", ""))[1] != "1":
            out.append(line)  # a port that was down does not count
            continue
        speed = _speed_bytes(recs, index)
        ifname = _ifname(recs, index)
        rate = octet_rate(switch, ifname, index, speed) * COUNTERS[column]
        period = 240 + 480 * _share(f"{switch.name}/{index}/period")  # 4-12 minutes
        phase = 2 * math.pi * _share(f"{switch.name}/{index}/phase")
        depth = 0.03 if ifname in switch.saturated else 0.35
        spec = f"rate={rate:.6f},initial={value},period={period:.0f},phase={phase:.3f}"
        spec += f",depth={depth}"
        if tag == "65":
            spec += f",wrap={COUNTER32_MAX}"
        out.append(f"{oid}|{tag}:waves|{spec}")
    return out


def write_recordings(data_dir: Path, switches: tuple[DemoSwitch, ...] = SWITCHES) -> None:
    """Write ``<name>.snmprec`` for each switch into ``data_dir`` (snmpsim's --data-dir)."""
    root = data_root()
    data_dir.mkdir(parents=True, exist_ok=True)
    for sw in switches:
        src = root / f"{sw.recording}.snmprec.bz2"
        if not src.is_file():
            raise SwitchDataError(f"snmpsim-data has no recording {src}")
        with bz2.open(src, "rt", encoding="utf-8", errors="surrogateescape") as f:
            lines = f.read().splitlines()
        served = moving(sw, _cut(lines))
        (data_dir / f"{sw.name}.snmprec").write_text(
            "\n".join(served) + "\n", encoding="utf-8", errors="surrogateescape"
        )


VARIATION = Path(__file__).parent / "variation"


def responder_argv(port: int, data_dir: Path, cache_dir: Path) -> list[str]:
    """snmpsim answering SNMPv2c on 127.0.0.1:port, one community per switch name."""
    return [
        responder(),
        "--log-level=error",
        f"--variation-modules-dir={VARIATION}",
        f"--cache-dir={cache_dir}",
        f"--data-dir={data_dir}",
        f"--agent-udpv4-endpoint=127.0.0.1:{port}",
    ]
