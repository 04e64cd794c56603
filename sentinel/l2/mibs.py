"""The layer-2 table columns sentinel reads, by MIB (numeric OIDs: no MIB files at run time)."""

from __future__ import annotations

OID = tuple[int, ...]


def _oid(text: str) -> OID:
    return tuple(int(x) for x in text.split("."))


# IF-MIB: port names and what the port is for (an uplink's MACs are not devices).
IF_DESCR = _oid("1.3.6.1.2.1.2.2.1.2")
IF_TYPE = _oid("1.3.6.1.2.1.2.2.1.3")
IF_NAME = _oid("1.3.6.1.2.1.31.1.1.1.1")
IF_ALIAS = _oid("1.3.6.1.2.1.31.1.1.1.18")
PORT_COLUMNS = (IF_DESCR, IF_TYPE, IF_NAME, IF_ALIAS)

# LLDP-MIB (IEEE 802.1AB-2005), lldpRemTable: index lldpRemTimeMark.lldpRemLocalPortNum.lldpRemIndex
_REM = "1.0.8802.1.1.2.1.4.1.1"
LLDP_REM_CHASSIS_SUBTYPE = _oid(_REM + ".4")
LLDP_REM_CHASSIS_ID = _oid(_REM + ".5")
LLDP_REM_PORT_SUBTYPE = _oid(_REM + ".6")
LLDP_REM_PORT_ID = _oid(_REM + ".7")
LLDP_REM_PORT_DESC = _oid(_REM + ".8")
LLDP_REM_SYS_NAME = _oid(_REM + ".9")
LLDP_REM_CAP_SUPPORTED = _oid(_REM + ".11")
LLDP_REM_CAP_ENABLED = _oid(_REM + ".12")
LLDP_REM_COLUMNS = (
    LLDP_REM_CHASSIS_SUBTYPE,
    LLDP_REM_CHASSIS_ID,
    LLDP_REM_PORT_SUBTYPE,
    LLDP_REM_PORT_ID,
    LLDP_REM_PORT_DESC,
    LLDP_REM_SYS_NAME,
    LLDP_REM_CAP_SUPPORTED,
    LLDP_REM_CAP_ENABLED,
)
# lldpRemManAddrIfSubtype: index ...TimeMark.LocalPortNum.RemIndex.AddrSubtype.AddrLen.Addr
LLDP_REM_MAN_ADDR_IF_SUBTYPE = _oid("1.0.8802.1.1.2.1.4.2.1.3")
# lldpLocPortTable: lldpLocPortNum -> port id and description (to find the ifIndex)
LLDP_LOC_PORT_ID = _oid("1.0.8802.1.1.2.1.3.7.1.3")
LLDP_LOC_PORT_DESC = _oid("1.0.8802.1.1.2.1.3.7.1.4")

# CISCO-CDP-MIB cdpCacheTable: index cdpCacheIfIndex.cdpCacheDeviceIndex
_CDP = "1.3.6.1.4.1.9.9.23.1.2.1.1"
CDP_ADDRESS_TYPE = _oid(_CDP + ".3")
CDP_ADDRESS = _oid(_CDP + ".4")
CDP_DEVICE_ID = _oid(_CDP + ".6")
CDP_DEVICE_PORT = _oid(_CDP + ".7")
CDP_PLATFORM = _oid(_CDP + ".8")
CDP_CAPABILITIES = _oid(_CDP + ".9")
CDP_COLUMNS = (
    CDP_ADDRESS_TYPE,
    CDP_ADDRESS,
    CDP_DEVICE_ID,
    CDP_DEVICE_PORT,
    CDP_PLATFORM,
    CDP_CAPABILITIES,
)

# BRIDGE-MIB: bridge port -> ifIndex; the forwarding table of a VLAN-unaware bridge.
DOT1D_BASE_PORT_IFINDEX = _oid("1.3.6.1.2.1.17.1.4.1.2")
DOT1D_TP_FDB_PORT = _oid("1.3.6.1.2.1.17.4.3.1.2")  # index: MAC (6 sub-ids)
DOT1D_TP_FDB_STATUS = _oid("1.3.6.1.2.1.17.4.3.1.3")
# Q-BRIDGE-MIB: dot1qTpFdbTable, index dot1qFdbId.MAC; dot1qVlanFdbId maps VLANs to FDB ids.
DOT1Q_TP_FDB_PORT = _oid("1.3.6.1.2.1.17.7.1.2.2.1.2")
DOT1Q_TP_FDB_STATUS = _oid("1.3.6.1.2.1.17.7.1.2.2.1.3")
DOT1Q_VLAN_FDB_ID = _oid("1.3.6.1.2.1.17.7.1.4.2.1.3")  # index: TimeMark.VlanIndex
FDB_LEARNED = 3  # dot1dTpFdbStatus / dot1qTpFdbStatus learned(3); other(1) is also counted
FDB_NOT_DEVICES = (2, 4)  # invalid(2), self(4): not a device behind the port

# POWER-ETHERNET-MIB (RFC 3621): pethPsePortTable, index pethPsePortGroupIndex.pethPsePortIndex
_PETH_PORT = "1.3.6.1.2.1.105.1.1.1"
PETH_PORT_ADMIN = _oid(_PETH_PORT + ".3")  # TruthValue
PETH_PORT_DETECTION = _oid(_PETH_PORT + ".6")
PETH_PORT_CLASS = _oid(_PETH_PORT + ".10")  # class0(1) .. class4(5)
PETH_PORT_COLUMNS = (PETH_PORT_ADMIN, PETH_PORT_DETECTION, PETH_PORT_CLASS)
# pethMainPseTable, index pethMainPseGroupIndex
_PETH_MAIN = "1.3.6.1.2.1.105.1.3.1.1"
PETH_MAIN_POWER = _oid(_PETH_MAIN + ".2")  # Gauge32, watts
PETH_MAIN_OPER = _oid(_PETH_MAIN + ".3")  # on(1) off(2) faulty(3)
PETH_MAIN_CONSUMPTION = _oid(_PETH_MAIN + ".4")  # Gauge32, watts
PETH_MAIN_THRESHOLD = _oid(_PETH_MAIN + ".5")  # percent
PETH_MAIN_COLUMNS = (PETH_MAIN_POWER, PETH_MAIN_OPER, PETH_MAIN_CONSUMPTION, PETH_MAIN_THRESHOLD)
# Per-port watts of the vendors most schools buy, both indexed like pethPsePortTable.
CISCO_PORT_CONSUMPTION_MW = _oid("1.3.6.1.4.1.9.9.402.1.2.1.9")  # cpeExtPsePortPwrConsumption
HP_PORT_POWER_MW = _oid("1.3.6.1.4.1.11.2.14.11.1.9.1.1.1.3")  # hpicfPoePethPsePortPower

DETECTION = {
    1: "disabled",
    2: "searching",
    3: "delivering",
    4: "fault",
    5: "test",
    6: "other_fault",
}
PSE_OPER = {1: "on", 2: "off", 3: "faulty"}
