"""Scans that step around a detector's first idea of a probe: another source port,
another transport, fragments, IPv6 neighbour discovery. Each goes through the capture
side's routing (accounting, decoder) and every default detector, as on the wire."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP, fragment
from scapy.layers.inet6 import ICMPv6ND_NS, ICMPv6ND_RA, IPv6
from scapy.layers.l2 import ARP, Ether
from scapy.layers.sctp import (
    SCTP,
    SCTPChunkAbort,
    SCTPChunkCookieEcho,
    SCTPChunkInit,
    SCTPChunkInitAck,
)

from sentinel.capture.pipeline import Pipeline, Settings
from sentinel.config.detect import DetectConfig
from sentinel.detect.engine import Engine
from sentinel.detect.host_sweep import ASK_GRACE
from tests.detect.crafted import NETS

if TYPE_CHECKING:
    from scapy.packet import Packet as ScapyPacket

    from sentinel.model import Alert

A, S, GW = "02:77:00:00:66:66", "02:77:00:00:00:0a", "02:77:00:00:00:01"
ATK, SRV = "10.77.0.66", "10.77.0.10"
ATK6, SRV6 = "fd77::66", "fd77::10"


def through(
    frames: list[tuple[float, ScapyPacket]], cfg: DetectConfig | None = None
) -> list[Alert]:
    """Frames (time, packet) through the capture side and the engine: the alerts."""
    cfg = cfg or DetectConfig()
    nets = (*NETS, "fd77::/64")
    engine = Engine(cfg, networks=nets)
    pipe = Pipeline(Settings(networks=nets, detect=cfg), engine)
    alerts: list[Alert] = []
    for t, f in sorted(frames, key=lambda x: x[0]):
        raw = bytes(f)
        pipe.frame(raw, len(raw), 100 + t)
    alerts += pipe.drain()
    return alerts + engine.finish()


def pings(seconds: int) -> list[tuple[float, ScapyPacket]]:
    """A student pinging the gateway once a second: packet time moves on."""
    ping = Ether(src="02:77:00:00:01:03", dst=GW) / IP(src="10.77.0.103", dst="10.77.0.1") / ICMP()
    return [(float(t), ping) for t in range(1, seconds + 1)]


def named(alerts: list[Alert]) -> set[tuple[str, str]]:
    return {(a.detector, a.source.ip) for a in alerts}


def attacker_arp(t: float = 0.0) -> tuple[float, ScapyPacket]:
    """The scanner's own ARP for the server, as its kernel asks before the first probe."""
    return t, Ether(src=A, dst="ff:ff:ff:ff:ff:ff") / ARP(
        op=1, hwsrc=A, psrc=ATK, hwdst="00:00:00:00:00:00", pdst=SRV
    )


@pytest.mark.parametrize("sport", [53, 5353, 67, 68])
def test_udp_scan_from_a_service_port_is_a_scan(sport: int) -> None:
    """nmap -sU -g 53 (or mDNS's, DHCP's port): empty datagrams to 40 closed ports, a few
    rate-limited port unreachables back. An empty datagram is no DNS or DHCP message."""
    frames = [attacker_arp()]
    for port in range(1, 41):
        t = port / 400
        frames.append(
            (t, Ether(src=A, dst=S) / IP(src=ATK, dst=SRV) / UDP(sport=sport, dport=port))
        )
        if port <= 6:  # the kernel's burst of unreachables, then its rate limit
            quoted = IP(src=ATK, dst=SRV) / UDP(sport=sport, dport=port)
            frames.append(
                (
                    t + 0.0001,
                    Ether(src=S, dst=A) / IP(src=SRV, dst=ATK) / ICMP(type=3, code=3) / quoted,
                )
            )
    alerts = through(frames)
    assert named(alerts) == {("port_scan", ATK)}, alerts
    assert alerts[0].first_seen < 100 + 2


def test_syn_scan_in_ipv4_fragments_is_a_scan() -> None:
    """nmap -sS -f: each SYN in three 8-byte fragments (no fragment holds the flags); the
    server reassembles it and refuses it with RST|ACK, sequence 0, window 0."""
    frames = [attacker_arp()]
    for port in range(1, 41):
        t = port / 400
        syn = IP(src=ATK, dst=SRV, id=port) / TCP(sport=47970, dport=port, flags="S", seq=759591220)
        for i, frag in enumerate(fragment(syn, fragsize=8)):
            frames.append((t + i * 0.00001, Ether(src=A, dst=S) / frag))
        rst = TCP(sport=port, dport=47970, flags="RA", seq=0, ack=759591221, window=0)
        frames.append((t + 0.0001, Ether(src=S, dst=A) / IP(src=SRV, dst=ATK) / rst))
    alerts = through(frames)
    assert named(alerts) == {("port_scan", ATK)}, alerts
    assert "unseen" in alerts[0].description


def test_an_applications_resets_are_no_scan() -> None:
    """A server aborting 40 of a client's connections (RST|ACK with its own sequence
    number and a window), and an internet host refusing 40 SYNs that were not seen
    (outside the site): neither names anyone."""
    frames = []
    for i in range(40):
        t = i / 10
        rst = TCP(sport=8080, dport=40000 + i, flags="RA", seq=1000 + i, ack=5, window=502)
        frames.append((t, Ether(src=S, dst=A) / IP(src=SRV, dst=ATK) / rst))
        out = TCP(sport=1 + i, dport=40000, flags="RA", seq=0, ack=5, window=0)
        frames.append((t, Ether(src=GW, dst=A) / IP(src="203.0.113.9", dst=ATK) / out))
    assert through(frames) == []


def sctp_probe(port: int, chunk: ScapyPacket) -> ScapyPacket:
    return Ether(src=A, dst=S) / IP(src=ATK, dst=SRV) / SCTP(sport=59209, dport=port) / chunk


@pytest.mark.parametrize("chunk", ["init", "cookie_echo"])
def test_sctp_scans_are_port_scans(chunk: str) -> None:
    """nmap -sY / -sZ of 100 ports of a server without SCTP: a few rate-limited ICMP
    protocol unreachables, silence for the rest; every port an unanswered probe."""
    frames = [attacker_arp()]
    for port in range(1, 101):
        t = port / 1000
        body = SCTPChunkInit(init_tag=port) if chunk == "init" else SCTPChunkCookieEcho()
        probe = sctp_probe(port, body)
        frames.append((t, probe))
        if port <= 6:
            back = Ether(src=S, dst=A) / IP(src=SRV, dst=ATK) / ICMP(type=3, code=2)
            frames.append((t + 0.0001, back / bytes(probe[IP])[:28]))
    frames += pings(12)
    alerts = through(frames)
    assert named(alerts) == {("port_scan", ATK)}, alerts
    assert f"sctp_{chunk}" in alerts[0].description
    assert alerts[0].first_seen <= 100 + 6.5  # the answer timeout (5 s) after the probes


def test_sctp_aborts_refuse_and_init_acks_answer() -> None:
    """A server with SCTP: ABORT from 30 closed ports is 30 failures at once; an INIT
    ACK (an open port, an association) is none."""
    frames = [attacker_arp()]
    for port in range(1, 31):
        t = port / 100
        frames.append((t, sctp_probe(port, SCTPChunkInit(init_tag=port))))
        back = Ether(src=S, dst=A) / IP(src=SRV, dst=ATK) / SCTP(sport=port, dport=59209)
        frames.append((t + 0.0001, back / SCTPChunkAbort()))
    alerts = through(frames)
    assert named(alerts) == {("port_scan", ATK)}, alerts
    assert alerts[0].first_seen < 100 + 2
    frames = []
    for port in range(1, 31):  # a client's 30 associations, each answered
        t = port / 100
        frames.append((t, sctp_probe(port, SCTPChunkInit(init_tag=port))))
        back = Ether(src=S, dst=A) / IP(src=SRV, dst=ATK) / SCTP(sport=port, dport=59209)
        frames.append((t + 0.001, back / SCTPChunkInitAck()))
    assert through(frames) == []


def solicit(src: str, mac: str, target: str, t: float) -> tuple[float, ScapyPacket]:
    """A neighbour solicitation (to a solicited-node group: which one does not matter)."""
    ip6 = IPv6(src=src, dst="ff02::1:ff00:1", hlim=255)
    return t, Ether(src=mac, dst="33:33:ff:00:00:01") / ip6 / ICMPv6ND_NS(tgt=target)


def test_an_ipv6_neighbour_solicitation_sweep_is_a_host_sweep() -> None:
    """nmap -6 -sn fd77::/122: one MAC solicits 64 addresses, twice each."""
    frames = [solicit(ATK6, A, f"fd77::{i:x}", i / 100 + r) for i in range(64) for r in (0, 0.5)]
    alerts = through(frames)
    assert named(alerts) == {("host_sweep", ATK6)}, alerts
    assert alerts[0].kind == "nd"
    assert alerts[0].source.mac == A
    assert alerts[0].first_seen < 100 + 3 + ASK_GRACE  # judged on requests ASK_GRACE old


def test_routers_and_address_detection_do_not_sweep() -> None:
    """A router (it advertises itself) solicits the 80 hosts it routes to; 80 hosts'
    duplicate address detection (from ::); a laptop soliciting its 10 neighbours."""
    ra = Ether(src=GW, dst="33:33:00:00:00:01") / IPv6(src="fe80::1", dst="ff02::1", hlim=255)
    frames: list[tuple[float, ScapyPacket]] = [(0.0, ra / ICMPv6ND_RA())]
    for i in range(80):
        frames.append(solicit("fe80::1", GW, f"fd77::1:{i:x}", 1 + i / 50))
        mac = f"02:77:00:00:02:{i:02x}"
        frames.append(solicit("::", mac, f"fd77::2:{i:x}", 1 + i / 50))
    frames += [solicit(SRV6, S, f"fd77::3:{i:x}", 1 + i) for i in range(10)]
    assert through(frames) == []
