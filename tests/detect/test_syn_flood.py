"""syn_flood's spoofed crowd of repeating senders, and the busy servers it must not be."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

import pytest

from sentinel.capture.decode import decode
from sentinel.capture.offline import Analysis
from sentinel.capture.pipeline import Settings
from sentinel.config.detect import DetectConfig
from sentinel.detect.syn_flood import SynFlood
from sentinel.packet import SynAggregate
from tests.detect.crafted import make, run
from tests.helpers import use_engine

if TYPE_CHECKING:
    from pathlib import Path

    from sentinel.packet import Packet

ATTACKER = "02:77:00:00:66:66"
GATEWAY = "02:77:00:00:00:01"
VICTIM = "10.77.0.101"
VICTIM_MAC = "02:77:00:00:01:01"
T0 = 1_796_658_468.5
SYN, RST_ACK, SYN_ACK = 0x02, 0x14, 0x12


def raw(
    src: str, dst: str, sport: int, dport: int, flags: int, src_mac: str, dst_mac: str
) -> bytes:
    """An Ethernet/IPv4/TCP segment (checksums zero: nothing here checks them)."""
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, 1, 0, 64, 6, 0, _ip(src), _ip(dst))
    tcp = struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 0x50, flags, 1024, 0, 0)
    return (
        bytes.fromhex(dst_mac.replace(":", ""))
        + bytes.fromhex(src_mac.replace(":", ""))
        + (b"\x08\x00" + ip + tcp)
    )


def _ip(text: str) -> bytes:
    return bytes(int(b) for b in text.split("."))


def seg(
    src: str, dst: str, sport: int, dport: int, flags: int, ts: float, src_mac: str, dst_mac: str
) -> Packet:
    p = decode(raw(src, dst, sport, dport, flags, src_mac, dst_mac), ts=ts)
    assert not p.error, p.error
    return p


def lan_spoofed_crowd(answer: int | None) -> list[Packet]:
    """The recorded lab flood: SYNs to port 80 of a student from the 227 free addresses of
    the LAN's /24, all from the attacker's MAC, eight rounds; ``answer``: the flags the
    student answers each SYN with (None: it never does, its ARP for the source unanswered)."""
    out = []
    for r in range(8):
        for i, host in enumerate(range(20, 247)):
            ts = T0 + r * 0.31 + i * 0.00137
            src = f"10.77.0.{host}"
            out.append(seg(src, VICTIM, 40000 + host, 80, SYN, ts, ATTACKER, VICTIM_MAC))
            if answer is not None:
                out.append(
                    seg(VICTIM, src, 80, 40000 + host, answer, ts + 1e-4, VICTIM_MAC, ATTACKER)
                )
    return out


@pytest.mark.parametrize("answer", [None, RST_ACK], ids=["unanswered", "reset"])
def test_a_crowd_of_repeating_spoofed_senders_is_a_flood(answer: int | None) -> None:
    """227 spoofed addresses of the LAN, 8 SYNs each from one MAC, never served: one
    alert for the service, no source named, within two seconds of the first SYN."""
    found = run(make(SynFlood), lan_spoofed_crowd(answer))
    assert found
    assert {(f.kind, f.src_ip, f.src_mac, f.target, f.identifier) for f in found} == {
        ("spoofed", "", "", VICTIM, f"{VICTIM}:80")
    }
    assert found[0].counts["senders"] == 227
    assert "from 227 spoofed sources" in found[0].summary
    assert found[0].ts - T0 <= 2.0


def test_the_same_crowd_answered_by_the_service_is_its_clients() -> None:
    """The same addresses and MAC (clients behind a router), each SYN answered with a
    SYN-ACK: a busy server's clients, not a flood."""
    assert run(make(SynFlood), lan_spoofed_crowd(SYN_ACK)) == []


def test_a_crowd_mostly_answered_is_not_a_flood() -> None:
    """A fifth of the router's clients never answered (a server busy or losing some): the
    service still serves nearly all of them, so no flood."""
    frames = [
        p for p in lan_spoofed_crowd(SYN_ACK) if not (p.tcp_flags == SYN_ACK and p.dst[3] % 5 == 0)
    ]
    assert run(make(SynFlood), frames) == []


def clients(
    n: int, each: int, seconds: float, answered: bool, mac: str | None = None
) -> list[Packet]:
    """``n`` clients each opening ``each`` connections to port 443 over ``seconds``, each
    from its own MAC unless ``mac``; the server answers each SYN with a SYN-ACK if
    ``answered``."""
    out = []
    for k in range(each):
        for c in range(n):
            ts = T0 + seconds * (k * n + c) / (n * each)
            src = f"10.78.{c // 250}.{c % 250 + 1}"
            src_mac = mac or f"02:10:00:00:{c >> 8:02x}:{c & 255:02x}"
            sport = 40000 + k
            out.append(seg(src, "10.77.0.10", sport, 443, SYN, ts, src_mac, VICTIM_MAC))
            if answered:
                out.append(
                    seg("10.77.0.10", src, 443, sport, SYN_ACK, ts + 2e-4, VICTIM_MAC, src_mac)
                )
    return out


def test_sixty_laptops_opening_twenty_connections_each_are_not_a_flood() -> None:
    """60 laptops, 20 connections each in 3 s (400 SYN/s), answered: no alert."""
    assert run(make(SynFlood), clients(60, 20, 3.0, answered=True)) == []


def test_a_web_proxys_students_are_not_a_flood() -> None:
    """400 students (their own MACs) opening 3 connections each to the proxy in 3 s,
    answered: no alert."""
    assert run(make(SynFlood), clients(400, 3, 3.0, answered=True)) == []


def test_laptops_retrying_a_dead_service_are_not_a_flood() -> None:
    """400 laptops, each with its own MAC, retrying a service that never answers (800
    SYN/s for 3 s): unanswered, but real hosts, each with its own MAC."""
    assert run(make(SynFlood), clients(400, 6, 3.0, answered=False)) == []


def test_clients_behind_the_gateway_loading_one_site_are_not_a_flood() -> None:
    """300 addresses behind the gateway's MAC opening 5 connections each in 3 s (500
    SYN/s) to the school's web server, every one answered: not a spoofed crowd."""
    assert run(make(SynFlood), clients(300, 5, 3.0, answered=True, mac=GATEWAY)) == []


def test_a_crowd_past_the_frame_budget_from_aggregates_alone() -> None:
    """The crowd counted on the capture side (SynAggregate: 64 senders a second kept
    exactly, the rest counted), 192 addresses from one MAC, is judged the same way: one
    alert for the service, no source named."""
    det = make(SynFlood)
    dst = bytes([10, 77, 0, 101])
    mac = bytes.fromhex(ATTACKER.replace(":", ""))
    found = []
    for s in range(3):
        senders = tuple((bytes([10, 77, 0, 20 + s * 64 + i]), mac, 20) for i in range(64))
        agg = SynAggregate(
            int(T0) + s, dst, 80, packets=64 * 20 + 100, senders=senders, untracked=100
        )
        found += det.observe_aggregate(agg)
        found += det.tick(int(T0) + s + 1)
    found += det.tick(int(T0) + 4)
    assert {(f.kind, f.src_ip, f.identifier) for f in found} == {("spoofed", "", f"{VICTIM}:80")}


def test_laptops_past_the_frame_budget_are_not_a_spoofed_crowd() -> None:
    """Three seconds of aggregates from 192 senders, each with its own MAC: many real
    hosts, not one machine speaking for many addresses; the crowd shape does not take
    them."""
    det = make(SynFlood)
    dst = bytes([10, 77, 0, 101])
    found = []
    for s in range(3):
        senders = tuple(
            (bytes([10, 77, 0, 20 + s * 64 + i]), bytes([2, 16, 0, 0, s, i]), 20) for i in range(64)
        )
        agg = SynAggregate(int(T0) + s, dst, 80, packets=64 * 20, senders=senders)
        found += det.observe_aggregate(agg)
        found += det.tick(int(T0) + s + 1)
    assert found == []


def write_crowd(path: Path, frames: int, seconds: float, addresses: int) -> None:
    """SYNs to port 80 from ``addresses`` spoofed addresses in turn, all from one MAC."""
    with path.open("wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i in range(frames):
            a = i % addresses
            src = f"10.30.{a // 200}.{a % 200 + 1}"
            data = raw(src, "10.30.9.1", 1024 + a, 80, SYN, ATTACKER, VICTIM_MAC)
            ts = T0 + seconds * i / frames
            sec, usec = int(ts), round((ts % 1) * 1e6)
            f.write(struct.pack("<IIII", sec, usec, len(data), len(data)) + data)


@pytest.mark.parametrize("engine", ["c", "python"])
def test_a_repeating_crowd_past_the_budget_from_frames_and_aggregates(
    tmp_path: Path, engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """3,000 spoofed addresses, 10 SYNs each in a second (30,000 SYN/s, past the frame
    budget), read by the capture side, C and Python: part frames, part aggregates, one
    spoofed syn_flood alert counting both."""
    use_engine(engine, monkeypatch)
    path = tmp_path / "crowd.pcap"
    write_crowd(path, 30_000, 1.0, 3000)
    job = Analysis([path], Settings(networks=("10.30.0.0/16",), detect=DetectConfig()))
    found = [a for a in job.run() if a.resolved is None]
    acc = job.pipeline.accounting
    assert acc.detector_frames_dropped == 0
    assert 5_000 < acc.detector_frames_aggregated < 25_000, acc.detector_frames_aggregated
    assert {(a.detector, a.kind, a.source.ip) for a in found} == {("syn_flood", "spoofed", "")}
    # flagged when its first half second is over: its 15,000 SYNs, more than the budget
    # let through as frames in it
    assert dict(found[0].counts)["syn"] >= 14_500
