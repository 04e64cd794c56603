"""arp_spoof and mac_flood on crafted frames: attacks flagged, ordinary LAN life not."""

from __future__ import annotations

from scapy.layers.inet import ICMP, IP
from scapy.layers.l2 import ARP, Ether

from sentinel.config.detect import DetectConfig, Gateway
from sentinel.config.detect import MacFlood as MacFloodSettings
from sentinel.detect.arp_spoof import ArpSpoof
from sentinel.detect.mac_flood import MacFlood
from tests.detect.crafted import make, pkt, run

GW_MAC, VICTIM, ATTACKER = "02:77:00:00:00:01", "02:77:00:00:01:01", "02:77:00:00:66:66"


def reply(mac: str, ip: str, ts: float, eth: str | None = None):  # type: ignore[no-untyped-def]
    return pkt(
        Ether(src=eth or mac, dst="ff:ff:ff:ff:ff:ff")
        / ARP(op=2, hwsrc=mac, psrc=ip, hwdst="ff:ff:ff:ff:ff:ff", pdst=ip),
        ts,
    )


def test_dhcp_address_moving_to_another_laptop_is_not_spoofing() -> None:
    """A leaves, B gets A's address from DHCP: one change, no alert."""
    d = make(ArpSpoof)
    frames = [reply(VICTIM, "10.77.0.101", t) for t in range(0, 30, 10)]
    frames += [reply("02:77:00:00:01:09", "10.77.0.101", t) for t in range(40, 200, 10)]
    assert run(d, frames) == []


def test_flip_flop_names_the_spoofer() -> None:
    """The owner and a spoofer overwriting each other: flagged, the spoofer named."""
    d = make(ArpSpoof)
    frames = [reply(VICTIM, "10.77.0.101", 0), reply(ATTACKER, "10.77.0.66", 0.5)]
    frames += [reply(ATTACKER if t % 2 else VICTIM, "10.77.0.101", t) for t in range(1, 7)]
    found = run(d, frames)
    assert found
    assert {f.src_mac for f in found} == {ATTACKER}
    assert found[0].src_ip == "10.77.0.66"
    assert found[0].target == "10.77.0.101"


def test_pinned_gateway_claimed_by_another_mac() -> None:
    """With the gateway pinned, one forged reply for its address is enough."""
    cfg = DetectConfig(gateway=Gateway(ip="10.77.0.1", mac=GW_MAC))
    d = make(ArpSpoof, cfg=cfg)
    found = run(d, [reply(ATTACKER, "10.77.0.1", 5)])
    assert [(f.kind, f.src_mac) for f in found] == [("gateway", ATTACKER)]
    assert run(make(ArpSpoof, cfg=cfg), [reply(GW_MAC, "10.77.0.1", 5)]) == []


def test_ethernet_source_differing_from_arp_sender() -> None:
    """An ARP whose Ethernet source is another MAC than its sender field is forged."""
    found = run(make(ArpSpoof), [reply(VICTIM, "10.77.0.101", 1, eth=ATTACKER)])
    assert [f.kind for f in found] == ["forged_sender"]


def test_icmp_redirect_from_a_non_gateway() -> None:
    """ICMP redirects only come from the gateway; a laptop sending them is a MITM."""
    cfg = DetectConfig(gateway=Gateway(ip="10.77.0.1", mac=GW_MAC))
    redirect = pkt(
        Ether(src=ATTACKER, dst=VICTIM)
        / IP(src="10.77.0.66", dst="10.77.0.101")
        / ICMP(type=5, code=1)
        / IP(src="10.77.0.101", dst="8.8.8.8"),
        3,
    )
    assert [f.kind for f in run(make(ArpSpoof, cfg=cfg), [redirect])] == ["redirect"]
    legit = pkt(
        Ether(src=GW_MAC, dst=VICTIM)
        / IP(src="10.77.0.1", dst="10.77.0.101")
        / ICMP(type=5, code=1)
        / IP(src="10.77.0.101", dst="8.8.8.8"),
        3,
    )
    assert run(make(ArpSpoof, cfg=cfg), [legit]) == []


def frame_from(mac: str, ts: float):  # type: ignore[no-untyped-def]
    return pkt(
        Ether(src=mac, dst="ff:ff:ff:ff:ff:ff")
        / ARP(op=1, hwsrc=mac, psrc="10.77.0.200", pdst="10.77.0.1"),
        ts,
    )


def test_mac_flood_flagged() -> None:
    """Thousands of never-seen MACs in seconds (macof): flagged once, as the LAN."""
    d = make(MacFlood)
    frames = [
        frame_from(f"02:aa:00:{i >> 8 & 255:02x}:{i & 255:02x}:01", 100 + i / 1000)
        for i in range(1200)
    ]
    found = run(d, frames)
    assert {f.kind for f in found} == {"new_macs"}
    assert found[-1].counts["new_macs"] >= 1000


def test_a_lesson_starting_is_not_a_mac_flood() -> None:
    """Sixty laptops joining within a minute, after the start-up window: no alert."""
    d = make(MacFlood)
    early = [frame_from(f"02:bb:00:00:00:{i:02x}", i) for i in range(30)]
    lesson = [frame_from(f"02:cc:00:00:00:{i:02x}", 200 + i) for i in range(60)]
    assert run(d, early + lesson) == []


def test_multicast_source_macs_are_not_a_flood() -> None:
    """Multicast source MACs (damaged frames, counted by the accounting) are no new devices."""
    d = make(MacFlood, MacFloodSettings(new_macs_threshold=5, startup_factor=1))
    frames = [frame_from(f"03:00:00:00:00:{i:02x}", 5 + i / 10) for i in range(20)]
    assert run(d, frames) == []
    assert d.stats()["macs"] == 0
    found = run(d, [frame_from(f"02:00:00:00:00:{i:02x}", 8 + i / 10) for i in range(20)])
    assert {f.kind for f in found} == {"new_macs"}


def test_spoofed_flood_keeps_arp_tables_bounded() -> None:
    """A million-style flood of spoofed bindings evicts instead of growing."""
    d = make(ArpSpoof, max_tracked=200)
    run(
        d,
        [
            reply(
                f"02:dd:00:{i >> 8 & 255:02x}:{i & 255:02x}:01",
                f"10.77.{i >> 8 & 255}.{i & 255}",
                i / 100,
            )
            for i in range(1500)
        ],
    )
    assert d.stats()["bindings"] <= 200
    assert d.stats()["evictions"] >= 1300


def test_new_devices_after_learning_are_informational() -> None:
    """Devices seen during learning are not reported; a later one is, as info."""
    from sentinel.detect.new_device import NewDevice
    from sentinel.model import Severity

    d = make(NewDevice)
    frames = [frame_from(f"02:ee:00:00:00:{i:02x}", i) for i in range(5)]
    frames.append(frame_from("02:ee:00:00:00:99", 900))
    frames.append(frame_from("02:ee:00:00:00:99", 901))  # seen once is enough
    found = run(d, frames)
    assert [(f.identifier, f.severity) for f in found] == [("02:ee:00:00:00:99", Severity.INFO)]


def test_informational_findings_are_counted_not_alerted() -> None:
    """Without info_alerts the engine counts new devices but sends no alert; with it, it does."""
    from sentinel.detect.engine import Engine

    frames = [frame_from(f"02:ef:00:00:00:{i:02x}", i * 100.0) for i in range(12)]
    quiet = Engine(DetectConfig())
    assert [a for f in frames for a in quiet.packet(f) if a.detector == "new_device"] == []
    assert quiet.detections[("new_device", "info")] >= 5
    loud = Engine(DetectConfig(info_alerts=True))
    assert any(a.detector == "new_device" for f in frames for a in loud.packet(f))
