"""syn_flood bursts, flood (RST, ACK, UDP, ICMP) and dhcp_starvation, both ways."""

from __future__ import annotations

import random
from functools import cache
from typing import TYPE_CHECKING

from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import Ether

from sentinel.capture.decode import decode
from sentinel.detect.dhcp_starvation import DhcpStarvation
from sentinel.detect.flood import Flood
from sentinel.detect.syn_flood import SynFlood
from tests.detect.crafted import make, pkt, run

if TYPE_CHECKING:
    from sentinel.packet import Packet

A, S = "02:77:00:00:66:66", "02:77:00:00:00:0a"
ATK, SRV = "10.77.0.66", "10.77.0.10"


def tcp(src: str, dst: str, sport: int, dport: int, flags: str, ts: float, mac: str = A):  # type: ignore[no-untyped-def]
    return pkt(
        Ether(src=mac, dst=S if mac == A else A)
        / IP(src=src, dst=dst)
        / TCP(sport=sport, dport=dport, flags=flags),
        ts,
    )


def test_a_two_second_syn_burst_is_a_flood() -> None:
    """3,000 SYNs in two seconds (hping3 -i u600): flagged before three seconds pass."""
    frames = [tcp(ATK, SRV, 1024 + i, 80, "S", 10.3 + i / 1500) for i in range(3000)]
    found = run(make(SynFlood), frames, until=13)
    assert [f.kind for f in found][:1] == ["single"]
    assert found[0].ts <= 12.5


def test_a_two_second_syn_burst_is_a_flood_however_it_meets_the_clock() -> None:
    """2,000 SYNs in two seconds, starting anywhere in a second: always a flood."""
    syns = [
        bytes(Ether(src=A, dst=S) / IP(src=ATK, dst=SRV) / TCP(sport=1024 + i, dport=80))
        for i in range(2000)
    ]
    for start in (10.0, 10.3, 10.5, 10.9):
        found = run(make(SynFlood), hping3_burst(start, syns, rate=1000), until=14)
        assert {(f.kind, f.src_ip) for f in found} == {("single", ATK)}, start


def test_a_busy_minute_of_syns_below_the_burst_is_not_a_flood() -> None:
    """300 SYNs a second for one second from 300 clients (a lesson starting): no flood."""
    frames = [
        tcp(f"10.77.{i // 250}.{i % 250 + 1}", SRV, 40000 + i, 445, "S", 5 + i / 300, mac=A)
        for i in range(300)
    ]
    frames = [f for f in frames for _ in (0, 1)]  # each client opens two connections
    assert run(make(SynFlood), frames) == []


def test_rst_flood() -> None:
    frames = [tcp(ATK, SRV, 1024 + i, 80, "R", i / 2000) for i in range(6000)]
    found = run(make(Flood), frames)
    assert {(f.kind, f.src_ip) for f in found} == {("rst", ATK)}


def test_ack_flood_from_the_victims_rsts() -> None:
    """The ACKs are not read; the server's bare RSTs, one per ACK, to one sender are."""
    frames = [tcp(SRV, ATK, 80, 1024 + i, "R", i / 2000, mac=S) for i in range(6000)]
    found = run(make(Flood), frames)
    assert {(f.kind, f.src_ip, f.target) for f in found} == {("ack", ATK, SRV)}


def rst(sport: int, dport: int, flags: str, seq: int, window: int, ts: float, to_atk: bool):  # type: ignore[no-untyped-def]
    src, dst, smac, dmac = (SRV, ATK, S, A) if to_atk else (ATK, SRV, A, S)
    return pkt(
        Ether(src=smac, dst=dmac)
        / IP(src=src, dst=dst)
        / TCP(sport=sport, dport=dport, flags=flags, seq=seq, window=window),
        ts,
    )


def test_a_fast_scans_answers_are_not_an_rst_flood() -> None:
    """nmap -p- --min-rate 4000: the server's kernel refuses 6,000 SYNs (RST-ACK, seq 0,
    window 0) or answers 6,000 ACK probes (bare RST echoing nmap's one ack number):
    port_scan's scan, not an RST flood naming the server."""
    refusals = [rst(1 + i, 40000, "RA", 0, 0, 5 + i / 4000, True) for i in range(6000)]
    assert run(make(Flood), refusals) == []
    answers = [rst(1 + i, 40000, "R", 3755845502, 0, 5 + i / 4000, True) for i in range(6000)]
    assert run(make(Flood), answers) == []


def test_rst_floods_that_mimic_part_of_a_kernel_are_still_floods() -> None:
    """hping3 -R -w 0 (window 0, random sequence numbers), and a scapy loop (one
    sequence number, scapy's window 8192): each is still an RST flood."""
    rng = random.Random(3)
    zero_window = [
        rst(2000 + i, 80, "R", rng.randrange(1 << 32), 0, i / 2000, False) for i in range(3000)
    ]
    found = run(make(Flood), zero_window)
    assert {(f.kind, f.src_ip) for f in found} == {("rst", ATK)}
    one_seq = [rst(2000 + i, 80, "R", 0, 8192, i / 2000, False) for i in range(3000)]
    assert {(f.kind, f.src_ip) for f in run(make(Flood), one_seq)} == {("rst", ATK)}


def test_an_rst_flood_from_spoofed_sources_names_no_one() -> None:
    """hping3 -R --rand-source: one-shot sources all over the internet, a spoofed flood
    on the victim with no source named, and none of the forged senders its victim."""
    rng = random.Random(6)
    frames = [
        pkt(
            Ether(src=A, dst=S)
            / IP(
                src=f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.9", dst=SRV
            )
            / TCP(sport=2000 + i, dport=80, flags="R", seq=rng.randrange(1 << 32), window=512),
            i / 2000,
        )
        for i in range(3000)
    ]
    found = run(make(Flood), frames)
    assert {(f.kind, f.src_ip, f.target, f.description) for f in found} == {
        ("rst", "", SRV, "protocol=rst shape=spoofed")
    }


def test_a_syn_flood_senders_refusals_are_not_a_second_flood() -> None:
    """hping3 -S: the server's SYN-ACKs are refused by the sender's kernel (bare RSTs)."""
    frames = []
    for i in range(6000):
        t = i / 2000
        frames += [
            tcp(ATK, SRV, 1024 + i, 80, "S", t),
            tcp(SRV, ATK, 80, 1024 + i, "SA", t + 0.0001, mac=S),
            tcp(ATK, SRV, 1024 + i, 80, "R", t + 0.0002),
        ]
    assert run(make(Flood), frames) == []


def test_udp_and_icmp_floods_and_spoofed_sources() -> None:
    rng = random.Random(2)
    udp = [
        pkt(
            Ether(src=A, dst=S) / IP(src=ATK, dst=SRV) / UDP(sport=1024 + i % 500, dport=53),
            i / 2000,
        )
        for i in range(6000)
    ]
    assert {f.kind for f in run(make(Flood), udp)} == {"udp"}
    spoofed = [
        pkt(
            Ether(src=A, dst=S)
            / IP(
                src=f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.1", dst=SRV
            )
            / ICMP(),
            i / 2000,
        )
        for i in range(6000)
    ]
    found = run(make(Flood), spoofed)
    assert {(f.kind, f.src_ip) for f in found} == {("icmp", "")}
    assert "spoofed" in found[0].summary


def hping3_burst(start: float, frames: list[bytes], rate: float = 2000) -> list[Packet]:
    """hping3 -i u500: the frames (3,000: 1.5 s) at ``rate`` a second from ``start``."""
    return [decode(f, ts=start + i / rate) for i, f in enumerate(frames)]


@cache
def echo_requests() -> list[bytes]:
    return [
        bytes(Ether(src=A, dst=S) / IP(src=ATK, dst=SRV) / ICMP(id=7, seq=i)) for i in range(3000)
    ]


@cache
def ack_answers() -> list[bytes]:
    """hping3 -A: the server's RSTs (window 0) from port 80, one per ACK."""
    return [
        bytes(
            Ether(src=S, dst=A)
            / IP(src=SRV, dst=ATK)
            / TCP(sport=80, dport=1024 + i, flags="R", window=0)
        )
        for i in range(3000)
    ]


def test_a_one_and_a_half_second_flood_is_caught_whatever_the_alignment() -> None:
    """The lab's hping3 floods last 1.5 s: a run of one second over the rate and its
    two partial neighbours; the burst counts the neighbours, wherever the clock falls."""
    for start in (20.0, 20.25, 20.5, 20.7, 20.95):
        found = run(make(Flood), hping3_burst(start, echo_requests()))
        assert {(f.kind, f.src_ip, f.target) for f in found} == {("icmp", ATK, SRV)}, start
        found = run(make(Flood), hping3_burst(start, ack_answers()))
        assert {(f.kind, f.src_ip, f.target) for f in found} == {("ack", ATK, SRV)}, start


def test_udp_flood_to_one_victim_from_turning_ports() -> None:
    """hping3 --udp without -p: empty datagrams to one victim, ports turning."""
    frames = [
        bytes(Ether(src=A, dst=S) / IP(src=ATK, dst=SRV) / UDP(sport=2000 + i, dport=i % 1024))
        for i in range(3000)
    ]
    found = run(make(Flood), hping3_burst(3.4, frames))
    assert {(f.kind, f.src_ip, f.target) for f in found} == {("udp", ATK, SRV)}


def test_a_fast_udp_scan_is_not_a_udp_flood_but_one_port_hammered_is() -> None:
    """nmap -sU --min-rate 3000: one source port to 3,000 ports (port_scan's); hping3
    --udp -s 5000 -k -p 53: one port to one port, a flood."""
    scan = [
        bytes(Ether(src=A, dst=S) / IP(src=ATK, dst=SRV) / UDP(sport=45000, dport=1 + i))
        for i in range(3000)
    ]
    assert run(make(Flood), hping3_burst(3.4, scan)) == []
    one = [bytes(Ether(src=A, dst=S) / IP(src=ATK, dst=SRV) / UDP(sport=5000, dport=53))] * 3000
    found = run(make(Flood), hping3_burst(3.4, one))
    assert {(f.kind, f.src_ip) for f in found} == {("udp", ATK)}


def test_one_loud_second_alone_is_not_a_flood() -> None:
    """1,500 echo requests inside one second (ping -f left running briefly), quiet on
    either side: over the rate, under the burst. 900 a second for a minute: under the
    rate."""
    assert run(make(Flood), hping3_burst(30.1, echo_requests()[:1500], rate=1800)) == []
    assert run(make(Flood), hping3_burst(30.0, echo_requests() * 18, rate=900)) == []


def test_pings_downloads_and_answers_are_not_floods() -> None:
    """A class pinging the gateway, echo replies and unreachables back: no flood."""
    frames = []
    for second in range(10):
        for host in range(1, 200):
            t = second + host / 200
            frames.append(
                pkt(Ether(src=A, dst=S) / IP(src=f"10.77.0.{host}", dst="10.77.0.1") / ICMP(), t)
            )
            frames.append(pkt(Ether(src=S, dst=A) / IP(src="10.77.0.1", dst=ATK) / ICMP(type=0), t))
    assert run(make(Flood), frames) == []


def discover(chaddr: str, ts: float, src_mac: str = A):  # type: ignore[no-untyped-def]
    raw = bytes.fromhex(chaddr.replace(":", ""))
    return pkt(
        Ether(src=src_mac, dst="ff:ff:ff:ff:ff:ff")
        / IP(src="0.0.0.0", dst="255.255.255.255")
        / UDP(sport=68, dport=67)
        / BOOTP(chaddr=raw, xid=random.randrange(1 << 32))
        / DHCP(options=[("message-type", "discover"), "end"]),
        ts,
    )


def test_dhcp_starvation_from_one_sender() -> None:
    """dhcpstarv: one laptop asks for leases for 100 invented MACs in two seconds."""
    frames = [discover(f"02:de:ad:00:{i // 256:02x}:{i % 256:02x}", i / 50) for i in range(100)]
    found = run(make(DhcpStarvation), frames)
    assert {(f.kind, f.src_mac, f.severity.value) for f in found} == {("forged", A, "critical")}


def test_dhcp_starvation_one_lease_at_a_time() -> None:
    """dhcpstarv against a server that pings each address first: a new client MAC every
    3 s, never 20 in 10 s; a warning once ten are asked for, naming the sender."""
    frames = [discover(f"00:16:36:00:00:{i:02x}", 100 + 3 * i) for i in range(15)]
    found = run(make(DhcpStarvation), frames)
    assert {(f.kind, f.src_mac, f.severity.value) for f in found} == {("paced", A, "warning")}
    assert found[0].ts <= 100 + 3 * 9 + 1


def test_a_laptop_bridging_virtual_machines_is_not_starvation() -> None:
    """Three virtual machines behind one laptop's MAC, each renewing every 10 minutes
    for an hour: three client MACs from one sender, under any threshold."""
    vms = [f"08:00:27:00:00:0{i}" for i in range(3)]
    frames = [discover(vm, 600 * k + i) for k in range(6) for i, vm in enumerate(vms)]
    assert run(make(DhcpStarvation), frames) == []


def test_dhcp_starvation_with_forged_frame_sources() -> None:
    macs = [f"02:be:ef:00:{i // 256:02x}:{i % 256:02x}" for i in range(400)]
    frames = [discover(m, i / 100, src_mac=m) for i, m in enumerate(macs)]
    found = run(make(DhcpStarvation), frames)
    assert {(f.kind, f.severity.value) for f in found} == {("many", "warning")}


def test_a_school_morning_is_not_starvation() -> None:
    """600 laptops arriving over ten minutes, each asking twice for itself."""
    rng = random.Random(5)
    frames = []
    for i in range(600):
        mac = f"02:10:00:00:{i // 256:02x}:{i % 256:02x}"
        t = rng.random() * 600
        frames += [discover(mac, t, src_mac=mac), discover(mac, t + 1, src_mac=mac)]
    frames.sort(key=lambda p: p.ts)
    assert run(make(DhcpStarvation), frames) == []


LAPTOPS = [(f"10.77.0.{101 + i}", f"02:77:00:00:01:{i:02x}") for i in range(4)]
GW, GW_MAC = "10.77.0.1", "02:77:00:00:00:01"


def distributed(layer: object, n: int, rate: float) -> list[Packet]:
    """Four laptops each sending ``n`` packets to the gateway at ``rate`` a second,
    interleaved (hping3 on each at once): no one of them dominates."""
    frames = []
    for i in range(n):
        for k, (ip, mac) in enumerate(LAPTOPS):
            t = 10.2 + i / rate + k / (4 * rate)
            frames.append(pkt(Ether(src=mac, dst=GW_MAC) / IP(src=ip, dst=GW) / layer, t))  # type: ignore[operator]
    return frames


def test_a_flood_from_four_laptops_at_once_names_each_of_them() -> None:
    """UDP, ICMP and SYN floods of the gateway from four hosts, each a quarter."""
    for layer, detector, kind in (
        (UDP(sport=3000, dport=53), Flood, "udp"),
        (ICMP(), Flood, "icmp"),
        (TCP(sport=3000, dport=80, flags="S"), SynFlood, "distributed"),
    ):
        found = run(make(detector), distributed(layer, 700, 330), until=16)
        assert {(f.kind, f.src_ip, f.src_mac, f.target) for f in found} == {
            (kind, ip, mac, GW) for ip, mac in LAPTOPS
        }, layer
        assert len({f.identifier for f in found}) == 4  # one alert per flooding host
        assert all(f.counts["senders"] == 4 for f in found)
        assert "4 hosts together" in found[0].summary


def test_many_clients_each_a_sliver_are_no_distributed_flood() -> None:
    """A lesson starting: 60 laptops each opening 20 connections to one server in 3 s
    (400 SYNs a second, over the rate, each laptop 1.7 % of them): no flood."""
    frames = [
        tcp(f"10.77.0.{100 + c}", SRV, 40000 + i, 445, "S", 5 + (i * 60 + c) / 400)
        for i in range(20)
        for c in range(60)
    ]
    assert run(make(SynFlood), frames) == []


def test_a_flood_that_ended_reports_its_packets() -> None:
    """A spoofed UDP burst judged at the end of its run counts its packets, not 0."""
    rng = random.Random(3)
    frames = [
        pkt(
            Ether(src=A, dst=S)
            / IP(
                src=f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.7", dst=SRV
            )
            / UDP(sport=2000 + i, dport=80),
            10.6 + i / 2000,
        )
        for i in range(3000)
    ]
    found = run(make(Flood), frames, until=16)
    assert {(f.kind, f.src_ip) for f in found} == {("udp", "")}
    for f in found:
        assert f.counts["packets"] >= 1000
        assert f"{f.counts['packets']} packets" in f.summary
