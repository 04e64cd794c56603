"""``sentinel poll``: interfaces and layer 2 of one switch, or the raw layer-2 rows."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from sentinel.errors import SnmpError
from sentinel.l2.fdb import locally_administered
from sentinel.l2.reader import L2Reader
from sentinel.metrics import Metrics
from sentinel.snmp.client import SnmpClient
from sentinel.snmp.poller import SwitchPoller

if TYPE_CHECKING:
    from sentinel.config.snmp import Resolved
    from sentinel.l2.reader import Reading


async def poll_once(cfg: Resolved) -> bytes:
    """One poll: the Prometheus text of that switch's series. Raises ``SnmpError``."""
    client = SnmpClient()
    metrics = Metrics(process=False)
    poller = SwitchPoller(cfg, client)
    try:
        try:
            samples = await poller.poll()
        finally:
            metrics.switches.publish(poller.health())
        metrics.interfaces.publish(cfg.name, samples)
        reader = L2Reader(cfg, client)
        try:
            reading = await reader.read(refresh=True)
        except SnmpError as exc:  # the interfaces are still worth printing
            print(f"sentinel poll: layer 2 not read: {exc}", file=sys.stderr)
        else:
            metrics.l2.publish(reading.snapshot)
        finally:
            reader.close()
    finally:
        client.close()
    return metrics.render_switches()


async def walk_l2(cfg: Resolved) -> str:
    """The raw neighbour, FDB and PoE rows, as an admin would read them with snmpbulkwalk.

    This is an admin's own tool on the box: MAC addresses are shown, nothing is kept.
    """
    client = SnmpClient()
    reader = L2Reader(cfg, client)
    try:
        reading = await reader.read(refresh=True)
    finally:
        reader.close()
        client.close()
    return format_rows(reading)


def _mac(m: int) -> str:
    return ":".join(f"{b:02x}" for b in m.to_bytes(6, "big"))


def format_rows(r: Reading) -> str:
    lines = ["# neighbours (LLDP, CDP): port, name, port id, kind, address, exported as"]
    for n in r.remotes:
        how = "named" if n.named else "counted"
        lines.append(
            f"{n.local_port}\t{n.name or '-'}\t{n.port or '-'}\t{n.kind}\t{n.address or '-'}\t{how}"
        )
    lines.append(f"# fdb: ifIndex, vlan, mac, locally administered ({len(r.fdb_entries)} rows)")
    for ifindex, vlan, mac in sorted(r.fdb_entries):
        laa = "laa" if locally_administered(mac) else "-"
        lines.append(f"{ifindex}\t{vlan or '-'}\t{_mac(mac)}\t{laa}")
    lines.append("# poe ports: ifname, admin, detection, class, watts")
    for p in r.snapshot.poe_ports:
        klass = "-" if p.power_class is None else str(p.power_class)
        watts = "-" if p.watts is None else f"{p.watts:g}"
        admin = "enabled" if p.admin_enabled else "disabled"
        lines.append(f"{p.ifname}\t{admin}\t{p.detection}\t{klass}\t{watts}")
    lines.append("# poe pse: group, nominal W, consumption W, usage threshold, oper")
    lines.extend(
        f"{s.group}\t{s.nominal_watts}\t{s.consumption_watts}\t{s.usage_threshold_ratio}\t{s.oper}"
        for s in r.snapshot.poe_pses
    )
    return "\n".join(lines) + "\n"
