"""dns_tunnel, arp_spoof and rogue_ra against the variants tried in the lab
(tests/lab/scenarios_dns_l2.py): iodine's raw UDP mode, spoofers that speak before the
owner, router advertisements that announce a prefix without a default route."""

from __future__ import annotations

from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import ICMPv6ND_RA, ICMPv6NDOptPrefixInfo, ICMPv6NDOptSrcLLAddr, IPv6
from scapy.layers.l2 import ARP, Ether

from sentinel.config.detect import DetectConfig, Gateway
from sentinel.detect.arp_spoof import ArpSpoof
from sentinel.detect.dns_tunnel import DnsTunnel
from sentinel.detect.rogue_ra import RogueRa
from sentinel.model import Severity
from tests.detect.crafted import make, pkt, run

ATTACKER, OWNER, VICTIM = "02:77:00:00:66:66", "02:77:00:00:01:02", "02:77:00:00:01:01"
ATK, SERVER = "10.77.0.66", "203.0.113.10"
GW_MAC = "02:77:00:00:00:01"
# iodine 0.7's raw UDP header: the 3-byte magic, then command and user in one byte
RAW = bytes.fromhex("10d19e") + b"\x20"


def datagram(payload: bytes, ts: float, sport: int = 40491):  # type: ignore[no-untyped-def]
    return pkt(
        Ether(src=ATTACKER, dst=GW_MAC)
        / IP(src=ATK, dst=SERVER)
        / UDP(sport=sport, dport=53)
        / payload,
        ts,
    )


def test_iodine_raw_udp_mode_is_a_tunnel() -> None:
    """After its login over DNS iodine sends raw datagrams to its server's port 53: no
    DNS message, no name, a tunnel all the same (nothing was flagged before)."""
    frames = [datagram(RAW + bytes(range(i % 200)), 10 + i / 2) for i in range(40)]
    found = run(make(DnsTunnel), frames)
    assert [(f.kind, f.src_ip, f.target, f.severity) for f in found] == [
        ("not_dns", ATK, SERVER, Severity.WARNING)
    ]
    assert found[0].ts <= 10 + 19 / 2


def test_a_few_malformed_queries_are_not_a_tunnel() -> None:
    """A buggy client's stray datagrams to port 53 (an empty one is a probe, not here)."""
    frames = [datagram(b"\x00\x01\x02\x03", 60.0 * i) for i in range(19)]
    assert run(make(DnsTunnel), frames) == []


def arp(op: int, mac: str, ip: str, ts: float, target: str = "10.77.0.101"):  # type: ignore[no-untyped-def]
    return pkt(
        Ether(src=mac, dst="ff:ff:ff:ff:ff:ff")
        / ARP(op=op, hwsrc=mac, psrc=ip, hwdst="00:00:00:00:00:00", pdst=target),
        ts,
    )


def test_a_spoofer_that_speaks_first_is_named_not_the_owner() -> None:
    """arpspoof broadcasting student 2's address before student 2 has said a word, then
    resolving it from its own address; the owner answers: the spoofer is named, with
    its own address, though it held the address first."""
    peer = "10.77.0.102"
    frames = [arp(2, ATTACKER, peer, 1.0), arp(1, ATTACKER, ATK, 2.0, target=peer)]
    frames += [arp(2, OWNER, peer, 2.1, target=ATK), arp(2, ATTACKER, peer, 3.0)]
    frames += [arp(1, OWNER, peer, 4.0), arp(2, ATTACKER, peer, 5.0)]
    found = run(make(ArpSpoof), frames)
    assert found
    assert {(f.kind, f.src_mac, f.src_ip) for f in found} == {("flip_flop", ATTACKER, ATK)}


def test_arp_requests_with_a_forged_sender_name_the_requester() -> None:
    """arping -S: requests whose sender is another student's address at the attacker's
    MAC, beside its own requests and the owner's."""
    peer = "10.77.0.102"
    frames = [arp(1, OWNER, peer, 0.5, target=ATK), arp(1, ATTACKER, ATK, 0.8, target=peer)]
    frames += [arp(1, ATTACKER if i % 2 else OWNER, peer, 1.0 + i) for i in range(6)]
    found = run(make(ArpSpoof), frames)
    assert {f.src_mac for f in found} == {ATTACKER}


def test_a_prefix_without_a_default_route_is_a_rogue_advertisement() -> None:
    """fake_router26 -l 0 -A prefix: router lifetime 0 from the attacker's own address
    with a prefix: hosts take its addresses (and its DNS server); not a kill_router."""
    mac, src = ATTACKER, "fe80::77:ff:fe00:6666"
    frame = (
        Ether(src=mac, dst="33:33:00:00:00:01")
        / IPv6(src=src, dst="ff02::1", hlim=255)
        / ICMPv6ND_RA(routerlifetime=0)
        / ICMPv6NDOptSrcLLAddr(lladdr=mac)
        / ICMPv6NDOptPrefixInfo(prefix="fd77:bad::", prefixlen=64)
    )
    cfg = DetectConfig(gateway=Gateway(mac=GW_MAC))
    found = run(make(RogueRa, cfg=cfg), [pkt(frame, 1.0)])
    assert [(f.kind, f.src_mac, f.severity, f.target_name) for f in found] == [
        ("rogue", mac, Severity.CRITICAL, "fd77:bad::/64")
    ]


def query(name: str, qtype: int, ts: float):  # type: ignore[no-untyped-def]
    from scapy.layers.dns import DNS, DNSQR

    return pkt(
        Ether(src=VICTIM, dst=GW_MAC)
        / IP(src="10.77.0.101", dst="10.77.0.10")
        / UDP(sport=40000 + int(ts) % 20000, dport=53)
        / DNS(id=int(ts) % 65536, rd=1, qd=DNSQR(qname=name, qtype=qtype)),
        ts,
    )


def test_one_txt_record_polled_all_hour_is_not_a_tunnel() -> None:
    """An app asking the same TXT record once a minute: one name, no data in it."""
    frames = [query("_config.app.example.org", 16, 60.0 * i) for i in range(61)]
    assert run(make(DnsTunnel), frames) == []


def test_a_tunnel_asking_every_name_twice_is_still_a_tunnel() -> None:
    """Retries do not hide a tunnel, nor count twice: 30 long names, each asked twice."""
    names = [f"{'a' * 50}{i:04d}.files.tunnel.test" for i in range(30)]
    frames = [query(n, 16, 1.0 + i + k / 4) for i, n in enumerate(names) for k in (0, 1)]
    found = run(make(DnsTunnel), frames)
    assert found
    assert found[0].kind == "long_names"
    assert found[0].counts["long_names"] == 20
    assert found[0].ts >= 20  # the twentieth different name, not the twentieth query
