"""dns_bypass: queries to outside resolvers flagged; the school's, mDNS and config-off not."""

from __future__ import annotations

from typing import TYPE_CHECKING

from scapy.layers.dns import DNS, DNSQR
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether

from sentinel.capture.decode import decode
from sentinel.config.detect import DetectConfig, DnsBypass
from sentinel.detect.base import Common
from sentinel.detect.dns_bypass import DnsBypass as Detector

if TYPE_CHECKING:
    from sentinel.detect.base import Finding
    from sentinel.packet import Packet

CLIENT, RESOLVER = "10.77.0.101", "10.77.0.10"
SCHOOL = DnsBypass(resolvers=(RESOLVER,))


def _detector(settings: DnsBypass = SCHOOL) -> Detector:
    return Detector(settings, Common(DetectConfig(dns_bypass=settings), ("10.77.0.0/24",), 20000))


def _udp(dst: str, ts: float, src: str = CLIENT, dport: int = 53) -> Packet:
    q = DNS(id=1, rd=1, qd=DNSQR(qname="www.example.com"))
    frame = (
        Ether(src="02:77:00:00:01:01") / IP(src=src, dst=dst) / UDP(sport=40000, dport=dport) / q
    )
    return decode(bytes(frame), ts=ts)


def _syn(dst: str, ts: float, dport: int) -> Packet:
    frame = Ether() / IP(src=CLIENT, dst=dst) / TCP(sport=40000 + int(ts), dport=dport, flags="S")
    return decode(bytes(frame), ts=ts)


def _feed(d: Detector, packets: list[Packet]) -> list[Finding]:
    out: list[Finding] = []
    for p in packets:
        out += d.observe(p)
        out += d.tick(p.ts)
    return out


def test_public_resolver_flagged() -> None:
    """Ten queries to 8.8.8.8 within the window are a bypass, naming the resolver in clear."""
    found = _feed(_detector(), [_udp("8.8.8.8", float(i)) for i in range(12)])
    assert len(found) == 1
    f = found[0]
    assert (f.identifier, f.src_ip, f.target_name, f.target) == (CLIENT, CLIENT, "8.8.8.8", "")
    assert f.counts["queries"] == 10


def test_dot_connections_flagged() -> None:
    """DNS-over-TLS connection attempts (SYN to 853) count."""
    found = _feed(_detector(), [_syn("1.1.1.1", float(i), 853) for i in range(10)])
    assert [(f.kind, f.target_name) for f in found] == [("dot", "1.1.1.1")]


def test_school_resolver_mdns_and_slow_use_not_flagged() -> None:
    """The school's resolver, mDNS (5353), the resolver's own forwarding and sparse queries."""
    d = _detector()
    packets = [_udp(RESOLVER, float(i)) for i in range(50)]
    packets += [_udp("224.0.0.251", float(i), dport=5353) for i in range(50)]
    packets += [_udp("9.9.9.9", float(i), src=RESOLVER) for i in range(50)]
    packets += [_udp("8.8.8.8", 100.0 + i * 120.0) for i in range(10)]  # one per 2 min
    assert _feed(d, packets) == []


def test_off_without_resolvers() -> None:
    """With no resolvers configured the detector stays silent."""
    d = _detector(DnsBypass())
    assert _feed(d, [_udp("8.8.8.8", float(i)) for i in range(50)]) == []
    assert d.stats() == {"clients": 0, "evictions": 0}
