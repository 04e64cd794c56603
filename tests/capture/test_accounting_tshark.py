"""Accounting's per-protocol and per-direction counts equal tshark's on the same pcaps."""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import (
    ICMPv6EchoReply,
    ICMPv6EchoRequest,
    ICMPv6MLReport2,
    IPv6,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
)
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.utils import wrpcap

from sentinel.capture.accounting import (
    DIRECTIONS,
    F_ARP,
    FAMILIES,
    P_ICMP,
    P_OTHER,
    P_TCP,
    P_UDP,
    PROTOCOLS,
    Accounting,
    cell,
)
from sentinel.capture.pcapfile import read
from tests.conftest import DATA, needs_tools

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [
    needs_tools("tshark", package="tshark"),
    pytest.mark.timeout(180),
]

LAB = DATA / "reference"
LAB_PCAPS = sorted(LAB.glob("*.pcap*"))  # .pcap, .pcap.gz
NET4, NET6 = "10.77.0.0/24", "2001:db8:77::/48"

# Like with like: accounting classifies by the IP protocol field, fragments included,
# and for IPv6 by the next header after the extension headers (hop-by-hop, routing,
# destination options, fragment); ``#1`` keeps tshark from also matching the headers
# quoted inside ICMP errors.
V4 = "ip.proto#1"
V6_FIELDS = (
    "ipv6.nxt#1",
    "ipv6.hopopts.nxt#1",
    "ipv6.routing.nxt#1",
    "ipv6.dstopts.nxt#1",
    "ipv6.fraghdr.nxt#1",
)


def v6(proto: int) -> str:
    return " || ".join(f"{f}=={proto}" for f in V6_FIELDS)


GROUP_SOURCE = "eth.src.ig==1"
PROTOCOL_FILTERS = {
    "tcp": f"{V4}==6 || {v6(6)}",
    "udp": f"{V4}==17 || {v6(17)}",
    "icmp": f"{V4}==1 || {v6(58)}",
    "arp": "arp",
}


def direction_filters(net4: str, net6: str | None) -> dict[str, str]:
    """tshark filters for accounting's directions (non-IP frames count as internal)."""
    s4, d4 = f"ip.src#1=={net4}", f"ip.dst#1=={net4}"
    parts = {
        "out": [f"({s4} && !({d4}))"],
        "in": [f"(!({s4}) && {d4})"],
        "internal": [f"({s4} && {d4})", "!(ip || ipv6)"],
        "transit": [f"(ip && !({s4}) && !({d4}))"],
    }
    if net6 is None:
        parts["transit"].append("ipv6")
    else:
        s6, d6 = f"ipv6.src#1=={net6}", f"ipv6.dst#1=={net6}"
        parts["out"].append(f"({s6} && !({d6}))")
        parts["in"].append(f"(!({s6}) && {d6})")
        parts["internal"].append(f"({s6} && {d6})")
        parts["transit"].append(f"(ipv6 && !({s6}) && !({d6}))")
    return {k: " || ".join(v) for k, v in parts.items()}


def tshark(path: Path, filters: dict[str, str]) -> dict[str, tuple[int, int]]:
    """(packets, bytes on the wire) per filter, and for "all", from one tshark pass."""
    names = ["all", *filters]
    columns = ["COUNT(frame)frame", "SUM(frame.len)frame.len"]
    for name in filters:
        columns += [
            f"COUNT(frame)frame && ({filters[name]})",
            f"SUM(frame.len)frame.len && ({filters[name]})",
        ]
    out = subprocess.run(
        ["tshark", "-n", "-r", str(path), "-q", "-z", "io,stat,0," + ",".join(columns)],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    row = next(line for line in out.splitlines() if "<>" in line)
    values = [int(v.strip() or 0) for v in row.split("|")[2:-1] if v.strip() != ""]
    assert len(values) == 2 * len(names), out
    return {name: (values[2 * i], values[2 * i + 1]) for i, name in enumerate(names)}


def account(path: Path, networks: tuple[str, ...]) -> Accounting:
    acc = Accounting(networks)
    for ts, linktype, frame, wirelen in read(path):
        assert linktype == 1
        acc.frame(frame, wirelen, ts)
    return acc


def by_protocol(acc: Accounting) -> dict[str, tuple[int, int]]:
    """Accounting summed over directions: tcp, udp, icmp (+ICMPv6), arp, other, all."""
    out = {name: [0, 0] for name in ("tcp", "udp", "icmp", "arp", "other", "all")}
    for d in range(len(DIRECTIONS)):
        for f in range(len(FAMILIES)):
            for p in range(len(PROTOCOLS)):
                c = cell(d, f, p)
                name = "arp" if f == F_ARP else {P_TCP: "tcp", P_UDP: "udp", P_ICMP: "icmp"}.get(p)
                if name is None:
                    assert p == P_OTHER
                    name = "other"
                for key in (name, "all"):
                    out[key][0] += acc.packets[c]
                    out[key][1] += acc.bytes[c]
    return {k: (v[0], v[1]) for k, v in out.items()}


def by_direction(acc: Accounting) -> dict[str, tuple[int, int]]:
    out = {}
    for d, name in enumerate(DIRECTIONS):
        cells = [cell(d, f, p) for f in range(len(FAMILIES)) for p in range(len(PROTOCOLS))]
        out[name] = (sum(acc.packets[c] for c in cells), sum(acc.bytes[c] for c in cells))
    return out


def compare(path: Path, networks: tuple[str, ...], net6: str | None) -> None:
    dirs = direction_filters(NET4, net6)
    # a multicast source MAC (macof sends half its frames so) is a malformed frame:
    # counted as internal "other", whatever it carries
    protocols = {k: f"!{GROUP_SOURCE} && ({v})" for k, v in PROTOCOL_FILTERS.items()}
    dirs = {k: f"!{GROUP_SOURCE} && ({v})" for k, v in dirs.items()}
    dirs["internal"] = f"{GROUP_SOURCE} || ({dirs['internal']})"
    ts = tshark(path, {**protocols, **dirs, "group_source": GROUP_SOURCE})
    acc = account(path, networks)
    n = ts["group_source"][0]
    assert acc.malformed == ({"multicast_source": n} if n else {})
    got = by_protocol(acc)
    other = (
        ts["all"][0] - sum(ts[k][0] for k in PROTOCOL_FILTERS),
        ts["all"][1] - sum(ts[k][1] for k in PROTOCOL_FILTERS),
    )
    want = {**{k: ts[k] for k in PROTOCOL_FILTERS}, "other": other, "all": ts["all"]}
    assert got == want
    assert by_direction(acc) == {k: ts[k] for k in dirs}


@pytest.mark.parametrize("path", LAB_PCAPS, ids=[p.stem for p in LAB_PCAPS])
def test_lab_capture(path: Path) -> None:
    """Lab recordings: packets and bytes per protocol and per direction (LAN 10.77.0.0/24)."""
    compare(path, (NET4,), None)


def mixed() -> list[Ether]:
    """VLAN and QinQ tags, IPv6, ICMPv6, IPv4 and IPv6 fragments, ARP, ICMP errors, LLDP."""
    a, b, gw = "02:00:00:00:0a:01", "02:00:00:00:0b:02", "02:00:00:00:00:fe"
    lan4, wan4, lan6, wan6 = "10.77.0.20", "203.0.113.9", "2001:db8:77::20", "2001:db8:99::9"
    out: list[Ether] = []
    for i in range(20):
        out.append(Ether(src=a, dst=gw) / IP(src=lan4, dst=wan4) / TCP(sport=40000 + i, dport=443))
        out.append(
            Ether(src=gw, dst=a)
            / Dot1Q(vlan=10)
            / IP(src=wan4, dst=lan4)
            / TCP(sport=443, dport=40000 + i, flags="A")
            / (b"t" * (i * 50))
        )
        out.append(
            Ether(src=a, dst=b, type=0x88A8)
            / Dot1Q(vlan=20)
            / Dot1Q(vlan=30)
            / IP(src=lan4, dst="10.77.0.21")
            / UDP(sport=5000, dport=53)
            / (b"u" * i)
        )
        out.append(Ether(src=a, dst=gw) / IPv6(src=lan6, dst=wan6) / UDP(sport=1, dport=443))
        out.append(
            Ether(src=gw, dst=a)
            / IPv6(src=wan6, dst=lan6)
            / TCP(sport=443, dport=1)
            / (b"s" * (i * 30))
        )
        out.append(Ether(src=a, dst=b) / IPv6(src=lan6, dst=lan6) / ICMPv6EchoRequest())
        out.append(Ether(src=b, dst=a) / IPv6(src=wan6, dst=lan6) / ICMPv6EchoReply())
        out.append(Ether(src=a, dst=b) / IP(src="192.0.2.1", dst="192.0.2.2") / ICMP())
    # An ICMP error quoting a TCP header: ICMP, not TCP.
    quoted = IP(src=lan4, dst=wan4) / TCP(sport=1234, dport=80)
    out.append(Ether() / IP(src=wan4, dst=lan4) / ICMP(type=3, code=3) / bytes(quoted)[:28])
    # IPv4 fragments of a TCP segment and of a UDP datagram: every fragment by ip.proto.
    for proto, l4 in ((6, TCP(sport=7, dport=8)), (17, UDP(sport=7, dport=8))):
        whole = bytes(IP(src=lan4, dst=wan4, id=proto) / l4 / (b"f" * 2000))
        for frag in IP(whole).fragment(600):  # type: ignore[no-untyped-call]
            assert frag.proto == proto
            out.append(Ether(src=a, dst=gw) / frag)
    # IPv6 fragments: the fixed header says 44, so both sides call them "other".
    v6 = IPv6(src=lan6, dst=wan6) / IPv6ExtHdrFragment(m=1, id=3) / UDP() / (b"g" * 64)
    out.append(Ether(src=a, dst=gw) / v6)
    v6 = IPv6(src=lan6, dst=wan6) / IPv6ExtHdrFragment(nh=17, offset=9, id=3) / (b"g" * 32)
    out.append(Ether(src=a, dst=gw) / v6)
    out.extend(
        Ether(src=a, dst="ff:ff:ff:ff:ff:ff")
        / Dot1Q(vlan=10)
        / ARP(psrc=lan4, pdst=f"10.77.0.{i + 1}", hwsrc=a)
        for i in range(7)
    )
    out.append(Ether(src=a, dst="01:80:c2:00:00:0e", type=0x88CC) / (b"\x02\x07" + b"\0" * 44))
    return out


def test_crafted_mix(tmp_path: Path) -> None:
    """A crafted mix (tags, IPv6, ICMPv6, fragments, ARP, ICMP errors) counts like tshark."""
    path = tmp_path / "mix.pcap"
    wrpcap(str(path), mixed())
    compare(path, (NET4, NET6), NET6)
    acc = account(path, (NET4, NET6))
    assert by_protocol(acc)["tcp"][0] == 3 * 20 + 4  # the four TCP fragments count as TCP


def test_crafted_mix_without_v6_network(tmp_path: Path) -> None:
    """With only an IPv4 network configured, IPv6 traffic is transit, as tshark says."""
    path = tmp_path / "mix.pcap"
    wrpcap(str(path), mixed())
    compare(path, (NET4,), None)


def test_ipv6_extension_headers_counted_by_upper_protocol(tmp_path: Path) -> None:
    """MLD (ICMPv6 behind hop-by-hop) counts as ICMP, as tshark's icmpv6 filter says."""
    path = tmp_path / "mld.pcap"
    mld = Ether() / IPv6(src="fe80::1", dst="ff02::16") / IPv6ExtHdrHopByHop() / ICMPv6MLReport2()
    wrpcap(str(path), [mld] * 3)
    seen = subprocess.run(
        ["tshark", "-n", "-r", str(path), "-Y", "icmpv6", "-T", "fields", "-e", "frame.len"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.split()
    assert len(seen) == 3
    assert by_protocol(account(path, ()))["icmp"][0] == 3
