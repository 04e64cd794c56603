"""LLDP-MIB and CISCO-CDP-MIB neighbours: infrastructure by name, end devices only counted.

A neighbour is named (``sentinel_lldp_neighbor_info``) only when it is a bridge, a router
or an access point by its advertised capabilities, and neither its name nor its port id
is a MAC address. Everything else (stations, telephones, devices without capabilities,
MAC-named devices) is counted per port: those are students' and teachers' devices.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sentinel.l2 import mibs

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sentinel.l2.mibs import OID

Value = int | bytes | tuple[int, ...] | object
LABEL_MAX = 64  # characters in a label value

INFRASTRUCTURE = ("bridge", "router", "wlan-access-point")
# LLDP system capabilities (BITS, bit 0 is the high bit of the first octet), in the order
# that decides the kind: a phone with a PC port advertises bridge too, an access point
# bridges, a layer-3 switch routes.
_LLDP_BITS = (
    (5, "telephone"),
    (3, "wlan-access-point"),
    (2, "bridge"),
    (1, "bridge"),  # repeater
    (4, "router"),
    (6, "router"),  # DOCSIS cable device
    (7, "station"),
    (0, "other"),
)
# CDP capability flags (cdpCacheCapabilities, 4 octets big-endian).
_CDP_PHONE, _CDP_ROUTER, _CDP_BRIDGES, _CDP_HOST = 0x80, 0x01, 0x02 | 0x04 | 0x08 | 0x40, 0x10
_AP_PLATFORM = re.compile(r"(?i)\b(air-|aironet|access ?point|\bap\d)")
_MAC_TEXT = re.compile(
    r"(?i)^(?:[0-9a-f]{2}([:\-. ]?)(?:[0-9a-f]{2}\1){4}[0-9a-f]{2}|"
    r"[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}|(?:sep)?[0-9a-f]{12})$"
)
# LldpChassisIdSubtype macAddress(4), networkAddress(5); LldpPortIdSubtype macAddress(3),
# networkAddress(4).
_CHASSIS_MAC, _CHASSIS_NET = 4, 5
_PORT_MAC, _PORT_NET = 3, 4


@dataclass(frozen=True, slots=True)
class Remote:
    """One row of the remote table, before the naming rule is applied."""

    local_port: int  # lldpRemLocalPortNum, or cdpCacheIfIndex
    name: str
    port: str
    kind: str
    mac_like: bool  # the name or the port id is a MAC address (or there is no name)
    address: str = ""

    @property
    def named(self) -> bool:
        return self.kind in INFRASTRUCTURE and not self.mac_like


def clean(value: object, limit: int = LABEL_MAX) -> str:
    """Text fit for a label value: UTF-8, no control characters, one space, bounded."""
    if isinstance(value, bytes):
        text = value.decode("utf-8", "replace")
    elif isinstance(value, str):
        text = value
    else:
        return ""
    text = "".join(" " if unicodedata.category(c)[0] in "CZ" else c for c in text)
    return " ".join(text.split())[:limit]


def is_mac(text: str) -> bool:
    return bool(_MAC_TEXT.match(text.strip()))


def lldp_kind(enabled: object, supported: object) -> str:
    """The neighbour's kind from its enabled capabilities (else the supported ones)."""
    for caps in (enabled, supported):
        if isinstance(caps, bytes) and any(caps):
            bits = int.from_bytes(caps[:2].ljust(2, b"\0"), "big")
            for bit, kind in _LLDP_BITS:
                if bits & (0x8000 >> bit):
                    return kind
    return "other"


def cdp_kind(capabilities: object, platform: str) -> str:
    caps = int.from_bytes(capabilities[:4], "big") if isinstance(capabilities, bytes) else 0
    if caps & _CDP_PHONE:
        return "telephone"
    if _AP_PLATFORM.search(platform):
        return "wlan-access-point"
    if caps & _CDP_BRIDGES:
        return "bridge"
    if caps & _CDP_ROUTER:
        return "router"
    if caps & _CDP_HOST:
        return "station"
    return "other"


def _address(subtype: int, raw: bytes) -> str:
    if subtype in (1, 2) and len(raw) in (4, 16):
        return str(ipaddress.ip_address(raw))
    return ""


def _id_text(subtype: object, raw: object, mac_subtype: int, net_subtype: int) -> tuple[str, bool]:
    """(text, is a MAC) of a chassis or port id by its subtype."""
    if not isinstance(raw, bytes):
        return "", False
    if subtype == mac_subtype:
        return "", True
    if subtype == net_subtype and len(raw) in (5, 17):  # IANA family octet + address
        return _address(raw[0], raw[1:]), False
    text = clean(raw)
    if len(raw) == 6 and not text.isprintable():
        return "", True
    return text, is_mac(text)


def lldp_remotes(
    table: Mapping[OID, Mapping[OID, Value]], man_addr: Mapping[OID, Value]
) -> list[Remote]:
    """Rows of lldpRemTable (index TimeMark.LocalPortNum.RemIndex) and their addresses."""
    addresses: dict[tuple[int, int], str] = {}
    for idx in man_addr:
        # TimeMark.LocalPortNum.RemIndex.AddrSubtype.AddrLen.Addr...
        if len(idx) >= 5 and idx[4] == len(idx) - 5:
            key = (idx[1], idx[2])
            found = _address(idx[3], bytes(x & 0xFF for x in idx[5:]))
            if found and (key not in addresses or ":" in addresses[key]):
                addresses[key] = found  # IPv4 preferred over a link-local IPv6
    col = {c: table.get(c, {}) for c in mibs.LLDP_REM_COLUMNS}
    out = []
    for idx in sorted(set().union(*(set(rows) for rows in col.values()))):
        if len(idx) != 3:
            continue
        row = {c: col[c].get(idx) for c in mibs.LLDP_REM_COLUMNS}
        chassis, chassis_mac = _id_text(
            row[mibs.LLDP_REM_CHASSIS_SUBTYPE],
            row[mibs.LLDP_REM_CHASSIS_ID],
            _CHASSIS_MAC,
            _CHASSIS_NET,
        )
        port, port_mac = _id_text(
            row[mibs.LLDP_REM_PORT_SUBTYPE], row[mibs.LLDP_REM_PORT_ID], _PORT_MAC, _PORT_NET
        )
        name = clean(row[mibs.LLDP_REM_SYS_NAME])
        if not name:
            name, name_mac = chassis, chassis_mac
        else:
            name_mac = is_mac(name)
        out.append(
            Remote(
                local_port=idx[1],
                name=name,
                port=port,
                kind=lldp_kind(row[mibs.LLDP_REM_CAP_ENABLED], row[mibs.LLDP_REM_CAP_SUPPORTED]),
                mac_like=name_mac or port_mac or not name,
                address=addresses.get((idx[1], idx[2]), ""),
            )
        )
    return out


def cdp_remotes(table: Mapping[OID, Mapping[OID, Value]]) -> list[Remote]:
    """Rows of cdpCacheTable (index ifIndex.DeviceIndex)."""
    col = {c: table.get(c, {}) for c in mibs.CDP_COLUMNS}
    out = []
    for idx in sorted(set().union(*(set(rows) for rows in col.values()))):
        if len(idx) != 2:
            continue
        name = clean(col[mibs.CDP_DEVICE_ID].get(idx))
        port = clean(col[mibs.CDP_DEVICE_PORT].get(idx))
        platform = clean(col[mibs.CDP_PLATFORM].get(idx), 200)
        raw = col[mibs.CDP_ADDRESS].get(idx)
        address = ""
        if col[mibs.CDP_ADDRESS_TYPE].get(idx) == 1 and isinstance(raw, bytes) and len(raw) == 4:
            address = str(ipaddress.ip_address(raw))
        out.append(
            Remote(
                local_port=idx[0],
                name=name,
                port=port,
                kind=cdp_kind(col[mibs.CDP_CAPABILITIES].get(idx), platform),
                mac_like=is_mac(name) or is_mac(port) or not name,
                address=address,
            )
        )
    return out


def local_ports(
    loc_id: Mapping[OID, Value], loc_desc: Mapping[OID, Value], names: Mapping[str, int]
) -> dict[int, int]:
    """lldpLocPortNum -> ifIndex: by the port's id or description naming an interface.

    Most agents (lldpd, Cisco, HPE) number LLDP ports by ifIndex; where a port's id or
    description names an interface, that name wins. ``names`` maps ifName/ifDescr to ifIndex.
    """
    out: dict[int, int] = {}
    for rows in (loc_desc, loc_id):
        for idx, value in rows.items():
            if len(idx) == 1 and isinstance(value, bytes):
                found = names.get(clean(value))
                if found is not None:
                    out.setdefault(idx[0], found)
    return out
