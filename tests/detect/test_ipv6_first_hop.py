"""rogue_ra and nd_spoof on crafted IPv6 neighbour discovery: attacks flagged, a LAN's
ordinary IPv6 life (its router, duplicate address detection, renumbering) not."""

from __future__ import annotations

from typing import TYPE_CHECKING

from scapy.layers.inet6 import (
    ICMPv6ND_NA,
    ICMPv6ND_NS,
    ICMPv6ND_RA,
    ICMPv6NDOptDstLLAddr,
    ICMPv6NDOptMTU,
    ICMPv6NDOptPrefixInfo,
    ICMPv6NDOptSrcLLAddr,
    IPv6,
)
from scapy.layers.l2 import Ether

from sentinel.capture.decode import decode
from sentinel.capture.pcapfile import read
from sentinel.config.detect import Allow, DetectConfig, Gateway, NdSpoof, RogueRa
from sentinel.detect import base
from sentinel.detect.engine import Engine, kinds
from sentinel.detect.nd import parse
from sentinel.detect.nd_spoof import NdSpoof as NdSpoofDetector
from sentinel.detect.rogue_ra import RogueRa as RogueRaDetector
from sentinel.model import Severity
from sentinel.packet import ND_NEIGHBOR_ADVERT, ND_ROUTER_ADVERT
from tests.conftest import DATA
from tests.detect.crafted import make, pkt, run

if TYPE_CHECKING:
    from sentinel.detect.base import Finding
    from sentinel.packet import Packet

LAB = DATA / "lab"

GW_MAC, VICTIM, ATTACKER = "02:77:00:00:00:01", "02:77:00:00:01:01", "02:77:00:00:66:66"
SERVER = "02:77:00:00:00:0a"
GW_LL, ATK_LL, VICTIM_LL = "fe80::77:ff:fe00:1", "fe80::77:ff:fe00:6666", "fe80::77:ff:fe00:101"
SERVER6, VICTIM6 = "fd77::10", "fd77::101"


def ra(mac: str, src: str, ts: float, lifetime: int = 1800, hlim: int = 255) -> Packet:
    frame = (
        Ether(src=mac, dst="33:33:00:00:00:01")
        / IPv6(src=src, dst="ff02::1", hlim=hlim)
        / ICMPv6ND_RA(routerlifetime=lifetime)
        / ICMPv6NDOptSrcLLAddr(lladdr=mac)
        / ICMPv6NDOptMTU(mtu=1500)
        / ICMPv6NDOptPrefixInfo(prefix="fd77:bad::", prefixlen=64)
    )
    return pkt(frame, ts)


def na(
    mac: str, target: str, ts: float, override: bool = True, lladdr: str | None = None
) -> Packet:
    frame = (
        Ether(src=mac, dst="33:33:00:00:00:01")
        / IPv6(src=target, dst="ff02::1", hlim=255)
        / ICMPv6ND_NA(tgt=target, R=0, S=0, O=int(override))
        / ICMPv6NDOptDstLLAddr(lladdr=lladdr or mac)
    )
    return pkt(frame, ts)


def ns(mac: str, src: str, target: str, ts: float) -> Packet:
    frame = Ether(src=mac, dst="33:33:ff:00:00:01") / IPv6(src=src, dst="ff02::1:ff00:1", hlim=255)
    frame /= ICMPv6ND_NS(tgt=target)
    if src != "::":
        frame /= ICMPv6NDOptSrcLLAddr(lladdr=mac)
    return pkt(frame, ts)


def ra_detector(gateway: Gateway | None = None, settings: RogueRa | None = None) -> RogueRaDetector:
    s = settings or RogueRa()
    return make(
        RogueRaDetector, settings=s, cfg=DetectConfig(gateway=gateway or Gateway(), rogue_ra=s)
    )


# ------------------------------------------------------------------ decoding


def test_nd_messages_are_routed_and_parsed() -> None:
    """An RA and an NA are ND packets for the engine; the parser reads their fields."""
    p = ra(ATTACKER, ATK_LL, 1, lifetime=0)
    assert base.ND in kinds(p)
    m = parse(ND_ROUTER_ADVERT, p.payload)
    assert (m.error, m.router_lifetime, m.source_mac) == ("", 0, ATTACKER)
    assert m.prefixes == ("fd77:bad::/64",)
    q = na(ATTACKER, SERVER6, 1)
    m = parse(ND_NEIGHBOR_ADVERT, q.payload)
    assert (m.error, m.target, m.target_mac, m.override) == ("", SERVER6, ATTACKER, True)


def test_truncated_and_hostile_nd_never_raise() -> None:
    """Cut bodies are 'truncated'; a zero-length option stops the option walk."""
    assert parse(ND_ROUTER_ADVERT, b"\x40\x00").error == "truncated"
    assert parse(ND_NEIGHBOR_ADVERT, bytes(19)).error == "truncated"
    zero = parse(ND_NEIGHBOR_ADVERT, bytes(20) + b"\x02\x00" + bytes(6))
    assert zero.error == "bad_option"
    assert parse(ND_NEIGHBOR_ADVERT, bytes(20) + b"\x02\x05").error == ""  # cut option
    assert parse(1, b"").error == "not_nd"


def test_echo_requests_are_not_nd() -> None:
    """Ordinary ICMPv6 does not reach the ND detectors."""
    from scapy.layers.inet6 import ICMPv6EchoRequest

    p = decode(bytes(Ether() / IPv6(src=VICTIM6, dst=SERVER6) / ICMPv6EchoRequest()))
    assert base.ND not in kinds(p)


# ------------------------------------------------------------------ rogue_ra


def test_pinned_gateway_mac_makes_another_router_critical() -> None:
    """With detect.gateway.mac pinned, the gateway's RAs pass and a laptop's is critical."""
    d = ra_detector(Gateway(ip="10.77.0.1", mac=GW_MAC))
    found = run(d, [ra(GW_MAC, GW_LL, 1), ra(ATTACKER, ATK_LL, 2)])
    assert [(f.kind, f.severity, f.src_mac, f.src_ip) for f in found] == [
        ("rogue", Severity.CRITICAL, ATTACKER, ATK_LL)
    ]
    assert found[0].target_name == "fd77:bad::/64"


def test_pinned_router_list_and_legit_router_alone() -> None:
    """Routers listed in rogue_ra.router_macs never alert, however often they announce."""
    d = ra_detector(settings=RogueRa(router_macs=(GW_MAC, "02:77:00:00:00:02")))
    frames = [ra(GW_MAC, GW_LL, t) for t in range(0, 2000, 200)]
    frames += [ra("02:77:00:00:00:02", "fe80::2", 5)]
    assert run(d, frames) == []


def test_pinned_address_only_when_no_mac_is_pinned() -> None:
    """gateway.ip6 alone pins by source address; a second router is critical."""
    d = ra_detector(Gateway(ip6=GW_LL))
    found = run(d, [ra(GW_MAC, GW_LL, 1), ra(ATTACKER, ATK_LL, 2)])
    assert [(f.kind, f.severity) for f in found] == [("rogue", Severity.CRITICAL)]


def test_learned_router_then_newcomer_is_a_warning() -> None:
    """Nothing pinned: the router seen in the learning period is learned, a later one a
    warning that asks for the router to be configured."""
    d = ra_detector(settings=RogueRa(learn_period=60))
    frames = [ra(GW_MAC, GW_LL, t) for t in (0, 30, 90, 300)]
    assert run(d, frames) == []
    found = run(d, [ra(ATTACKER, ATK_LL, 400), ra(GW_MAC, GW_LL, 401)])
    assert [(f.kind, f.severity, f.src_mac) for f in found] == [
        ("rogue", Severity.WARNING, ATTACKER)
    ]
    assert "router_macs" in found[0].description


def test_second_router_within_learning_period_is_learned() -> None:
    """Two routers announcing in the learning period (a redundant pair) are both learned."""
    d = ra_detector(settings=RogueRa(learn_period=60))
    frames = [ra(GW_MAC, GW_LL, 0), ra("02:77:00:00:00:02", "fe80::2", 20)]
    frames += [ra(m, s, 500) for m, s in ((GW_MAC, GW_LL), ("02:77:00:00:00:02", "fe80::2"))]
    assert run(d, frames) == []


def test_kill_router_forging_the_routers_address() -> None:
    """Lifetime 0 from the router's link-local but another MAC: kill_router, no own IP."""
    d = ra_detector(Gateway(mac=GW_MAC))
    found = run(d, [ra(GW_MAC, GW_LL, 1), ra(ATTACKER, GW_LL, 2, lifetime=0)])
    assert [(f.kind, f.src_mac, f.src_ip) for f in found] == [("kill_router", ATTACKER, "")]
    learned = ra_detector()
    found = run(learned, [ra(GW_MAC, GW_LL, 1), ra(ATTACKER, GW_LL, 2, lifetime=0)])
    assert [(f.kind, f.severity) for f in found] == [("kill_router", Severity.WARNING)]


def test_a_lure_to_dhcpv6_is_named_so() -> None:
    """mitm6's advertisement: managed and other flags, router lifetime 0, no prefix, from
    its own address. With the gateway pinned, critical, as a lure to DHCPv6; the same
    without the flags is a kill_router, and from the pinned router it passes."""

    def lure(mac: str, src: str, ts: float, m: int = 1, o: int = 1) -> Packet:
        return pkt(
            Ether(src=mac, dst="33:33:00:00:00:01")
            / IPv6(src=src, dst="ff02::1", hlim=255)
            / ICMPv6ND_RA(M=m, O=o, routerlifetime=0),
            ts,
        )

    d = ra_detector(Gateway(mac=GW_MAC))
    found = run(d, [lure(ATTACKER, ATK_LL, 1)])
    assert [(f.kind, f.src_mac, f.severity) for f in found] == [
        ("dhcpv6_lure", ATTACKER, Severity.CRITICAL)
    ]
    plain = run(ra_detector(Gateway(mac=GW_MAC)), [lure(ATTACKER, ATK_LL, 1, 0, 0)])
    assert [f.kind for f in plain] == ["kill_router"]
    assert run(ra_detector(Gateway(mac=GW_MAC)), [lure(GW_MAC, GW_LL, 1)]) == []


def test_router_going_away_and_off_link_adverts_are_not_flagged() -> None:
    """The router's own lifetime-0 RA (shutting down) passes; hop limit below 255 is
    dropped by hosts and ignored; an allow-listed MAC is silent."""
    d = ra_detector(Gateway(mac=GW_MAC))
    assert run(d, [ra(GW_MAC, GW_LL, 1, lifetime=0), ra(ATTACKER, ATK_LL, 2, hlim=64)]) == []
    assert d.ignored == 1
    allowed = ra_detector(Gateway(mac=GW_MAC), RogueRa(allow=Allow(macs=(ATTACKER,))))
    assert run(allowed, [ra(ATTACKER, ATK_LL, 2)]) == []


def test_rogue_ra_tables_are_bounded() -> None:
    """Thousands of forged routers keep the sender table at its cap."""
    s = RogueRa()
    d = make(
        RogueRaDetector, settings=s, cfg=DetectConfig(gateway=Gateway(mac=GW_MAC)), max_tracked=50
    )
    frames = [
        ra(f"02:aa:00:00:{i >> 8:02x}:{i & 255:02x}", ATK_LL, 1 + i / 1000) for i in range(300)
    ]
    run(d, frames)
    assert d.stats()["senders"] == 50
    assert d.stats()["evictions"] == 250


# ------------------------------------------------------------------ nd_spoof


def test_parasite_flip_flop_names_the_spoofer() -> None:
    """The server and a spoofer answering for the server's address in turn: flagged."""
    d = make(NdSpoofDetector)
    frames = [ns(SERVER, SERVER6, VICTIM6, 0), ns(ATTACKER, "fd77::66", SERVER6, 0.5)]
    frames += [na(ATTACKER if t % 2 else SERVER, SERVER6, t) for t in range(1, 7)]
    found = run(d, frames)
    assert found
    assert {(f.kind, f.src_mac, f.target) for f in found} == {("flip_flop", ATTACKER, SERVER6)}
    assert found[0].src_ip == "fd77::66"  # its own address, from its solicitation


def test_router_address_claimed_by_another_mac() -> None:
    """Pinned gateway.ip6 + mac: one forged NA for the router is critical at once; the
    address of a router learned from its RAs is guarded the same way."""
    cfg = DetectConfig(gateway=Gateway(mac=GW_MAC, ip6=GW_LL))
    d = make(NdSpoofDetector, cfg=cfg)
    found = run(d, [na(ATTACKER, GW_LL, 3)])
    assert [(f.kind, f.src_mac, f.target, f.src_ip) for f in found] == [
        ("router", ATTACKER, GW_LL, "")
    ]
    learned = make(NdSpoofDetector)
    found = run(learned, [ra(GW_MAC, GW_LL, 1), na(GW_MAC, GW_LL, 2), na(ATTACKER, GW_LL, 3)])
    assert [(f.kind, f.src_mac) for f in found] == [("router", ATTACKER)]


def test_duplicate_address_detection_is_not_spoofing() -> None:
    """A newcomer's DAD probe (from ::) and the owner's defence are no conflict."""
    d = make(NdSpoofDetector)
    frames = [na(SERVER, SERVER6, 0)]
    for t in range(1, 10):
        frames += [ns(VICTIM, "::", SERVER6, t), na(SERVER, SERVER6, t + 0.1)]
    assert run(d, frames) == []


def test_renumbering_and_address_takeover_are_not_spoofing() -> None:
    """A device changing its address, and a new device taking an old address, are one
    binding each or one change: no alert."""
    d = make(NdSpoofDetector)
    frames = [na(VICTIM, VICTIM6, t) for t in range(0, 30, 10)]
    frames += [na(VICTIM, "fd77::1:101", t) for t in range(30, 100, 10)]  # renumbered
    frames += [na("02:77:00:00:01:09", VICTIM6, t) for t in range(100, 300, 10)]  # takeover
    assert run(d, frames) == []


def test_advertisements_without_override_do_not_count() -> None:
    """A proxy or anycast answer (no override flag) rewrites no cache: not a claim."""
    d = make(NdSpoofDetector)
    frames = [na(SERVER, SERVER6, 0)]
    frames += [
        na(ATTACKER if t % 2 else SERVER, SERVER6, t, override=not t % 2) for t in range(1, 9)
    ]
    assert run(d, frames) == []


def test_nd_spoof_settings_and_bounded_bindings() -> None:
    """A lower flip_threshold flags sooner; a flood of claims keeps the table at its cap."""
    d = make(NdSpoofDetector, settings=NdSpoof(flip_threshold=1))
    assert [f.kind for f in run(d, [na(SERVER, SERVER6, 0), na(ATTACKER, SERVER6, 1)])] == [
        "flip_flop"
    ]
    small = make(NdSpoofDetector, max_tracked=100)
    run(small, [na(ATTACKER, f"fd77::{i:x}", i / 1000) for i in range(1, 500)])
    assert small.stats()["bindings"] == 100


def test_engine_pseudonymises_nd_alerts() -> None:
    """Through the engine, the spoofer's MAC and the target are pseudonymised."""
    cfg = DetectConfig(gateway=Gateway(mac=GW_MAC, ip6=GW_LL))
    engine = Engine(cfg, pseudonymise=lambda v: "p-" + v[-4:] if v else v)
    alerts = engine.packet(na(ATTACKER, GW_LL, 1)) + engine.packet(ra(ATTACKER, ATK_LL, 2))
    alerts += engine.tick(3)  # a new rogue router is reported once it is no flood
    assert {a.detector for a in alerts} == {"nd_spoof", "rogue_ra"}
    for a in alerts:
        assert ATTACKER not in repr(a)
        assert GW_LL not in repr(a)


# ------------------------------------------------------------------ lab captures


def _replay(
    d: RogueRaDetector | NdSpoofDetector, name: str, before: tuple[Packet, ...] = ()
) -> list[Finding]:
    """Feed the ND packets of a lab capture (after ``before``) to one detector."""
    frames = list(before)
    for ts, linktype, frame, wirelen in read(LAB / f"{name}.pcap"):
        p = decode(frame, linktype, ts, wirelen)
        if base.ND in kinds(p):
            frames.append(p)
    return run(d, frames)


def test_fake_router6_after_a_learned_router_is_a_warning() -> None:
    """The lab's fake_router6 capture, a router having announced before it: learned mode
    names the attacker at warning severity."""
    start = next(iter(read(LAB / "rogue_ra.pcap")))[0]
    d = ra_detector(settings=RogueRa(learn_period=60))
    found = _replay(d, "rogue_ra", (ra(GW_MAC, GW_LL, start - 120),))
    assert found
    assert {(f.kind, f.severity, f.src_mac) for f in found} == {
        ("rogue", Severity.WARNING, ATTACKER)
    }


def test_parasite6_capture_names_only_the_attacker() -> None:
    """The lab's parasite6 capture: flip-flops, the attacker's MAC the only one named."""
    found = _replay(make(NdSpoofDetector), "nd_spoof")
    assert found
    assert {f.src_mac for f in found} == {ATTACKER}


def test_ipv6_lab_traffic_is_not_an_attack() -> None:
    """The IPv6 scan capture's neighbour discovery (DAD, solicitations, answers) raises
    neither detector."""
    assert _replay(make(NdSpoofDetector), "ipv6_scan") == []
    assert _replay(ra_detector(Gateway(mac=GW_MAC)), "ipv6_scan") == []


def test_spoofer_advertising_before_the_owner_speaks_is_still_the_spoofer() -> None:
    """fake_advertise6 claims the server's address first; the server's own solicitation
    from that address shows who uses it: the attacker is named, not the server."""
    d = make(NdSpoofDetector)
    frames = [na(ATTACKER, SERVER6, 0), na(SERVER, SERVER6, 1), na(ATTACKER, SERVER6, 2)]
    frames += [ns(SERVER, SERVER6, VICTIM6, 3)]
    found = run(d, frames)
    assert [(f.kind, f.src_mac) for f in found] == [("flip_flop", ATTACKER)]
