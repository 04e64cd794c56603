"""A flood past the detectors' frame budget: nothing withheld from scan or flood detection.

A spoofed SYN flood fifty times the budget with a port scan inside it, read by the
same pipeline ``sentinel analyze`` and the capture worker use: the scanner, known from
its second probe, keeps its share of the budget, so every probe reaches ``port_scan``;
the flood's SYNs past the budget reach ``syn_flood`` as aggregates. The same with the C
engine and the Python one.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

import pytest

from sentinel.capture.offline import Analysis
from sentinel.capture.pipeline import Settings
from sentinel.config.detect import DetectConfig
from tests.helpers import use_engine

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from typing import BinaryIO

SCANNER = bytes([10, 30, 0, 66])
VICTIM = bytes([10, 30, 0, 1])


def pcap_writer(f: BinaryIO) -> Callable[[float, bytes], None]:
    """Write a classic pcap header to ``f``; the function that appends one frame."""
    f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))

    def put(ts: float, data: bytes) -> None:
        f.write(struct.pack("<IIII", int(ts), round((ts % 1) * 1e6), len(data), len(data)))
        f.write(data)

    return put


def syn(src: bytes, dst: bytes, sport: int, dport: int, mac: bytes) -> bytes:
    """An Ethernet/IPv4/TCP SYN (checksums zero: nothing in the pipeline checks them)."""
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, 1, 0, 64, 6, 0, src, dst)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 0x50, 0x02, 1024, 0, 0)
    return b"\x02\x00\x00\x00\x0b\x02" + mac + b"\x08\x00" + ip + tcp


def write_flood(path: Path, frames: int, seconds: float) -> int:
    """Spoofed SYNs to port 80, every 250th frame the scanner's probe of the next port."""
    t0 = 1_800_000_000.0
    probes = 0
    with path.open("wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i in range(frames):
            if i % 250 == 0:
                probes += 1
                data = syn(SCANNER, VICTIM, 40000, probes, b"\x02\x00\x00\x00\x0a\x66")
            else:
                src = bytes([100, (i >> 16) & 255, (i >> 8) & 255, i & 255])
                data = syn(src, VICTIM, 1024 + i % 60000, 80, b"\x02\x00\x00\x00\x0a\x01")
            ts = t0 + seconds * i / frames
            sec, usec = int(ts), round((ts % 1) * 1e6)
            f.write(struct.pack("<IIII", sec, usec, len(data), len(data)) + data)
    return probes


@pytest.mark.parametrize("engine", ["c", "python"])
def test_a_scan_inside_a_flood_fifty_times_the_budget(
    tmp_path: Path, engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_engine(engine, monkeypatch)
    path = tmp_path / "flood.pcap"
    probes = write_flood(path, 100_000, 0.1)  # a million frames a second, 4,000 probes
    job = Analysis([path], Settings(networks=("10.30.0.0/16",), detect=DetectConfig()))
    found = list(job.run())
    acc = job.pipeline.accounting
    assert type(acc).__name__ == ("FastAccounting" if engine == "c" else "Accounting")
    assert acc.detector_frames == 100_000
    assert acc.detector_frames_dropped == 0
    assert acc.detector_frames_aggregated > 90_000
    kinds = {(a.detector, a.kind) for a in found if a.resolved is None}
    assert ("syn_flood", "spoofed") in kinds, found
    [scan] = [a for a in found if a.detector == "port_scan"]
    assert dict(scan.counts)["ports"] == probes, scan  # every probe, none sampled away
    flood = next(a for a in found if a.detector == "syn_flood")
    assert dict(flood.counts)["syn"] >= 90_000  # the aggregates' SYNs, not the budget's


def test_a_scan_burst_is_not_cut_to_one_slice(tmp_path: Path) -> None:
    """nmap sends its probes in bursts: 2,000 in a tenth of a second inside the flood, 200
    per 10 ms slice where a slice's share for known sources is 150. The known sources'
    budget holds what earlier slices left (up to ten slices), so every probe gets through."""
    t0 = 1_800_000_000.0
    path = tmp_path / "burst.pcap"
    probes = 0
    with path.open("wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i in range(100_000):
            if 50_000 <= i < 60_000 and i % 5 == 0:
                probes += 1
                data = syn(SCANNER, VICTIM, 40000, probes, b"\x02\x00\x00\x00\x0a\x66")
            else:
                src = bytes([100, (i >> 16) & 255, (i >> 8) & 255, i & 255])
                data = syn(src, VICTIM, 1024 + i % 60000, 80, b"\x02\x00\x00\x00\x0a\x01")
            ts = t0 + i / 100_000
            f.write(struct.pack("<IIII", int(ts), round((ts % 1) * 1e6), len(data), len(data)))
            f.write(data)
    job = Analysis([path], Settings(networks=("10.30.0.0/16",), detect=DetectConfig()))
    found = list(job.run())
    [scan] = [a for a in found if a.detector == "port_scan"]
    assert dict(scan.counts)["ports"] == probes == 2000, scan
    assert job.pipeline.accounting.detector_frames_dropped == 0


def udp(src: bytes, dst: bytes, sport: int, dport: int, mac: bytes, data: int = 120) -> bytes:
    """An Ethernet/IPv4/UDP datagram of ``data`` zero bytes."""
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28 + data, 1, 0, 64, 17, 0, src, dst)
    return (
        b"\x02\x00\x00\x00\x0b\x02"
        + mac
        + b"\x08\x00"
        + ip
        + struct.pack("!HHHH", sport, dport, 8 + data, 0)
        + bytes(data)
    )


def frag4(
    src: bytes, dst: bytes, mac: bytes, proto: int, ident: int, offset: int, more: bool, data: bytes
) -> bytes:
    """An Ethernet/IPv4 fragment: ``data`` at ``offset`` (8-byte units) of datagram ``ident``."""
    flags = (0x2000 if more else 0) | offset
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(data), ident, flags, 64, proto, 0, src, dst)
    return b"\x02\x00\x00\x00\x0b\x02" + mac + b"\x08\x00" + ip + data


def udp_in_fragments(
    src: bytes, dst: bytes, sport: int, dport: int, mac: bytes, ident: int, data: int = 3000
) -> list[bytes]:
    """A UDP datagram of ``data`` bytes as the kernel splits it over a 1,500-byte MTU:
    fragments of 1,480 bytes, the UDP header in the first."""
    body = struct.pack("!HHHH", sport, dport, 8 + data, 0) + bytes(data)
    chunks = [body[i : i + 1480] for i in range(0, len(body), 1480)]
    return [
        frag4(src, dst, mac, 17, ident, i * 185, i < len(chunks) - 1, chunk)
        for i, chunk in enumerate(chunks)
    ]


@pytest.mark.parametrize("engine", ["c", "python"])
def test_a_flood_in_fragments_and_answered_fragments_beside_it(
    tmp_path: Path, engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three seconds of 1,000 datagrams of 3,000 bytes a second (3,000 IPv4 fragments) to a
    student that answers none (hping3 -d 3000), and beside it NFS over UDP: a server's
    replies in fragments at the same rate to a laptop that sends a request for each, and
    a few large DNS answers in fragments: one flood alert, of kind fragments, for the
    first. Before fragments were counted, nothing was raised."""
    use_engine(engine, monkeypatch)
    attacker, student = bytes([10, 30, 0, 66]), bytes([10, 30, 0, 9])
    nfs, laptop, resolver = bytes([10, 30, 0, 20]), bytes([10, 30, 0, 50]), bytes([10, 30, 0, 2])
    t0, n = 1_800_000_000.0, 3000
    path = tmp_path / "fragments.pcap"
    with path.open("wb") as f:
        put = pcap_writer(f)

        for i in range(n):
            ts = t0 + 3.0 * i / n
            for frame in udp_in_fragments(
                attacker, student, 2000 + i, 9999, b"\x02\x00\x00\x00\x0a\x66", i
            ):
                put(ts, frame)
            put(ts, udp(laptop, nfs, 800, 2049, b"\x02\x00\x00\x00\x0a\x50", 100))
            for frame in udp_in_fragments(nfs, laptop, 2049, 800, b"\x02\x00\x00\x00\x0a\x20", i):
                put(ts, frame)
            if i % 500 == 0:  # an EDNS answer of 3,000 bytes
                for frame in udp_in_fragments(
                    resolver, laptop, 53, 5353, b"\x02\x00\x00\x00\x0a\x02", i
                ):
                    put(ts, frame)
    cfg = Settings(networks=("10.30.0.0/16",), detect=DetectConfig(), pseudonymise=False)
    found = [a for a in Analysis([path], cfg).run() if a.resolved is None]
    assert [(a.detector, a.kind, a.target, a.source.ip) for a in found] == [
        ("flood", "fragments", "10.30.0.9", "10.30.0.66")
    ], found
    assert "answered=0" in found[0].description
    assert dict(found[0].counts)["packets"] >= 3000  # a full second of fragments


@pytest.mark.parametrize("engine", ["c", "python"])
def test_a_flood_of_datagrams_with_data_and_a_download_beside_it(
    tmp_path: Path, engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three seconds of 15,000 datagrams of 120 bytes a second to one host that answers
    none (a UDP flood with data) and, beside it, a QUIC-like download of 15,000 a second
    to a laptop that acknowledges every fourth: one UDP flood alert, for the first."""
    use_engine(engine, monkeypatch)
    victim, laptop, cdn = bytes([10, 30, 0, 9]), bytes([10, 30, 0, 50]), bytes([198, 51, 100, 7])
    t0, n = 1_800_000_000.0, 45_000
    path = tmp_path / "udp.pcap"
    with path.open("wb") as f:
        put = pcap_writer(f)

        for i in range(n):
            ts = t0 + 3.0 * i / n
            attacker = bytes([10, 30, 0, 66])
            put(ts, udp(attacker, victim, 40000 + i % 7, 9999, b"\x02\x00\x00\x00\x0a\x66"))
            put(ts, udp(cdn, laptop, 443, 51000, b"\x02\x00\x00\x00\x00\x01", 1200))
            if i % 4 == 0:
                put(ts, udp(laptop, cdn, 51000, 443, b"\x02\x00\x00\x00\x0a\x50", 40))
    cfg = Settings(networks=("10.30.0.0/16",), detect=DetectConfig(), pseudonymise=False)
    job = Analysis([path], cfg)
    found = [a for a in job.run() if a.resolved is None]
    floods = [a for a in found if a.detector == "flood"]
    assert [(a.kind, a.target, a.source.ip) for a in floods] == [
        ("udp", "10.30.0.9", "10.30.0.66")
    ], found
    assert all(a.detector == "flood" for a in found), found
    assert "answered=0" in floods[0].description
    assert dict(floods[0].counts)["packets"] >= 10_000  # a full second over the rate
