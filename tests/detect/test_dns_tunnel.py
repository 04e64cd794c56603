"""dns_tunnel: iodine-like queries flagged; CDNs and ordinary browsing not."""

from __future__ import annotations

import base64
import random
from typing import TYPE_CHECKING

from scapy.layers.dns import DNS, DNSQR
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether

from sentinel.capture.decode import decode
from sentinel.config.detect import DetectConfig, DnsTunnel
from sentinel.detect.base import Common
from sentinel.detect.dns_tunnel import DnsTunnel as Detector

if TYPE_CHECKING:
    from sentinel.detect.base import Finding
    from sentinel.packet import Packet

CLIENT = "10.77.0.101"


def _detector(settings: DnsTunnel | None = None) -> Detector:
    s = settings or DnsTunnel()
    return Detector(s, Common(DetectConfig(dns_tunnel=s), ("10.77.0.0/24",), 20000))


def _query(name: str, ts: float, qtype: int = 1, src: str = CLIENT, tcp: bool = False) -> Packet:
    msg = DNS(id=random.randrange(65536), rd=1, qd=DNSQR(qname=name, qtype=qtype))
    if tcp:
        raw = bytes(msg)
        l4 = TCP(sport=40000, dport=53, flags="PA") / (len(raw).to_bytes(2, "big") + raw)
    else:
        l4 = UDP(sport=40000, dport=53) / msg
    return decode(bytes(Ether(src="02:77:00:00:01:01") / IP(src=src, dst="10.77.0.10") / l4), ts=ts)


def _feed(d: Detector, packets: list[Packet]) -> list[Finding]:
    out: list[Finding] = []
    for p in packets:
        out += d.observe(p)
        out += d.tick(p.ts)
    return out


def _iodine_names(n: int, rng: random.Random) -> list[str]:
    names = []
    for _ in range(n):
        chunk = base64.b32encode(rng.randbytes(35)).decode().rstrip("=").lower()[:56]
        names.append(
            f"{chunk}.{base64.b32encode(rng.randbytes(20)).decode().lower()[:30]}.t.evil-tunnel.com"
        )
    return names


def test_iodine_like_queries_flagged() -> None:
    """Long base32 labels with NULL queries under one domain are tunnelling."""
    d = _detector()
    rng = random.Random(3)
    found = _feed(
        d, [_query(n, 10.0 + i * 0.2, qtype=10) for i, n in enumerate(_iodine_names(60, rng))]
    )
    assert found
    f = found[0]
    assert (f.identifier, f.target_name, f.src_ip) == (CLIENT, "evil-tunnel.com", CLIENT)
    assert f.kind == "long_names"
    assert f.counts["long_names"] >= 20
    assert "{source}" in f.summary
    assert "{target}" in f.summary
    # Reported again at most once a minute while it goes on.
    assert len(found) == 1


def test_odd_types_and_unique_names() -> None:
    """Many TXT queries, or many unique short names, under one domain are flagged."""
    d = _detector(DnsTunnel(odd_types_threshold=10, unique_names_threshold=30))
    found = _feed(d, [_query(f"q{i}.c2.example.org", float(i), qtype=16) for i in range(10)])
    assert [f.kind for f in found] == ["odd_types"]
    d = _detector(DnsTunnel(unique_names_threshold=30))
    found = _feed(d, [_query(f"{i:08x}.c2.example.org", float(i)) for i in range(30)])
    assert [f.kind for f in found] == ["unique_names"]


def test_tcp_queries_counted() -> None:
    """Queries over TCP (length-prefixed) count like UDP ones."""
    d = _detector(DnsTunnel(long_names_threshold=5))
    rng = random.Random(4)
    found = _feed(d, [_query(n, float(i), tcp=True) for i, n in enumerate(_iodine_names(5, rng))])
    assert [f.kind for f in found] == ["long_names"]


def test_cdn_long_names_not_tunnelling() -> None:
    """A CDN's long generated host names (allow-listed by default) never count."""
    d = _detector()
    rng = random.Random(5)
    names = [f"{rng.randbytes(28).hex()}.akamaihd.net" for _ in range(200)]
    assert len(names[0].split(".")[0]) > 48
    assert _feed(d, [_query(n, float(i)) for i, n in enumerate(names)]) == []
    assert d.stats()["pairs"] == 0


def test_normal_browsing_not_tunnelling() -> None:
    """Hundreds of lookups over many domains, a few names each, are not flagged."""
    d = _detector()
    rng = random.Random(6)
    sites = [f"site{i}.example{i % 7}.be" for i in range(120)]
    packets = []
    t = 0.0
    for site in sites:
        for host in ("www", "static", "cdn", "api"):
            t += rng.random()
            packets.append(_query(f"{host}.{site}", t, qtype=rng.choice((1, 28, 65))))
    packets.append(_query("google.com", t + 1, qtype=16))  # one TXT lookup is normal
    assert _feed(d, packets) == []


def test_window_expires() -> None:
    """Long names spread over more than the window never add up; old pairs are dropped."""
    d = _detector(DnsTunnel(window=60.0, long_names_threshold=5))
    rng = random.Random(7)
    names = _iodine_names(10, rng)
    assert _feed(d, [_query(n, i * 30.0) for i, n in enumerate(names)]) == []
    d.tick(10_000.0)
    d.tick(10_100.0)
    assert d.stats()["pairs"] == 0


def test_hostile_payload_and_responses_ignored() -> None:
    """Garbage on port 53 and responses do not raise or count."""
    d = _detector()
    junk = decode(
        bytes(
            Ether()
            / IP(src=CLIENT, dst="10.77.0.10")
            / UDP(sport=1, dport=53)
            / (b"\x00\x01\x00\x00\x00\x05" + b"\xc0\x0c" * 10)
        )
    )
    assert list(d.observe(junk)) == []
    resp = DNS(id=1, qr=1, qd=DNSQR(qname="x" * 60 + ".evil-tunnel.com", qtype=10))
    p = decode(bytes(Ether() / IP(src=CLIENT, dst="10.77.0.10") / UDP(sport=1, dport=53) / resp))
    assert list(d.observe(p)) == []
    assert d.stats()["malformed"] == 1


def test_allow_list_matches_whole_labels_only() -> None:
    from sentinel.config.detect import Allow
    from sentinel.detect.base import Allowed

    a = Allowed(Allow(domains=("Akamaiedge.net.", "example.org")))
    assert a.domain("akamaiedge.net")
    assert a.domain("E123.a.AKAMAIEDGE.NET.")
    assert a.domain("x.example.org")
    assert not a.domain("notakamaiedge.net")
    assert not a.domain("akamaiedge.net.evil.test")
    assert not a.domain("net")
    assert not a.domain("")
    assert not Allowed().domain("example.org")
