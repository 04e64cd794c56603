"""dhcp_starvation and rogue_dhcp against the variants tried in the lab
(tests/lab/scenarios_dns_l2.py): client identifiers, forged relay addresses, bursts."""

from __future__ import annotations

import random

from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from sentinel.config.detect import DetectConfig, Gateway
from sentinel.detect.dhcp import parse
from sentinel.detect.dhcp_starvation import DhcpStarvation
from sentinel.detect.rogue_dhcp import RogueDhcp
from sentinel.model import Severity
from tests.detect.crafted import make, pkt, run

A, GW_MAC = "02:77:00:00:66:66", "02:77:00:00:00:01"
ATK, GW = "10.77.0.66", "10.77.0.1"
PINNED = DetectConfig(gateway=Gateway(ip=GW, mac=GW_MAC))


def request(
    ts: float,
    chaddr: str = A,
    client_id: bytes | None = None,
    src_mac: str = A,
    src: str = "0.0.0.0",
    giaddr: str = "0.0.0.0",
    sport: int = 68,
):  # type: ignore[no-untyped-def]
    options: list[object] = [("message-type", "discover")]
    if client_id is not None:
        options.append(("client_id", client_id))
    return pkt(
        Ether(src=src_mac, dst="ff:ff:ff:ff:ff:ff")
        / IP(src=src, dst="255.255.255.255")
        / UDP(sport=sport, dport=67)
        / BOOTP(
            chaddr=bytes.fromhex(chaddr.replace(":", "")),
            xid=random.randrange(1 << 32),
            giaddr=giaddr,
        )
        / DHCP(options=[*options, "end"]),
        ts,
    )


def test_the_client_identifier_is_parsed() -> None:
    """Type 1 with a MAC is that MAC; any other identifier (RFC 4361's IAID and DUID)
    its hex."""
    mac = request(0, client_id=b"\x01" + bytes.fromhex("027700000101"))
    duid = request(0, client_id=b"\xff\x00\x00\x00\x01\x00\x04" + bytes(8))
    assert parse(mac.payload).client_id == "02:77:00:00:01:01"
    assert parse(duid.payload).client_id == "id:ff000000010004" + "00" * 8


def test_starvation_by_client_identifiers_from_ones_own_mac() -> None:
    """The attacker's MAC as Ethernet source and chaddr, a new client identifier each
    time: the server keys leases on the identifier, so each is a lease taken."""
    rng = random.Random(3)
    frames = [request(i / 20, client_id=b"\xff" + rng.randbytes(12)) for i in range(60)]
    found = run(make(DhcpStarvation), frames)
    assert {(f.kind, f.src_mac, f.severity) for f in found} == {("forged", A, Severity.CRITICAL)}


def test_a_client_with_a_duid_asks_for_itself() -> None:
    """systemd-networkd's identifier (IAID and DUID) is one client, renewed all day."""
    duid = b"\xff\x12\x34\x56\x78\x00\x04" + bytes(range(16))
    frames = [request(60.0 * i, client_id=duid) for i in range(60)]
    assert run(make(DhcpStarvation), frames) == []


def test_a_forged_relay_address_is_no_relay() -> None:
    """DISCOVERs for invented clients with giaddr set, from a laptop's MAC: from
    0.0.0.0, or from its own address and the relay port, with the gateway pinned."""
    macs = [f"02:de:ad:00:00:{i:02x}" for i in range(60)]
    zero = [request(i / 20, m, giaddr=ATK) for i, m in enumerate(macs)]
    posed = [request(i / 20, m, src=ATK, giaddr=ATK, sport=67) for i, m in enumerate(macs)]
    for frames in (zero, posed):
        found = run(make(DhcpStarvation, cfg=PINNED), frames)
        assert {(f.kind, f.src_mac) for f in found} == {("forged", A)}


def test_the_gateway_relaying_for_many_clients_is_not_starvation() -> None:
    macs = [f"02:10:00:00:00:{i:02x}" for i in range(60)]
    frames = [
        request(i / 20, m, src_mac=GW_MAC, src=GW, giaddr="10.78.0.1", sport=67)
        for i, m in enumerate(macs)
    ]
    assert run(make(DhcpStarvation, cfg=PINNED), frames) == []


def test_a_fast_burst_is_critical_from_its_first_finding() -> None:
    """Forty invented clients at fifteen a second (scapy's sendp in a loop): the alert
    starts critical (forged), not as the paced warning of a tool waiting for each lease
    (an alert keeps the severity it started with)."""
    frames = [request(i / 15, f"02:de:ad:00:00:{i:02x}") for i in range(40)]
    found = run(make(DhcpStarvation), frames)
    assert found
    assert (found[0].kind, found[0].severity) == ("forged", Severity.CRITICAL)


def offer(  # type: ignore[no-untyped-def]
    ts: float,
    giaddr: str,
    src_mac: str = A,
    *,
    src: str = ATK,
    dst: str = "255.255.255.255",
    dport: int = 68,
    yiaddr: str = "10.77.0.210",
    server: str = ATK,
    router: str = ATK,
):
    return pkt(
        Ether(src=src_mac, dst="ff:ff:ff:ff:ff:ff")
        / IP(src=src, dst=dst)
        / UDP(sport=67, dport=dport)
        / BOOTP(op=2, xid=1, yiaddr=yiaddr, giaddr=giaddr, chaddr=b"\x02\x77\0\0\1\2")
        / DHCP(
            options=[
                ("message-type", "offer"),
                ("server_id", server),
                ("router", router),
                ("name_server", server),
                "end",
            ]
        ),
        ts,
    )


def test_a_rogue_posing_as_relayed_is_judged_on_its_router() -> None:
    """A laptop's OFFERs with giaddr the gateway's address, naming itself router: with
    the gateway pinned and no servers listed, critical at once (not learned)."""
    found = run(make(RogueDhcp, cfg=PINNED), [offer(1.0, GW), offer(2.0, GW)])
    assert found
    assert {(f.kind, f.src_ip, f.severity) for f in found} == {("router", ATK, Severity.CRITICAL)}


def test_a_laptop_posing_as_a_relay_without_a_pinned_gateway_is_judged() -> None:
    """No gateway pinned, no servers listed: a laptop's OFFERs carry giaddr (the
    gateway's address, or a made-up one) and hand out a home router's range. No relay
    agent delivers them (they come from the laptop's address, not giaddr's): the
    foreign range is rogue at the first OFFER."""
    for giaddr in (GW, "10.99.0.1"):
        frames = [
            offer(1.0 + i, giaddr, yiaddr="192.168.1.50", router="192.168.1.1") for i in range(2)
        ]
        found = run(make(RogueDhcp), frames)
        assert {(f.kind, f.src_ip, f.severity) for f in found} == {
            ("foreign_range", ATK, Severity.CRITICAL)
        }
        assert found[0].ts == 1.0


def test_the_relay_agent_delivering_and_the_server_answering_it_are_relayed() -> None:
    """Seen on a mirror port, no gateway pinned: the relay agent of another VLAN
    (10.78.0.1) delivering an OFFER for that VLAN from its address there, and the
    central server's leg of it, sent to the agent's server port. Both are relayed, and
    spared the foreign range."""
    agent, central = "10.78.0.1", "10.77.0.10"
    leg = offer(
        1.0,
        agent,
        GW_MAC,
        src=central,
        dst=agent,
        dport=67,
        yiaddr="10.78.0.50",
        server=central,
        router=agent,
    )
    delivered = offer(
        1.001, agent, GW_MAC, src=agent, yiaddr="10.78.0.50", server=central, router=agent
    )
    assert run(make(RogueDhcp), [leg, delivered]) == []
    # the same leg to another port is no relay's: the foreign range counts
    stray = offer(
        1.0,
        agent,
        GW_MAC,
        src=central,
        dst=agent,
        dport=68,
        yiaddr="10.78.0.50",
        server=central,
        router=agent,
    )
    assert {f.kind for f in run(make(RogueDhcp), [stray])} == {"foreign_range"}


def solicit6(ts: float, duid: bytes, src_mac: str = A, kind: int = 1):  # type: ignore[no-untyped-def]
    """A DHCPv6 message (SOLICIT by default) with client DUID ``duid``, from ``src_mac``."""
    from scapy.layers.inet6 import IPv6

    message = bytes([kind, 0, 0, 7]) + (1).to_bytes(2, "big") + len(duid).to_bytes(2, "big")
    return pkt(
        Ether(src=src_mac, dst="33:33:00:01:00:02")
        / IPv6(src="fe80::66", dst="ff02::1:2")
        / UDP(sport=546, dport=547)
        / (message + duid),
        ts,
    )


def duid_llt(n: int, mac: bytes = bytes(6)) -> bytes:
    return b"\x00\x01\x00\x01" + n.to_bytes(4, "big") + mac


def test_dhcpv6_starvation_from_ones_own_mac_is_forged() -> None:
    """flood_dhcpc6 -N: SOLICITs with a new DUID each (its MAC part zero) from the
    attacker's MAC, 20 a second: forged, critical, naming the MAC."""
    frames = [solicit6(i / 20, duid_llt(1000 + i)) for i in range(60)]
    found = run(make(DhcpStarvation), frames)
    assert {(f.kind, f.src_mac, f.severity) for f in found} == {("forged", A, Severity.CRITICAL)}


def test_dhcpv6_starvation_from_random_macs_is_many() -> None:
    """flood_dhcpc6: each SOLICIT from a random MAC, with a DUID of that MAC: no sender
    speaks for another, but 250 clients in 5 s are the 'many' warning."""
    rng = random.Random(5)
    frames = []
    for i in range(250):
        mac = bytes([2]) + rng.randbytes(5)
        text = ":".join(f"{b:02x}" for b in mac)
        frames.append(solicit6(i / 50, duid_llt(i, mac), src_mac=text))
    found = run(make(DhcpStarvation), frames)
    assert {(f.kind, f.severity) for f in found} == {("many", Severity.WARNING)}


def test_dhcpv6_clients_asking_for_themselves_and_relays_are_not_starvation() -> None:
    """A laptop renewing all day with its own DUID-LL; a relay agent's RELAY-FORW
    messages (type 12) for 60 clients."""
    own = b"\x00\x03\x00\x01" + bytes.fromhex(A.replace(":", ""))
    renewals = [solicit6(60.0 * i, own) for i in range(60)]
    relayed = [solicit6(i / 20, duid_llt(i), src_mac=GW_MAC, kind=12) for i in range(60)]
    assert run(make(DhcpStarvation), renewals) == []
    assert run(make(DhcpStarvation), relayed) == []
