"""The full decoder on crafted frames of every kind, on other link types, and on hostile bytes."""

from __future__ import annotations

import random
import struct

import pytest
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.dns import DNS, DNSQR
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPOption_RR
from scapy.layers.inet6 import (
    ICMPv6EchoRequest,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
)
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.packet import Raw

from sentinel.capture.decode import (
    LINK_ETHERNET,
    LINK_LINUX_SLL,
    LINK_LINUX_SLL2,
    LINK_RAW,
    decode,
)
from sentinel.packet import TCP_ACK, TCP_SYN, Packet

MAC_A, MAC_B = "02:00:00:00:0a:01", "02:00:00:00:0b:02"
A4, B4 = "10.77.0.5", "198.51.100.7"
A6, B6 = "2001:db8::5", "2001:db8:1::7"


def raw(pkt: object) -> bytes:
    return bytes(pkt)  # type: ignore[call-overload]


def ip4(text: str) -> bytes:
    return bytes(int(x) for x in text.split("."))


def ip6(text: str) -> bytes:
    import ipaddress

    return ipaddress.IPv6Address(text).packed


def mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def eth() -> Ether:
    return Ether(src=MAC_A, dst=MAC_B)


def ok(frame: bytes, linktype: int = LINK_ETHERNET) -> Packet:
    p = decode(frame, linktype, 1.5, 0)
    assert p.error == "", p.error
    return p


# -- crafted frames of every type ------------------------------------------------------


def test_ethernet_ipv4_tcp() -> None:
    """Ethernet, IPv4 and TCP fields, the payload offset and length."""
    f = raw(
        eth() / IP(src=A4, dst=B4, ttl=33) / TCP(sport=40001, dport=443, flags="S", seq=77) / b"hi"
    )
    p = ok(f)
    assert (p.src_mac, p.dst_mac, p.ethertype, p.vlan) == (mac(MAC_A), mac(MAC_B), 0x0800, -1)
    assert (p.ip_version, p.src, p.dst, p.proto, p.ttl) == (4, ip4(A4), ip4(B4), 6, 33)
    assert (p.sport, p.dport, p.tcp_flags, p.tcp_seq) == (40001, 443, TCP_SYN, 77)
    assert not p.fragment
    assert (p.payload_offset, p.payload_length) == (14 + 20 + 20, 2)
    assert f[p.payload_offset :] == b"hi"
    assert (p.ts, p.wirelen) == (1.5, len(f))


def test_wirelen_is_kept() -> None:
    """The wire length given (larger than a snap-truncated frame) is reported as is."""
    f = raw(eth() / IP(src=A4, dst=B4) / TCP())
    assert decode(f, LINK_ETHERNET, 0.0, 1514).wirelen == 1514


def test_tcp_with_options_payload_offset() -> None:
    """TCP options move the payload offset by the data offset."""
    seg = TCP(sport=1, dport=2, flags="A", options=[("MSS", 1460), ("NOP", None), ("WScale", 7)])
    f = raw(eth() / IP(src=A4, dst=B4) / seg / b"data")
    p = ok(f)
    assert p.tcp_flags == TCP_ACK
    assert f[p.payload_offset :] == b"data"
    assert p.payload_length == 4


def test_ethernet_padding_is_not_payload() -> None:
    """Ethernet padding after a short IPv4 packet is cut by the IP total length."""
    f = raw(eth() / IP(src=A4, dst=B4) / TCP(flags="A")) + b"\x00" * 6
    p = ok(f)
    assert p.payload_length == 0


def test_vlan_tag() -> None:
    """One 802.1Q tag: the VLAN id and the inner ethertype."""
    f = raw(eth() / Dot1Q(vlan=42) / IP(src=A4, dst=B4) / UDP(sport=5, dport=6) / b"x")
    p = ok(f)
    assert (p.vlan, p.ethertype, p.proto, p.sport, p.dport) == (42, 0x0800, 17, 5, 6)
    assert p.payload_offset == 18 + 20 + 8


def test_qinq() -> None:
    """802.1ad outer + 802.1Q inner: the outer VLAN id, the inner payload decoded."""
    f = raw(
        Ether(src=MAC_A, dst=MAC_B, type=0x88A8)
        / Dot1Q(vlan=100)
        / Dot1Q(vlan=7)
        / IP(src=A4, dst=B4)
        / TCP(sport=9, dport=80)
    )
    p = ok(f)
    assert (p.vlan, p.ethertype, p.sport, p.dport) == (100, 0x0800, 9, 80)
    assert p.payload_offset == 22 + 20 + 20


def test_three_vlan_tags_is_an_error() -> None:
    """More than two VLAN tags is reported, not decoded."""
    f = raw(eth() / Dot1Q(vlan=1) / Dot1Q(vlan=2) / Dot1Q(vlan=3) / IP() / TCP())
    assert decode(f).error == "too_many_vlan_tags"


def test_ipv4_options() -> None:
    """IPv4 options (IHL > 5): the transport header is found after them."""
    f = raw(
        eth()
        / IP(src=A4, dst=B4, options=[IPOption_RR(routers=["1.2.3.4", "5.6.7.8"])])
        / UDP(sport=1234, dport=53)
        / b"abc"
    )
    assert f[14] & 0x0F > 5
    p = ok(f)
    assert (p.sport, p.dport, p.payload_length) == (1234, 53, 3)
    assert f[p.payload_offset :] == b"abc"


def test_ipv4_fragments() -> None:
    """The first fragment carries the ports; later ones are marked and have none."""
    whole = IP(src=A4, dst=B4, id=9) / UDP(sport=7000, dport=7001) / (b"z" * 100)
    first = IP(raw(whole)[:20] + raw(whole)[20:68])
    first.flags, first.frag, first.len = "MF", 0, None
    first.chksum = None
    rest = IP(src=A4, dst=B4, id=9, proto=17, flags=0, frag=6) / (b"z" * 60)
    p = ok(raw(eth() / first))
    assert (p.fragment, p.sport, p.dport) == (False, 7000, 7001)
    q = ok(raw(eth() / rest))
    assert (q.fragment, q.proto, q.sport, q.dport, q.payload_offset) == (True, 17, 0, 0, 0)


def test_ipv6_tcp() -> None:
    """IPv6 addresses, hop limit, next header and TCP ports."""
    f = raw(eth() / IPv6(src=A6, dst=B6, hlim=5) / TCP(sport=3, dport=4, flags="SA") / b"p")
    p = ok(f)
    assert (p.ethertype, p.ip_version, p.src, p.dst, p.ttl) == (0x86DD, 6, ip6(A6), ip6(B6), 5)
    assert (p.proto, p.sport, p.dport, p.tcp_flags) == (6, 3, 4, 0x12)
    assert (p.payload_offset, p.payload_length) == (14 + 40 + 20, 1)


def test_ipv6_extension_headers() -> None:
    """Hop-by-hop, routing and destination options are walked to the UDP header."""
    f = raw(
        eth()
        / IPv6(src=A6, dst=B6)
        / IPv6ExtHdrHopByHop()
        / IPv6ExtHdrRouting(addresses=["2001:db8::99"])
        / IPv6ExtHdrDestOpt()
        / UDP(sport=546, dport=547)
        / b"dhcp6"
    )
    p = ok(f)
    assert (p.proto, p.sport, p.dport) == (17, 546, 547)
    assert f[p.payload_offset :] == b"dhcp6"


def test_ipv6_fragments() -> None:
    """An IPv6 first fragment is decoded; a later one is marked with its upper protocol."""
    first = eth() / IPv6(src=A6, dst=B6) / IPv6ExtHdrFragment(m=1, offset=0, id=5)
    first = first / UDP(sport=11, dport=12) / (b"y" * 16)
    p = ok(raw(first))
    assert (p.fragment, p.proto, p.sport, p.dport) == (False, 17, 11, 12)
    later = eth() / IPv6(src=A6, dst=B6) / IPv6ExtHdrFragment(nh=17, m=0, offset=3, id=5)
    later = later / (b"y" * 8)
    q = ok(raw(later))
    assert (q.fragment, q.proto, q.sport) == (True, 17, 0)


def test_icmp() -> None:
    """ICMP type and code."""
    p = ok(raw(eth() / IP(src=A4, dst=B4) / ICMP(type=3, code=13) / b"orig"))
    assert (p.proto, p.icmp_type, p.icmp_code) == (1, 3, 13)


def test_icmpv6() -> None:
    """ICMPv6 type and code, also behind a hop-by-hop header."""
    p = ok(raw(eth() / IPv6(src=A6, dst=B6) / ICMPv6EchoRequest()))
    assert (p.proto, p.icmp_type, p.icmp_code) == (58, 128, 0)
    q = ok(raw(eth() / IPv6(src=A6, dst=B6) / IPv6ExtHdrHopByHop() / ICMPv6EchoRequest()))
    assert (q.proto, q.icmp_type) == (58, 128)


def test_arp() -> None:
    """ARP operation and the four addresses."""
    f = raw(
        Ether(src=MAC_A, dst="ff:ff:ff:ff:ff:ff")
        / ARP(op=2, hwsrc=MAC_A, psrc="10.77.0.1", hwdst=MAC_B, pdst="10.77.0.9")
    )
    p = ok(f)
    assert (p.ethertype, p.arp_op) == (0x0806, 2)
    assert (p.arp_sha, p.arp_spa) == (mac(MAC_A), ip4("10.77.0.1"))
    assert (p.arp_tha, p.arp_tpa) == (mac(MAC_B), ip4("10.77.0.9"))


def test_arp_not_ethernet_ipv4() -> None:
    """ARP for another hardware or protocol type is reported as unsupported."""
    f = raw(eth() / ARP(hwtype=6, hwsrc=MAC_A))
    assert decode(f).error == "unsupported_arp"


def test_dhcp_payload_offset() -> None:
    """The UDP payload of a DHCP discover is the BOOTP message scapy built."""
    msg = BOOTP(chaddr=mac(MAC_A), xid=0x1234) / DHCP(options=[("message-type", "discover"), "end"])
    f = raw(
        Ether(src=MAC_A, dst="ff:ff:ff:ff:ff:ff")
        / IP(src="0.0.0.0", dst="255.255.255.255")
        / UDP(sport=68, dport=67)
        / msg
    )
    p = ok(f)
    assert (p.sport, p.dport) == (68, 67)
    body = f[p.payload_offset : p.payload_offset + p.payload_length]
    assert body == raw(msg)
    assert BOOTP(body).xid == 0x1234


def test_dns_payload_offset() -> None:
    """The UDP payload of a DNS query, over IPv4 and IPv6 with a VLAN tag."""
    msg = DNS(id=4242, rd=1, qd=DNSQR(qname="example.org"))
    f4 = raw(eth() / IP(src=A4, dst=B4) / UDP(sport=5353, dport=53) / msg)
    f6 = raw(eth() / Dot1Q(vlan=3) / IPv6(src=A6, dst=B6) / UDP(sport=5353, dport=53) / msg)
    for f in (f4, f6):
        p = ok(f)
        body = f[p.payload_offset : p.payload_offset + p.payload_length]
        assert body == raw(msg)
        assert DNS(body).id == 4242


def test_other_ethertype_is_not_an_error() -> None:
    """An ethertype the decoder does not parse is reported with its value, not as an error."""
    p = ok(raw(Ether(src=MAC_A, dst=MAC_B, type=0x88CC) / (b"\x00" * 40)))
    assert (p.ethertype, p.ip_version, p.proto) == (0x88CC, 0, -1)


def test_memoryview_input() -> None:
    """A memoryview (what the ring and pcap reader hand over) decodes like bytes."""
    f = raw(eth() / IP(src=A4, dst=B4) / TCP(sport=1, dport=2))
    assert decode(memoryview(f)) == decode(f)


# -- other link types --------------------------------------------------------------------


def sll(payload: bytes, etype: int) -> bytes:
    return struct.pack("!HHH8sH", 0, 1, 6, mac(MAC_A) + b"\0\0", etype) + payload


def sll2(payload: bytes, etype: int) -> bytes:
    return struct.pack("!HHIHBB8s", etype, 0, 2, 1, 0, 6, mac(MAC_A) + b"\0\0") + payload


@pytest.mark.parametrize(
    ("linktype", "wrap", "offset"),
    [
        (LINK_LINUX_SLL, sll, 16),
        (LINK_LINUX_SLL2, sll2, 20),
        (LINK_RAW, lambda payload, _etype: payload, 0),
    ],
    ids=["sll", "sll2", "raw"],
)
def test_linktypes(linktype: int, wrap: object, offset: int) -> None:
    """Linux cooked (SLL, SLL2) and raw IP frames, IPv4 and IPv6."""
    v4 = raw(IP(src=A4, dst=B4) / UDP(sport=1, dport=53) / b"q")
    v6 = raw(IPv6(src=A6, dst=B6) / TCP(sport=2, dport=443))
    p = ok(wrap(v4, 0x0800), linktype)  # type: ignore[operator]
    assert (p.src, p.dst, p.sport, p.dport, p.payload_offset) == (
        ip4(A4),
        ip4(B4),
        1,
        53,
        offset + 28,
    )
    q = ok(wrap(v6, 0x86DD), linktype)  # type: ignore[operator]
    assert (q.ip_version, q.src, q.dport) == (6, ip6(A6), 443)
    if linktype != LINK_RAW:
        assert p.src_mac == mac(MAC_A)


def test_unknown_linktype() -> None:
    """A link type the decoder does not know is an error, not an exception."""
    assert decode(b"\x00" * 60, 9999).error == "unknown_linktype"


# -- hostile bytes -------------------------------------------------------------------------

VALID = [
    raw(eth() / IP(src=A4, dst=B4, options=[IPOption_RR()]) / TCP(options=[("MSS", 1)]) / b"x"),
    raw(eth() / Dot1Q(vlan=1) / Dot1Q(vlan=2) / IP() / UDP(dport=53) / DNS(qd=DNSQR())),
    raw(eth() / IPv6() / IPv6ExtHdrHopByHop() / IPv6ExtHdrFragment() / UDP() / b"abc"),
    raw(eth() / IPv6() / IPv6ExtHdrRouting() / ICMPv6EchoRequest()),
    raw(eth() / ARP()),
    raw(eth() / IP() / ICMP() / b"ping"),
]


@pytest.mark.parametrize("linktype", [LINK_ETHERNET, LINK_LINUX_SLL, LINK_LINUX_SLL2, LINK_RAW])
def test_every_truncation(linktype: int) -> None:
    """Every prefix of valid frames decodes without raising; short ones report an error."""
    for f in VALID:
        for n in range(len(f) + 1):
            p = decode(f[:n], linktype)
            assert isinstance(p, Packet)
            if linktype == LINK_ETHERNET and n < 14:
                assert p.error == "truncated"


def test_truncated_headers_are_errors() -> None:
    """A frame cut inside the IP or fixed transport header is an error; inside TCP options,
    the ports and flags are kept and no payload is reported."""
    for f in VALID[:4]:
        p = ok(f)
        for n in range(15, p.payload_offset):
            q = decode(f[:n])
            if q.error:
                continue
            assert q.proto == 6, (f.hex(), n)  # only TCP options can be cut without error
            assert (q.sport, q.dport, q.tcp_flags) == (p.sport, p.dport, p.tcp_flags)
            assert q.payload_length == 0


def test_random_bytes_never_raise() -> None:
    """20,000 random byte strings, raw and behind plausible Ethernet/IP headers, never raise."""
    rng = random.Random(20260101)
    heads = [b"", VALID[0][:14], VALID[0][:34], VALID[2][:54], VALID[1][:18]]
    for i in range(20000):
        body = rng.randbytes(rng.randrange(0, 120))
        frame = heads[i % len(heads)] + body
        for linktype in (LINK_ETHERNET, LINK_LINUX_SLL, LINK_LINUX_SLL2, LINK_RAW):
            assert isinstance(decode(frame, linktype), Packet)


def patched(frame: bytes, offset: int, value: bytes) -> bytes:
    return frame[:offset] + value + frame[offset + len(value) :]


V4 = raw(eth() / IP(src=A4, dst=B4) / TCP(sport=1, dport=2) / b"payload")
V6 = raw(eth() / IPv6(src=A6, dst=B6) / IPv6ExtHdrDestOpt() / UDP(sport=1, dport=2) / b"payload")


@pytest.mark.parametrize("ihl", range(16))
def test_absurd_ihl(ihl: int) -> None:
    """Every IHL value: below 5 is a bad header; past the frame is an error, never a raise."""
    p = decode(patched(V4, 14, bytes([0x40 | ihl])))
    if ihl < 5:
        assert p.error == "bad_ip_header"
    elif ihl == 5:
        assert p.error == ""
    elif ihl >= 7:  # the options swallow the TCP header: what is left is too short for one
        assert p.error


@pytest.mark.parametrize("total", [0, 1, 19, 20, 21, 39, 40, 65535])
def test_absurd_ipv4_total_length(total: int) -> None:
    """IPv4 total length shorter than the header, than the TCP header, or past the frame."""
    p = decode(patched(V4, 16, struct.pack("!H", total)))
    if total < 20:
        assert p.error == "bad_ip_header"
    elif total < 40:
        assert p.error == "truncated"
    else:
        assert p.error == ""
        assert p.payload_offset + p.payload_length <= len(V4)


def test_ipv4_bad_version() -> None:
    """An IPv4 ethertype with another version number is a bad header."""
    assert decode(patched(V4, 14, b"\x65")).error == "bad_ip_header"


@pytest.mark.parametrize("plen", [0, 1, 7, 8, 15, 16, 23, 65535])
def test_absurd_ipv6_payload_length(plen: int) -> None:
    """IPv6 payload length that cuts the extension or UDP header, or points past the frame."""
    p = decode(patched(V6, 18, struct.pack("!H", plen)))
    if plen < 16:  # 8 destination options + 8 UDP
        assert p.error == "truncated"
    else:
        assert p.error == ""
        assert (p.sport, p.dport) == (1, 2)
        assert p.payload_offset + p.payload_length <= len(V6)


@pytest.mark.parametrize("hdrlen", [1, 2, 100, 255])
def test_absurd_extension_header_length(hdrlen: int) -> None:
    """An extension header length past the packet is an error, never an exception."""
    p = decode(patched(V6, 55, bytes([hdrlen])))
    assert p.error == "truncated"
    assert p.sport == 0


def test_extension_header_chain_too_long() -> None:
    """A chain of more than eight extension headers is refused."""
    chain = IPv6(src=A6, dst=B6)
    for _ in range(10):
        chain = chain / IPv6ExtHdrDestOpt()
    p = decode(raw(eth() / chain / UDP()))
    assert p.error == "too_many_extension_headers"


def test_ipv6_bad_version() -> None:
    """An IPv6 ethertype with another version number is a bad header."""
    assert decode(patched(V6, 14, b"\x40")).error == "bad_ip_header"


@pytest.mark.parametrize("doff", range(16))
def test_absurd_tcp_data_offset(doff: int) -> None:
    """TCP data offsets below 5 are bad headers; larger ones never raise."""
    p = decode(patched(V4, 14 + 20 + 12, bytes([doff << 4])))
    if doff < 5:
        assert p.error == "bad_tcp_header"
    else:
        assert p.payload_length >= 0
        assert p.payload_offset + p.payload_length <= max(len(V4), p.payload_offset)


def test_truncated_arp() -> None:
    """An ARP header cut short is truncated."""
    f = raw(eth() / ARP())
    assert decode(f[:30]).error == "truncated"


def test_raw_ip_with_garbage_version() -> None:
    """A raw-IP frame that is neither version 4 nor 6 is a bad header."""
    assert decode(b"\x00" * 40, LINK_RAW).error == "bad_ip_header"


def test_payload_is_bounded_by_frame() -> None:
    """Decoded payload never extends past the captured bytes (snap-truncated frames)."""
    f = raw(eth() / IP(src=A4, dst=B4) / UDP(sport=1, dport=53) / (b"d" * 500))
    p = decode(f[:100], LINK_ETHERNET, 0.0, len(f))
    assert p.error == ""
    assert p.payload_offset + p.payload_length == 100
    assert p.wirelen == len(f)


def test_raw_decoded_is_plain_packet() -> None:
    """Raw payload with scapy's Raw layer decodes as UDP with that payload."""
    f = raw(eth() / IP(src=A4, dst=B4) / UDP(sport=1, dport=2) / Raw(b"\x01\x02"))
    p = ok(f)
    assert f[p.payload_offset : p.payload_offset + p.payload_length] == b"\x01\x02"


def test_tcp_options_cut_by_the_snap_length() -> None:
    """A SYN-ACK captured with a 54-byte snap length (tcpdump -s 54) ends inside its
    options: its ports, flags and sequence number are read and it is no error; a data
    offset past the datagram itself still is one."""
    opts = [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (1, 2)), ("NOP", None), ("WScale", 7)]
    f = raw(eth() / IP(src=A4, dst=B4) / TCP(sport=80, dport=4242, seq=7, flags="SA", options=opts))
    for n in range(54, len(f)):
        p = decode(f[:n], wirelen=len(f))
        assert p.error == "", n
        assert (p.sport, p.dport, p.tcp_flags, p.tcp_seq) == (80, 4242, 0x12, 7)
        assert (p.payload_offset, p.payload_length) == (n, 0)
    short = patched(f, 16, struct.pack("!H", 40))  # the IP datagram ends after 20 TCP bytes
    assert decode(short).error == "truncated"
