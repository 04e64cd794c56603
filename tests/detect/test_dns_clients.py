"""dns_tunnel per client: dnscat2's direct mode and carriers flagged; relays, browsing not."""

from __future__ import annotations

import random
import uuid
from typing import TYPE_CHECKING

import pytest
from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from sentinel.capture.decode import decode
from sentinel.config.detect import DetectConfig, DnsBypass, DnsTunnel
from sentinel.detect.base import Common
from sentinel.detect.dns_clients import entropy
from sentinel.detect.dns_tunnel import DnsTunnel as Detector
from tests.conftest import DATA
from tests.helpers import analyze

if TYPE_CHECKING:
    from pathlib import Path

    from sentinel.detect.base import Finding
    from sentinel.packet import Packet

CLIENT, RESOLVER, C2 = "10.77.0.66", "10.77.0.10", "203.0.113.10"
TXT, CNAME, MX, A, AAAA, HTTPS = 16, 5, 15, 1, 28, 65


def _detector(settings: DnsTunnel | None = None, resolvers: tuple[str, ...] = ()) -> Detector:
    s = settings or DnsTunnel()
    cfg = DetectConfig(dns_tunnel=s, dns_bypass=DnsBypass(resolvers=resolvers))
    return Detector(s, Common(cfg, ("10.77.0.0/24",), 20000))


def _query(
    name: str,
    ts: float,
    qtype: int = A,
    src: str = CLIENT,
    dst: str = RESOLVER,
    sport: int = 40000,
    dport: int = 53,
) -> Packet:
    msg = DNS(id=random.randrange(65536), rd=1, qd=DNSQR(qname=name, qtype=qtype))
    frame = Ether(src="02:77:00:00:66:66") / IP(src=src, dst=dst) / UDP(sport=sport, dport=dport)
    return decode(bytes(frame / msg), ts=ts)


def _answer(name: str, ts: float, server: str, client: str, ident: int = 1) -> Packet:
    msg = DNS(id=ident, qr=1, qd=DNSQR(qname=name), an=DNSRR(rrname=name, rdata="192.0.2.1"))
    frame = Ether(src="02:77:00:00:00:0a") / IP(src=server, dst=client) / UDP(sport=53, dport=4000)
    return decode(bytes(frame / msg), ts=ts)


def _feed(d: Detector, packets: list[Packet]) -> list[Finding]:
    out: list[Finding] = []
    for p in packets:
        out += d.observe(p)
        out += d.tick(p.ts)
    return out


def _dnscat_direct(n: int, rng: random.Random, start: float = 100.0) -> list[Packet]:
    """dnscat2 without a domain: ``dnscat.<hex>`` straight to its server, TXT/CNAME/MX."""
    out = []
    for i in range(n):
        data = rng.randbytes(rng.choice((9, 9, 9, 40))).hex()  # idle polls and data
        labels = [data[j : j + 62] for j in range(0, len(data), 62)]
        out.append(
            _query(
                ".".join(["dnscat", *labels]),
                start + i,
                qtype=rng.choice((TXT, CNAME, MX)),
                dst=C2,
            )
        )
    return out


def test_dnscat2_direct_mode_is_a_client_finding() -> None:
    """dnscat2 sent straight to its server: every query is its own "domain", the client flags."""
    d = _detector()
    found = _feed(d, _dnscat_direct(300, random.Random(1)))
    assert found
    f = found[0]
    assert (f.kind, f.identifier, f.src_ip, f.target_name) == ("client", CLIENT, CLIENT, C2)
    assert f.counts["carrier_types"] >= 40
    assert "{source}" in f.summary
    assert "{target}" in f.summary
    assert {x.kind for x in found} == {"client"}  # no domain filled: the domain tests miss it
    assert 2 <= len(found) <= 300 / 60 + 1  # once a minute while it goes on


def test_random_labels_over_several_domains_with_ordinary_types() -> None:
    """Hex labels rotated over five domains, asked as A: the random-looking names flag."""
    d = _detector()
    rng = random.Random(2)
    domains = [f"cdn-{i}.example{i}.net" for i in range(5)]
    packets = [
        _query(f"{rng.randbytes(20).hex()}.{domains[i % 5]}", 10.0 + i * 3) for i in range(120)
    ]
    found = _feed(d, packets)
    assert [f.kind for f in found][:1] == ["client"]
    assert found[0].counts["encoded_names"] >= 100
    assert found[0].counts["carrier_types"] == 0


def test_carrier_types_with_short_labels() -> None:
    """Short names but TXT/MX/CNAME most of the time: the record-type mix flags."""
    d = _detector()
    packets = [
        _query(f"p{i}.h{i % 7}.example.org", 10.0 + i * 5, qtype=(TXT, MX, CNAME, A)[i % 4])
        for i in range(80)
    ]
    found = _feed(d, packets)
    assert found
    assert found[0].kind == "client"
    assert found[0].counts["carrier_types"] >= 40
    assert found[0].counts["encoded_names"] == 0


def test_rare_record_types_are_carriers() -> None:
    """dns2tcp -T KEY: short names, the data in KEY answers; iodine's NULL and a private
    type likewise. A rare type from a client carries as TXT does, whatever the domain."""
    for qtype in (25, 10, 65399):
        d = _detector()
        packets = [
            _query(f"XLoA{i:04x}BA.tunnel{i % 2}.test", 10.0 + i * 0.5, qtype=qtype)
            for i in range(45)
        ]
        found = _feed(d, packets)
        assert {(f.kind, f.src_ip) for f in found} == {("client", CLIENT)}, qtype
        assert found[0].counts["carrier_types"] >= 40


def test_everyday_record_types_are_not_carriers() -> None:
    """A laptop's A, AAAA, HTTPS, SRV, PTR and DNSSEC lookups: none counts as a carrier."""
    d = _detector()
    types = (A, AAAA, HTTPS, 33, 12, 43, 48)
    packets = [
        _query(f"p{i}.h{i % 7}.example.org", 10.0 + i * 2, qtype=types[i % len(types)])
        for i in range(140)
    ]
    assert _feed(d, packets) == []


def test_a_few_txt_among_many_ordinary_queries_is_not_flagged() -> None:
    """TXT below carrier_share of a client's queries (SPF, verification) is not a tunnel."""
    d = _detector()
    packets = [
        _query(f"host{i % 90}.site{i % 40}.be", 1.0 + i * 2, qtype=TXT if i % 5 == 0 else A)
        for i in range(1800)
    ]
    assert _feed(d, packets) == []


def test_many_new_names_a_minute() -> None:
    """Thousands of different short names in ten minutes: flagged by the new-name count."""
    d = _detector(DnsTunnel(distinct_names_threshold=600))
    packets = [_query(f"n{i}.x.site{i % 50}.com", 1.0 + i * 0.5) for i in range(700)]
    found = _feed(d, packets)
    assert any(f.kind == "client" and f.counts["distinct_names"] >= 600 for f in found)


def test_new_names_of_minutes_past_the_window_no_longer_count() -> None:
    """The new-name count is over ``client_window``: 400 names, eleven quiet minutes,
    then 400 more are 400 within the window, not 800 (threshold 600)."""
    d = _detector(DnsTunnel(distinct_names_threshold=600))
    first = [_query(f"n{i}.x.site{i % 50}.com", 1.0 + i * 0.25) for i in range(400)]
    later = [_query(f"m{i}.x.site{i % 50}.com", 800.0 + i * 0.25) for i in range(400)]
    assert _feed(d, first + later) == []
    # the same 800 names within the window are flagged
    d = _detector(DnsTunnel(distinct_names_threshold=600))
    close = [_query(f"m{i}.x.site{i % 50}.com", 200.0 + i * 0.25) for i in range(400)]
    found = _feed(d, first + close)
    assert any(f.kind == "client" and f.counts["distinct_names"] >= 600 for f in found)


def test_retrying_one_name_is_not_flagged() -> None:
    """A program asking one name ten times a second is noisy, not a tunnel."""
    d = _detector(DnsTunnel(distinct_names_threshold=300))
    packets = [_query("update.vendor.example.com", 1.0 + i * 0.1) for i in range(6000)]
    assert _feed(d, packets) == []


def test_configured_resolver_relaying_a_tunnel_is_not_the_source() -> None:
    """The school resolver forwards a client's dnscat2 queries upstream: not a client."""
    d = _detector(resolvers=(RESOLVER,))
    rng = random.Random(3)
    relayed = [
        _query(f"{rng.randbytes(30).hex()}.c2.example.net", 100.0 + i, TXT, RESOLVER, C2)
        for i in range(300)
    ]
    assert _feed(d, relayed) == []
    assert _feed(_detector(), relayed), "the same queries from a client are flagged"


def test_resolver_learned_from_answering_is_not_judged() -> None:
    """Unconfigured, the resolver answered one client before relaying: not judged as one."""
    d = _detector()
    rng = random.Random(4)
    ask = DNS(id=77, rd=1, qd=DNSQR(qname="www.school.lan"))
    frame = Ether() / IP(src="10.77.0.101", dst=RESOLVER) / UDP(sport=4000, dport=53) / ask
    packets = [
        decode(bytes(frame), ts=0.5),
        _answer("www.school.lan", 1.0, RESOLVER, "10.77.0.101", 77),
    ]
    packets += [
        _query(f"{rng.randbytes(30).hex()}.c2.example.net", 10.0 + i, TXT, RESOLVER, C2)
        for i in range(300)
    ]
    found = _feed(d, packets)
    assert RESOLVER in d.answerers
    assert [f.kind for f in found if f.src_ip == RESOLVER and f.kind == "client"] == []


def test_forged_answer_does_not_make_a_tunnel_a_resolver() -> None:
    """A response to no query seen (a forged one) does not spare its sender."""
    d = _detector()
    rng = random.Random(10)
    packets = [_answer("www.school.lan", 1.0, CLIENT, "10.77.0.101", 1234)]
    packets += _dnscat_direct(120, rng)
    assert [f.kind for f in _feed(d, packets)][:1] == ["client"]
    assert CLIENT not in d.answerers


def test_forwarder_sending_from_port_53_is_not_judged() -> None:
    """A forwarder with a fixed source port 53 is never taken for a client."""
    d = _detector()
    rng = random.Random(5)
    packets = [
        _query(f"{rng.randbytes(30).hex()}.c2.example.net", 10.0 + i, TXT, RESOLVER, C2, 53)
        for i in range(300)
    ]
    assert _feed(d, packets) == []


def test_relay_of_many_ordinary_domains_is_not_judged_as_a_client() -> None:
    """Unknown resolver (no answers seen): many clients' names over 200+ domains, no alert."""
    d = _detector(DnsTunnel(unique_names_threshold=100000, long_names_threshold=100000))
    rng = random.Random(6)
    packets = []
    for i in range(1500):
        if i % 3 == 0:  # one client's tunnel among the relayed queries
            name, qtype = f"{rng.randbytes(24).hex()}.t.example.net", TXT
        else:
            name, qtype = f"www.site{i % 400}.{('com', 'be', 'nl', 'co.uk')[i % 4]}", A
        packets.append(_query(name, 1.0 + i * 0.3, qtype, RESOLVER, "198.51.100.53"))
    assert [f for f in _feed(d, packets) if f.kind == "client"] == []
    assert d.clients.relays_seen > 0


def test_mdns_is_not_judged() -> None:
    """Multicast DNS (5353) with long service names and TXT queries is never counted."""
    d = _detector()
    rng = random.Random(7)
    packets = [
        _query(
            f"{rng.randbytes(20).hex()}._googlecast._tcp.local",
            1.0 + i,
            TXT,
            dst="224.0.0.251",
            sport=5353,
            dport=5353,
        )
        for i in range(300)
    ]
    assert _feed(d, packets) == []
    assert len(d.clients.table) == 0


def test_busy_laptop_browsing_cdns_updates_and_telemetry_is_not_flagged() -> None:
    """An hour of heavy browsing: CDN hashed names, GUID telemetry, updates: no finding."""
    d = _detector()
    rng = random.Random(8)
    sites = [f"www.site{i}.{('com', 'be', 'nl', 'org')[i % 4]}" for i in range(90)]
    names = []
    for i in range(3600):
        r = i % 12
        if i % 30 == 0:  # a hashed CDN or ad-frame host name, twice a minute
            names.append((f"{rng.randbytes(16).hex()}.safeframe.googlesyndication.com", A))
        elif i % 60 == 1:  # telemetry with a GUID in the name, once a minute
            names.append((f"{uuid.UUID(int=rng.getrandbits(128))}.fp.measure.office.com", A))
        elif r == 2:
            names.append((f"r{i % 9}---sn-4g5e6nze.googlevideo.com", A))
        elif r == 3:
            names.append(("settings-win.data.microsoft.com", A))
        elif r == 4:
            names.append((f"d{rng.randbytes(7).hex()}.cloudfront.net", A))  # allow-listed
        else:
            site = rng.choice(sites)
            names.append((site, (A, AAAA, HTTPS)[i % 3]))
    packets = [_query(n, 1.0 + i * 1.0, t) for i, (n, t) in enumerate(names[:1200])]
    packets += [_query(n, 1201.0 + i, t) for i, (n, t) in enumerate(names[1200:])]
    assert _feed(d, packets) == []
    assert d.clients.relays_seen == 0  # not spared as a relay: no test ever filled


def test_per_domain_and_per_client_give_one_finding() -> None:
    """An iodine-like tunnel under one domain is said once, by the per-domain test."""
    d = _detector()
    rng = random.Random(9)
    packets = [
        _query(f"{rng.randbytes(30).hex()}.t.evil-tunnel.com", 1.0 + i * 0.2, 10)
        for i in range(100)
    ]
    found = _feed(d, packets)
    assert [f.kind for f in found] == ["long_names"]


def test_client_table_is_bounded() -> None:
    """Spoofed sources fill the client table to its cap and evictions are counted."""
    s = DnsTunnel()
    d = Detector(s, Common(DetectConfig(dns_tunnel=s), ("10.0.0.0/8",), 50))
    packets = [_query("www.example.com", 1.0, src=f"10.1.{i // 250}.{i % 250}") for i in range(200)]
    _feed(d, packets)
    assert len(d.clients.table) == 50
    assert d.stats()["clients"] == 50
    assert d.stats()["evictions"] >= 150


def test_clients_forgotten_after_the_window() -> None:
    """A quiet client leaves the table after client_window (the sweep runs each minute)."""
    d = _detector()
    _feed(d, [_query("www.example.com", 1.0)])
    assert len(d.clients.table) == 1
    _feed(d, [_query("www.example.com", 2000.0, src="10.77.0.101")])
    _feed(d, [_query("www.example.com", 2100.0, src="10.77.0.101")])
    assert CLIENT not in d.clients.table


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [("", 0.0, 0.0), ("aaaa", 0.0, 0.0), ("ab", 1.0, 1.0), ("0123456789abcdef", 4.0, 4.0)],
)
def test_entropy(text: str, low: float, high: float) -> None:
    """Bits a character: none for one repeated symbol, four for sixteen equally used."""
    assert low <= entropy(text) <= high


@pytest.mark.parametrize(
    ("capture", "sources"),
    [
        ("dns_tunnel", {"10.77.0.66"}),
        ("dns_busy_benign", set()),
        ("dnscat2_direct", {"10.77.0.66"}),
    ],
)
def test_recorded_resolver_is_never_the_source_unconfigured(
    capture: str, sources: set[str], tmp_path: Path
) -> None:
    """Lab captures with no resolver configured: the resolver relaying them is never named."""
    cfg = tmp_path / "sentinel.yaml"
    cfg.write_text("capture: {networks: [10.77.0.0/24]}\n")
    found = analyze(DATA / "lab" / f"{capture}.pcap", tmp_path, "--config", str(cfg), "--reveal")
    tunnels = [a for a in found if a["detector"] == "dns_tunnel"]
    assert {a["source"]["ip"] for a in tunnels} == sources, tunnels
