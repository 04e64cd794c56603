"""IPv6 fragments joined for the detectors: a router advertisement split to step around
RA guard is seen whole; the bounds hold."""

from __future__ import annotations

from scapy.layers.inet import IP
from scapy.layers.inet6 import (
    ICMPv6ND_RA,
    ICMPv6NDOptPrefixInfo,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    PadN,
    fragment6,
)
from scapy.layers.l2 import Ether

from sentinel.capture import reassembly
from sentinel.capture.decode import LINK_ETHERNET, decode
from sentinel.capture.reassembly import Reassembler

ATTACKER = "fe80::77:ff:fe00:6666"


def split_ra(ident: int = 7, size: int = 1232) -> list[bytes]:
    """fake_router26 -E D: a destination header so large that the RA's ICMPv6 header
    lands in the second fragment."""
    ra = (
        IPv6(src=ATTACKER, dst="ff02::1", hlim=255)
        / IPv6ExtHdrFragment(id=ident)
        / IPv6ExtHdrDestOpt(options=[PadN(optdata=b"\x00" * 250)] * 5)
        / ICMPv6ND_RA(routerlifetime=1800)
        / ICMPv6NDOptPrefixInfo(prefix="fd77:bad::", prefixlen=64)
    )
    eth = Ether(src="02:77:00:00:66:66", dst="33:33:00:00:00:01")
    return [bytes(eth / f) for f in fragment6(ra, size)]


def test_a_split_router_advertisement_is_seen_whole() -> None:
    frames = split_ra()
    assert len(frames) == 2
    first = decode(frames[0], LINK_ETHERNET, 1.0, len(frames[0]))
    assert first.icmp_type != 134  # its ICMPv6 header is in the second fragment
    r = Reassembler()
    assert r.frame(frames[0], 1.0) is None
    whole = r.frame(frames[1], 1.001)
    assert whole is not None
    p = decode(whole, LINK_ETHERNET, 1.001, len(whole))
    assert not p.error, p.error
    assert (p.icmp_type, p.ttl, p.proto) == (134, 255, 58)
    assert r.reassembled == 1
    # in any order; a repeat of a fragment keeps the first bytes
    r = Reassembler()
    assert r.frame(frames[1], 2.0) is None
    assert r.frame(frames[1], 2.0) is None
    assert r.frame(frames[0], 2.0) == whole


def test_held_datagrams_are_bounded() -> None:
    r = Reassembler()
    for i in range(reassembly.MAX_DATAGRAMS + 10):  # first fragments only: never complete
        assert r.frame(split_ra(ident=i)[0], 1.0) is None
    assert len(r._held) == reassembly.MAX_DATAGRAMS
    assert r.dropped == 10
    # past the timeout, a late second fragment finds nothing to join
    late = split_ra(ident=reassembly.MAX_DATAGRAMS + 9)[1]
    assert r.frame(late, 1.0 + reassembly.TIMEOUT + 1) is None
    assert len(r._held) == 1  # only the late fragment, waiting for a first that is gone
    # a datagram longer than MAX_BYTES is not held
    far = IPv6ExtHdrFragment(id=999, offset=(reassembly.MAX_BYTES + 8) // 8, m=0)
    big = bytes(Ether() / IPv6(src=ATTACKER, dst="ff02::1") / far / (b"x" * 64))
    dropped = r.dropped
    assert r.frame(big, 10.0) is None
    assert r.dropped == dropped + 1
    atomic = bytes(
        Ether() / IPv6(src=ATTACKER, dst="ff02::1") / IPv6ExtHdrFragment(id=5) / ICMPv6ND_RA()
    )
    assert r.frame(atomic, 10.0) is None  # offset 0, no more: the decoder reads through it
    ipv4 = bytes(Ether() / IP(dst="10.77.0.10") / (b"x" * 60))
    assert r.frame(ipv4, 10.0) is None
