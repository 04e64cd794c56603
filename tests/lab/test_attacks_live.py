"""Real attack tools against a school LAN in namespaces; sentinel captures live on the gateway.

One session builds the LAN and starts ``sentinel run`` inside the gateway namespace on
its LAN interface. Each test runs one tool (bounded by ``timeout`` or a count) from an
attacker laptop with an identity of its own, and checks the daemon's log line
``msg=detection detector=<id> source=<attacker>`` and ``sentinel_detections_total``.
The benign baseline runs first and must raise nothing.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest

from tests.lab.lan import missing
from tests.lab.scenarios import SCENARIOS

if TYPE_CHECKING:
    from tests.lab.lan import Host, SchoolLan, Sentinel

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

FAST = 10.0  # seconds from an attack's start to its detection, for the fast ones


def need(name: str) -> None:
    gone = missing(list(SCENARIOS[name].tools))
    if gone:
        pytest.skip(f"{name} needs {', '.join(gone)}")


def test_benign_baseline_raises_nothing(lab: SchoolLan, sentinel: Sentinel) -> None:
    """DHCP, DNS, web browsing, three admin SSH sessions, pings: zero detections."""
    need("baseline")
    before = sentinel.detections_total()
    t0 = time.monotonic()
    SCENARIOS["baseline"].run(lab, False)
    time.sleep(4)  # let any late finding surface (and a metrics snapshot pass)
    found = sentinel.findings(t0)
    assert found == [], "\n".join(str(d.fields) for d in found)
    assert sentinel.detections_total() == before


BENIGN = (
    "p2p_client",
    "lan_chatter",
    "file_server",
    "updates_cdn",
    "resolver_relay",
    "multicast_source_frame",
)


@pytest.mark.parametrize("name", BENIGN)
def test_busy_school_traffic_raises_nothing(lab: SchoolLan, sentinel: Sentinel, name: str) -> None:
    """Peer-to-peer, LAN chatter, a busy file server, CDN updates, the resolver's relaying,
    one multicast-source frame: zero detections from the live daemon."""
    need(name)
    before = sentinel.detections_total()
    t0 = time.monotonic()
    SCENARIOS[name].run(lab, False)
    time.sleep(4)
    found = sentinel.findings(t0)
    assert found == [], "\n".join(str(d.fields) for d in found)
    assert sentinel.detections_total() == before


def test_unlisted_dhcp_server_is_a_warning(lab: SchoolLan, sentinel: Sentinel) -> None:
    """An ordinary DHCP server the config does not list: rogue_dhcp warnings only."""
    need("second_dhcp_server")
    t0 = time.monotonic()
    outcome = SCENARIOS["second_dhcp_server"].run(lab, False)
    assert outcome.attacker is not None
    hit = sentinel.wait_detection("rogue_dhcp", t0, timeout=10, sources=(outcome.attacker.ip,))
    assert hit is not None
    found = sentinel.findings(t0)
    shown = "\n".join(str(d.fields) for d in found)
    assert {d.fields.get("detector") for d in found} == {"rogue_dhcp"}, shown
    lines = [d.fields for d in found if d.fields.get("msg") == "detection"]
    assert lines, shown
    assert {f.get("severity") for f in lines} == {"warning"}, shown


def attack(
    name: str, lab: SchoolLan, sentinel: Sentinel, attacker: Host, fast: bool = True
) -> float:
    """Run one scenario; assert its detector fired with the attacker as source. Latency."""
    need(name)
    scenario = SCENARIOS[name]
    before = sentinel.detections_total()
    t0 = time.monotonic()
    outcome = scenario.run(lab, False)
    (detector,) = outcome.expected
    sources = () if outcome.notes.get("no_single_source") else (attacker.ip, attacker.mac)
    hit = sentinel.wait_detection(detector, t0, timeout=10 if fast else 20, sources=sources)
    seen = [d.fields for d in sentinel.findings(t0)]
    assert hit is not None, (
        f"{outcome.command}: no {detector} detection from {sources}; detections: {seen}\n"
        f"daemon output:\n{sentinel.output(t0)[-3000:]}"
    )
    latency = hit.at - max(t0, lab.attack_started)
    print(f"\n{name}: {detector} after {latency:.1f} s ({outcome.command})")
    assert sentinel.wait_total(detector, before.get(detector, 0)) > before.get(detector, 0)
    if fast:
        assert latency <= FAST, f"{detector} took {latency:.1f} s"
    return latency


def test_nmap_syn_scan(lab: SchoolLan, sentinel: Sentinel, attacker: Host) -> None:
    attack("syn_scan", lab, sentinel, attacker)


def test_nmap_ping_sweep(lab: SchoolLan, sentinel: Sentinel, attacker: Host) -> None:
    attack("ping_sweep", lab, sentinel, attacker)


def test_hping3_syn_flood(lab: SchoolLan, sentinel: Sentinel, attacker: Host) -> None:
    attack("syn_flood", lab, sentinel, attacker)


def test_arpspoof_mitm(lab: SchoolLan, sentinel: Sentinel, attacker: Host) -> None:
    attack("arp_spoof", lab, sentinel, attacker)


def test_rogue_dhcp_server(lab: SchoolLan, sentinel: Sentinel, attacker: Host) -> None:
    attack("rogue_dhcp", lab, sentinel, attacker)


def test_iodine_dns_tunnel(lab: SchoolLan, sentinel: Sentinel, attacker: Host) -> None:
    attack("dns_tunnel", lab, sentinel, attacker)


def test_hydra_ssh_brute_force(lab: SchoolLan, sentinel: Sentinel, attacker: Host) -> None:
    """Detected at hydra's first burst of parallel sessions."""
    attack("brute_force", lab, sentinel, attacker)


def test_macof_mac_flood(lab: SchoolLan, sentinel: Sentinel, attacker: Host) -> None:
    attack("mac_flood", lab, sentinel, attacker)


# variants the detectors were not tuned on
def test_nmap_connect_scan(lab: SchoolLan, sentinel: Sentinel, attacker: Host) -> None:
    attack("connect_scan", lab, sentinel, attacker)


def test_nmap_ack_scan_of_a_filtered_server(
    lab: SchoolLan, sentinel: Sentinel, attacker: Host
) -> None:
    """The server's firewall drops the probes: no answer, the silence is the evidence."""
    attack("filtered_ack_scan", lab, sentinel, attacker)


def test_masscan_syn_scan(lab: SchoolLan, sentinel: Sentinel, attacker: Host) -> None:
    """masscan's own TCP stack, frames straight to the server's MAC."""
    attack("masscan_scan", lab, sentinel, attacker)


def test_nmap_slow_scan(lab: SchoolLan, sentinel: Sentinel, attacker: Host) -> None:
    attack("slow_scan", lab, sentinel, attacker, fast=False)


def test_nmap_icmp_sweep(lab: SchoolLan, sentinel: Sentinel, attacker: Host) -> None:
    attack("icmp_sweep", lab, sentinel, attacker)


def test_gratuitous_arp_for_the_gateway(lab: SchoolLan, sentinel: Sentinel, attacker: Host) -> None:
    attack("gratuitous_arp", lab, sentinel, attacker)


def test_fake_router6_rogue_ra(lab: SchoolLan, sentinel: Sentinel, attacker: Host) -> None:
    attack("rogue_ra", lab, sentinel, attacker)


def test_kill_router6_against_the_gateway(
    lab: SchoolLan, sentinel: Sentinel, attacker: Host
) -> None:
    """The gateway advertises itself as IPv6 router; kill_router6 says it is gone."""
    attack("kill_router", lab, sentinel, attacker)


def test_parasite6_nd_spoof(lab: SchoolLan, sentinel: Sentinel, attacker: Host) -> None:
    attack("nd_spoof", lab, sentinel, attacker)


def test_fake_advertise6_nd_spoof(lab: SchoolLan, sentinel: Sentinel, attacker: Host) -> None:
    attack("nd_advertise", lab, sentinel, attacker)


def test_sweep_then_scan_is_one_notification(
    lab: SchoolLan, sentinel: Sentinel, attacker: Host
) -> None:
    """nmap's host discovery, then its port scan, from one student: two detections, one
    notification (the event log's firing alert) that names both findings."""
    need("sweep_and_scan")
    t0 = time.monotonic()
    SCENARIOS["sweep_and_scan"].run(lab, False)
    sources = (attacker.ip, attacker.mac)
    for detector in ("host_sweep", "port_scan"):
        assert sentinel.wait_detection(detector, t0, timeout=20, sources=sources) is not None
    deadline = time.monotonic() + 15  # the incident's hold (5 s) and the delivery loop
    while True:
        notes = [
            d.fields
            for d in sentinel.findings(t0)
            if d.fields.get("msg") == "alert" and d.fields.get("status") == "firing"
        ]
        if any("port_scan" in f.get("findings", "") for f in notes) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    mine = [f for f in notes if {f.get("source_ip"), f.get("source_mac")} & set(sources)]
    assert len(mine) == 1, "\n".join(map(str, notes))
    assert {"host_sweep", "port_scan"} <= {
        x.split("/")[0] for x in mine[0].get("findings", "").split(",")
    }, mine
    assert mine[0].get("incident", "").startswith(mine[0]["detector"] + ":"), mine
