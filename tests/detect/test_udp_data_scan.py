"""UDP scans whose probes carry data (nmap -sU --data-length, --max-retries 0): the
capture side counts each sender's distinct ports per destination and second, hands the
second over, and port_scan charges the unanswered ports; what must stay quiet."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

import pytest
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.l2 import ARP, Ether

from sentinel.capture.accounting import SPREAD_GRACE
from sentinel.capture.pipeline import Pipeline, Settings
from sentinel.config.detect import DetectConfig
from sentinel.detect.engine import Engine
from tests.detect.crafted import NETS
from tests.helpers import use_engine

if TYPE_CHECKING:
    from sentinel.model import Alert

A, S, GW = "02:77:00:00:66:66", "02:77:00:00:00:0a", "02:77:00:00:00:01"
ATK, SRV = "10.77.0.66", "10.77.0.10"
ENGINES = ["c", "python"]


def datagram(src: str, dst: str, sport: int, dport: int, mac: str, other: str, size: int = 20):
    return bytes(
        Ether(src=mac, dst=other)
        / IP(src=src, dst=dst)
        / UDP(sport=sport, dport=dport)
        / bytes(size)
    )


def unreachable(probe: bytes) -> bytes:
    """The server kernel's ICMP port unreachable quoting ``probe``."""
    ip = Ether(probe)[IP]
    quoted = IP(bytes(ip))
    return bytes(
        Ether(src=S, dst=A) / IP(src=ip.dst, dst=ip.src) / ICMP(type=3, code=3) / bytes(quoted)[:28]
    )


def replay(
    frames: list[tuple[float, bytes]],
    engine_name: str,
    monkeypatch: pytest.MonkeyPatch,
    every: int = 128,
) -> list[Alert]:
    use_engine(engine_name, monkeypatch)
    cfg = DetectConfig()
    engine = Engine(cfg, networks=NETS)
    pipe = Pipeline(Settings(networks=NETS, detect=cfg), engine)
    alerts: list[Alert] = []
    for i, (t, frame) in enumerate(sorted(frames, key=lambda x: x[0])):
        pipe.frame(frame, len(frame), t)
        if i % every == 0:
            alerts += pipe.drain()
    # a student's pings keep packet time moving past the second the probes were in
    for t in range(1, 4):
        ping = bytes(Ether(src=S, dst=GW) / IP(src=SRV, dst="10.77.0.1") / ICMP())
        pipe.frame(ping, len(ping), frames[-1][0] + t)
        alerts += pipe.drain()
    return alerts + pipe.drain(final=True) + engine.finish()


def nmap_data_scan(start: float = 100.0) -> list[tuple[float, bytes]]:
    """1,000 ports in random order in half a second, 20 bytes each, no retries; the
    kernel answers 6 unreachables (its burst), open ports 161 and 5060 answer."""
    rng = random.Random(7)
    ports = list(range(1, 1001))
    rng.shuffle(ports)
    frames = []
    for i, port in enumerate(ports):
        t = start + i / 2000
        probe = datagram(ATK, SRV, 45000, port, A, S)
        frames.append((t, probe))
        if port in (161, 5060):
            frames.append((t + 0.0003, datagram(SRV, ATK, port, 45000, S, A, 60)))
        elif i < 6:
            frames.append((t + 0.0002, unreachable(probe)))
    return frames


@pytest.mark.parametrize("engine_name", ENGINES)
def test_a_udp_scan_with_payloads_is_a_scan(
    engine_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    alerts = replay(nmap_data_scan(), engine_name, monkeypatch)
    found = [a for a in alerts if a.resolved is None]
    assert {(a.detector, a.source.ip) for a in found} == {("port_scan", ATK)}, found
    scan = found[-1]
    assert dict(scan.counts)["ports"] >= 20, scan.counts
    assert "udp" in scan.description


@pytest.mark.parametrize("engine_name", ENGINES)
def test_a_slower_udp_scan_with_payloads_over_seconds(
    engine_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """-T3 pace: 10 ports a second for 4 seconds, no answer at all (a firewall)."""
    frames = [(100 + i / 10, datagram(ATK, SRV, 45000, 1 + i, A, S)) for i in range(40)]
    alerts = replay(frames, engine_name, monkeypatch)
    assert {(a.detector, a.source.ip) for a in alerts} == {("port_scan", ATK)}, alerts


@pytest.mark.parametrize("engine_name", ENGINES)
def test_what_sends_data_to_many_ports_and_is_no_scan(
    engine_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Traceroute to the school's server (16 probes at once, ports 33434 on, the server's
    unreachables for the last hops); a call or game client whose server answers on each
    of its 12 ports; a laptop's NAT traversal trying 40 ports of a peer on the internet;
    a client streaming to the same 6 ports of a server that never answers, a datagram to
    each every second for a minute (an audio or video flow, an exporter: a scan sends
    each port a datagram or two, a stream sends its few ports many)."""
    laptop, lmac = "10.77.0.50", "02:77:00:00:00:50"
    frames: list[tuple[float, bytes]] = []
    for hop in range(3):
        for k in range(16):
            port = 33434 + hop * 16 + k
            probe = datagram(laptop, SRV, 40000 + k, port, lmac, GW, 32)
            frames.append((100 + hop * 0.3 + k / 1000, probe))
    for i in range(600):
        port = 50000 + i % 12
        frames.append((110 + i / 100, datagram(laptop, SRV, 40100, port, lmac, S, 160)))
        frames.append((110 + i / 100 + 0.001, datagram(SRV, laptop, port, 40100, S, lmac, 160)))
    peer = "198.51.100.9"
    frames += [
        (120 + i / 80, datagram(laptop, peer, 41641, 1024 + i * 97, lmac, GW)) for i in range(40)
    ]
    frames += [
        (130 + i / 6, datagram(laptop, SRV, 40200, 6000 + i % 6, lmac, S)) for i in range(360)
    ]
    # the hall's audio console patching six flows to its amplifier, 2 s apart, a datagram
    # to each every half second (the flows' first datagrams are paced like a slow scan)
    console, cmac = "10.77.0.40", "02:77:00:00:00:40"
    frames.append((199.0, arp_of(console, cmac)))
    for k in range(6):
        frames += [
            (200 + 2 * k + i / 2, datagram(console, SRV, 14336, 14400 + k, cmac, S, 200))
            for i in range(120)
        ]
    alerts = replay(frames + clock(100, 280), engine_name, monkeypatch)
    assert alerts == []


def clock(start: float, end: float) -> list[tuple[float, bytes]]:
    """A student's pings each second: packet time moves as on any school network."""
    ping = bytes(Ether(src=S, dst=GW) / IP(src=SRV, dst="10.77.0.1") / ICMP())
    return [(float(t), ping) for t in range(int(start), int(end) + 1)]


def arp_of(ip: str, mac: str) -> bytes:
    """The ARP request a scanner's kernel sends before its first probe."""
    return bytes(Ether(src=mac, dst="ff:ff:ff:ff:ff:ff") / ARP(hwsrc=mac, psrc=ip, pdst=SRV, op=1))


def paced_scan(ports: list[int], gap: float, start: float = 100.0) -> list[tuple[float, bytes]]:
    """nmap -sU --data-length 24 --max-retries 0 at one probe every ``gap`` seconds
    (-T2: 0.4 s, -T1: 15 s), no answer: a firewall drops them, or the server's kernel
    sends no unreachables."""
    frames = [(start - 0.5, arp_of(ATK, A))]
    frames += [
        (start + i * gap, datagram(ATK, SRV, 51733, port, A, S, 24)) for i, port in enumerate(ports)
    ]
    return frames


def scan_alerts(alerts: list[Alert]) -> list[Alert]:
    return [a for a in alerts if a.resolved is None]


@pytest.mark.parametrize("engine_name", ENGINES)
def test_a_t2_paced_udp_scan_with_payloads(
    engine_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """-T2: 60 ports, a probe every 0.4 s (2.5 a second, far below the floor of a second):
    the pairs' table hands the unanswered ports over with their seconds, and the ports
    on one host within the window flag it while the scan goes on."""
    frames = paced_scan(list(range(1, 61)), 0.4)
    alerts = replay(frames + clock(100, 140), engine_name, monkeypatch, every=1)
    found = scan_alerts(alerts)
    assert {(a.detector, a.source.ip, a.source.mac) for a in found} == {("port_scan", ATK, A)}
    first = found[0]
    assert first.target == SRV, first
    assert "udp" in first.description, first
    assert first.first_seen - 100 < 24, first.first_seen  # while the 24 s scan goes on
    assert max(dict(a.counts)["ports"] for a in found) >= 15


@pytest.mark.parametrize("engine_name", ENGINES)
def test_a_t1_paced_udp_scan_with_payloads(
    engine_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """-T1: a probe every 15 s, six ports: a slow scan over the slow window."""
    frames = paced_scan([7, 19, 161, 123, 137, 500], 15.0)
    alerts = replay(frames + clock(100, 200), engine_name, monkeypatch, every=1)
    found = scan_alerts(alerts)
    assert {(a.detector, a.source.ip, a.kind) for a in found} == {("port_scan", ATK, "slow")}
    # the sixth port, judged once it was watched for SPREAD_GRACE seconds
    assert found[0].first_seen - 100 <= 75 + SPREAD_GRACE + 1, found[0].first_seen
    assert dict(found[0].counts)["attempts"] == 6


@pytest.mark.parametrize("engine_name", ENGINES)
def test_five_paced_ports_are_below_the_slow_threshold(
    engine_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Five ports 15 s apart: fewer than slow_threshold (and than the capture's floor)."""
    frames = paced_scan([7, 19, 161, 123, 137], 15.0)
    assert replay(frames + clock(100, 200), engine_name, monkeypatch, every=1) == []


@pytest.mark.parametrize("engine_name", ENGINES)
def test_a_scan_just_below_the_floor_of_a_second(
    engine_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """6 new ports every second for a minute (360 ports, each once): no second reaches
    the floor of 8, the pairs' table sees a scan."""
    frames = paced_scan(list(range(1, 361)), 1 / 6)
    found = scan_alerts(replay(frames + clock(100, 170), engine_name, monkeypatch, every=1))
    assert {(a.detector, a.source.ip) for a in found} == {("port_scan", ATK)}
    assert found[0].first_seen - 100 <= 2 * SPREAD_GRACE + 1, found[0].first_seen


@pytest.mark.parametrize("engine_name", ENGINES)
def test_a_busy_servers_clients_are_no_scan(
    engine_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A school's domain controller over an hour: 150 clients, each on its own timers,
    ask Kerberos (88), kpasswd (464), CLDAP (389), NTP (123) and NetBIOS names (137) from
    new ephemeral ports and get their answers from those ports; they send NetBIOS
    datagrams (138) and syslog (514) it never answers; its SNMP manager polls each on 161
    and gets answers. Many clients, few unanswered ports each, the first use of each
    paced like a slow scan's, and the answers go to the clients' ephemeral ports."""
    rng = random.Random(3)
    dc, dmac = SRV, S
    frames: list[tuple[float, bytes]] = []
    for c in range(150):
        ip, mac = f"10.77.0.{c + 100}", f"02:77:00:00:01:{c:02x}"
        frames.append((99.0 + c / 200, arp_of(ip, mac)))
        for port, period, answered in (
            (88, 600, True),
            (464, 1800, True),
            (389, 300, True),
            (123, 512, True),
            (137, 900, True),
            (138, 720, False),
            (514, 120, False),
        ):
            t = 100 + rng.random() * period
            while t < 3700:
                eph = rng.randrange(49152, 65535) if port != 514 else 514
                frames.append((t, datagram(ip, dc, eph, port, mac, dmac, 200)))
                if answered:
                    frames.append((t + 0.002, datagram(dc, ip, port, eph, dmac, mac, 300)))
                t += period * (0.8 + rng.random() * 0.4)
        t = 100 + rng.random() * 300
        while t < 3700:
            eph = rng.randrange(32768, 60999)
            frames.append((t, datagram(dc, ip, eph, 161, dmac, mac, 60)))
            frames.append((t + 0.003, datagram(ip, dc, 161, eph, mac, dmac, 90)))
            t += 300
    alerts = replay(frames + clock(100, 3710), engine_name, monkeypatch, every=64)
    assert alerts == []


@pytest.mark.parametrize("engine_name", ENGINES)
def test_servers_answering_from_many_ports_are_no_scan(
    engine_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A classroom's call client reaching the school's media server: a call every 30 s
    for half an hour, each to two new ports (RTP, RTCP, 10000 on), two connectivity
    checks to each that the server answers from the port; and a game client whose
    local server answers from each of 12 ports only after the client's first check:
    answered in either order, from more ports than are kept."""
    laptop, lmac = "10.77.0.50", "02:77:00:00:00:50"
    media = "10.77.0.30"
    mmac = "02:77:00:00:00:30"
    frames: list[tuple[float, bytes]] = [(99.0, arp_of(laptop, lmac))]
    for call in range(60):
        t = 100 + call * 30
        for port in (10000 + 2 * call, 10001 + 2 * call):
            for k in range(2):
                frames.append((t + k, datagram(laptop, media, 50000 + call, port, lmac, mmac, 100)))
                frames.append(
                    (t + k + 0.01, datagram(media, laptop, port, 50000 + call, mmac, lmac, 100))
                )
    for k in range(12):  # the server speaks from each port first, the client answers
        t = 200 + k * 3
        frames.append((t, datagram(SRV, laptop, 27015 + k, 27005, S, lmac, 80)))
        frames.append((t + 0.05, datagram(laptop, SRV, 27005, 27015 + k, lmac, S, 80)))
    alerts = replay(frames + clock(100, 2000), engine_name, monkeypatch, every=16)
    assert alerts == []


@pytest.mark.parametrize("engine_name", ENGINES)
def test_exporters_and_discovery_are_no_scan(
    engine_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A switch exporting to the monitoring server on 8 ports it never answers, each on
    its own timer from a few seconds after the other (syslog, traps, NetFlow, IPFIX,
    sFlow, GELF, statsd, collectd); smart TVs and printers answering a laptop's SSDP,
    LLMNR and WS-Discovery searches from their ports to its ephemeral ones (the searches
    went to a group); a laptop's LAN discovery apps starting one after the other, each
    announcing itself on its port of the subnet's broadcast address every 30 to 60 s."""
    switch, smac = "10.77.0.2", "02:77:00:00:00:02"
    laptop, lmac = "10.77.0.50", "02:77:00:00:00:50"
    frames: list[tuple[float, bytes]] = [(99.0, arp_of(switch, smac)), (99.0, arp_of(laptop, lmac))]
    rng = random.Random(5)
    for k, port in enumerate((514, 162, 2055, 4739, 6343, 12201, 8125, 25826)):
        t = 100 + 7 * k
        while t < 1900:
            frames.append((t, datagram(switch, SRV, 50514 + k, port, smac, S, 120)))
            t += 20 + rng.random() * 60
    for k in range(120):
        t = 100 + k * 15
        for d in range(12):
            device, dmac = f"10.77.0.{d + 60}", f"02:77:00:00:02:{d:02x}"
            eph = rng.randrange(49152, 65535)
            sport = (1900, 5355, 3702)[d % 3]
            frames.append((t + d / 50, datagram(device, laptop, sport, eph, dmac, lmac, 300)))
    for k, port in enumerate((137, 138, 17500, 27036, 1947, 6646, 9999, 20002)):
        t = 100 + 5 * k
        period = 30 + 4 * k
        while t < 1900:
            frames.append(
                (t, datagram(laptop, "10.77.0.255", port, port, lmac, "ff:ff:ff:ff:ff:ff", 60))
            )
            t += period
    alerts = replay(frames + clock(100, 1900), engine_name, monkeypatch, every=16)
    assert alerts == []
