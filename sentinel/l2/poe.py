"""POWER-ETHERNET-MIB ports and PSEs, with per-port watts from Cisco and HPE/Aruba MIBs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sentinel.l2 import mibs
from sentinel.model import PoePort, PoePse

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from sentinel.l2.mibs import OID

Value = int | bytes | tuple[int, ...] | object


def _int(v: object) -> int | None:
    return v if isinstance(v, int) else None


def ports(
    table: Mapping[OID, Mapping[OID, Value]], ifname: Callable[[int, int], str]
) -> list[PoePort]:
    """pethPsePortTable rows (index group.port); ``ifname(group, port)`` names the port.

    Watts come from cpeExtPsePortPwrConsumption or hpicfPoePethPsePortPower (milliwatts,
    same index) where the agent has either.
    """
    admin = table.get(mibs.PETH_PORT_ADMIN, {})
    detection = table.get(mibs.PETH_PORT_DETECTION, {})
    klass = table.get(mibs.PETH_PORT_CLASS, {})
    milliwatts = {
        **table.get(mibs.HP_PORT_POWER_MW, {}),
        **table.get(mibs.CISCO_PORT_CONSUMPTION_MW, {}),
    }
    out = []
    for idx in sorted(set(admin) | set(detection)):
        if len(idx) != 2:
            continue
        c = _int(klass.get(idx))
        mw = _int(milliwatts.get(idx))
        out.append(
            PoePort(
                ifname=ifname(idx[0], idx[1]),
                admin_enabled=admin.get(idx) == 1,
                detection=mibs.DETECTION.get(_int(detection.get(idx)) or 0, "unknown"),
                power_class=c - 1 if c is not None and 1 <= c <= 5 else None,
                watts=mw / 1000 if mw is not None and mw >= 0 else None,
            )
        )
    return out


def pses(table: Mapping[OID, Mapping[OID, Value]]) -> list[PoePse]:
    power = table.get(mibs.PETH_MAIN_POWER, {})
    oper = table.get(mibs.PETH_MAIN_OPER, {})
    used = table.get(mibs.PETH_MAIN_CONSUMPTION, {})
    threshold = table.get(mibs.PETH_MAIN_THRESHOLD, {})
    out = []
    for idx in sorted(set(power) | set(oper) | set(used)):
        if len(idx) != 1:
            continue
        p, u, t = _int(power.get(idx)), _int(used.get(idx)), _int(threshold.get(idx))
        out.append(
            PoePse(
                group=idx[0],
                nominal_watts=float(p) if p is not None else None,
                consumption_watts=float(u) if u is not None else None,
                usage_threshold_ratio=t / 100 if t is not None and 1 <= t <= 99 else None,
                oper=mibs.PSE_OPER.get(_int(oper.get(idx)) or 0, "unknown"),
            )
        )
    return out
