"""rogue_dhcp6 and its DHCPv6 parser: mitm6's answers (a link-local address, itself as
DNS server), an unlisted or late server, a configured DNS server, and what is no rogue."""

from __future__ import annotations

import pytest
from scapy.layers.dhcp6 import (
    DUID_LL,
    DHCP6_Advertise,
    DHCP6_Reply,
    DHCP6_Solicit,
    DHCP6OptClientId,
    DHCP6OptDNSServers,
    DHCP6OptIA_NA,
    DHCP6OptIAAddress,
    DHCP6OptServerId,
)
from scapy.layers.inet import UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether

from sentinel.capture.pipeline import Pipeline, Settings
from sentinel.config.detect import DetectConfig, Gateway, RogueDhcp6
from sentinel.detect.dhcp6 import ADVERTISE, REPLY, parse
from sentinel.detect.engine import Engine
from sentinel.detect.rogue_dhcp6 import RogueDhcp6 as Detector
from sentinel.model import Severity
from tests.detect.crafted import NETS, make, pkt, run
from tests.helpers import use_engine

ATK_MAC, SRV_MAC, GW_MAC, STU_MAC = (
    "02:77:00:00:66:66",
    "02:77:00:00:00:0a",
    "02:77:00:00:00:01",
    "02:77:00:00:01:01",
)
ATK, SRV, GW, STU = "fe80::77ff:fe00:6666", "fe80::77ff:fe00:a", "fe80::77ff:fe00:1", "fe80::101"
RESOLVER = "fd77::53"


def server_message(
    ts: float,
    kind: type = DHCP6_Advertise,
    *,
    mac: str = ATK_MAC,
    src: str = ATK,
    address: str = "fe80::10:77:0:101",
    dns: tuple[str, ...] = (ATK,),
    sport: int = 547,
    dport: int = 546,
):  # type: ignore[no-untyped-def]
    """An ADVERTISE (or REPLY) to the student as mitm6 sends it, by default."""
    msg = (
        kind(trid=7)
        / DHCP6OptClientId(duid=DUID_LL(lladdr=STU_MAC))
        / DHCP6OptServerId(duid=DUID_LL(lladdr=mac))
        / DHCP6OptDNSServers(dnsservers=list(dns))
        / DHCP6OptIA_NA(
            iaid=1,
            T1=200,
            T2=250,
            ianaopts=[DHCP6OptIAAddress(addr=address, preflft=300, validlft=300)],
        )
    )
    return pkt(
        Ether(src=mac, dst=STU_MAC) / IPv6(src=src, dst=STU) / UDP(sport=sport, dport=dport) / msg,
        ts,
    )


def solicit(ts: float):  # type: ignore[no-untyped-def]
    return pkt(
        Ether(src=STU_MAC, dst="33:33:00:01:00:02")
        / IPv6(src=STU, dst="ff02::1:2")
        / UDP(sport=546, dport=547)
        / DHCP6_Solicit(trid=7)
        / DHCP6OptClientId(duid=DUID_LL(lladdr=STU_MAC))
        / DHCP6OptIA_NA(iaid=1),
        ts,
    )


def school(ts: float, kind: type = DHCP6_Reply):  # type: ignore[no-untyped-def]
    """The school's DHCPv6 server: an address of the site's prefix, the resolver."""
    return server_message(ts, kind, mac=SRV_MAC, src=SRV, address="fd77::1:101", dns=(RESOLVER,))


def kinds(found: list) -> set[tuple[str, str, Severity]]:  # type: ignore[type-arg]
    return {(f.kind, f.src_ip, f.severity) for f in found}


def test_parse_reads_what_the_detector_judges() -> None:
    m = parse(server_message(0.0).payload)
    assert (m.message_type, m.transaction, m.error) == (ADVERTISE, 7, "")
    assert m.addresses == ("fe80::10:77:0:101",)
    assert m.dns_servers == (ATK,)
    assert m.server_duid.endswith(bytes.fromhex("027700006666"))


def test_parse_reports_damage_and_never_raises() -> None:
    data = bytes(server_message(0.0).payload)
    assert parse(data[:3]).error == "truncated"
    assert parse(data[:-3]).error == "bad_option"  # the IA_NA cut short
    for n in range(len(data)):
        parse(data[:n])  # every prefix is read without an exception
    assert parse(bytes([REPLY, 0, 0, 1])).error == ""  # no options at all


def test_mitm6_is_rogue_at_its_first_advertise() -> None:
    """A link-local address and itself as DNS server: critical at once, inside the
    learning period, even with the school's server listed."""
    for cfg in (DetectConfig(), DetectConfig(rogue_dhcp6=RogueDhcp6(server_macs=(SRV_MAC,)))):
        found = run(make(Detector, cfg=cfg), [solicit(1.0), server_message(1.001)])
        assert kinds(found) == {("link_local", ATK, Severity.CRITICAL)}
        assert found[0].ts == 1.001
        assert found[0].target == ""  # the DNS server it hands out is itself


def test_the_school_server_is_learned_and_stays_quiet() -> None:
    frames = [m for i in range(0, 3600, 300) for m in (solicit(i), school(i + 0.01))]
    assert run(make(Detector), frames) == []


def test_a_server_after_the_learning_period_is_rogue() -> None:
    """fake_dhcps6 with a prefix of its own, an hour after the school's server was seen."""
    rogue = server_message(3600.0, address="fd77:bad::101", dns=("fd77:bad::1",))
    found = run(make(Detector), [school(0.0), rogue])
    assert kinds(found) == {("new_server", ATK, Severity.CRITICAL)}
    assert found[0].target == "fd77:bad::1"


def test_a_server_handing_out_itself_beside_the_school_server_is_rogue() -> None:
    """Within the learning period, beside a server handing out the resolver: the one
    handing out itself is the rogue, however early."""
    rogue = server_message(2.0, DHCP6_Reply, address="fd77:bad::101")
    found = run(make(Detector), [rogue, school(3.0)])
    assert kinds(found) == {("self_dns", ATK, Severity.CRITICAL)}
    # a router-and-resolver box serving long before a second server appeared: the site's
    box = server_message(2.0, DHCP6_Reply, address="fd77::1:9")
    assert run(make(Detector), [box, school(200.0)]) == []


def test_a_server_answering_from_any_port_is_judged() -> None:
    """fake_dhcps6 answers from an ephemeral port, and clients take its answers."""
    listed = DetectConfig(rogue_dhcp6=RogueDhcp6(server_macs=(SRV_MAC,)))
    rogue = server_message(1.0, sport=35449, address="fd77:bad::101", dns=("fd77::66",))
    assert kinds(run(make(Detector, cfg=listed), [rogue])) == {
        ("not_allowed", ATK, Severity.CRITICAL)
    }


def test_listed_servers_and_configured_dns() -> None:
    listed = DetectConfig(rogue_dhcp6=RogueDhcp6(server_macs=(SRV_MAC,)))
    other = server_message(1.0, address="fd77:bad::101", dns=(RESOLVER,))
    assert kinds(run(make(Detector, cfg=listed), [school(0.5), other])) == {
        ("not_allowed", ATK, Severity.CRITICAL)
    }
    by_address = DetectConfig(rogue_dhcp6=RogueDhcp6(server_addresses=(SRV,)))
    assert run(make(Detector, cfg=by_address), [school(0.5), school(9000.0)]) == []
    dns = DetectConfig(rogue_dhcp6=RogueDhcp6(server_macs=(SRV_MAC,), dns_servers=("fd77::54",)))
    assert kinds(run(make(Detector, cfg=dns), [school(0.5)])) == {("dns", SRV, Severity.CRITICAL)}


def test_the_pinned_gateway_is_the_sites_server() -> None:
    """A router serving DHCPv6, first seen long after the learning period."""
    pinned = DetectConfig(gateway=Gateway(ip="10.77.0.1", mac=GW_MAC))
    late = server_message(9000.0, DHCP6_Reply, mac=GW_MAC, src=GW, address="fd77::1:5", dns=(GW,))
    assert run(make(Detector, cfg=pinned), [school(0.0), late]) == []
    # unpinned, a newcomer handing out itself beside the school's server
    assert kinds(run(make(Detector), [school(0.0), late])) == {("self_dns", GW, Severity.CRITICAL)}


def test_client_messages_and_relay_legs_are_not_judged() -> None:
    """A client's SOLICIT; a server's message to a relay agent (port 547 to 547)."""
    leg = server_message(9000.0, dport=547)
    assert run(make(Detector), [solicit(0.0), school(0.1), leg, solicit(9000.5)]) == []


@pytest.mark.parametrize("engine_name", ["c", "python"])
def test_both_capture_engines_hand_dhcpv6_over(
    engine_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DHCPv6 reaches the detectors from either capture engine, whole."""
    use_engine(engine_name, monkeypatch)
    cfg = DetectConfig()
    engine = Engine(cfg, networks=NETS)
    pipe = Pipeline(Settings(networks=NETS, detect=cfg), engine)
    for p in (solicit(1.0), server_message(1.001)):
        pipe.frame(p.frame, len(p.frame), p.ts)
    alerts = pipe.drain(final=True) + engine.finish()
    assert [(a.detector, a.kind) for a in alerts] == [("rogue_dhcp6", "link_local")]
