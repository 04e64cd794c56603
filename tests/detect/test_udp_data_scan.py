"""UDP scans whose probes carry data (nmap -sU --data-length, --max-retries 0): the
capture side counts each sender's distinct ports per destination and second, hands the
second over, and port_scan charges the unanswered ports; what must stay quiet."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

import pytest
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.l2 import Ether

from sentinel.capture.pipeline import Pipeline, Settings
from sentinel.config.detect import DetectConfig
from sentinel.detect.engine import Engine
from tests.detect.crafted import NETS

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
    frames: list[tuple[float, bytes]], engine_name: str, monkeypatch: pytest.MonkeyPatch
) -> list[Alert]:
    if engine_name == "python":
        monkeypatch.setenv("SENTINEL_NO_EXTENSIONS", "1")
    else:
        monkeypatch.delenv("SENTINEL_NO_EXTENSIONS", raising=False)
    cfg = DetectConfig()
    engine = Engine(cfg, networks=NETS)
    pipe = Pipeline(Settings(networks=NETS, detect=cfg), engine)
    alerts: list[Alert] = []
    for i, (t, frame) in enumerate(sorted(frames, key=lambda x: x[0])):
        pipe.frame(frame, len(frame), t)
        if i % 128 == 0:
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
    assert dict(scan.counts)["ports"] >= 30, scan.counts
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
    a client below the floor (6 ports a second) for a minute."""
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
    alerts = replay(frames, engine_name, monkeypatch)
    assert alerts == []
