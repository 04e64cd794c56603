"""The device census: capture and FDB together, windows, caps, state, memory."""

from __future__ import annotations

import tracemalloc
from typing import TYPE_CHECKING

import pytest
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import ICMPv6ND_NS, IPv6
from scapy.layers.l2 import ARP, Ether

from sentinel.capture.pipeline import Pipeline, Settings, make_engine
from sentinel.config.detect import DetectConfig
from sentinel.l2.census import Census, census_key
from sentinel.l2.fdb import mac_int
from tests.l2.test_recordings import read

if TYPE_CHECKING:
    from pathlib import Path

    from tests.snmp import agents

SITE_KEY = bytes(range(32))
NOW = 1_800_000_000.0


def mac(text: str) -> int:
    return int(text.replace(":", ""), 16)


def frames(macs: dict[str, str]) -> list[bytes]:
    """One ARP, DHCP or ND frame from each MAC, as a device joining the LAN sends."""
    out = []
    for m, kind in macs.items():
        eth = Ether(src=m, dst="ff:ff:ff:ff:ff:ff")
        if kind == "arp":
            pkt = eth / ARP(op=1, hwsrc=m, psrc="10.1.0.5", pdst="10.1.0.1")
        elif kind == "dhcp":
            pkt = (
                eth
                / IP(src="0.0.0.0", dst="255.255.255.255")
                / UDP(sport=68, dport=67)
                / BOOTP(chaddr=bytes.fromhex(m.replace(":", "")))
                / DHCP(options=[("message-type", "discover"), "end"])
            )
        else:
            pkt = Ether(src=m, dst="33:33:ff:00:00:01") / IPv6(src="fe80::1", dst="ff02::1:ff00:1")
            pkt = pkt / ICMPv6ND_NS(tgt="fe80::2")
        out.append(bytes(pkt))
    return out


def captured(raw: list[bytes]) -> list[tuple[int, bool]]:
    settings = Settings(detect=DetectConfig(), site_key=SITE_KEY)
    p = Pipeline(settings, make_engine(settings))
    for i, f in enumerate(raw):
        p.frame(f, len(f), NOW + i)
    p.drain()
    assert p.census is not None
    return p.census.take()


def test_capture_sees_arp_dhcp_and_nd_only() -> None:
    """Each kind of joining frame names its sender; other traffic and group MACs do not."""
    seen = captured(
        frames({"00:11:22:00:00:01": "arp", "02:11:22:00:00:02": "dhcp", "00:11:22:00:00:03": "nd"})
    )
    c = Census(census_key(SITE_KEY))
    want = ("00:11:22:00:00:01", "02:11:22:00:00:02", "00:11:22:00:00:03")
    assert {h for h, _ in seen} == {c.hash(mac(m)) for m in want}
    assert dict(seen)[c.hash(mac("02:11:22:00:00:02"))] is True  # locally administered
    other = bytes(
        Ether(src="00:11:22:00:00:09") / IP(src="10.1.0.9", dst="10.1.0.1") / UDP(dport=443)
    )
    assert captured([other]) == []


def test_capture_and_fdb_count_each_device_once(l2sim: agents.Simulator) -> None:
    """Seen in both: once. On two VLANs: once. Behind the uplink only: not a device."""
    reading = read(l2sim, "aruba-2930f-48p")
    fdb_devices = set(reading.devices)
    uplink_only = {m for i, _, m in reading.fdb_entries if i == 100} - fdb_devices
    assert len(uplink_only) == 600
    on_two_vlans = {
        m for m in fdb_devices if len({v for _, v, x in reading.fdb_entries if x == m}) > 1
    }
    assert len(on_two_vlans) == 1
    both = sorted(fdb_devices)[:50]
    lan_only = [mac(f"00:16:3e:00:01:{i:02x}") for i in range(20)]
    tap = {":".join(f"{b:02x}" for b in m.to_bytes(6, "big")): "arp" for m in both + lan_only}
    c = Census(census_key(SITE_KEY))
    c.add(reading.devices, NOW, wireless=reading.wireless)
    c.add_hashes(captured(frames(tap)), NOW)
    windows = {w: (n, laa, ap) for w, n, laa, ap in c.counts(NOW).windows}
    assert windows["1h"][0] == len(fdb_devices) + len(lan_only) == 1399 + 20
    assert windows["1h"][2] == len(reading.wireless) == 800
    laa = sum(1 for m in fdb_devices if (m >> 40) & 2)
    assert windows["1h"][1] == laa
    assert not any(c.hash(m) in c._seen for m in uplink_only)


def test_windows_cap_and_state(tmp_path: Path) -> None:
    """1h and 1d windows; the oldest go past the cap; the state file holds hashes only."""
    c = Census(census_key(SITE_KEY), cap=1000)
    c.add(range(0x001122000000, 0x001122000000 + 300), NOW - 7200)  # two hours ago
    c.add(range(0x001122100000, 0x001122100000 + 500), NOW - 60)
    windows = {w: n for w, n, _, _ in c.counts(NOW).windows}
    assert windows == {"1h": 500, "1d": 800}
    c.add(range(0x001122200000, 0x001122200000 + 400), NOW)
    counts = c.counts(NOW)
    assert counts.entries == 1000
    assert counts.evictions == 200  # the oldest: from two hours ago
    assert {w: n for w, n, _, _ in counts.windows} == {"1h": 900, "1d": 1000}
    path = tmp_path / "census.bin"
    c.save(path)
    data = path.read_bytes()
    assert len(data) == 8 + 13 * 1000
    assert (0x001122100001).to_bytes(6, "big") not in data
    again = Census(census_key(SITE_KEY))
    assert again.load(path, NOW) == 1000
    assert again.counts(NOW).windows == counts.windows
    assert Census(census_key(SITE_KEY)).load(path, NOW + 2 * 86400) == 0  # all too old
    path.write_bytes(b"garbage")
    assert Census(census_key(SITE_KEY)).load(path, NOW) == 0


def test_a_daily_rotating_mac_counts_as_documented() -> None:
    """One device, a new random MAC each morning: 1 in the hour, 2 in the day it rotates."""
    c = Census(census_key(SITE_KEY))
    day1, day2 = mac("02:aa:00:00:00:01"), mac("06:bb:00:00:00:02")
    for hour in range(8, 16):
        c.add([day1], NOW - 86400 + hour * 3600)
    for hour in range(8, 12):
        c.add([day2], NOW + hour * 3600)
    windows = {w: (n, laa) for w, n, laa, _ in c.counts(NOW + 12 * 3600).windows}
    assert windows == {"1h": (1, 1), "1d": (2, 2)}


def test_census_of_5000_devices_fits_in_5_mib() -> None:
    """A 5,000-device school: the census table and one count over it under 5 MiB."""
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    c = Census(census_key(SITE_KEY))
    for k in range(10):  # ten polls of the switches, 5,000 devices each time
        c.add(range(0x00163E000000, 0x00163E000000 + 5000), NOW + 60 * k)
    c.counts(NOW + 600)
    used = tracemalloc.get_traced_memory()[1] - before
    tracemalloc.stop()
    assert len(c) == 5000
    print(f"census of 5000 devices: peak {used / 2**20:.2f} MiB")
    assert used < 5 * 2**20


@pytest.mark.parametrize("bad", [(), (1, 2, 3), (256, 0, 0, 0, 0, 0), (-1, 0, 0, 0, 0, 0)])
def test_mac_index_hostile(bad: tuple[int, ...]) -> None:
    assert mac_int(bad) is None
