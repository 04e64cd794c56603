"""Incidents: one source's findings within the window are one incident."""

from __future__ import annotations

from typing import TYPE_CHECKING

from scapy.layers.inet import ICMP, IP
from scapy.layers.l2 import Ether

from sentinel.config.detect import DetectConfig, Gateway, Incidents
from sentinel.detect.engine import Engine
from sentinel.detect.incidents import Incidents as Table
from sentinel.privacy import Pseudonymiser
from tests.detect.crafted import pkt
from tests.detect.test_engine import KEY, feed, scan

if TYPE_CHECKING:
    from pathlib import Path

    from sentinel.packet import Packet

ATTACKER, ATTACKER_MAC = "10.77.0.66", "02:77:00:00:66:66"


def sweep(t0: float, src: str = ATTACKER, hosts: int = 40) -> list[Packet]:
    """Echo requests to ``hosts`` addresses of the LAN, none answered."""
    return [
        pkt(
            Ether(src=ATTACKER_MAC, dst="ff:ff:ff:ff:ff:ff")
            / IP(src=src, dst=f"10.77.0.{100 + i}")
            / ICMP(type=8, id=7, seq=i),
            t0 + i / 50,
        )
        for i in range(hosts)
    ]


def test_a_sweep_then_a_scan_by_one_source_is_one_incident(tmp_path: Path) -> None:
    """The port scan that follows the sweep names the sweep's alert as its incident."""
    e = Engine(DetectConfig(), pseudonymise=Pseudonymiser(KEY), evidence_dir=tmp_path)
    alerts = feed(e, sweep(0) + scan(10, range(1, 60)), end=30)
    opened = {a.detector: a for a in alerts if a.resolved is None}
    assert set(opened) == {"host_sweep", "port_scan"}, alerts
    lead = opened["host_sweep"]
    assert lead.incident == f"host_sweep:{lead.identifier}"
    assert lead.lead == lead.key
    assert opened["port_scan"].lead == lead.key
    assert ATTACKER not in opened["port_scan"].incident  # pseudonymised, like the alert


def test_another_source_or_a_later_time_is_another_incident(tmp_path: Path) -> None:
    cfg = DetectConfig(incidents=Incidents(window=60.0))
    e = Engine(cfg, evidence_dir=tmp_path)
    alerts = feed(e, sweep(0) + scan(1000, range(1, 60)), end=1020)
    scan_alert = next(a for a in alerts if a.detector == "port_scan")
    assert scan_alert.lead == scan_alert.key  # long after the sweep (its window included)
    e = Engine(DetectConfig(), evidence_dir=tmp_path)
    alerts = feed(e, sweep(0) + scan(10, range(1, 60), src="10.77.0.67"), end=30)
    assert all(a.lead == a.key for a in alerts)  # two sources sharing nothing


def test_incidents_can_be_switched_off(tmp_path: Path) -> None:
    e = Engine(DetectConfig(incidents=Incidents(enabled=False)), evidence_dir=tmp_path)
    alerts = feed(e, sweep(0) + scan(10, range(1, 60)), end=30)
    assert len(alerts) == 2
    assert all(a.incident == "" for a in alerts)


def test_matching_by_address_and_by_mac() -> None:
    t = Table(300.0, gateway_mac="02:77:00:00:00:01")
    lead = t.place(("arp_spoof", "m1"), 0.0, "", "02:aa:00:00:00:01")
    # The spoofer's own address was not known to arp_spoof; its MAC links the scan.
    assert t.place(("port_scan", "p1"), 5.0, "10.0.0.9", "02:aa:00:00:00:01") == lead
    assert t.place(("host_sweep", "p1"), 6.0, "10.0.0.9", "") == lead
    # The gateway's MAC is on every routed packet: it links nothing.
    g1 = t.place(("port_scan", "x1"), 7.0, "198.51.100.1", "02:77:00:00:00:01")
    g2 = t.place(("port_scan", "x2"), 8.0, "198.51.100.2", "02:77:00:00:00:01")
    assert (g1, g2) == (("port_scan", "x1"), ("port_scan", "x2"))
    # One MAC, two other addresses (a router not configured as the gateway): not linked.
    t.place(("port_scan", "y1"), 9.0, "10.1.0.1", "02:bb:00:00:00:01")
    assert t.place(("port_scan", "y2"), 9.5, "10.1.0.2", "02:bb:00:00:00:01") == (
        "port_scan",
        "y2",
    )
    # A repeat keeps the incident open past its first window.
    t.seen(250.0, "10.0.0.9", "")
    assert t.place(("dns_tunnel", "p1"), 500.0, "10.0.0.9", "") == lead
    assert t.place(("dns_tunnel", "p2"), 900.0, "10.0.0.9", "") == ("dns_tunnel", "p2")
    assert t.stats()["joined"] == 3


def test_the_table_is_bounded() -> None:
    t = Table(300.0, cap=100)
    for i in range(10_000):
        ip = f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"
        t.place(("flood", str(i)), float(i) / 100, ip, "")
    assert len(t.by_ip) == 100
    assert t.stats()["evictions"] == 9_900


def test_gateway_from_config_is_not_a_link(tmp_path: Path) -> None:
    cfg = DetectConfig(gateway=Gateway(ip="10.77.0.1", mac="02:77:00:00:00:01"))
    e = Engine(cfg, evidence_dir=tmp_path)
    assert e.incidents is not None
    assert e.incidents.gateway_mac == "02:77:00:00:00:01"
