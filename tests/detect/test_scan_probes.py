"""port_scan with every probe type, decoys and slow scans; what must stay quiet."""

from __future__ import annotations

import random

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import ICMPv6DestUnreach, IPv6
from scapy.layers.l2 import ARP, Ether

from sentinel.capture.pipeline import Pipeline, Settings
from sentinel.config.detect import DetectConfig, Gateway
from sentinel.detect.base import Common
from sentinel.detect.engine import Engine
from sentinel.detect.port_scan import PortScan
from tests.detect.crafted import NETS, make, pkt, run

A, S, GW = "02:77:00:00:66:66", "02:77:00:00:00:0a", "02:77:00:00:00:01"
ATK, SRV = "10.77.0.66", "10.77.0.10"


def tcp(  # type: ignore[no-untyped-def]
    src: str, dst: str, sport: int, dport: int, flags: str, ts: float, mac: str = A, window=8192
):
    """A TCP segment; a kernel's reset has ``window=0``, scapy's default is 8192."""
    other = S if mac == A else A
    return pkt(
        Ether(src=mac, dst=other)
        / IP(src=src, dst=dst)
        / TCP(sport=sport, dport=dport, flags=flags, window=window),
        ts,
    )


def kinds(found: list) -> set[str]:  # type: ignore[type-arg]
    return {f.kind for f in found}


def test_null_fin_and_xmas_probes_are_a_scan() -> None:
    """nmap -sN, -sF, -sX: probes without ACK to 30 ports each; no answer is needed."""
    for flags, probe in (("", "null"), ("F", "fin"), ("FPU", "xmas")):
        frames = [tcp(ATK, SRV, 40000, port, flags, port / 100) for port in range(1, 31)]
        found = run(make(PortScan), frames)
        assert kinds(found) == {"vertical"}, flags
        assert probe in found[0].description
        assert found[0].src_ip == ATK


def test_ack_window_and_maimon_scans_from_the_bare_rsts() -> None:
    """nmap -sA/-sW/-sM: the probes carry ACK (not wanted); the server's bare RSTs are."""
    frames = [tcp(SRV, ATK, port, 40000, "R", port / 100, mac=S, window=0) for port in range(1, 31)]
    found = run(make(PortScan), frames)
    assert kinds(found) == {"vertical"}
    assert found[0].src_ip == ATK
    assert found[0].src_mac == A
    assert "ack" in found[0].description


def test_a_window_scan_of_a_host_that_reveals_open_ports_is_still_a_scan() -> None:
    """nmap -sW against a system whose open ports answer with a window (4 of 30): the
    25 closed ports' window-0 resets are the scan; the odd ones do not hide it."""
    frames = [
        tcp(SRV, ATK, port, 40000, "R", port / 100, mac=S, window=4096 if port % 6 == 0 else 0)
        for port in range(1, 31)
    ]
    found = run(make(PortScan), frames)
    assert {(f.kind, f.src_ip) for f in found} == {("vertical", ATK)}
    assert found[-1].counts["ports"] == 25


def test_an_rst_flood_names_no_scanner() -> None:
    """hping3 -R at a server's port 80, sources turning: the crafted RSTs carry a window,
    so the server is not taken for an ACK scanner of the flooder (or of bystanders)."""
    frames = [tcp(ATK, SRV, 2000 + i, 80, "R", i / 2000, window=512) for i in range(3000)]
    assert run(make(PortScan), frames) == []
    rng = random.Random(4)
    spoofed = [  # --rand-source inside the site: every address a bystander
        tcp(f"10.77.0.{rng.randrange(2, 255)}", SRV, 2000 + i, 80, "R", i / 2000, window=512)
        for i in range(3000)
    ]
    assert run(make(PortScan), spoofed) == []


def test_an_ack_flood_names_no_scanner() -> None:
    """hping3 -A: the server's RSTs all leave port 80, one failed pair, no scan."""
    frames = [tcp(SRV, ATK, 80, 2000 + i, "R", i / 2000, mac=S, window=0) for i in range(3000)]
    assert run(make(PortScan), frames) == []


def test_stale_connections_reset_by_internet_servers_are_not_a_scan() -> None:
    """A laptop waking up: 40 internet servers reset its stale connections (bare RST)."""
    frames = [
        tcp(f"198.51.100.{i}", "10.77.0.102", 443, 50000 + i, "R", i / 10, mac=S)
        for i in range(1, 41)
    ]
    assert run(make(PortScan), frames) == []


def test_udp_scan_from_the_empty_probes() -> None:
    """nmap -sU sends empty datagrams to closed and open ports alike."""
    frames = [
        pkt(Ether(src=A, dst=S) / IP(src=ATK, dst=SRV) / UDP(sport=45000, dport=port), port / 50)
        for port in range(1, 40)
    ]
    found = run(make(PortScan), frames)
    assert kinds(found) == {"vertical"}
    assert "udp" in found[0].description


def test_udp_scan_from_the_port_unreachables() -> None:
    """Probes with payloads are not wanted; the ICMP port unreachables quote them."""
    frames = []
    for port in range(100, 130):
        quoted = IP(src=ATK, dst=SRV) / UDP(sport=45000, dport=port) / b"payload"
        frames.append(
            pkt(Ether(src=S, dst=A) / IP(src=SRV, dst=ATK) / ICMP(type=3, code=3) / quoted, port)
        )
    found = run(make(PortScan), frames)
    # one a second (the kernel's rate limit): paced like a slow scan until it is vertical
    assert "vertical" in kinds(found)
    assert kinds(found) <= {"vertical", "slow"}
    assert {f.src_ip for f in found} == {ATK}


def test_late_dns_answers_to_closed_client_ports_are_not_a_scan() -> None:
    """A client closed its sockets before the resolver answered: unreachables quote
    the resolver's answers (source port 53) to 60 client ports."""
    frames = []
    for i in range(60):
        quoted = IP(src=SRV, dst="10.77.0.102") / UDP(sport=53, dport=33000 + i) / b"answer"
        frames.append(
            pkt(
                Ether(src=A, dst=S)
                / IP(src="10.77.0.102", dst=SRV)
                / ICMP(type=3, code=3)
                / quoted,
                i / 10,
            )
        )
    assert run(make(PortScan), frames) == []


def test_ip_protocol_scan() -> None:
    """nmap -sO: one datagram per protocol number, and protocol unreachables back."""
    frames = [
        pkt(Ether(src=A, dst=S) / IP(src=ATK, dst=SRV, proto=proto), proto / 10)
        for proto in range(100, 120)
    ]
    found = run(make(PortScan), frames)
    assert kinds(found) == {"protocol"}
    answers = []
    for proto in range(100, 120):
        quoted = IP(src=ATK, dst=SRV, proto=proto)
        answers.append(
            pkt(Ether(src=S, dst=A) / IP(src=SRV, dst=ATK) / ICMP(type=3, code=2) / quoted, proto)
        )
    assert kinds(run(make(PortScan), answers)) == {"protocol"}


def test_tunnels_and_multicast_protocols_are_not_a_protocol_scan() -> None:
    """GRE, ESP and IPIP carry traffic; a host speaks a few protocols (IGMP, VRRP, OSPF)."""
    frames = [
        pkt(Ether(src=A, dst=S) / IP(src=ATK, dst=SRV, proto=proto), i)
        for i, proto in enumerate([47, 50, 4, 41, 51, 2, 112, 89] * 5)
    ]
    assert run(make(PortScan), frames) == []


def test_ipv6_syn_scan_and_udp_unreachables() -> None:
    a6, s6 = "fd77::66", "fd77::10"
    frames = []
    for port in range(1, 31):
        frames += [
            pkt(
                Ether(src=A, dst=S) / IPv6(src=a6, dst=s6) / TCP(sport=40000, dport=port),
                port / 100,
            ),
            pkt(
                Ether(src=S, dst=A)
                / IPv6(src=s6, dst=a6)
                / TCP(sport=port, dport=40000, flags="RA"),
                port / 100 + 0.001,
            ),
        ]
    cfg = DetectConfig()
    nets = ("10.77.0.0/24", "fd77::/64")
    found = run(PortScan(cfg.port_scan, Common(cfg, nets, 20000)), frames)
    assert kinds(found) == {"vertical"}
    assert found[0].src_ip == a6
    unreach = []
    for port in range(1, 31):
        quoted = IPv6(src=a6, dst=s6) / UDP(sport=45000, dport=port) / b"x"
        unreach.append(
            pkt(
                Ether(src=S, dst=A) / IPv6(src=s6, dst=a6) / ICMPv6DestUnreach(code=4) / quoted,
                port,
            )
        )
    found = run(PortScan(cfg.port_scan, Common(cfg, nets, 20000)), unreach)
    assert "vertical" in kinds(found)
    assert {f.src_ip for f in found} == {a6}


def test_decoys_name_the_real_scanner() -> None:
    """nmap -D: the same probes from four forged addresses of the attacker's MAC."""
    frames = [pkt(Ether(src=A, dst="ff:ff:ff:ff:ff:ff") / ARP(hwsrc=A, psrc=ATK, pdst=SRV), 0)]
    decoys = ["10.77.0.201", "10.77.0.202", "192.0.2.7", ATK]
    frames += [tcp(d, SRV, 40000, port, "F", port / 10) for port in range(1, 31) for d in decoys]
    found = run(make(PortScan), frames)
    assert {f.src_ip for f in found} == {ATK}
    assert {f.identifier for f in found} == {ATK}
    assert found[0].counts["decoys"] == 3


def test_gateway_forwarding_many_sources_is_not_a_decoy() -> None:
    """The gateway's MAC carries many internet sources: each stays its own source."""
    cfg = DetectConfig(gateway=Gateway(ip="10.77.0.1", mac=GW))
    det = make(PortScan, cfg=cfg)
    frames = [
        pkt(Ether(src=GW, dst="ff:ff:ff:ff:ff:ff") / ARP(hwsrc=GW, psrc="10.77.0.1", pdst=SRV), 0)
    ]
    frames += [tcp("203.0.113.9", SRV, 40000, p, "", p / 10, mac=GW) for p in range(1, 31)]
    found = run(det, frames)
    assert {f.src_ip for f in found} == {"203.0.113.9"}


def test_peer_to_peer_client_is_not_a_scan() -> None:
    """A BitTorrent client: 300 peers on the internet on random high ports, 60 % of
    them dead (unanswered or refused), some on the classic 6881."""
    rng = random.Random(1)
    frames = []
    t = 0.0
    for i in range(300):
        t += rng.random() * 0.5
        peer = f"198.{rng.randrange(18, 20)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        port = 6881 if i % 5 == 0 else rng.randrange(1024, 65535)
        frames.append(tcp("10.77.0.102", peer, 50000 + i, port, "S", t))
        r = rng.random()
        if r < 0.4:
            frames.append(tcp(peer, "10.77.0.102", port, 50000 + i, "SA", t + 0.05, mac=S))
        elif r < 0.7:
            frames.append(tcp(peer, "10.77.0.102", port, 50000 + i, "RA", t + 0.05, mac=S))
    assert run(make(PortScan), sorted(frames, key=lambda p: p.ts), until=t + 30) == []


def test_slow_horizontal_scan_of_the_site() -> None:
    """Port 445 on 25 of the site's hosts, one every two minutes (nmap -T1 over a list)."""
    frames = []
    for i in range(25):
        host, t = f"10.77.0.{100 + i}", i * 120.0
        frames += [
            tcp(ATK, host, 40000, 445, "S", t),
            tcp(host, ATK, 445, 40000, "RA", t + 0.01, mac=S),
        ]
    assert "slow" in kinds(run(make(PortScan), frames))


def test_the_engine_routes_every_probe_type_to_port_scan() -> None:
    """Through the engine: NULL segments, empty datagrams and rare protocols arrive."""
    engine = Engine(DetectConfig(), networks=("10.77.0.0/24",))
    alerts = []
    for port in range(1, 31):
        alerts += engine.packet(tcp(ATK, SRV, 40000, port, "", port / 10))
    alerts += engine.finish()
    assert {a.detector for a in alerts} == {"port_scan"}
    engine = Engine(DetectConfig(), networks=("10.77.0.0/24",))
    udp = [
        pkt(Ether(src=A, dst=S) / IP(src=ATK, dst=SRV) / UDP(sport=45000, dport=p), p / 10)
        for p in range(1, 31)
    ]
    alerts = [a for p in udp for a in engine.packet(p)] + engine.finish()
    assert {a.detector for a in alerts} == {"port_scan"}


NMAP_ACK = 3755845502  # nmap sends every ACK probe of a scan with one acknowledgement number


def probe_and_answer(probe: str, port: int) -> tuple[bytes, bytes | None]:
    """One nmap probe to a closed port of the server, and what the server's kernel sends
    back (None: silence, or the kernel's rate limit on port unreachables)."""
    out = Ether(src=A, dst=S) / IP(src=ATK, dst=SRV)
    back = Ether(src=S, dst=A) / IP(src=SRV, dst=ATK)
    if probe == "udp":
        sent = out / UDP(sport=45000, dport=port)
        quoted = IP(src=ATK, dst=SRV) / UDP(sport=45000, dport=port)
        answer = back / ICMP(type=3, code=3) / quoted if port % 1000 == 0 else None
        return bytes(sent), None if answer is None else bytes(answer)
    flags = {"syn": "S", "fin": "F", "null": "", "xmas": "FPU", "ack": "A", "window": "A"}
    flags["maimon"] = "FA"
    sent = out / TCP(sport=40000, dport=port, flags=flags[probe], seq=77, ack=NMAP_ACK)
    if "A" in flags[probe]:  # a segment with ACK: a bare RST echoing its ack number
        reply = TCP(sport=port, dport=40000, flags="R", seq=NMAP_ACK, window=0)
    else:  # no ACK: RST-ACK with sequence number 0
        reply = TCP(sport=port, dport=40000, flags="RA", seq=0, ack=78, window=0)
    return bytes(sent), bytes(back / reply)


@pytest.mark.parametrize("probe", ["syn", "fin", "null", "xmas", "ack", "window", "maimon", "udp"])
def test_fast_scans_of_every_probe_type_name_only_the_scanner(probe: str) -> None:
    """nmap -p1-3000 --min-rate 3000 with each probe type, through the capture side's
    routing (accounting, decoder) and every default detector: port_scan names the
    scanner; no flood, sweep or other alert names the server."""
    cfg = DetectConfig()
    engine = Engine(cfg, networks=NETS)
    pipe = Pipeline(Settings(networks=NETS, detect=cfg), engine)
    alerts = []
    for i in range(3000):
        t = 100 + i / 3000
        sent, answer = probe_and_answer(probe, 1 + i)
        pipe.frame(sent, len(sent), t)
        if answer is not None:
            pipe.frame(answer, len(answer), t + 0.0002)
        if i % 256 == 0:
            alerts += pipe.drain()
    alerts += pipe.drain() + engine.finish()
    assert {(a.detector, a.source.ip) for a in alerts} == {("port_scan", ATK)}, alerts


@pytest.mark.parametrize("probe", ["syn", "ack", "window", "maimon"])
def test_scans_of_a_filtered_server_name_the_scanner(probe: str) -> None:
    """The server's firewall drops every probe: no RST, no ICMP, silence. Through the
    capture side's routing and every default detector, the unanswered probes are the
    scan (ACK, Window and Maimon probes as much as SYNs)."""
    cfg = DetectConfig()
    engine = Engine(cfg, networks=NETS)
    pipe = Pipeline(Settings(networks=NETS, detect=cfg), engine)
    alerts = []
    for i in range(300):
        sent, _ = probe_and_answer(probe, 1 + i)
        pipe.frame(sent, len(sent), 100 + i / 100)
    # a student's pings keep packet time moving past the answer timeout
    for t in range(104, 115):
        ping = bytes(Ether(src=S, dst=GW) / IP(src=SRV, dst="10.77.0.1") / ICMP())
        pipe.frame(ping, len(ping), float(t))
        alerts += pipe.drain()
    alerts += pipe.drain() + engine.finish()
    assert {(a.detector, a.source.ip) for a in alerts} == {("port_scan", ATK)}, alerts


def flow(client: str, port: int, t: float, server_closes: bool) -> list[tuple[bytes, float]]:
    """One whole connection of a client to the server: handshake, a request and its
    answer, the close from either side, every ACK of it."""
    cmac = "02:77:00:00:01:" + client.rsplit(".", 1)[1][-2:].zfill(2)
    c = Ether(src=cmac, dst=S) / IP(src=client, dst=SRV)
    s = Ether(src=S, dst=cmac) / IP(src=SRV, dst=client)

    def up(flags: str, data: bytes = b"") -> bytes:
        return bytes(c / TCP(sport=port, dport=445, flags=flags) / data)

    def down(flags: str, data: bytes = b"") -> bytes:
        return bytes(s / TCP(sport=445, dport=port, flags=flags) / data)

    seq = [up("S"), down("SA"), up("A"), up("PA", b"\x00" * 60), down("A")]
    seq += [down("PA", b"\x00" * 1400), up("A")]
    if server_closes:
        seq += [down("FA"), up("A"), up("FA"), down("A")]
    else:
        seq += [up("FA"), down("FA"), up("A")]
    return [(f, t + k * 0.001) for k, f in enumerate(seq)]


def test_a_busy_server_closing_connections_is_not_a_scan() -> None:
    """A file server's day: 300 connections from 60 laptops, closed from either side, and
    the laptops' keepalives on long idle sessions (answered): every empty ACK and
    FIN|ACK has its answer, so nothing counts as a probe of anyone."""
    cfg = DetectConfig()
    engine = Engine(cfg, networks=NETS)
    pipe = Pipeline(Settings(networks=NETS, detect=cfg), engine)
    frames: list[tuple[bytes, float]] = []
    for i in range(300):
        client = f"10.77.0.{20 + i % 60}"
        frames += flow(client, 50000 + i, 100 + i * 0.2, server_closes=i % 2 == 0)
    for i in range(60):  # idle sessions: a keepalive each, 40 s after the last segment
        client = f"10.77.0.{20 + i}"
        cmac = "02:77:00:00:01:" + str(20 + i)[-2:].zfill(2)
        ka = Ether(src=cmac, dst=S) / IP(src=client, dst=SRV)
        ka /= TCP(sport=40000, dport=445, flags="A")
        back = Ether(src=S, dst=cmac) / IP(src=SRV, dst=client)
        back /= TCP(sport=445, dport=40000, flags="A")
        frames += [(bytes(ka), 200 + i * 0.1), (bytes(back), 200 + i * 0.1 + 0.0005)]
    alerts = []
    for k, (f, t) in enumerate(sorted(frames, key=lambda x: x[1])):
        pipe.frame(f, len(f), t)
        if k % 200 == 0:
            alerts += pipe.drain()
    for t in range(210, 230):  # time moves past every answer timeout
        ping = bytes(Ether(src=S, dst=GW) / IP(src=SRV, dst="10.77.0.1") / ICMP())
        pipe.frame(ping, len(ping), float(t))
        alerts += pipe.drain()
    alerts += pipe.drain() + engine.finish()
    assert alerts == []
    (scan,) = [d for d in engine.detectors if d.name == "port_scan"]
    assert scan.stats()["sources"] == 0  # type: ignore[attr-defined]  # not one failure
    assert scan.stats()["pending"] == 0  # type: ignore[attr-defined]
