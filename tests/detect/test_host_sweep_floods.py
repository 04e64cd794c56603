"""host_sweep and a host flooded from spoofed addresses of its own subnet in datagrams or
fragments (never packets for the detectors, ``UdpFlows``): its ARP requests for the
senders are answers, not a sweep."""

from __future__ import annotations

from typing import TYPE_CHECKING

from scapy.layers.l2 import ARP, Ether

from sentinel.detect.host_sweep import ASK_GRACE, HostSweep
from sentinel.packet import UdpFlows
from tests.detect.crafted import make, pkt

if TYPE_CHECKING:
    from sentinel.detect.base import Finding

SRV, SRV_MAC, ATK_MAC = "10.77.0.10", "02:77:00:00:00:0a", "02:77:00:00:66:66"


def asked(senders: int | None) -> list[Finding]:
    """The server asks ARP for 100 addresses of its subnet in its first two seconds; the
    capture side hands over each second's UdpFlows once it is over (``senders``
    addresses flooding it that second, all behind one MAC; None: no flood)."""
    det = make(HostSweep)
    out: list[Finding] = []
    requests = [
        pkt(
            Ether(src=SRV_MAC, dst="ff:ff:ff:ff:ff:ff")
            / ARP(op=1, hwsrc=SRV_MAC, psrc=SRV, pdst=f"10.77.0.{20 + i}"),
            i / 50,
        )
        for i in range(100)
    ]
    t = 0
    for p in requests:
        while p.ts >= t + 1:
            t += 1
            out += det.tick(t + 0.001)
            if senders is not None:  # the second just over
                out += det.observe_aggregate(flows(t - 1, senders))
        out += det.observe(p)
    for t in range(2, 2 + int(ASK_GRACE) + 3):
        out += det.tick(t + 0.001)
        if senders is not None and t == 2:
            out += det.observe_aggregate(flows(1, senders))
    return out


def flows(second: int, senders: int) -> UdpFlows:
    who = tuple(
        (bytes([10, 77, 0, 20 + k]), bytes.fromhex(ATK_MAC.replace(":", "")), 9)
        for k in range(min(senders, 64))
    )
    return UdpFlows(
        second, bytes([10, 77, 0, 10]), 9 * senders, 0, who, 9 * (senders - len(who)), (), (), True
    )


def test_a_host_flooded_by_its_subnet_answers_each_sender() -> None:
    """227 spoofed addresses in 16-byte fragments (64 kept exactly): the server asking ARP
    for them is answering, no sweep is named."""
    assert asked(227) == []


def test_the_same_requests_without_a_flood_are_a_sweep() -> None:
    """100 addresses asked for in two seconds with nothing sent to the asker: a sweep."""
    found = asked(None)
    assert {(f.kind, f.src_ip, f.src_mac) for f in found} == {("arp", SRV, SRV_MAC)}


def test_a_few_senders_are_no_crowd() -> None:
    """Ten hosts sending the server datagrams do not excuse 100 requests."""
    assert {f.kind for f in asked(10)} == {"arp"}
