"""flood on the capture side's counts of fragments (``UdpFlows.fragments``): a flood sent
in IPv4 fragments is flagged per victim; answered and modest fragmented traffic is not."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sentinel.detect.flood import Flood
from sentinel.packet import UdpFlows
from tests.detect.crafted import make

if TYPE_CHECKING:
    from sentinel.detect.base import Finding

VICTIM = bytes([10, 77, 0, 101])
ATTACKER = (bytes([10, 77, 0, 66]), bytes.fromhex("027700006666"))
T0 = 1_800_000_000


def seconds(
    counts: list[int], answered: float = 0.0, fragments: bool = True, senders: int = 1
) -> list[Finding]:
    """One UdpFlows a second to VICTIM (``counts[i]`` packets, split over ``senders``
    hosts of the LAN, the attacker first), as the capture side hands them over, then the
    ticks that close the last second."""
    flood = make(Flood)
    out: list[Finding] = []
    for i, n in enumerate(counts):
        hosts = [ATTACKER] + [
            (bytes([10, 77, 0, 120 + k]), bytes.fromhex(f"0277000001{k:02x}"))
            for k in range(senders - 1)
        ]
        share = n // senders
        flows = UdpFlows(
            T0 + i,
            VICTIM,
            n,
            int(n * answered),
            tuple((a, m, share) for a, m in hosts),
            n - share * senders,
            fragments=fragments,
        )
        out += flood.observe_aggregate(flows)
        out += flood.tick(T0 + i + 1.5)
    for t in range(3):
        out += flood.tick(T0 + len(counts) + 1 + t)
    return out


def test_a_flood_in_fragments_names_its_sender() -> None:
    """hping3 --udp -f at 2,000 datagrams a second: 6,000 fragments a second, unanswered."""
    found = seconds([6000, 6000, 6000])
    assert found
    assert {f.identifier for f in found} == {"10.77.0.101/fragments"}  # (the engine dedupes)
    f = found[0]
    assert (f.kind, f.identifier, f.target, f.src_ip) == (
        "fragments",
        "10.77.0.101/fragments",
        "10.77.0.101",
        "10.77.0.66",
    )
    assert "IP fragment flood" in f.summary
    assert "protocol=fragments shape=single answered=0" in f.description


def test_a_burst_of_a_second_and_a_half_in_fragments() -> None:
    """3,000 datagrams of 3,000 bytes (three fragments each) in 1.5 s: caught."""
    found = seconds([1500, 3000, 1500])
    assert found
    assert {(f.kind, f.src_ip) for f in found} == {("fragments", "10.77.0.66")}


def test_a_few_hosts_flooding_in_fragments_are_each_named() -> None:
    """Four hosts at 1,500 fragments a second each: one finding per host."""
    found = seconds([6000, 6000, 6000], senders=4)
    assert {f.src_ip for f in found} == {"10.77.0.66", "10.77.0.120", "10.77.0.121", "10.77.0.122"}
    assert {f.kind for f in found} == {"fragments"}


def test_answered_fragments_are_no_flood() -> None:
    """NFS over UDP or a VPN tunnel that fragments: the destination answers (a request or
    an acknowledgement every few fragments), however fast."""
    assert seconds([20000] * 5, answered=0.05) == []


def test_fragmented_streams_under_the_rate_are_no_flood() -> None:
    """A one-way stream of large datagrams (a camera at about 15 Mbit/s, 1,300 fragments a
    second) for a minute, and a few large DNS answers: under fragment_rate_threshold."""
    assert seconds([1300] * 60) == []
    assert seconds([40, 12, 3]) == []


def test_fragments_have_their_own_rate() -> None:
    """The same counts as whole datagrams with data stay under udp_data_rate_threshold:
    the fragment threshold is what flags them."""
    assert seconds([6000, 6000, 6000], fragments=False) == []
    assert seconds([6000, 6000, 6000], fragments=True) != []


def crowd(addresses: int, each: int, macs: int, seconds_: int = 2) -> list[Finding]:
    """``addresses`` senders a second to VICTIM, ``each`` fragments apiece, behind
    ``macs`` MACs; the capture side keeps 64 senders exactly and counts the rest."""
    flood = make(Flood)
    out: list[Finding] = []
    for i in range(seconds_):
        hosts = [
            (bytes([198, 51, i, k]), bytes.fromhex(f"0277000002{k % macs:02x}"))
            for k in range(addresses)
        ]
        kept = hosts[:64]
        flows = UdpFlows(
            T0 + i,
            VICTIM,
            addresses * each,
            0,
            tuple((a, m, each) for a, m in kept),
            (len(hosts) - len(kept)) * each,
            fragments=True,
        )
        out += flood.observe_aggregate(flows)
        out += flood.tick(T0 + i + 1.5)
    for t in range(3):
        out += flood.tick(T0 + seconds_ + 1 + t)
    return out


def test_random_sources_each_sending_a_long_datagram_are_spoofed() -> None:
    """hping3 -f --rand-source -d 1000: 63 fragments from each of 49 addresses a second,
    all behind the attacker's MAC: a spoofed flood, no one named."""
    found = crowd(49, 63, macs=1)
    assert found
    assert {(f.kind, f.src_ip, f.src_mac) for f in found} == {("fragments", "", "")}
    assert "shape=spoofed" in found[0].description


def test_a_crowd_of_laptops_sending_fragments_is_not_spoofed() -> None:
    """49 hosts with their own MACs, 63 fragments each a second: no one dominates, none
    is heavy, and they are not one machine's addresses: not flagged."""
    assert crowd(49, 63, macs=49) == []
