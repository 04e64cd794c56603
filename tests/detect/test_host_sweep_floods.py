"""host_sweep and a host flooded from spoofed addresses of its own subnet in datagrams or
fragments (never packets for the detectors, ``UdpFlows``), or in SYNs past the frame
budget (``SynAggregate``): its ARP requests for the senders are answers, not a sweep."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from scapy.layers.l2 import ARP, Ether

from sentinel.capture.accounting import new_accounting
from sentinel.capture.pcapfile import read
from sentinel.capture.pipeline import Pipeline, Settings
from sentinel.config.detect import DetectConfig
from sentinel.detect.engine import Engine
from sentinel.detect.host_sweep import ASK_GRACE, HostSweep
from sentinel.packet import Aggregate, SynAggregate, UdpFlows
from tests.conftest import DATA
from tests.detect.crafted import make, pkt
from tests.helpers import use_engine

if TYPE_CHECKING:
    from collections.abc import Callable

    from sentinel.detect.base import Finding
    from sentinel.model import Alert

SRV, SRV_MAC, ATK_MAC = "10.77.0.10", "02:77:00:00:00:0a", "02:77:00:00:66:66"


def asked(
    senders: int | None,
    aggregates: Callable[[int, int], list[Aggregate]] | None = None,
) -> list[Finding]:
    """The server asks ARP for 100 addresses of its subnet in its first two seconds; the
    capture side hands over each second's UdpFlows once it is over (``senders``
    addresses flooding it that second, all behind one MAC; None: no flood), or what
    ``aggregates`` gives for the second."""
    aggregates = aggregates or (lambda second, n: [flows(second, n)])
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
                for a in aggregates(t - 1, senders):
                    out += det.observe_aggregate(a)
        out += det.observe(p)
    for t in range(2, 2 + int(ASK_GRACE) + 3):
        out += det.tick(t + 0.001)
        if senders is not None and t == 2:
            for a in aggregates(1, senders):
                out += det.observe_aggregate(a)
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


def syn_pieces(second: int, senders: int) -> list[Aggregate]:
    """A second's SYNs past the frame budget, as the capture side hands them over: in
    pieces of 4 senders, one each drain."""
    mac = bytes.fromhex(ATK_MAC.replace(":", ""))
    return [
        SynAggregate(
            second,
            bytes([10, 77, 0, 10]),
            80,
            len(chunk),
            tuple((bytes([10, 77, 0, 20 + k]), mac, 1) for k in chunk),
        )
        for chunk in (range(i, min(i + 4, senders)) for i in range(0, senders, 4))
    ]


def test_a_host_syn_flooded_past_the_budget_answers_each_sender() -> None:
    """SYNs from 120 addresses of the subnet counted by the capture side, in pieces of 4
    senders: together a crowd, so the server's ARP requests are answers."""
    assert asked(120, syn_pieces) == []


def test_a_few_syn_senders_are_no_crowd() -> None:
    """SYNs from 12 addresses (3 pieces) do not excuse 100 requests."""
    assert {f.kind for f in asked(12, syn_pieces)} == {"arp"}


@pytest.mark.parametrize("engine_name", ["c", "python"])
def test_lab_syn_flood_from_the_subnet_past_the_budget_names_no_sweeper(
    engine_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lab's SYN flood from 225 spoofed addresses of the LAN's own /24
    (lan_spoofed_syn_flood), with a frame budget of 400 a second so that most SYNs are
    counted by the capture side instead of handed over: the victim asks ARP for each
    spoofed source, and only the flood is named."""
    use_engine(engine_name, monkeypatch)
    nets = ("10.77.0.0/24",)
    cfg = DetectConfig()
    engine = Engine(cfg, networks=nets)
    pipe = Pipeline(Settings(networks=nets, detect=cfg), engine)
    pipe.accounting = new_accounting(nets, detector_cap=4096, detector_rate=400)
    alerts: list[Alert] = []
    for i, (ts, _lt, frame, wirelen) in enumerate(
        read(DATA / "lab" / "lan_spoofed_syn_flood.pcap.gz")
    ):
        pipe.accounting.frame(frame, wirelen, ts)
        if i % 20 == 0:
            alerts += pipe.drain()
    alerts += pipe.drain(final=True) + engine.finish()
    assert pipe.accounting.detector_frames_aggregated > 500  # the budget was exceeded
    assert [(a.detector, a.kind) for a in alerts] == [("syn_flood", "spoofed")]
