"""port_scan, host_sweep, syn_flood and brute_force on crafted packets, both ways."""

from __future__ import annotations

import random
from dataclasses import replace

from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import ARP, Ether

from sentinel.config.detect import DetectConfig, Gateway
from sentinel.detect.brute_force import BruteForce
from sentinel.detect.host_sweep import ASK_GRACE, HostSweep
from sentinel.detect.port_scan import PortScan
from sentinel.detect.syn_flood import SynFlood
from tests.detect.crafted import make, pkt, run

A, S = "02:77:00:00:66:66", "02:77:00:00:00:0a"


def syn(src: str, dst: str, sport: int, dport: int, ts: float, mac: str = A):  # type: ignore[no-untyped-def]
    return pkt(
        Ether(src=mac, dst=S) / IP(src=src, dst=dst) / TCP(sport=sport, dport=dport, flags="S"), ts
    )


def answer(src: str, dst: str, sport: int, dport: int, ts: float, flags: str):  # type: ignore[no-untyped-def]
    return pkt(
        Ether(src=S, dst=A) / IP(src=src, dst=dst) / TCP(sport=sport, dport=dport, flags=flags), ts
    )


def test_vertical_scan_of_closed_ports() -> None:
    """100 ports answered with RST on one host: a vertical scan."""
    frames = []
    for i, port in enumerate(range(1, 101)):
        frames += [
            syn("10.77.0.66", "10.77.0.10", 40000, port, i / 100),
            answer("10.77.0.10", "10.77.0.66", port, 40000, i / 100 + 0.001, "RA"),
        ]
    found = run(make(PortScan), frames)
    assert {f.kind for f in found} == {"vertical"}
    assert found[0].target == "10.77.0.10"


def test_filtered_ports_count_after_the_answer_timeout() -> None:
    """SYNs nobody answers (a firewall drops them) count as failed after 5 s."""
    frames = [syn("10.77.0.66", "10.77.0.10", 40000, port, port / 10) for port in range(1, 40)]
    found = run(make(PortScan), frames, until=20)
    assert {f.kind for f in found} == {"vertical"}


def test_client_using_many_open_services_is_not_scanning() -> None:
    """Successful connections to many ports (SYN-ACK) are not failures."""
    frames = []
    for port in range(1000, 1100):
        frames += [
            syn("10.77.0.102", "10.77.0.10", 50000 + port, port, port / 100),
            answer("10.77.0.10", "10.77.0.102", port, 50000 + port, port / 100, "SA"),
        ]
    assert run(make(PortScan), frames, until=30) == []


def test_slow_scan_over_an_hour() -> None:
    """One closed port every eight minutes (nmap -T1 style): a slow scan."""
    frames = []
    for i in range(7):
        t = i * 480.0
        frames += [
            syn("10.77.0.66", "10.77.0.10", 40000, 20 + i, t),
            answer("10.77.0.10", "10.77.0.66", 20 + i, 40000, t + 0.01, "RA"),
        ]
    found = run(make(PortScan), frames)
    assert {f.kind for f in found} == {"slow"}


def test_horizontal_scan_of_one_port() -> None:
    """Port 445 on 30 hosts, all refused: a horizontal scan."""
    frames = []
    for i in range(30):
        host = f"10.77.0.{100 + i}"
        frames += [
            syn("10.77.0.66", host, 40000 + i, 445, i / 10),
            answer(host, "10.77.0.66", 445, 40000 + i, i / 10 + 0.01, "RA"),
        ]
    assert {f.kind for f in run(make(PortScan), frames)} == {"horizontal"}


def test_icmp_and_arp_sweeps() -> None:
    """Echo requests to 40 hosts, and ARP for 100 addresses: both sweeps."""
    icmp = [
        pkt(Ether(src=A, dst=S) / IP(src="10.77.0.66", dst=f"10.77.0.{i}") / ICMP(), i / 10)
        for i in range(1, 41)
    ]
    arp = [
        pkt(
            Ether(src=A, dst="ff:ff:ff:ff:ff:ff")
            / ARP(op=1, hwsrc=A, psrc="10.77.0.66", pdst=f"10.77.1.{i}"),
            i / 50,
        )
        for i in range(1, 101)
    ]
    assert {f.kind for f in run(make(HostSweep), icmp)} == {"icmp"}
    found = run(make(HostSweep), arp, until=arp[-1].ts + ASK_GRACE + 1)
    assert {f.kind for f in found} == {"arp"}
    assert found[0].src_ip == "10.77.0.66"


def test_icmp_queries_other_than_echo_are_sweeps() -> None:
    """Timestamp, information and address-mask requests to 40 hosts (nping --icmp-type,
    nmap -PP/-PM) find live hosts as echo does: each an ICMP sweep."""
    for icmp_type in (13, 15, 17):
        frames = [
            pkt(
                Ether(src=A, dst=GW)
                / IP(src="10.77.0.66", dst=f"10.77.0.{i}")
                / ICMP(type=icmp_type),
                i / 10,
            )
            for i in range(1, 41)
        ]
        found = run(make(HostSweep), frames)
        assert {(f.kind, f.src_ip) for f in found} == {("icmp", "10.77.0.66")}, icmp_type
    replies = [
        pkt(Ether(src=S, dst=A) / IP(src=f"10.77.0.{i}", dst="10.77.0.66") / ICMP(type=14), i)
        for i in range(1, 41)
    ]
    assert run(make(HostSweep), replies) == []


GW = "02:77:00:00:00:01"


def gateway_arp(i: int, ts: float):  # type: ignore[no-untyped-def]
    return pkt(
        Ether(src=GW, dst="ff:ff:ff:ff:ff:ff")
        / ARP(op=1, hwsrc=GW, psrc="10.77.0.1", pdst=f"10.77.0.{i}"),
        ts,
    )


def test_the_pinned_gateway_routing_a_sweep_is_not_the_sweeper() -> None:
    """masscan over the LAN sends every SYN to the router's MAC; the gateway routes each
    and asks ARP for every address. With the gateway pinned, the sweeper is the source
    of the SYNs, never the gateway; unpinned, or another MAC asking as the gateway,
    the ARP requests are a sweep as before."""
    frames = []
    for i in range(1, 101):
        frames.append(
            pkt(
                Ether(src=A, dst=GW)
                / IP(src="10.77.0.66", dst=f"10.77.0.{i}")
                / TCP(sport=40000, dport=445, flags="S"),
                i / 20,
            )
        )
        frames.append(gateway_arp(i, i / 20 + 0.001))
    pinned = DetectConfig(gateway=Gateway(ip="10.77.0.1", mac=GW))
    found = run(make(HostSweep, cfg=pinned), frames, until=10)
    assert {(f.kind, f.src_ip) for f in found} == {("tcp", "10.77.0.66")}, found
    found = run(make(HostSweep), frames, until=10)
    assert {(f.kind, f.src_mac) for f in found} == {("tcp", A), ("arp", GW)}
    forged = [
        pkt(
            Ether(src=A, dst="ff:ff:ff:ff:ff:ff")
            / ARP(op=1, hwsrc=A, psrc="10.77.0.1", pdst=f"10.77.0.{i}"),
            i / 20,
        )
        for i in range(2, 102)
    ]
    assert {f.src_mac for f in run(make(HostSweep, cfg=pinned), forged)} == {A}


ASKED = 3 + ASK_GRACE + 1  # arp_asking_as's requests end at 3 s, judged ASK_GRACE later


def arp_asking_as(sender: str, n: int = 100):  # type: ignore[no-untyped-def]
    return [
        pkt(
            Ether(src=A, dst="ff:ff:ff:ff:ff:ff")
            / ARP(op=1, hwsrc=A, psrc=sender, pdst=f"10.77.1.{i}"),
            1 + i / 50,
        )
        for i in range(1, n + 1)
    ]


def test_an_arp_sweep_with_a_forged_sender_names_the_sweepers_own_address() -> None:
    """netdiscover asks as .67 of the range, whoever uses it, arp-scan --arpspa as 0.0.0.0:
    the sweep names the address the sweeper's MAC is seen using, or none when the claimed
    one is another device's or none at all."""
    own = pkt(
        Ether(src=A, dst=S) / IP(src="10.77.0.66", dst="10.77.0.10") / TCP(dport=80, flags="S"),
        0.5,
    )
    found = run(make(HostSweep), [own, *arp_asking_as("10.77.0.67")], until=ASKED)
    assert {(f.kind, f.src_ip, f.src_mac) for f in found} == {("arp", "10.77.0.66", A)}
    assert "asking as 10.77.0.67" in found[0].summary
    student = pkt(
        Ether(src=STUDENT, dst=GW)
        / ARP(op=2, hwsrc=STUDENT, psrc="10.77.0.67", hwdst=GW, pdst="10.77.0.1"),
        0.5,
    )
    found = run(make(HostSweep), [student, *arp_asking_as("10.77.0.67")], until=ASKED)
    assert {(f.kind, f.src_ip, f.src_mac) for f in found} == {("arp", "", A)}
    found = run(make(HostSweep), arp_asking_as("10.77.0.67"), until=ASKED)  # nothing else known
    assert {(f.src_ip, f.src_mac) for f in found} == {("10.77.0.67", A)}
    # probes (arp-scan --arpspa)
    found = run(make(HostSweep), arp_asking_as("0.0.0.0"), until=ASKED)
    assert {(f.src_ip, f.src_mac) for f in found} == {("", A)}
    found = run(make(HostSweep), [own, *arp_asking_as("0.0.0.0")], until=ASKED)
    assert {(f.src_ip, f.src_mac) for f in found} == {("10.77.0.66", A)}
    routed = pkt(  # a router's frame from outside the site is not its own address
        Ether(src=A, dst=S) / IP(src="203.0.113.10", dst="10.77.0.10") / ICMP(), 0.5
    )
    found = run(make(HostSweep), [routed, *arp_asking_as("10.77.0.1")], until=ASKED)
    assert {(f.src_ip, f.src_mac) for f in found} == {("10.77.0.1", A)}


STUDENT = "02:77:00:00:01:02"


def tcp_sweep(n: int, answer: str, reset: bool, data: int = 0) -> list:  # type: ignore[type-arg]
    """SYNs from one laptop to ``n`` hosts on port 80 (one every 0.1 s): each answered
    with ``answer`` flags ("" for none), then, if ``reset``, a reset after ``data`` bytes."""
    out = []
    for i in range(n):
        c, h, ts, isn = "10.77.0.101", f"203.0.113.{i + 1}", i / 10, 1000 * i
        out.append(
            pkt(
                Ether(src=A, dst=S)
                / IP(src=c, dst=h)
                / TCP(sport=40000 + i, dport=80, flags="S", seq=isn),
                ts,
            )
        )
        if answer:
            out.append(
                pkt(
                    Ether(src=S, dst=A)
                    / IP(src=h, dst=c)
                    / TCP(sport=80, dport=40000 + i, flags=answer),
                    ts + 0.03,
                )
            )
        if reset:
            out.append(
                pkt(
                    Ether(src=A, dst=S)
                    / IP(src=c, dst=h)
                    / TCP(sport=40000 + i, dport=80, flags="R", seq=isn + 1 + data),
                    ts + 0.031,
                )
            )
    return out


def test_connections_to_many_servers_are_not_a_sweep() -> None:
    """Forty servers that answer SYN-ACK (a browser, a peer-to-peer client, a CDN): nothing,
    even when some connections end in a reset after data."""
    assert run(make(HostSweep), tcp_sweep(40, "SA", False), until=10) == []
    assert run(make(HostSweep), tcp_sweep(40, "SA", True, data=300), until=10) == []


def test_tcp_discovery_sweeps_are_sweeps() -> None:
    """Forty hosts probed with SYNs: unanswered, answered by resets, or half-open (SYN-ACK,
    then the prober's reset with no byte sent, as nmap -PS does): each a TCP sweep."""
    for frames in (
        tcp_sweep(40, "", False),
        tcp_sweep(40, "RA", False),
        tcp_sweep(40, "SA", True),
    ):
        found = run(make(HostSweep), frames, until=10)
        assert {f.kind for f in found} == {"tcp"}
        assert found[0].ts < 4.0  # the 20th host's probe at 2 s, judged a second later


def test_a_laptop_talking_to_its_neighbours_is_not_a_sweep() -> None:
    """ARP for the gateway, a printer and a server, again and again: nothing."""
    frames = [
        pkt(
            Ether(src=A, dst="ff:ff:ff:ff:ff:ff")
            / ARP(op=1, hwsrc=A, psrc="10.77.0.102", pdst=f"10.77.0.{[1, 10, 20][i % 3]}"),
            i,
        )
        for i in range(200)
    ]
    assert run(make(HostSweep), frames) == []


def server_arp(i: int, ts: float):  # type: ignore[no-untyped-def]
    """The DHCP server asking who has an address before it offers it (a conflict check)."""
    return pkt(
        Ether(src=S, dst="ff:ff:ff:ff:ff:ff")
        / ARP(op=1, hwsrc=S, psrc="10.77.0.10", pdst=f"10.77.0.{100 + i}"),
        ts,
    )


def offer(i: int, ts: float):  # type: ignore[no-untyped-def]
    return pkt(
        Ether(src=S, dst="ff:ff:ff:ff:ff:ff")
        / IP(src="10.77.0.10", dst="255.255.255.255")
        / UDP(sport=67, dport=68)
        / BOOTP(op=2, yiaddr=f"10.77.0.{100 + i}", chaddr=bytes(6))
        / DHCP(options=[("message-type", "offer"), "end"]),
        ts,
    )


def test_a_dhcp_servers_conflict_checks_are_not_a_sweep() -> None:
    """A school morning (or a starvation): the DHCP server asks ARP for 80 addresses in
    a minute, each before offering it: not a sweep, whether the server is configured
    or only seen answering; the same requests from a MAC never seen answering DHCP are."""
    frames = []
    for i in range(80):
        frames += [server_arp(i, i / 2), offer(i, i / 2 + 0.1)]
    assert run(make(HostSweep), frames) == []
    cfg = DetectConfig(rogue_dhcp=replace(DetectConfig().rogue_dhcp, servers=("10.77.0.10",)))
    assert run(make(HostSweep, cfg=cfg), [server_arp(i, i / 2) for i in range(80)]) == []
    found = run(make(HostSweep), [server_arp(i, i / 2) for i in range(80)])
    assert {(f.kind, f.src_mac) for f in found} == {("arp", S)}


def test_single_source_syn_flood() -> None:
    """hping3-style: 300 SYN/s from one sender to port 80 for 5 s."""
    frames = [syn("10.77.0.66", "10.77.0.10", 1024 + i, 80, i / 300) for i in range(1500)]
    found = run(make(SynFlood), frames)
    assert found
    assert {(f.kind, f.src_ip, f.target) for f in found} == {("single", "10.77.0.66", "10.77.0.10")}


def test_spoofed_syn_flood() -> None:
    """Every SYN from another random source: flagged without naming a source."""
    rng = random.Random(1)
    frames = [
        syn(
            f"198.51.{rng.randrange(256)}.{rng.randrange(256)}",
            "10.77.0.10",
            rng.randrange(1024, 65535),
            443,
            i / 300,
            mac="02:77:00:00:00:01",
        )
        for i in range(1500)
    ]
    found = run(make(SynFlood), frames)
    assert {f.kind for f in found} == {"spoofed"}
    assert found[0].src_ip == ""


def test_busy_file_server_is_not_a_flood() -> None:
    """250 clients each opening a connection a second to SMB for 6 s: no alert."""
    frames = [
        syn(
            f"10.77.{c // 250}.{c % 250 + 1}",
            "10.77.0.10",
            40000 + i,
            445,
            i + c / 250,
            mac=f"02:10:00:00:{c >> 8:02x}:{c & 255:02x}",
        )
        for i in range(6)
        for c in range(250)
    ]
    assert run(make(SynFlood), frames) == []


def test_hydra_bursts_are_brute_force() -> None:
    """Four parallel SSH sessions in a burst (hydra -t 4): flagged at the first burst."""
    times = [0.0, 0.1, 0.2, 0.3, 0.35, 30.0, 30.05, 30.1, 30.15]
    frames = [syn("10.77.0.66", "10.77.0.10", 50000 + i, 22, t) for i, t in enumerate(times)]
    found = run(make(BruteForce), frames)
    assert found
    assert found[0].kind == "ssh"
    assert found[0].ts < 1.0  # within a second of the attack's start


def test_an_admins_three_ssh_sessions_are_not_brute_force() -> None:
    """Three sessions opened by hand a few seconds apart, and reconnects later: nothing."""
    times = [0, 7, 15, 600, 1200]
    frames = [syn("10.77.0.5", "10.77.0.10", 50000 + i, 22, t) for i, t in enumerate(times)]
    assert run(make(BruteForce), frames) == []


def test_many_rdp_connections_are_brute_force() -> None:
    """Twelve RDP connections in a minute from one laptop: flagged."""
    frames = [syn("10.77.0.66", "10.77.0.20", 50000 + i, 3389, i * 5) for i in range(12)]
    assert [f.kind for f in run(make(BruteForce), frames)][:1] == ["rdp"]


def session(i: int, ts: float, up: int, down: int):  # type: ignore[no-untyped-def]
    """One ssh connection of ``up`` bytes to the server and ``down`` back: SYN, SYN-ACK, FINs."""
    c, srv, port = "10.77.0.5", "10.77.0.10", 50000 + i
    isn, sisn = (1 << 32) - 500 - 1000 * i, 7000 * i  # the client's sequence numbers wrap
    return [
        pkt(
            Ether(src=A, dst=S)
            / IP(src=c, dst=srv)
            / TCP(sport=port, dport=22, flags="S", seq=isn),
            ts,
        ),
        pkt(
            Ether(src=S, dst=A)
            / IP(src=srv, dst=c)
            / TCP(sport=22, dport=port, flags="SA", seq=sisn),
            ts + 0.01,
        ),
        pkt(
            Ether(src=A, dst=S)
            / IP(src=c, dst=srv)
            / TCP(sport=port, dport=22, flags="FA", seq=(isn + 1 + up) % (1 << 32)),
            ts + 3,
        ),
        pkt(
            Ether(src=S, dst=A)
            / IP(src=srv, dst=c)
            / TCP(sport=22, dport=port, flags="FA", seq=sisn + 1 + down),
            ts + 3.01,
        ),
    ]


def test_a_backup_copying_one_archive_after_another_is_not_brute_force() -> None:
    """Twelve scp uploads, then twelve downloads, one after another: transfers, not guesses."""
    ups = [f for i in range(12) for f in session(i, i * 5.0, 200_000, 3000)]
    downs = [f for i in range(12) for f in session(20 + i, 100 + i * 5.0, 2500, 150_000)]
    assert run(make(BruteForce), ups + downs) == []


def test_short_sessions_one_after_another_are_still_brute_force() -> None:
    """Twelve sessions that each move a few kilobytes (guesses): flagged at the tenth."""
    frames = [f for i in range(12) for f in session(i, i * 5.0, 3000, 4000)]
    found = run(make(BruteForce), frames)
    assert found
    assert found[0].counts["connections"] == 10


def test_syn_retransmissions_are_not_new_connections() -> None:
    """The same source port retried ten times counts once."""
    frames = [syn("10.77.0.7", "10.77.0.10", 50000, 22, i) for i in range(10)]
    assert run(make(BruteForce), frames) == []


def test_paced_scan_is_slow_scan() -> None:
    """Ten closed ports two seconds apart (nmap --scan-delay 2s): a slow scan."""
    frames = []
    for i, port in enumerate(range(20, 30)):
        t = i * 2.2
        frames += [
            syn("10.77.0.66", "10.77.0.10", 40000, port, t),
            answer("10.77.0.10", "10.77.0.66", port, 40000, t + 0.01, "RA"),
        ]
    assert {f.kind for f in run(make(PortScan), frames)} == {"slow"}


def test_a_client_retrying_one_dead_service_is_not_a_scan() -> None:
    """The same closed port tried every ten seconds for minutes: one port, no scan."""
    frames = []
    for i in range(30):
        frames += [
            syn("10.77.0.102", "10.77.0.10", 40000 + i, 8080, i * 10.0),
            answer("10.77.0.10", "10.77.0.102", 8080, 40000 + i, i * 10.0 + 0.01, "RA"),
        ]
    assert run(make(PortScan), frames) == []


SPRAYED = [f"10.77.0.{11 + i}" for i in range(9)]


def test_two_guesses_on_each_of_nine_ssh_servers_are_spraying() -> None:
    """hydra -M servers -P two-passwords ssh: two connections a server, nine servers. No
    server sees a brute force; the client's connections over all of them are a warning."""
    frames = [
        frame
        for i, server in enumerate(SPRAYED)
        for k in (0, 1)
        for frame in (
            syn("10.77.0.66", server, 50000 + 2 * i + k, 22, i * 0.3 + k * 0.1),
            answer(server, "10.77.0.66", 22, 50000 + 2 * i + k, i * 0.3 + k * 0.1, "SA"),
            answer(server, "10.77.0.66", 22, 50000 + 2 * i + k, i * 0.3 + k * 0.1 + 2, "FA"),
        )
    ]
    found = run(make(BruteForce), frames)
    assert {(f.kind, f.src_ip, f.identifier, f.severity.value) for f in found} == {
        ("ssh", "10.77.0.66", "10.77.0.66|*|22", "warning")
    }
    assert found[0].counts["servers"] >= 4
    # the same SYNs unanswered: a sweep of port 22 over absent hosts, no login at all
    unanswered = [f for f in frames if f.dport == 22]
    assert run(make(BruteForce), unanswered) == []
    # answered and reset at once: a SYN scan of port 22 over live servers, no login
    scanned = [f for f in frames if not f.tcp_flags & 0x01]
    assert run(make(BruteForce), scanned) == []


def test_an_admin_logging_in_to_three_servers_is_not_spraying() -> None:
    """An admin's sessions on three servers, a few each: nothing."""
    frames = [
        syn("10.77.0.5", server, 50000 + 3 * i + k, 22, i * 20 + k * 6)
        for i, server in enumerate(SPRAYED[:3])
        for k in range(3)
    ]
    assert run(make(BruteForce), frames) == []
