"""The DHCP and DNS payload parsers: fields, hostile input, registered domains."""

from __future__ import annotations

import dataclasses
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.dns import DNS, DNSQR, DNSRR

from sentinel.detect import dhcp, dns


def _offer() -> bytes:
    return bytes(
        BOOTP(
            op=2,
            xid=0x1234,
            yiaddr="10.77.0.201",
            siaddr="10.77.0.66",
            chaddr=bytes.fromhex("027700000102"),
        )
        / DHCP(
            options=[
                ("message-type", "offer"),
                ("server_id", "10.77.0.66"),
                ("router", "10.77.0.66"),
                ("name_server", "10.77.0.66", "9.9.9.9"),
                ("lease_time", 3600),
                "end",
            ]
        )
    )


def test_dhcp_offer_fields() -> None:
    """An OFFER gives its type, server, router, DNS servers, lease and client MAC."""
    m = dhcp.parse(_offer())
    assert m.error == ""
    assert (m.op, m.xid, m.message_type) == (dhcp.BOOTREPLY, 0x1234, dhcp.OFFER)
    assert (m.yiaddr, m.siaddr, m.server_id) == ("10.77.0.201", "10.77.0.66", "10.77.0.66")
    assert m.chaddr == "02:77:00:00:01:02"
    assert m.routers == ("10.77.0.66",)
    assert m.dns_servers == ("10.77.0.66", "9.9.9.9")
    assert m.lease_time == 3600


def test_dhcp_truncated_at_every_length() -> None:
    """Every prefix of an OFFER parses without raising."""
    data = _offer()
    for n in range(len(data)):
        m = dhcp.parse(data[:n])
        assert isinstance(m, dhcp.Dhcp)
        if n < dhcp.FIXED + 4:
            assert m.error == "truncated"


def test_dhcp_bad_magic_and_option_overrun() -> None:
    """A wrong magic cookie or an option running past the end is reported, not raised."""
    data = bytearray(_offer())
    data[dhcp.FIXED] = 0
    assert dhcp.parse(bytes(data)).error == "bad_magic"
    overrun = _offer()[: dhcp.FIXED + 4] + bytes([53, 1, 2, 3, 200, 1, 2])
    m = dhcp.parse(overrun)
    assert m.error == "bad_option"
    assert m.message_type == dhcp.OFFER


def test_dhcp_random_bytes() -> None:
    """Random payloads, with and without a valid header and cookie, never raise."""
    rng = random.Random(1)
    head = _offer()[: dhcp.FIXED + 4]
    for _ in range(2000):
        tail = rng.randbytes(rng.randrange(0, 300))
        assert isinstance(dhcp.parse(tail), dhcp.Dhcp)
        assert isinstance(dhcp.parse(head + tail), dhcp.Dhcp)


def _query(name: str = "WWW.Example.COM.", qtype: str = "A") -> bytes:
    return bytes(DNS(id=0x4242, rd=1, qd=DNSQR(qname=name, qtype=qtype)))


def test_dns_query_fields() -> None:
    """A query gives its id, flags and lowercased name without the trailing dot."""
    m = dns.parse(_query(qtype="TXT"))
    assert m.error == ""
    assert (m.id, m.qr, m.rcode, m.answer_count) == (0x4242, False, 0, 0)
    assert m.questions == (dns.Question("www.example.com", dns.TXT, 1),)


def test_dns_response_with_compression() -> None:
    """A response's question is read and its answers counted (names compressed)."""
    data = bytes(
        DNS(
            id=1,
            qr=1,
            rcode=3,
            qd=DNSQR(qname="a.example.org"),
            an=DNSRR(rrname="a.example.org", rdata="1.2.3.4"),
        )
    )
    m = dns.parse(data)
    assert m.qr
    assert m.rcode == 3
    assert m.answer_count == 1
    assert m.questions[0].name == "a.example.org"


def test_dns_tcp_length_prefix() -> None:
    """Over TCP the two-byte length prefix is skipped."""
    data = _query("x.example.nl")
    m = dns.parse(len(data).to_bytes(2, "big") + data, tcp=True)
    assert m.questions[0].name == "x.example.nl"
    assert dns.parse(b"\x00", tcp=True).error == "truncated"


def test_dns_compression_loops() -> None:
    """Pointers to themselves, forwards, or in a cycle end as pointer_loop."""
    header = bytes.fromhex("abcd01000001000000000000")
    assert dns.parse(header + b"\xc0\x0c\x00\x01\x00\x01").error == "pointer_loop"  # itself
    assert dns.parse(header + b"\xc0\x20\x00\x01\x00\x01").error == "pointer_loop"  # forwards
    # label "a", then a pointer back to the start of the name: a cycle
    assert dns.parse(header + b"\x01a\xc0\x0c\x00\x01\x00\x01").error == "pointer_loop"


def test_dns_label_and_name_limits() -> None:
    """Extended label types and names over 255 octets are rejected."""
    header = bytes.fromhex("abcd01000001000000000000")
    assert dns.parse(header + b"\x41" + b"a" * 65 + b"\x00\x00\x01\x00\x01").error == "bad_label"
    long_name = (b"\x3f" + b"a" * 63) * 5 + b"\x00\x00\x01\x00\x01"
    assert dns.parse(header + long_name).error == "name_too_long"


def test_dns_unprintable_bytes_escaped() -> None:
    """Bytes outside printable ASCII come back as escapes, never raw."""
    header = bytes.fromhex("abcd01000001000000000000")
    m = dns.parse(header + b"\x03a\nb\x03com\x00\x00\x01\x00\x01")
    assert m.questions[0].name == "a\\x0ab.com"


def test_dns_truncated_at_every_length_and_random() -> None:
    """Every prefix of a message and random bytes parse without raising."""
    data = bytes(
        DNS(id=9, qd=[DNSQR(qname="a.b.example.com"), DNSQR(qname="c.example.com")], qdcount=2)
    )
    for n in range(len(data)):
        assert isinstance(dns.parse(data[:n]), dns.Dns)
    rng = random.Random(2)
    for _ in range(3000):
        blob = rng.randbytes(rng.randrange(0, 120))
        assert isinstance(dns.parse(blob), dns.Dns)
        assert isinstance(dns.parse(data[:12] + blob), dns.Dns)
        assert isinstance(dns.parse(blob, tcp=True), dns.Dns)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("www.bbc.co.uk", "bbc.co.uk"),
        ("login.microsoftonline.com", "microsoftonline.com"),
        ("www.kuleuven.be", "kuleuven.be"),
        ("smartschool.be", "smartschool.be"),
        ("x.y.example.ac.be", "example.ac.be"),
        ("www.nos.nl", "nos.nl"),
        ("portal.stmarys.kent.sch.uk", "stmarys.kent.sch.uk"),
        ("user.github.io", "user.github.io"),
        ("Example.COM.", "example.com"),
        ("localhost", "localhost"),
        ("www.gov.uk", "www.gov.uk"),
        ("shop.example.gov.au", "example.gov.au"),
        ("a.b.example.com.au", "example.com.au"),
        ("a.b.tunnel.test", "tunnel.test"),  # an unknown top-level label is a suffix
        ("kent.sch.uk", "kent.sch.uk"),  # a suffix itself: its own domain
        ("duckdns.org", "duckdns.org"),
        ("42.10.77.10.in-addr.arpa", "10.in-addr.arpa"),
        ("", ""),
    ],
)
def test_registered_domain(name: str, expected: str) -> None:
    """The registrable domain under the Public Suffix List's ICANN section."""
    assert dns.registered_domain(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.duckdns.org", "a.duckdns.org"),
        ("x1f3.b.duckdns.org", "b.duckdns.org"),
        ("abcd.ngrok.io", "abcd.ngrok.io"),
        ("deep.abcd-12.ngrok-free.app", "abcd-12.ngrok-free.app"),
        ("words-in-a-row.trycloudflare.com", "words-in-a-row.trycloudflare.com"),
        ("home.no-ip.org", "home.no-ip.org"),
        ("cam.myhome.ddns.net", "myhome.ddns.net"),
        ("vpn.me.dyndns.org", "me.dyndns.org"),
        ("x.mybucket.s3.amazonaws.com", "mybucket.s3.amazonaws.com"),
    ],
)
def test_registered_domain_private_section(name: str, expected: str) -> None:
    """Dynamic-DNS and tunnel providers: each customer is a registrable domain of its own."""
    assert dns.registered_domain(name) == expected


def test_customers_of_one_provider_are_different_domains() -> None:
    """a.duckdns.org and b.duckdns.org are two parties, not one busy domain."""
    assert dns.registered_domain("q1.a.duckdns.org") != dns.registered_domain("q1.b.duckdns.org")
    assert dns.registered_domain("x.a.ngrok.io") != dns.registered_domain("x.b.ngrok.io")


def test_registered_domain_of_hostile_names() -> None:
    """Escaped bytes, empty labels and very long names give a domain, never an error."""
    assert dns.registered_domain("a\\x00b.example.com") == "example.com"
    assert dns.registered_domain("a..b.example.com") == "example.com"
    assert dns.registered_domain("..") == ""
    assert dns.registered_domain(".".join(["x" * 63] * 4) + ".evil.test") == "evil.test"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab.-_\\x0-9AZ"), max_size=300))
def test_split_name_of_any_text(text: str) -> None:
    """Any text splits into labels, a domain and a flag; the domain is from the name."""
    sub, domain, known = dns.split_name(text)
    labels = [label for label in text.lower().split(".") if label]
    assert domain.split(".") == labels[len(labels) - len(domain.split(".")) :] or not domain
    assert sub == ".".join(labels[: len(labels) - len(domain.split("."))]) or not domain
    assert isinstance(known, bool)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80), st.integers(0, 65535))
def test_parse_datagram_is_parse_with_the_id_apart(data: bytes, ident: int) -> None:
    """The remembered parse of a message after its id is the full parse, id aside."""
    msg = ident.to_bytes(2, "big") + data
    got_id, got = dns.parse_datagram(msg)
    whole = dns.parse(msg)
    if len(msg) >= 12:
        assert got_id == whole.id
    assert dataclasses.replace(got, id=whole.id) == whole


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab.-_x0-9AZ"), max_size=120))
def test_facts_of_a_name(text: str) -> None:
    """``facts`` says what split_name and entropy say of the name, once per name."""
    name = text.lower().strip(".")
    f = dns.facts(name)
    sub, domain, known = dns.split_name(name)
    data = sub.replace(".", "") if known else name.replace(".", "")
    assert (f.domain, f.known, f.data) == (domain, known, len(data))
    assert f.entropy == dns.entropy(data)
    assert f.first_label == len(name.split(".", 1)[0])
    assert f.local == name.endswith((".arpa", ".local"))
    assert dns.facts(name) is f  # remembered


def test_parse_packet_once_per_packet() -> None:
    """Two detectors asking for one packet's message get one parse; another packet,
    even with the same bytes, is parsed again."""
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether

    from sentinel.capture.decode import decode

    raw = bytes(
        Ether(src="02:77:00:00:00:0a")
        / IP(src="10.77.0.10", dst="255.255.255.255")
        / UDP(sport=67, dport=68)
        / BOOTP(op=2, yiaddr="10.77.0.50", chaddr=bytes.fromhex("027700006666"))
        / DHCP(options=[("message-type", "offer"), ("server_id", "10.77.0.10"), "end"])
    )
    p, q = decode(raw, ts=1.0), decode(bytes(bytearray(raw)), ts=2.0)
    first = dhcp.parse_packet(p)
    assert first == dhcp.parse(p.payload)
    assert dhcp.parse_packet(p) is first
    again = dhcp.parse_packet(q)
    assert again == first
    assert again is not first
