"""The capture socket's BPF program: headers only, unless a detector reads the payload.

These run the program in ``bpf.run`` (an interpreter of the opcodes it uses, with the
kernel's rule that an out-of-bounds load drops the frame); tests/capture/test_live.py
attaches the same program to a real socket and checks the kernel agrees frame by frame.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

import pytest
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.dns import DNS, DNSQR
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import ICMPv6EchoRequest, IPv6, IPv6ExtHdrHopByHop
from scapy.layers.l2 import ARP, Dot1Q, Ether

from sentinel.capture import bpf
from sentinel.capture.accounting import Accounting

if TYPE_CHECKING:
    from scapy.packet import Packet

PROG = bpf.program(65535, 256)
BULK = b"\x17" * 1400


def frames() -> dict[str, tuple[Packet, bool]]:
    """name -> (frame, whole?)"""
    e = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    q = Ether(src="02:00:00:00:00:01", type=0x88A8) / Dot1Q(vlan=10) / Dot1Q(vlan=20)
    dns = DNS(qd=DNSQR(qname="a" * 60 + ".example")) / (b"\0" * 900)
    dhcp = BOOTP(xid=1) / DHCP(options=[("message-type", "discover"), ("end")]) / (b"\0" * 300)
    return {
        "tls bulk": (e / IP() / TCP(sport=443, dport=50000) / BULK, False),
        "tls bulk, ip options": (e / IP(options=b"\x01" * 40) / TCP(sport=443) / BULK, False),
        "quic": (e / IP() / UDP(sport=443, dport=50000) / BULK, False),
        "dns query": (e / IP() / UDP(sport=50000, dport=53) / dns, True),
        "dns answer": (e / IP() / UDP(sport=53, dport=50000) / dns, True),
        "dns over tcp": (e / IP() / TCP(sport=50000, dport=53) / dns, True),
        "dhcp": (e / IP() / UDP(sport=68, dport=67) / dhcp, True),
        "mdns": (e / IP() / UDP(sport=5353, dport=5353) / dns, True),
        "dns behind ip options": (e / IP(options=b"\x01" * 40) / UDP(dport=53) / dns, True),
        "dns, qinq": (q / IP() / UDP(dport=53) / dns, True),
        "tls bulk, qinq": (q / IP() / TCP(sport=443) / BULK, False),
        "tls bulk, one tag": (e / Dot1Q(vlan=5) / IP() / TCP(sport=443) / BULK, False),
        "later fragment": (e / IP(frag=100, proto=17) / (b"\x00\x35" * 700), False),
        "icmp": (e / IP() / ICMP() / BULK, False),
        "ipv6 bulk": (e / IPv6() / TCP(sport=443) / BULK, False),
        "ipv6 dns": (e / IPv6() / UDP(dport=53) / dns, True),
        "icmpv6": (e / IPv6() / ICMPv6EchoRequest(data=BULK), False),
        "ipv6 extension headers": (e / IPv6() / IPv6ExtHdrHopByHop() / TCP() / BULK, True),
        "arp": (e / ARP(), True),
        "jumbo other ethertype": (Ether(type=0x88B5) / (b"\0" * 3000), True),
        "small tcp": (e / IP() / TCP(flags="S"), True),
    }


@pytest.mark.parametrize("name", list(frames()))
def test_snap(name: str) -> None:
    frame, whole = frames()[name]
    raw = bytes(frame)
    kept = bpf.run(PROG, raw)
    assert kept == (len(raw) if whole else min(256, len(raw)))


def test_headers_cut_still_account_and_want_the_same() -> None:
    """Cutting to the headers changes nothing the accounting sees: counts (from the wire
    length), directions, protocols and which frames the detectors want."""
    whole, cut = Accounting(("10.0.0.0/8",)), Accounting(("10.0.0.0/8",))
    for i, (frame, _) in enumerate(frames().values()):
        raw = bytes(frame)
        whole.frame(raw, len(raw), float(i))
        cut.frame(raw[: bpf.run(PROG, raw)], len(raw), float(i))
    assert whole.snapshot() == cut.snapshot()
    assert [w[:2] for w in whole.detector_batch()] == [c[:2] for c in cut.detector_batch()]


def test_short_and_random_frames_are_never_dropped() -> None:
    """No load can fall outside a frame: every frame, however short or odd, is kept."""
    rng = random.Random(9)
    heads = [bytes(f)[:60] for f, _ in frames().values()]
    for i in range(20000):
        raw = heads[i % len(heads)][: rng.randrange(61)] + rng.randbytes(rng.randrange(400))
        kept = bpf.run(PROG, raw)
        assert kept == len(raw) or kept == 256 < len(raw)


def test_lengths() -> None:
    assert bpf.program(65535, 0) == [(bpf.RET, 0, 0, 65535)]
    assert bpf.program(200, 256) == [(bpf.RET, 0, 0, 200)]  # snaplen below headers: all cut
    dns, bulk = bytes(frames()["dns query"][0]), bytes(frames()["quic"][0])
    assert len(dns) > 1000
    assert bpf.run(bpf.program(1000, 128), dns) == 1000  # whole, up to snaplen
    assert bpf.run(bpf.program(1000, 128), bulk) == 128
    with pytest.raises(ValueError, match="at least 128"):
        bpf.program(65535, 100)
