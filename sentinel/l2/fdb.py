"""Forwarding-database rows (Q-BRIDGE-MIB, else BRIDGE-MIB) as (ifIndex, VLAN, MAC) entries."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sentinel.l2 import mibs

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from sentinel.l2.mibs import OID

Value = int | bytes | tuple[int, ...] | object
Entry = tuple[int, int, int]  # ifIndex, VLAN (0: unknown), MAC as a 48-bit integer


def mac_int(sub_ids: tuple[int, ...]) -> int | None:
    if len(sub_ids) != 6 or any(not 0 <= x <= 255 for x in sub_ids):
        return None
    return int.from_bytes(bytes(sub_ids), "big")


def fdb_to_vlan(rows: Mapping[OID, Value]) -> dict[int, int]:
    """dot1qVlanFdbId (index TimeMark.VlanIndex -> FDB id) as FDB id -> VLAN.

    An FDB id shared by several VLANs (shared learning) has no one VLAN: it maps to 0.
    """
    out: dict[int, int] = {}
    for idx, fdb in rows.items():
        if len(idx) == 2 and isinstance(fdb, int):
            out[fdb] = 0 if fdb in out and out[fdb] != idx[1] else idx[1]
    return out


def entries(
    port: Mapping[OID, Value],
    status: Mapping[OID, Value],
    bridge_ports: Mapping[int, int],
    vlans: Mapping[int, int] | None,
) -> Iterator[Entry]:
    """Learned entries. ``vlans`` is None for BRIDGE-MIB rows (index MAC only).

    Without dot1qVlanFdbId the FDB id is taken as the VLAN id (what most switches do).
    A bridge port missing from dot1dBasePortIfIndex is taken as the ifIndex itself.
    Rows whose status is invalid or self, or whose port is 0 (unknown), are skipped.
    """
    for idx, bport in port.items():
        if not isinstance(bport, int) or bport <= 0:
            continue
        st = status.get(idx)
        if isinstance(st, int) and st in mibs.FDB_NOT_DEVICES:
            continue
        if vlans is None:
            vlan, mac = 0, mac_int(idx)
        else:
            if len(idx) != 7:
                continue
            vlan, mac = vlans.get(idx[0], idx[0]), mac_int(idx[1:])
        if mac is None:
            continue
        yield bridge_ports.get(bport, bport), vlan, mac


def locally_administered(mac: int) -> bool:
    """The U/L bit: set in randomised addresses of phones and laptops."""
    return bool((mac >> 40) & 0x02)


def multicast(mac: int) -> bool:
    return bool((mac >> 40) & 0x01)
