"""Read one switch's layer 2: neighbours on the label schedule, FDB and PoE every poll.

Tables an agent does not have (no CDP, no PoE, no Q-BRIDGE) are found empty at a
refresh and not asked for again until the next one: a switch without PoE costs one
GETBULK per refresh for it, not one per poll.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sentinel.l2 import fdb, lldp, mibs, poe
from sentinel.model import L2Snapshot, Neighbor, Role, Tier
from sentinel.snmp.client import Endpoint
from sentinel.snmp.poller import credentials, port_role
from sentinel.snmp.raw import RawClient
from sentinel.snmp.walk import walk

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from sentinel.config.snmp import Resolved
    from sentinel.l2.mibs import OID
    from sentinel.snmp.client import SnmpClient, Value

MAX_FDB_ROWS = 16384  # per column: a school's access switch learns a few thousand at most
MAX_NEIGHBOR_ROWS = 1024


@dataclass(frozen=True, slots=True)
class Port:
    ifname: str
    role: Role
    tier: Tier


@dataclass(frozen=True, slots=True)
class Reading:
    """One read: the exported snapshot, the device MACs (access ports), the raw rows."""

    snapshot: L2Snapshot
    devices: frozenset[int]  # MACs learned on access ports: for the census, never exported
    wireless: frozenset[int]  # those of them behind access-point ports
    remotes: tuple[lldp.Remote, ...]  # every neighbour, named or not (for discovery, --walk-l2)
    fdb_entries: tuple[fdb.Entry, ...]


def _text(v: object) -> str:
    return lldp.clean(v, 200) if isinstance(v, bytes) else ""


class L2Reader:
    """State of one switch's layer-2 reads between polls."""

    def __init__(
        self,
        cfg: Resolved,
        client: SnmpClient,
        *,
        semaphore: asyncio.Semaphore | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_fdb_rows: int = MAX_FDB_ROWS,
    ) -> None:
        self.cfg = cfg
        # SNMPv2c by hand (a forwarding table is thousands of varbinds a poll); v1 and v3
        # through pysnmp.
        self.client = RawClient(client)
        self.ep = Endpoint(cfg.host, cfg.port, cfg.timeout, cfg.retries)
        self.creds = credentials(cfg.auth)
        self.semaphore = semaphore or asyncio.Semaphore(1)
        self.clock = clock
        self.max_fdb_rows = max_fdb_rows
        self.max_repetitions = cfg.max_repetitions
        self.refreshed_at: float | None = None
        self.ports: dict[int, Port] = {}
        self.names: dict[str, int] = {}
        self.bridge_ports: dict[int, int] = {}
        self.vlans: dict[int, int] = {}
        self.remotes: list[lldp.Remote] = []
        self.neighbor_ports: dict[int, str] = {}  # ifIndex -> kind of a named neighbour
        self.qbridge = True
        self.poe = True
        self.vendor_watts: tuple[OID, ...] = ()
        self.row_counts: dict[OID, int] = {}
        # health
        self.requests = 0
        self.varbinds = 0
        self.notes: list[str] = []
        self.last_duration: float | None = None

    async def _walk(
        self, columns: Sequence[OID], max_rows: int = MAX_NEIGHBOR_ROWS
    ) -> dict[OID, dict[OID, Value]]:
        async with self.semaphore:
            w = await walk(
                self.client,
                self.ep,
                self.creds,
                columns,
                self.max_repetitions,
                max_rows=max_rows,
                expected=self.row_counts,
            )
        self.row_counts.update((c, len(rows)) for c, rows in w.columns.items())
        self.requests += w.requests
        self.varbinds += w.varbinds
        self.max_repetitions = w.max_repetitions
        self.notes.extend(w.notes)
        return w.columns

    def close(self) -> None:
        self.client.close()

    def due(self, now: float) -> bool:
        return self.refreshed_at is None or now - self.refreshed_at >= self.cfg.label_refresh

    async def read(self, *, refresh: bool | None = None) -> Reading:
        start = self.clock()
        self.notes = []
        if refresh is None:
            refresh = self.due(start)
        if refresh:
            await self._refresh()
            self.refreshed_at = start
        entries = await self._fdb()
        poe_table: dict[OID, dict[OID, Value]] = {}
        if self.poe:
            poe_table = await self._walk(
                [*mibs.PETH_PORT_COLUMNS, *mibs.PETH_MAIN_COLUMNS, *self.vendor_watts]
            )
        self.last_duration = self.clock() - start
        return self._reading(entries, poe_table)

    # -- the label-schedule tables -------------------------------------------------------

    async def _refresh(self) -> None:
        table = await self._walk(mibs.PORT_COLUMNS, max_rows=20000)
        ports: dict[int, Port] = {}
        names: dict[str, int] = {}
        for idx in sorted(set(table[mibs.IF_DESCR]) | set(table[mibs.IF_NAME])):
            if len(idx) != 1:
                continue
            descr = _text(table[mibs.IF_DESCR].get(idx))
            name = _text(table[mibs.IF_NAME].get(idx)) or descr or str(idx[0])
            alias = _text(table[mibs.IF_ALIAS].get(idx))
            iftype = table[mibs.IF_TYPE].get(idx)
            role = port_role(
                name, alias, iftype if isinstance(iftype, int) else 0, self.cfg.uplinks
            )
            tier = Tier(getattr(self.cfg.tiers, role.value))
            ports[idx[0]] = Port(name, role, tier)
            for n in (descr, name):
                names.setdefault(n, idx[0])
        self.ports, self.names = ports, names
        nb = await self._walk(
            [
                *mibs.LLDP_REM_COLUMNS,
                mibs.LLDP_REM_MAN_ADDR_IF_SUBTYPE,
                mibs.LLDP_LOC_PORT_ID,
                mibs.LLDP_LOC_PORT_DESC,
                *mibs.CDP_COLUMNS,
                mibs.DOT1D_BASE_PORT_IFINDEX,
                mibs.DOT1Q_VLAN_FDB_ID,
                *mibs.PETH_PORT_COLUMNS[:1],
                mibs.CISCO_PORT_CONSUMPTION_MW,
                mibs.HP_PORT_POWER_MW,
            ]
        )
        local = lldp.local_ports(nb[mibs.LLDP_LOC_PORT_ID], nb[mibs.LLDP_LOC_PORT_DESC], names)
        remotes = [
            lldp.Remote(
                local.get(r.local_port, r.local_port),
                r.name,
                r.port,
                r.kind,
                r.mac_like,
                r.address,
            )
            for r in lldp.lldp_remotes(nb, nb[mibs.LLDP_REM_MAN_ADDR_IF_SUBTYPE])
        ]
        seen = {(r.local_port, r.name.lower()) for r in remotes}
        remotes += [r for r in lldp.cdp_remotes(nb) if (r.local_port, r.name.lower()) not in seen]
        self.remotes = remotes
        self.neighbor_ports = {}
        for r in remotes:
            if r.named and (
                r.kind != "wlan-access-point" or r.local_port not in self.neighbor_ports
            ):
                self.neighbor_ports[r.local_port] = r.kind
        self.bridge_ports = {
            i[0]: v
            for i, v in nb[mibs.DOT1D_BASE_PORT_IFINDEX].items()
            if len(i) == 1 and isinstance(v, int)
        }
        self.vlans = fdb.fdb_to_vlan(nb[mibs.DOT1Q_VLAN_FDB_ID])
        self.poe = bool(nb[mibs.PETH_PORT_ADMIN])
        self.vendor_watts = tuple(
            c for c in (mibs.CISCO_PORT_CONSUMPTION_MW, mibs.HP_PORT_POWER_MW) if nb[c]
        )
        self.qbridge = True  # asked again at each refresh

    # -- every poll ----------------------------------------------------------------------

    async def _fdb(self) -> list[fdb.Entry]:
        if self.qbridge:
            t = await self._walk(
                [mibs.DOT1Q_TP_FDB_PORT, mibs.DOT1Q_TP_FDB_STATUS], max_rows=self.max_fdb_rows
            )
            rows = t[mibs.DOT1Q_TP_FDB_PORT]
            if rows:
                return list(
                    fdb.entries(rows, t[mibs.DOT1Q_TP_FDB_STATUS], self.bridge_ports, self.vlans)
                )
            self.qbridge = False
        t = await self._walk(
            [mibs.DOT1D_TP_FDB_PORT, mibs.DOT1D_TP_FDB_STATUS], max_rows=self.max_fdb_rows
        )
        return list(
            fdb.entries(
                t[mibs.DOT1D_TP_FDB_PORT], t[mibs.DOT1D_TP_FDB_STATUS], self.bridge_ports, None
            )
        )

    # -- the snapshot --------------------------------------------------------------------

    def ifname(self, ifindex: int) -> str:
        p = self.ports.get(ifindex)
        return p.ifname if p is not None else str(ifindex)

    def uplink(self, ifindex: int) -> bool:
        """Configured as an uplink (name, description, LAG), or a switch or router behind it."""
        p = self.ports.get(ifindex)
        if p is not None and p.role is Role.UPLINK:
            return True
        return self.neighbor_ports.get(ifindex) in ("bridge", "router")

    def _reading(self, entries: list[fdb.Entry], poe_table: dict[OID, dict[OID, Value]]) -> Reading:
        neighbors = []
        stations: dict[str, int] = {}
        for r in self.remotes:
            name = self.ifname(r.local_port)
            if r.named:
                neighbors.append(Neighbor(name, r.name, r.port, r.kind, r.address))
            else:
                stations[name] = stations.get(name, 0) + 1
        counts: dict[tuple[str, str], set[int]] = {}
        devices: set[int] = set()
        behind_ap: set[int] = set()
        for ifindex, vlan, mac in entries:
            if fdb.multicast(mac):
                continue
            up = self.uplink(ifindex)
            p = self.ports.get(ifindex)
            per_port = up or (p is not None and p.tier is Tier.FULL)
            key = (self.ifname(ifindex) if per_port else "", str(vlan) if vlan else "")
            counts.setdefault(key, set()).add(mac)
            if not up:
                devices.add(mac)
                if self.neighbor_ports.get(ifindex) == "wlan-access-point":
                    behind_ap.add(mac)
        groups = {g for g, _ in poe_table.get(mibs.PETH_PORT_ADMIN, {})}

        def poe_name(group: int, port: int) -> str:
            if len(groups) <= 1 and port in self.ports:
                return self.ports[port].ifname
            return f"{group}/{port}"

        snapshot = L2Snapshot(
            switch=self.cfg.name,
            neighbors=tuple(sorted(set(neighbors), key=lambda n: (n.ifname, n.name))),
            stations=tuple(sorted(stations.items())),
            fdb=tuple(sorted((i, v, len(m)) for (i, v), m in counts.items())),
            access_point_macs=len(behind_ap),
            poe_ports=tuple(poe.ports(poe_table, poe_name)) if poe_table else (),
            poe_pses=tuple(poe.pses(poe_table)) if poe_table else (),
        )
        return Reading(
            snapshot, frozenset(devices), frozenset(behind_ap), tuple(self.remotes), tuple(entries)
        )
