"""host_sweep and a victim's answers: a host flooded from spoofed addresses of its own
subnet asks ARP (or solicits) for each of them before it answers. That is answering,
not sweeping; a real sweep's targets sent the sweeper nothing."""

from __future__ import annotations

import json
import random
from typing import TYPE_CHECKING

from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import ICMPv6ND_NS, IPv6
from scapy.layers.l2 import ARP, Ether

from sentinel.capture.decode import decode
from sentinel.capture.pcapfile import read
from sentinel.detect.host_sweep import HostSweep
from tests.conftest import DATA
from tests.detect.crafted import make, pkt, run
from tests.detect.test_scan_evasions import ATK6, GW, SRV6, A, S, named, through
from tests.helpers import analyze

if TYPE_CHECKING:
    from pathlib import Path

    from scapy.packet import Packet as ScapyPacket

LAB = DATA / "lab"
STU, STU_IP = "02:77:00:00:01:01", "10.77.0.101"


def solicit(src: str, mac: str, target: str, t: float) -> tuple[float, ScapyPacket]:
    ip6 = IPv6(src=src, dst="ff02::1:ff00:1", hlim=255)
    return t, Ether(src=mac, dst="33:33:ff:00:00:01") / ip6 / ICMPv6ND_NS(tgt=target)


def spoofed6(n: int, seed: int = 6) -> list[str]:
    rng = random.Random(seed)
    return [f"fd77::{rng.getrandbits(16):x}:{rng.getrandbits(16):x}" for _ in range(n)]


def test_server_soliciting_spoofed_syn_sources_is_not_sweeping() -> None:
    """thcsyn6 -r: SYNs from 300 random addresses of the /64 to the server, which
    solicits each source it answers. No host_sweep of the server."""
    frames: list[tuple[float, ScapyPacket]] = []
    for i, src in enumerate(spoofed6(300)):
        t = i * 0.002
        syn = Ether(src=A, dst=S) / IPv6(src=src, dst=SRV6) / TCP(sport=1024 + i, dport=80)
        frames += [(t, syn), solicit(SRV6, S, src, t + 0.0002)]
    alerts = through(frames)
    assert [a for a in alerts if a.detector == "host_sweep"] == [], alerts


def test_a_sweep_is_flagged_though_its_targets_talked_to_others() -> None:
    """nmap -6 -sn: the attacker solicits 64 addresses that sent the server (not the
    attacker) packets; still the attacker's sweep."""
    frames: list[tuple[float, ScapyPacket]] = []
    for i in range(64):
        target = f"fd77::{i:x}"
        hello = Ether(src="02:77:00:00:02:00", dst=S) / IPv6(src=target, dst=SRV6) / TCP()
        frames += [(i / 100, hello), solicit(ATK6, A, target, 1 + i / 100)]
    alerts = through(frames)
    assert named(alerts) == {("host_sweep", ATK6)}, alerts
    assert alerts[0].kind == "nd"


def test_student_asking_arp_for_spoofed_lan_sources_is_not_sweeping() -> None:
    """The IPv4 twin: SYNs to a student from 150 spoofed addresses of the LAN's /24; its
    kernel asks ARP for each before it resets. No host_sweep of the student."""
    d = make(HostSweep)
    packets = []
    for i in range(150):
        src, t = f"10.77.0.{102 + i}", i * 0.003
        syn = Ether(src=A, dst=STU) / IP(src=src, dst=STU_IP) / TCP(sport=4000 + i, dport=80)
        who = Ether(src=STU, dst="ff:ff:ff:ff:ff:ff") / ARP(
            op=1, hwsrc=STU, psrc=STU_IP, hwdst="00:00:00:00:00:00", pdst=src
        )
        packets += [pkt(syn, t), pkt(who, t + 0.0003)]
    assert run(d, packets, until=10) == []
    assert d.answers == 150


def test_an_arp_sweep_of_silent_hosts_is_still_flagged() -> None:
    """arp-scan of 200 addresses that never sent the attacker anything: a sweep."""
    d = make(HostSweep)
    packets = [
        pkt(
            Ether(src=A, dst="ff:ff:ff:ff:ff:ff")
            / ARP(op=1, hwsrc=A, psrc="10.77.0.66", pdst=f"10.77.0.{i}"),
            i * 0.003,
        )
        for i in range(1, 201)
    ]
    found = run(d, packets, until=10)
    assert [(f.kind, f.src_mac, f.src_ip) for f in found] == [("arp", A, "10.77.0.66")]


def test_answers_long_after_the_traffic_count_again() -> None:
    """A packet older than arp_window excuses nothing: asking for 60 addresses that
    wrote to this MAC two minutes ago is a sweep."""
    d = make(HostSweep)
    packets = []
    for i in range(60):
        src = f"10.77.0.{20 + i}"
        packets.append(pkt(Ether(src=GW, dst=STU) / IP(src=src, dst=STU_IP) / TCP(), i / 100))
    for i in range(60):
        who = Ether(src=STU, dst="ff:ff:ff:ff:ff:ff") / ARP(
            op=1, hwsrc=STU, psrc=STU_IP, pdst=f"10.77.0.{20 + i}"
        )
        packets.append(pkt(who, 120 + i / 100))
    found = run(d, packets, until=125)
    assert [(f.kind, f.src_mac) for f in found] == [("arp", STU)]


def test_ack_segments_are_heard_not_probes() -> None:
    """Every IP packet reaches host_sweep now; bare ACKs to 40 hosts (a busy client's
    connections) are still no TCP discovery sweep."""
    frames: list[tuple[float, ScapyPacket]] = []
    for i in range(40):
        ack = Ether(src=A, dst=GW) / IP(src="10.77.0.66", dst=f"10.77.0.{100 + i}")
        frames.append((i / 10, ack / TCP(sport=5000 + i, dport=443, flags="A")))
    assert [a for a in through(frames) if a.detector == "host_sweep"] == []


def test_heard_table_is_bounded() -> None:
    """A flood from 5,000 spoofed sources keeps the table at max_tracked."""
    d = make(HostSweep, max_tracked=100)
    packets = [
        pkt(Ether(src=A, dst=S) / IPv6(src=src, dst=SRV6) / TCP(), i / 1000)
        for i, src in enumerate(spoofed6(5000))
    ]
    run(d, packets)
    assert d.stats()["heard"] == 100


def _host_sweep_on(name: str) -> list[object]:
    d = make(HostSweep)
    truth = json.loads((LAB / f"{name}.json").read_text())
    packets = [decode(f, lt, ts, wl) for ts, lt, f, wl in read(LAB / truth["pcap"])]
    return run(d, [p for p in packets if not p.error], until=packets[-1].ts + 10)


def test_lab_floods_from_spoofed_subnet_addresses_blame_no_victim() -> None:
    """The lab's thcsyn6 -r capture (the server solicits 1,022 spoofed sources) and the
    spoofed SYN flood from the LAN's own /24 (student 1 asks ARP for 227): host_sweep
    names neither victim."""
    assert _host_sweep_on("ipv6_random_syn_flood") == []
    assert _host_sweep_on("lan_spoofed_syn_flood") == []


def test_lab_nd_sweep_still_names_the_attacker(tmp_path: Path) -> None:
    """nmap -6 -sn (tests/data/lab/nd_sweep.pcap): the nd sweep names the attacker."""
    found = analyze(LAB / "nd_sweep.pcap", tmp_path, "--reveal")
    assert [(a["detector"], a["kind"], a["source"]["ip"]) for a in found] == [
        ("host_sweep", "nd", "fd77::66")
    ]
