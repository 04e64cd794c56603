"""rogue_dhcp: lab captures, configured servers, pinned gateway, learning."""

from __future__ import annotations

from typing import TYPE_CHECKING

from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from sentinel.capture.decode import decode
from sentinel.capture.pcapfile import read
from sentinel.config.detect import Allow, DetectConfig, Gateway, RogueDhcp
from sentinel.detect.base import Common
from sentinel.detect.rogue_dhcp import RogueDhcp as Detector
from sentinel.model import Severity
from tests.conftest import DATA

if TYPE_CHECKING:
    from sentinel.detect.base import Finding
    from sentinel.packet import Packet

CAPTURES = DATA / "reference"
LEGIT, ROGUE, GATEWAY = "10.77.0.10", "10.77.0.66", "10.77.0.1"
MACS = {LEGIT: "02:77:00:00:00:0a", ROGUE: "02:77:00:00:66:66", "10.77.0.99": "02:77:00:00:00:99"}


def _detector(settings: RogueDhcp | None = None, gateway: Gateway | None = None) -> Detector:
    s = settings or RogueDhcp()
    return Detector(
        s,
        Common(DetectConfig(rogue_dhcp=s, gateway=gateway or Gateway()), ("10.77.0.0/24",), 20000),
    )


def _reply(
    server: str,
    ts: float,
    kind: str = "offer",
    router: str = GATEWAY,
    dns: str = LEGIT,
    yiaddr: str = "10.77.0.150",
) -> Packet:
    frame = (
        Ether(src=MACS.get(server, "02:00:00:00:00:01"), dst="ff:ff:ff:ff:ff:ff")
        / IP(src=server, dst="255.255.255.255")
        / UDP(sport=67, dport=68)
        / BOOTP(op=2, xid=1, yiaddr=yiaddr, siaddr=server, chaddr=bytes.fromhex("027700000101"))
        / DHCP(
            options=[
                ("message-type", kind),
                ("server_id", server),
                ("router", router),
                ("name_server", dns),
                "end",
            ]
        )
    )
    return decode(bytes(frame), ts=ts)


def _feed(d: Detector, packets: list[Packet]) -> list[Finding]:
    out: list[Finding] = []
    for p in packets:
        out += d.observe(p)
        out += d.tick(p.ts)
    return out


def _replay(name: str) -> list[Finding]:
    d = _detector()
    out: list[Finding] = []
    for ts, linktype, frame, wirelen in read(CAPTURES / name):
        p = decode(frame, linktype, ts, wirelen)
        if p.sport in (67, 68) and p.dport in (67, 68):
            out += d.observe(p)
        out += d.tick(ts)
    return out


def test_lab_capture_flags_only_the_rogue() -> None:
    """Without config, the lab's rogue (answering first) is flagged and the legit server never."""
    found = _replay("rogue_dhcp.pcap")
    assert found
    assert {f.identifier for f in found} == {ROGUE}
    assert found[0].src_mac == MACS[ROGUE]
    assert found[0].kind == "self_router"
    assert found[-1].counts["offers"] == 6


def test_lab_baseline_is_quiet() -> None:
    """The baseline capture (one legitimate server) gives nothing."""
    assert _replay("baseline.pcap") == []


def test_rogue_answering_first_is_still_flagged() -> None:
    """A rogue offering itself as router, seen before the legit server, is the one flagged."""
    d = _detector()
    found = _feed(
        d,
        [
            _reply(ROGUE, 1.0, router=ROGUE, dns=ROGUE),
            _reply(ROGUE, 1.1, "ack", ROGUE, ROGUE),
            _reply(LEGIT, 1.2),
        ],
    )
    assert [f.identifier for f in found] == [ROGUE]
    assert d.stats()["servers"] == 2


def test_single_server_offering_itself_is_fine() -> None:
    """A gateway that is also the DHCP server (router = itself) alone is not a rogue."""
    d = _detector()
    found = _feed(
        d, [_reply(GATEWAY, t, k, router=GATEWAY) for t, k in ((1.0, "offer"), (1.1, "ack"))]
    )
    assert found == []


def test_newcomer_with_other_router_after_established_server() -> None:
    """A server appearing minutes after the established one, with another router, is flagged."""
    d = _detector()
    found = _feed(
        d,
        [
            _reply(GATEWAY, 1.0, "ack", router=GATEWAY),
            _reply("10.77.0.99", 200.0, router="10.77.0.98"),
        ],
    )
    assert [f.identifier for f in found] == ["10.77.0.99"]
    assert found[0].kind == "conflict"


def test_server_after_learning_period_flagged_learned_one_not() -> None:
    """After learn_period, a server not learned is flagged; the learned one is not."""
    d = _detector(RogueDhcp(learn_period=60.0))
    found = _feed(
        d,
        [
            _reply(LEGIT, 1.0),
            _reply(LEGIT, 1.1, "ack"),
            _reply(LEGIT, 500.0, "ack"),
            _reply("10.77.0.99", 600.0, "ack"),
        ],
    )
    assert [(f.identifier, f.kind) for f in found] == [("10.77.0.99", "new_server")]


def test_configured_servers() -> None:
    """With servers configured, any other server is flagged, however it behaves."""
    d = _detector(RogueDhcp(servers=(LEGIT,)))
    found = _feed(d, [_reply(ROGUE, 1.0), _reply(LEGIT, 1.1)])
    assert [(f.identifier, f.kind) for f in found] == [(ROGUE, "not_allowed")]


def test_configured_router_and_dns_checked_on_allowed_server() -> None:
    """An allowed server handing out another router or DNS server is flagged."""
    d = _detector(RogueDhcp(servers=(LEGIT,), routers=(GATEWAY,), dns_servers=(LEGIT,)))
    assert _feed(d, [_reply(LEGIT, 1.0)]) == []
    assert [f.kind for f in _feed(d, [_reply(LEGIT, 2.0, dns="8.8.8.8")])] == ["dns"]
    d = _detector(RogueDhcp(servers=(LEGIT,), routers=(GATEWAY,)))
    assert [f.kind for f in _feed(d, [_reply(LEGIT, 1.0, router="10.77.0.5")])] == ["router"]


def test_pinned_gateway() -> None:
    """With the gateway pinned, a server naming another router is flagged at once."""
    d = _detector(gateway=Gateway(ip=GATEWAY))
    found = _feed(d, [_reply(ROGUE, 1.0, router=ROGUE), _reply(LEGIT, 1.1)])
    assert [(f.identifier, f.kind) for f in found] == [(ROGUE, "router")]


def test_foreign_address_range() -> None:
    """A home router handing out 192.168.x addresses on the school LAN is flagged."""
    d = _detector()
    found = _feed(d, [_reply("192.168.0.1", 1.0, router="192.168.0.1", yiaddr="192.168.0.100")])
    assert [f.kind for f in found] == ["foreign_range"]


def test_allow_listed_server_and_garbage_ignored() -> None:
    """An allow-listed server is never flagged; malformed DHCP is counted, not raised."""
    d = _detector(RogueDhcp(allow=Allow(hosts=(ROGUE,))))
    assert _feed(d, [_reply(LEGIT, 1.0), _reply(ROGUE, 1.1, router=ROGUE)]) == []
    junk = decode(
        bytes(Ether() / IP(src=ROGUE) / UDP(sport=67, dport=68) / b"\x02\x01junk"), ts=2.0
    )
    assert list(d.observe(junk)) == []
    assert d.stats()["malformed"] == 1


def test_unlisted_server_with_the_sites_router_is_a_warning() -> None:
    """A server missing from ``servers`` that hands out the site's router: a warning."""
    d = _detector(RogueDhcp(servers=(LEGIT,), routers=(GATEWAY,)))
    found = _feed(d, [_reply(LEGIT, 1.0), _reply("10.77.0.99", 1.1), _reply("10.77.0.99", 1.2)])
    assert [(f.identifier, f.kind, f.severity) for f in found] == [
        ("10.77.0.99", "unlisted", Severity.WARNING)
    ] * 2
    assert found[0].summary.startswith("Unlisted DHCP server")


def test_unlisted_server_judged_by_the_pinned_gateway_and_escalates() -> None:
    """Without ``routers`` the pinned gateway decides; another router later is critical."""
    d = _detector(RogueDhcp(servers=(LEGIT,)), gateway=Gateway(ip=GATEWAY))
    assert [f.severity for f in _feed(d, [_reply("10.77.0.99", 1.0)])] == [Severity.WARNING]
    later = _feed(d, [_reply("10.77.0.99", 2.0, router="10.77.0.99")])
    assert [(f.kind, f.severity) for f in later] == [("router", Severity.CRITICAL)]
    assert [f.kind for f in _feed(d, [_reply("10.77.0.99", 3.0)])] == ["router"]  # sticky


def test_unlisted_server_with_another_router_or_dns_is_critical() -> None:
    """A server missing from ``servers`` handing out another router or DNS: critical."""
    d = _detector(RogueDhcp(servers=(LEGIT,), routers=(GATEWAY,), dns_servers=(LEGIT,)))
    found = _feed(d, [_reply(ROGUE, 1.0, router=ROGUE), _reply("10.77.0.99", 1.1, dns=ROGUE)])
    assert [(f.identifier, f.kind, f.severity) for f in found] == [
        (ROGUE, "router", Severity.CRITICAL),
        ("10.77.0.99", "dns", Severity.CRITICAL),
    ]
    d = _detector(RogueDhcp(servers=(LEGIT,), routers=(GATEWAY,)))
    found = _feed(d, [_reply("10.77.0.99", 1.0, yiaddr="192.168.0.100")])
    assert [(f.kind, f.severity) for f in found] == [("foreign_range", Severity.CRITICAL)]
