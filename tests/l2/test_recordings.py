"""LLDP, CDP, FDB and PoE of the synthetic 48-port recordings: sentinel equals snmpbulkwalk.

Every value sentinel reads is checked against net-snmp's snmpbulkwalk of the same
recording, computed here independently of sentinel's parsers; the topology and sizes are
also checked against what tests/data/l2/generate.py built.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys

import pytest

from sentinel.config.secret import Secret, SecretSource
from sentinel.config.snmp import DEFAULT_UPLINK_ALIAS, InterfaceFilter, Resolved, SnmpAuth, Tiers
from sentinel.l2.reader import L2Reader, Reading
from sentinel.snmp.client import SnmpClient
from tests.snmp import agents
from tests.snmp.conftest import series

pytestmark = pytest.mark.timeout(180)

FDB_Q_PORT = "1.3.6.1.2.1.17.7.1.2.2.1.2"
FDB_Q_STATUS = "1.3.6.1.2.1.17.7.1.2.2.1.3"
FDB_D_PORT = "1.3.6.1.2.1.17.4.3.1.2"
FDB_D_STATUS = "1.3.6.1.2.1.17.4.3.1.3"
BASE_PORT = "1.3.6.1.2.1.17.1.4.1.2"
VLAN_FDB = "1.3.6.1.2.1.17.7.1.4.2.1.3"
IF_NAME = "1.3.6.1.2.1.31.1.1.1.1"
IF_TYPE = "1.3.6.1.2.1.2.2.1.3"
IF_ALIAS = "1.3.6.1.2.1.31.1.1.1.18"
PETH = "1.3.6.1.2.1.105.1.1.1"
PETH_MAIN = "1.3.6.1.2.1.105.1.3.1.1"
HP_MW = "1.3.6.1.4.1.11.2.14.11.1.9.1.1.1.3"
CISCO_MW = "1.3.6.1.4.1.9.9.402.1.2.1.9"
LAG = 100


def resolved(sim: agents.Simulator, community: str) -> Resolved:
    host, port = sim.target.split(":")
    return Resolved(
        name=community,
        host=host,
        port=int(port),
        auth=SnmpAuth(community=Secret(community, SecretSource("inline", ""))),
        interval=60.0,
        timeout=2.0,
        retries=1,
        max_repetitions=25,
        label_refresh=900.0,
        interfaces=InterfaceFilter(),
        uplinks=(re.compile(DEFAULT_UPLINK_ALIAS),),
        tiers=Tiers(),
    )


def read(sim: agents.Simulator, community: str) -> Reading:
    async def go() -> Reading:
        client = SnmpClient()
        reader = L2Reader(resolved(sim, community), client)
        try:
            return await reader.read()
        finally:
            reader.close()
            client.close()

    return asyncio.run(go())


def walk(sim: agents.Simulator, community: str, oid: str) -> dict[str, agents.Value]:
    return agents.bulkwalk(sim.target, oid, agents.v2c_args(community))


def suffix(key: str, col: str) -> tuple[int, ...]:
    return tuple(int(x) for x in key[len(col) + 1 :].split("."))


def truth_fdb(sim: agents.Simulator, community: str) -> set[tuple[int, int, int]]:
    """(ifIndex, VLAN, MAC) of every learned entry, from snmpbulkwalk alone."""
    bport = {suffix(k, BASE_PORT)[0]: v for k, v in walk(sim, community, BASE_PORT).items()}
    q = walk(sim, community, FDB_Q_PORT)
    out = set()
    if q:
        status = walk(sim, community, FDB_Q_STATUS)
        fdb_vlan = {v: suffix(k, VLAN_FDB)[1] for k, v in walk(sim, community, VLAN_FDB).items()}
        for k, port in q.items():
            idx = suffix(k, FDB_Q_PORT)
            if port == 0 or status[FDB_Q_STATUS + k[len(FDB_Q_PORT) :]] in (2, 4):
                continue
            mac = int.from_bytes(bytes(idx[1:]), "big")
            out.add((bport[port], fdb_vlan[idx[0]], mac))
    else:
        status = walk(sim, community, FDB_D_STATUS)
        for k, port in walk(sim, community, FDB_D_PORT).items():
            if port == 0 or status[FDB_D_STATUS + k[len(FDB_D_PORT) :]] in (2, 4):
                continue
            out.add((bport[port], 0, int.from_bytes(bytes(suffix(k, FDB_D_PORT)), "big")))
    return out


@pytest.mark.parametrize("community", ["aruba-2930f-48p", "cisco-c9200-48p"])
def test_fdb_entries_and_counts_equal_snmpbulkwalk(l2sim: agents.Simulator, community: str) -> None:
    """Every learned entry equals snmpbulkwalk's; counts per uplink/VLAN and devices follow."""
    r = read(l2sim, community)
    truth = truth_fdb(l2sim, community)
    assert len(r.fdb_entries) == len(set(r.fdb_entries)) == len(truth)
    assert set(r.fdb_entries) == truth
    qbridge = community.startswith("aruba")
    assert len(truth) == (2000 if qbridge else 1999)  # the built table (one MAC twice in Q)
    names = {suffix(k, IF_NAME)[0]: v for k, v in walk(l2sim, community, IF_NAME).items()}
    types = {suffix(k, IF_TYPE)[0]: v for k, v in walk(l2sim, community, IF_TYPE).items()}
    alias = {suffix(k, IF_ALIAS)[0]: v for k, v in walk(l2sim, community, IF_ALIAS).items()}
    # Uplinks: the LAG, the port described "uplink core", the port the core switch is on.
    uplinks = {i for i in names if types[i] == 161 or "uplink" in str(alias[i])}
    assert uplinks == {49, LAG}
    expect: dict[tuple[str, str], set[int]] = {}
    for ifindex, vlan, mac in truth:
        key = (str(names[ifindex]) if ifindex in uplinks else "", str(vlan) if vlan else "")
        expect.setdefault(key, set()).add(mac)
    got = {(i, v): n for i, v, n in r.snapshot.fdb}
    assert got == {k: len(m) for k, m in expect.items()}
    assert sum(got.values()) == len(truth)
    devices = {mac for i, _, mac in truth if i not in uplinks}
    assert r.devices == devices
    assert len(devices) == 2000 - 600 - 1  # the LAG's 600 are not devices; one MAC twice
    assert r.snapshot.access_point_macs == len({m for i, _, m in truth if i in (12, 30)}) == 800


@pytest.mark.parametrize("community", ["aruba-2930f-48p", "cisco-c9200-48p"])
def test_poe_equals_snmpbulkwalk(l2sim: agents.Simulator, community: str) -> None:
    """Admin state, detection, class and watts of 24 ports and the PSE budget, as walked."""
    r = read(l2sim, community)
    names = {suffix(k, IF_NAME)[0]: v for k, v in walk(l2sim, community, IF_NAME).items()}
    peth = walk(l2sim, community, PETH)
    vendor = walk(l2sim, community, HP_MW if community.startswith("aruba") else CISCO_MW)
    detection = {1: "disabled", 2: "searching", 3: "delivering", 4: "fault"}
    want = {}
    for k, v in peth.items():
        col, group, port = suffix(k, PETH)[0], *suffix(k, PETH)[1:]
        assert group == 1
        row = want.setdefault(str(names[port]), {})
        row[col] = v
        row["mw"] = vendor[f"{HP_MW if community.startswith('aruba') else CISCO_MW}.1.{port}"]
    assert len(want) == 24
    got = {p.ifname: p for p in r.snapshot.poe_ports}
    assert set(got) == set(want)
    for name, row in want.items():
        p = got[name]
        assert p.admin_enabled == (row[3] == 1)
        assert p.detection == detection[row[6]]
        assert p.power_class == row[10] - 1
        assert p.watts == row["mw"] / 1000
    main = {suffix(k, PETH_MAIN)[0]: v for k, v in walk(l2sim, community, PETH_MAIN).items()}
    (pse,) = r.snapshot.poe_pses
    assert (pse.nominal_watts, pse.oper) == (main[2], "on" if main[3] == 1 else "?")
    assert pse.consumption_watts == main[4]
    assert pse.usage_threshold_ratio == main[5] / 100
    assert pse.nominal_watts == (370 if community.startswith("aruba") else 740)
    assert sum(1 for p in got.values() if p.detection == "delivering") >= 7


@pytest.mark.parametrize(
    ("community", "ports"),
    [
        ("aruba-2930f-48p", {49: "A1", 12: "12", 30: "30", 5: "5", 7: "7"}),
        (
            "cisco-c9200-48p",
            {49: "Te1/1/1", 12: "Gi1/0/12", 30: "Gi1/0/30", 5: "Gi1/0/5", 7: "Gi1/0/7"},
        ),
    ],
)
def test_neighbours_named_or_counted(
    l2sim: agents.Simulator, community: str, ports: dict[int, str]
) -> None:
    """Core switch and access points named; the phone and the MAC-named laptop only counted.

    On the Cisco recording CDP reports the core switch and one access point again: once.
    """
    r = read(l2sim, community)
    got = {(n.ifname, n.name, n.port, n.kind) for n in r.snapshot.neighbors}
    assert got == {
        (ports[49], "core-sw1.school.lan", "Te1/0/24", "bridge"),
        (ports[12], "ap-b1-12", "eth0", "wlan-access-point"),
        (ports[30], "ap-gym", "eth0", "wlan-access-point"),
    }
    assert dict(r.snapshot.stations) == {ports[5]: 1, ports[7]: 1}
    core = next(n for n in r.snapshot.neighbors if n.kind == "bridge")
    assert core.address == "10.20.0.1"


MAC_TEXT = re.compile(r"(?i)([0-9a-f]{2}[:-]){5}[0-9a-f]{2}|[0-9a-f]{12}")


def test_sentinel_poll_prints_l2_series_without_device_labels(l2sim: agents.Simulator) -> None:
    """``sentinel poll`` exports neighbours, FDB counts and PoE; no label looks like a MAC."""
    community = "aruba-2930f-48p"
    out = subprocess.run(
        [sys.executable, "-m", "sentinel", "poll", l2sim.target, "-c", community, "--name", "sw"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    got = series(out.stdout)
    fdb = {labels: v for (n, labels), v in got.items() if n == "sentinel_fdb_macs"}
    assert sum(fdb.values()) == 2000
    assert got[("sentinel_poe_pse_power_watts", (("group", "1"), ("switch", "sw")))] == 370
    assert got[("sentinel_lldp_stations", (("ifname", "5"), ("switch", "sw")))] == 1
    info = [dict(labels) for (n, labels), _ in got.items() if n == "sentinel_lldp_neighbor_info"]
    assert {i["neighbor_name"] for i in info} == {"core-sw1.school.lan", "ap-b1-12", "ap-gym"}
    for _name, labels in got:
        for _key, value in labels:
            assert not MAC_TEXT.search(value), value
    walked = subprocess.run(
        [sys.executable, "-m", "sentinel", "poll", l2sim.target, "-c", community, "--walk-l2"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert walked.returncode == 0, walked.stderr
    rows = walked.stdout.split("# fdb:")[1].split("# poe ports")[0].splitlines()[1:]
    assert len(rows) == 2000
    assert len(truth_fdb(l2sim, community)) == len(rows)
