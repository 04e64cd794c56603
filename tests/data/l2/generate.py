"""Write the synthetic layer-2 recordings in this directory (snmpsim .snmprec files).

SYNTHETIC: no real switch was recorded. snmpsim-data has no LLDP, FDB or PoE tables, so
these are built from the MIB definitions (LLDP-MIB, CISCO-CDP-MIB, BRIDGE-MIB,
Q-BRIDGE-MIB, POWER-ETHERNET-MIB, CISCO-POWER-ETHERNET-EXT-MIB, HP-ICF-POE-MIB) with the
table sizes of a school's access switch: 48 access ports, uplinks, a LAG, 2,000 learned
MACs over four VLANs, 24 PoE ports. Deterministic (seeded): run it again and the files
come out the same.

    python tests/data/l2/generate.py
"""

from __future__ import annotations

import random
from pathlib import Path

HERE = Path(__file__).resolve().parent

ACCESS_PORTS = 48
UPLINKS = (49, 50, 51, 52)  # 10G ports; 51 and 52 are members of the LAG
LAG = 100  # Po1 / Trk1, ifType ieee8023adLag
AP_PORTS = (12, 30)  # a wireless access point on each
PHONE_PORT = 5
LAPTOP_PORT = 7  # a laptop that runs an LLDP agent (named like a MAC)
VLANS = {1: 1, 2: 10, 3: 20, 4: 30}  # FDB id -> VLAN: management, students, staff, voice
TOTAL_MACS = 2000
UPLINK_MACS = 600  # the rest of the school, learned through the LAG
AP_MACS = (420, 380)
POE_PORTS = 24


def rec(oid: str, tag: str, value: object) -> tuple[tuple[int, ...], str]:
    return tuple(int(x) for x in oid.split(".")), f"{oid}|{tag}|{value}"


def text(oid: str, value: str) -> tuple[tuple[int, ...], str]:
    return rec(oid, "4x", value.encode().hex())


def mac_oid(mac: bytes) -> str:
    return ".".join(str(b) for b in mac)


def interfaces(vendor: str) -> list[tuple[tuple[int, ...], str]]:
    out = []
    rows = [*range(1, ACCESS_PORTS + 1), *UPLINKS, LAG]
    out.append(rec("1.3.6.1.2.1.2.1.0", "2", len(rows)))
    for i in rows:
        if i == LAG:
            name, descr, iftype, speed = (
                ("Trk1", "Trk1", 161, 20000)
                if vendor == "aruba"
                else ("Po1", "Port-channel1", 161, 20000)
            )
        elif i in UPLINKS:
            n = i - ACCESS_PORTS
            name = f"A{n}" if vendor == "aruba" else f"Te1/1/{n}"
            descr = name if vendor == "aruba" else f"TenGigabitEthernet1/1/{n}"
            iftype, speed = 6, 10000
        else:
            name = str(i) if vendor == "aruba" else f"Gi1/0/{i}"
            descr = name if vendor == "aruba" else f"GigabitEthernet1/0/{i}"
            iftype, speed = 6, 1000
        alias = {49: "uplink core", LAG: "uplink to building B"}.get(i, f"room {100 + i % 30}")
        out += [
            rec(f"1.3.6.1.2.1.2.2.1.1.{i}", "2", i),
            text(f"1.3.6.1.2.1.2.2.1.2.{i}", descr),
            rec(f"1.3.6.1.2.1.2.2.1.3.{i}", "2", iftype),
            rec(f"1.3.6.1.2.1.2.2.1.5.{i}", "66", min(speed * 1_000_000, 4294967295)),
            rec(f"1.3.6.1.2.1.2.2.1.7.{i}", "2", 1),
            rec(f"1.3.6.1.2.1.2.2.1.8.{i}", "2", 1),
            rec(f"1.3.6.1.2.1.2.2.1.10.{i}", "65", (i * 7919) % 4294967296),
            rec(f"1.3.6.1.2.1.2.2.1.16.{i}", "65", (i * 104729) % 4294967296),
            text(f"1.3.6.1.2.1.31.1.1.1.1.{i}", name),
            rec(f"1.3.6.1.2.1.31.1.1.1.6.{i}", "70", i * 123456789),
            rec(f"1.3.6.1.2.1.31.1.1.1.10.{i}", "70", i * 987654321),
            rec(f"1.3.6.1.2.1.31.1.1.1.15.{i}", "66", speed),
            text(f"1.3.6.1.2.1.31.1.1.1.18.{i}", alias),
        ]
    return out


def lldp(vendor: str) -> list[tuple[tuple[int, ...], str]]:
    """Neighbours: the core switch on port 49, access points, a phone, a laptop."""
    rem = "1.0.8802.1.1.2.1.4.1.1"
    out = []
    ports = [*range(1, ACCESS_PORTS + 1), *UPLINKS]
    for p in ports:  # lldpLocPortTable: port number p, described by its ifName
        name = (
            (str(p) if p <= ACCESS_PORTS else f"A{p - ACCESS_PORTS}")
            if vendor == "aruba"
            else (f"Gi1/0/{p}" if p <= ACCESS_PORTS else f"Te1/1/{p - ACCESS_PORTS}")
        )
        out += [
            rec(f"1.0.8802.1.1.2.1.3.7.1.2.{p}", "2", 5),
            text(f"1.0.8802.1.1.2.1.3.7.1.3.{p}", name),
            text(f"1.0.8802.1.1.2.1.3.7.1.4.{p}", name),
        ]
    # (local port, chassis subtype, chassis id, port subtype, port id, sysName, caps sup, caps en)
    neighbors = [
        (
            49,
            4,
            bytes.fromhex("00a0c9000001"),
            5,
            "Te1/0/24",
            "core-sw1.school.lan",
            "2800",
            "2800",
        ),
        (12, 4, bytes.fromhex("b45d50000012"), 5, "eth0", "ap-b1-12", "3000", "1000"),
        (30, 4, bytes.fromhex("b45d50000030"), 5, "eth0", "ap-gym", "3000", "1000"),
        (
            PHONE_PORT,
            4,
            bytes.fromhex("0004f2000005"),
            3,
            bytes.fromhex("0004f2000005"),
            "SEP0004F2000005",
            "2400",
            "2400",
        ),
        (
            LAPTOP_PORT,
            4,
            bytes.fromhex("3c22fb000007"),
            3,
            bytes.fromhex("3c22fb000007"),
            "3c:22:fb:00:00:07",
            "0100",
            "0100",
        ),
    ]
    for k, (port, csub, cid, psub, pid, name, sup, en) in enumerate(neighbors, start=1):
        idx = f"{1000 + k}.{port}.{k}"
        out += [
            rec(f"{rem}.4.{idx}", "2", csub),
            rec(f"{rem}.5.{idx}", "4x", cid.hex()),
            rec(f"{rem}.6.{idx}", "2", psub),
            rec(
                f"{rem}.7.{idx}", "4x", pid.hex() if isinstance(pid, bytes) else pid.encode().hex()
            ),
            text(f"{rem}.8.{idx}", f"port {port}"),
            text(f"{rem}.9.{idx}", name),
            text(f"{rem}.10.{idx}", "synthetic neighbour"),
            rec(f"{rem}.11.{idx}", "4x", sup),
            rec(f"{rem}.12.{idx}", "4x", en),
        ]
        if port == 49:  # the core switch's management address: 10.20.0.1
            out.append(rec(f"1.0.8802.1.1.2.1.4.2.1.3.{idx}.1.4.10.20.0.1", "2", 2))
    return out


def cdp() -> list[tuple[tuple[int, ...], str]]:
    """Cisco only: the same core switch by CDP, and a Cisco access point on port 30."""
    base = "1.3.6.1.4.1.9.9.23.1.2.1.1"
    out = []
    for ifindex, dev, port, platform, caps, addr in (
        (
            49,
            "core-sw1.school.lan",
            "TenGigabitEthernet1/0/24",
            "cisco C9300-48P",
            "00000029",
            "0a140001",
        ),
        (30, "ap-gym", "GigabitEthernet0", "cisco AIR-AP2802I-E-K9", "00000002", "0a140a1e"),
    ):
        idx = f"{ifindex}.1"
        out += [
            rec(f"{base}.3.{idx}", "2", 1),
            rec(f"{base}.4.{idx}", "4x", addr),
            text(f"{base}.6.{idx}", dev),
            text(f"{base}.7.{idx}", port),
            text(f"{base}.8.{idx}", platform),
            rec(f"{base}.9.{idx}", "4x", caps),
        ]
    return out


def macs(rng: random.Random) -> list[tuple[int, int, bytes]]:
    """(bridge port, FDB id, MAC): 2,000 learned entries, some on two VLANs."""
    out: list[tuple[int, int, bytes]] = []
    used: set[bytes] = set()

    def new_mac(laa: bool) -> bytes:
        while True:
            b = bytearray(rng.randbytes(6))
            b[0] = (b[0] & 0xFC) | (0x02 if laa else 0x00)
            if bytes(b) not in used:
                used.add(bytes(b))
                return bytes(b)

    lag_bridge_port = 53
    out.extend(
        (lag_bridge_port, rng.choice((2, 3, 3, 4)), new_mac(rng.random() < 0.3))
        for _ in range(UPLINK_MACS)
    )
    for port, n in zip(AP_PORTS, AP_MACS, strict=True):
        # students' laptops and phones: many randomised
        out.extend((port, 2, new_mac(rng.random() < 0.45)) for _ in range(n))
    access = [p for p in range(1, ACCESS_PORTS + 1) if p not in AP_PORTS]
    left = TOTAL_MACS - len(out) - 1  # one device appears on two VLANs below
    for k in range(left):
        port = access[k % len(access)]
        out.append((port, 3 if port % 3 else 2, new_mac(rng.random() < 0.1)))
    # The phone on port 5 is on the voice VLAN, the PC behind it on staff; one PC's MAC is
    # also learned on the voice VLAN (it tagged frames once): one device on two VLANs.
    twice = next(m for p, f, m in out if p == PHONE_PORT)
    out.append((PHONE_PORT, 4, twice))
    return out


def fdb(rng: random.Random, qbridge: bool) -> list[tuple[tuple[int, ...], str]]:
    out = []
    for bport in [*range(1, ACCESS_PORTS + 1), *UPLINKS, 53]:
        ifindex = LAG if bport == 53 else bport
        out.append(rec(f"1.3.6.1.2.1.17.1.4.1.2.{bport}", "2", ifindex))
    entries = macs(rng)
    self_mac = bytes.fromhex("02a0c9ffffff")
    if qbridge:
        for fdb_id, vlan in VLANS.items():
            out.append(rec(f"1.3.6.1.2.1.17.7.1.4.2.1.3.0.{vlan}", "66", fdb_id))
        for bport, fdb_id, mac in entries:
            out.append(rec(f"1.3.6.1.2.1.17.7.1.2.2.1.2.{fdb_id}.{mac_oid(mac)}", "2", bport))
            out.append(rec(f"1.3.6.1.2.1.17.7.1.2.2.1.3.{fdb_id}.{mac_oid(mac)}", "2", 3))
        out.append(rec(f"1.3.6.1.2.1.17.7.1.2.2.1.2.1.{mac_oid(self_mac)}", "2", 0))
        out.append(rec(f"1.3.6.1.2.1.17.7.1.2.2.1.3.1.{mac_oid(self_mac)}", "2", 4))
    else:  # BRIDGE-MIB only: one entry per MAC, no VLAN
        seen: set[bytes] = set()
        for bport, _fdb_id, mac in entries:
            if mac in seen:
                continue
            seen.add(mac)
            out.append(rec(f"1.3.6.1.2.1.17.4.3.1.2.{mac_oid(mac)}", "2", bport))
            out.append(rec(f"1.3.6.1.2.1.17.4.3.1.3.{mac_oid(mac)}", "2", 3))
        out.append(rec(f"1.3.6.1.2.1.17.4.3.1.2.{mac_oid(self_mac)}", "2", 0))
        out.append(rec(f"1.3.6.1.2.1.17.4.3.1.3.{mac_oid(self_mac)}", "2", 4))
    return out


def poe(rng: random.Random, vendor: str) -> list[tuple[tuple[int, ...], str]]:
    out = []
    total_mw = 0
    for p in range(1, POE_PORTS + 1):
        idx = f"1.{p}"
        if p in AP_PORTS or p == 12:
            status, klass, mw = 3, 5, rng.randint(9000, 15400)  # class 4 access point
        elif p == PHONE_PORT or p % 4 == 1:
            status, klass, mw = 3, 3, rng.randint(2500, 6500)  # class 2 phone or camera
        elif p == 23:
            status, klass, mw = 4, 1, 0  # fault
        elif p == 24:
            status, klass, mw = 1, 1, 0  # disabled
        else:
            status, klass, mw = 2, 1, 0  # searching: nothing plugged in
        total_mw += mw
        out += [
            rec(f"1.3.6.1.2.1.105.1.1.1.3.{idx}", "2", 2 if p == 24 else 1),
            rec(f"1.3.6.1.2.1.105.1.1.1.6.{idx}", "2", status),
            rec(f"1.3.6.1.2.1.105.1.1.1.10.{idx}", "2", klass),
        ]
        if vendor == "aruba":
            out.append(rec(f"1.3.6.1.4.1.11.2.14.11.1.9.1.1.1.3.{idx}", "2", mw))
        else:
            out.append(rec(f"1.3.6.1.4.1.9.9.402.1.2.1.9.{idx}", "66", mw))
    nominal = 370 if vendor == "aruba" else 740
    out += [
        rec("1.3.6.1.2.1.105.1.3.1.1.2.1", "66", nominal),
        rec("1.3.6.1.2.1.105.1.3.1.1.3.1", "2", 1),
        rec("1.3.6.1.2.1.105.1.3.1.1.4.1", "66", round(total_mw / 1000)),
        rec("1.3.6.1.2.1.105.1.3.1.1.5.1", "2", 80),
    ]
    return out


def system(vendor: str) -> list[tuple[tuple[int, ...], str]]:
    descr = (
        "Aruba JL262A 2930F-48G-PoE+-4SFP (synthetic recording)"
        if vendor == "aruba"
        else "Cisco IOS Software, C9200L-48P-4X (synthetic recording)"
    )
    oid = "1.3.6.1.4.1.11.2.3.7.11.157" if vendor == "aruba" else "1.3.6.1.4.1.9.1.2669"
    return [
        text("1.3.6.1.2.1.1.1.0", descr),
        rec("1.3.6.1.2.1.1.2.0", "6", oid),
        rec("1.3.6.1.2.1.1.3.0", "67", 123456789),
        text("1.3.6.1.2.1.1.5.0", f"{vendor}-access-1"),
    ]


def recording(vendor: str) -> str:
    rng = random.Random(f"sentinel-l2-{vendor}")
    records = system(vendor) + interfaces(vendor) + lldp(vendor)
    if vendor == "cisco":
        records += cdp()
    records += fdb(rng, qbridge=vendor == "aruba") + poe(rng, vendor)
    # snmpsim never answers the last record of a file by GETNEXT: end past every table.
    records.append(rec("1.3.6.1.6.3.1.1.6.1.0", "2", 1))  # snmpSetSerialNo
    records.sort()
    return "".join(line + "\n" for _, line in records)


def main() -> None:
    for vendor, stem in (("aruba", "aruba-2930f-48p"), ("cisco", "cisco-c9200-48p")):
        (HERE / f"{stem}.snmprec").write_text(recording(vendor))


if __name__ == "__main__":
    main()
