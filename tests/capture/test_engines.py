"""The C accounting engine counts exactly what the Python reference counts.

Both engines get the same frames: recorded lab captures, a crafted protocol mix,
spoofed-source floods against small device tables, hostile bytes, and TPACKET_V3 ring
blocks laid out as the kernel lays them out. The Python engine reads the frames one by
one (``pcapfile.read``, ``Accounting.frame``); the C engine walks whole regions and
blocks (``FastAccounting.pcap``, ``.ring_block``). Every counter, table size, top talker
and wanted frame must match.
"""

from __future__ import annotations

import os
import random
import shutil
import struct
import sysconfig
from pathlib import Path
from typing import Any

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import (
    ICMPv6ND_NA,
    ICMPv6ND_RA,
    ICMPv6NDOptDstLLAddr,
    ICMPv6NDOptSrcLLAddr,
    IPv6,
    IPv6ExtHdrHopByHop,
)
from scapy.layers.l2 import Ether
from scapy.utils import wrpcap

from sentinel.capture import accounting, pcapfile
from sentinel.capture.accounting import Accounting, engine, new_accounting
from sentinel.capture.pcapfile import Region, scan
from tests.capture.test_accounting_tshark import LAB_PCAPS, NET4, NET6, mixed
from tests.capture.test_aggregates import VICTIM, frag4, syn, udp, udp_in_fragments

HERE = Path(__file__).resolve().parent
RECORDED = sorted((HERE.parent / "data" / "lab").glob("*.pcap*"))  # .pcap, .pcap.gz
FAST = getattr(accounting, "FastAccounting", None)

needs_c = pytest.mark.skipif(FAST is None, reason="the C engine is not built")


def test_c_engine_built_where_it_can_be() -> None:
    """Where a C compiler and the Python headers exist, the install built the C engine."""
    headers = Path(sysconfig.get_paths()["include"], "Python.h").exists()
    if not (headers and shutil.which("cc")):
        pytest.skip("no C compiler or Python headers: the pure-Python engine is expected")
    assert FAST is not None, "the C engine did not build: run pip install -e . again"
    if not os.environ.get("SENTINEL_NO_EXTENSIONS"):
        assert engine() == "c"
        assert isinstance(new_accounting(), FAST)


def test_no_extensions_selects_python(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTINEL_NO_EXTENSIONS", "1")
    assert engine() == "python"
    assert type(new_accounting()) is Accounting


FLOOD_MAC = b"\x02\x00\x00\x00\x0a\x01"


def write_frames(path: Path, frames: list[tuple[float, bytes]]) -> None:
    """A classic pcap of (time, Ethernet frame), built without scapy (it is fast)."""
    with path.open("wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for ts, data in frames:
            sec, usec = int(ts), round((ts % 1) * 1e6)
            if usec == 1_000_000:
                sec, usec = sec + 1, 0
            f.write(struct.pack("<IIII", sec, usec, len(data), len(data)) + data)


def state(acc: Any) -> dict[str, Any]:
    snap = acc.snapshot()
    return {
        "snapshot": snap,
        "talkers": acc.talker_items(),
        "top": acc.top_talkers(),
        "wanted": acc.detector_batch(),
        "aggregates": acc.aggregates(),
        "mac_aggregates": acc.mac_aggregates(),
        "udp_aggregates": acc.udp_aggregates(final=True),
        "udp_spread": acc.udp_spread(final=True),
    }


def python_file(path: Path, networks: tuple[str, ...], **kw: Any) -> dict[str, Any]:
    acc = Accounting(networks, **kw)
    for ts, linktype, frame, wirelen in pcapfile.read(path):
        assert linktype == 1
        acc.frame(frame, wirelen, ts)
    return state(acc)


def c_file(path: Path, networks: tuple[str, ...], limit: int = 1 << 30, **kw: Any) -> dict:
    assert FAST is not None
    acc = FAST(networks, **kw)
    calls = 0
    for item in scan(path):
        assert isinstance(item, Region)
        for n in item.batches(acc.pcap, limit):
            calls += 1
            assert n <= limit
    out = state(acc)
    out["calls"] = calls
    return out


def same(py: dict[str, Any], c: dict[str, Any]) -> None:
    assert c["snapshot"] == py["snapshot"]
    assert c["talkers"] == py["talkers"]
    assert c["top"] == py["top"]
    assert c["wanted"] == py["wanted"]
    assert c["aggregates"] == py["aggregates"]
    assert c["mac_aggregates"] == py["mac_aggregates"]
    assert c["udp_aggregates"] == py["udp_aggregates"]
    assert c["udp_spread"] == py["udp_spread"]


CAPTURES = RECORDED + LAB_PCAPS


@needs_c
@pytest.mark.parametrize("path", CAPTURES, ids=[f"{p.parent.name}-{p.stem}" for p in CAPTURES])
def test_recorded_captures(path: Path) -> None:
    """Lab recordings (attacks and the benign baseline): every counter and wanted frame."""
    nets = (NET4, "10.30.0.0/16", NET6)
    py = python_file(path, nets)
    assert py["snapshot"].packets != [0] * 64
    same(py, c_file(path, nets))


@needs_c
@pytest.mark.parametrize("networks", [(), (NET4,), (NET4, NET6), ("0.0.0.0/0", "::/0")])
def test_crafted_mix(tmp_path: Path, networks: tuple[str, ...]) -> None:
    """Tags, QinQ, IPv6 extension headers, fragments, ARP, ICMP errors, LLDP."""
    path = tmp_path / "mix.pcap"
    wrpcap(str(path), mixed() * 3)
    py = python_file(path, networks)
    c = c_file(path, networks, limit=7)  # small batches: a walk resumes where it stopped
    assert c["calls"] > 10
    same(py, c)


@needs_c
def test_neighbour_discovery_reaches_detectors(tmp_path: Path) -> None:
    """Router and neighbour advertisements (one behind a hop-by-hop header) are handed
    to the detectors whole by both engines (rogue_ra and nd_spoof read their bodies)."""
    frames = [
        Ether(src="02:77:00:00:66:66", dst="33:33:00:00:00:01")
        / IPv6(src="fe80::66", dst="ff02::1", hlim=255)
        / ICMPv6ND_RA(routerlifetime=1800)
        / ICMPv6NDOptSrcLLAddr(lladdr="02:77:00:00:66:66"),
        Ether(src="02:77:00:00:66:66", dst="33:33:00:00:00:01")
        / IPv6(src="fe80::66", dst="ff02::1", hlim=255)
        / IPv6ExtHdrHopByHop()
        / ICMPv6ND_NA(tgt="fe80::1", O=1)
        / ICMPv6NDOptDstLLAddr(lladdr="02:77:00:00:66:66"),
    ]
    path = tmp_path / "nd.pcap"
    wrpcap(str(path), frames)
    py = python_file(path, (NET4, NET6))
    assert [f for _ts, _n, f in py["wanted"]] == [bytes(f) for f in frames]
    same(py, c_file(path, (NET4, NET6)))


@needs_c
def test_spoofed_flood_small_tables(tmp_path: Path) -> None:
    """Random source MACs and IPs past a small device cap, across device-window rotations,
    with the top-talker summary churning: tables, overflow counts and talkers match."""
    rng = random.Random(7)
    frames = []
    for i in range(6000):
        mac = ":".join(f"{b:02x}" for b in rng.randbytes(6))
        src = f"10.77.0.{rng.randrange(256)}" if i % 3 else f"10.77.{rng.randrange(256)}.1"
        p = Ether(src=mac) / IP(src=src, dst="198.51.100.7") / UDP(sport=i, dport=443)
        p.time = 1000 + i * 0.05  # 300 s of traffic: three rotations of a 200 s window
        frames.append(p / (b"x" * rng.randrange(200)))
    path = tmp_path / "flood.pcap"
    wrpcap(str(path), frames)
    kw = {"device_cap": 500, "window": 200.0, "talker_slots": 8, "detector_rate": 30}
    py = python_file(path, ("10.77.0.0/16",), **kw)
    assert py["snapshot"].device_table_full > 0
    # Past the budget, every frame is a never-seen MAC: counted for mac_flood, none lost.
    assert py["snapshot"].detector_frames_aggregated > 0
    assert sum(n for _s, n, _m in py["mac_aggregates"]) == py["snapshot"].detector_frames_aggregated
    same(py, c_file(path, ("10.77.0.0/16",), **kw))


@needs_c
def test_hostile_frames() -> None:
    """Random bytes behind plausible headers: no crash, the same counts and reasons."""
    rng = random.Random(20261129)
    good = [
        bytes(Ether() / IP(src="10.77.0.9", dst="10.77.0.1") / TCP(flags="S")),
        bytes(Ether() / IP(src="10.77.0.9") / UDP(dport=53) / b"q"),
        bytes(Ether(type=0x86DD) / bytes.fromhex("60000000000811ff") / (b"\x20" * 32)),
        bytes(Ether(type=0x8100) / b"\x00\x01\x86\xdd" / (b"\x00" * 60)),
    ]
    py, c = Accounting((NET4, NET6)), FAST((NET4, NET6))  # type: ignore[misc]
    for i in range(30000):
        head = good[i % len(good)]
        cut = rng.randrange(len(head) + 1)
        frame = head[:cut] + rng.randbytes(rng.randrange(0, 80))
        if i % 5 == 0:  # absurd header lengths and next headers
            frame = bytearray(frame)
            for _ in range(3):
                if frame:
                    frame[rng.randrange(len(frame))] = rng.randrange(256)
            frame = bytes(frame)
        wirelen, ts = len(frame) + rng.randrange(3), 1e9 + i / 1000
        py.frame(frame, wirelen, ts)
        c.frame(frame, wirelen, ts)
    assert py.malformed
    same(state(py), state(c))


@needs_c
def test_hostile_pcap_regions() -> None:
    """Random bytes as pcap records: the walk stops at a damaged record, never reads past
    the region, and agrees with the Python walker."""
    rng = random.Random(3)
    for _ in range(3000):
        body = bytearray(rng.randbytes(rng.randrange(0, 400)))
        if len(body) >= 16 and rng.random() < 0.7:  # a plausible first record length
            struct.pack_into("<I", body, 8, rng.randrange(0, 80))
        view = memoryview(bytes(body))
        end = rng.randrange(0, len(view) + 1)
        big = rng.random() < 0.5
        py, c = Accounting(), FAST()  # type: ignore[misc]
        want = py.pcap(view, 0, end, big, 1e-6, 1 << 20)
        assert c.pcap(view, 0, end, big, 1e-6, 1 << 20) == want
        same(state(py), state(c))


TPACKET_HDR = struct.Struct("=IIIIIIHH")


def ring_block(frames: list[tuple[bytes, int, int, int]], size: int = 1 << 16) -> bytearray:
    """A TPACKET_V3 block as the kernel writes it: block header, then packets chained by
    tp_next_offset, each frame at tp_mac behind its header (frame, wirelen, sec, nsec)."""
    block = bytearray(size)
    first = pos = 48
    for i, (frame, wirelen, sec, nsec) in enumerate(frames):
        mac = 68  # header (48) + sockaddr_ll-ish padding, aligned as the kernel does
        nxt = 0 if i == len(frames) - 1 else (mac + len(frame) + 15) // 16 * 16
        TPACKET_HDR.pack_into(block, pos, nxt, sec, nsec, len(frame), wirelen, 1, mac, mac + 14)
        block[pos + mac : pos + mac + len(frame)] = frame
        pos += nxt
    struct.pack_into("=IIIIII", block, 0, 1, 0, 1, len(frames), first, pos)
    return block


@needs_c
def test_ring_blocks() -> None:
    """Ring blocks: the C walker and the Python walker see the same frames."""
    frames = [bytes(p) for p in mixed()]
    rng = random.Random(5)
    py, c = Accounting((NET4, NET6)), FAST((NET4, NET6))  # type: ignore[misc]
    for b in range(20):
        chosen = [
            (f, len(f) + rng.randrange(2), 1700000000 + b, rng.randrange(10**9))
            for f in rng.sample(frames, 40)
        ]
        view = memoryview(ring_block(chosen))
        assert py.ring_block(view, 0, len(view)) == c.ring_block(view, 0, len(view)) == 40
    same(state(py), state(c))


@needs_c
def test_hostile_ring_blocks() -> None:
    """A block whose header or packet offsets point outside it is cut short, not followed."""
    rng = random.Random(11)
    c = FAST()  # type: ignore[misc]
    good = ring_block([(bytes(Ether() / IP() / TCP()), 54, 1, 0)] * 30, size=4096)
    for _ in range(5000):
        block = bytearray(good)
        for _ in range(rng.randrange(1, 6)):
            block[rng.randrange(64)] = rng.randrange(256)
        if rng.random() < 0.3:
            struct.pack_into("=I", block, 12, rng.randrange(1 << 32))  # absurd packet count
        view = memoryview(bytes(block))
        assert 0 <= c.ring_block(view, 0, len(view)) <= 1 << 32
    view = memoryview(bytes(good))
    assert c.ring_block(view, 0, len(view) + 1) == 0  # a block past the buffer: nothing
    assert c.ring_block(view, -1, 100) == 0


@needs_c
def test_without_detectors_nothing_is_wanted(tmp_path: Path) -> None:
    """detector_cap 0 (no detectors configured): no copies, and none counted as dropped."""
    path = tmp_path / "mix.pcap"
    wrpcap(str(path), mixed())
    py = python_file(path, (NET4,), detector_cap=0)
    assert py["wanted"] == []
    assert py["snapshot"].detector_frames == py["snapshot"].detector_frames_dropped == 0
    assert sum(py["snapshot"].packets) == len(mixed())
    same(py, c_file(path, (NET4,), detector_cap=0))


@needs_c
def test_more_networks_than_the_c_engine_holds() -> None:
    """A site listing more networks of one family than the C engine holds gets the Python
    engine, not a capture worker that fails to start."""
    many = [f"10.{i}.0.0/16" for i in range(accounting.FAST_MAX_NETWORKS + 1)]
    if engine() == "c":
        assert isinstance(new_accounting(many[:-1]), FAST)  # type: ignore[arg-type]
    acc = new_accounting(many)
    assert type(acc) is Accounting
    with pytest.raises(ValueError, match="too many site networks"):
        FAST(many)  # type: ignore[misc]


def probes() -> tuple[list[Ether], int]:
    """Scan probes both engines hand to the detectors, with traffic neither does."""
    a, b = "02:00:00:00:0a:01", "02:00:00:00:0b:02"
    src, dst = "10.77.0.66", "10.77.0.10"
    wanted = [
        IP(src=src, dst=dst) / TCP(dport=1, flags=""),  # NULL
        IP(src=src, dst=dst) / TCP(dport=2, flags="FPU"),  # Xmas
        IP(src=src, dst=dst) / TCP(dport=3, flags="F"),  # FIN
        IP(src=src, dst=dst) / TCP(dport=4, flags="R"),  # bare RST
        IP(src=src, dst=dst) / UDP(sport=45000, dport=5),  # an empty datagram
        IP(src=src, dst=dst, proto=132),  # SCTP: a rare protocol
        IP(src=src, dst=dst, proto=200) / (b"x" * 8),
        IP(src=src, dst=dst) / TCP(dport=6, flags="A"),  # an ACK acknowledging nothing
    ]
    unwanted = [
        IP(src=src, dst=dst) / TCP(dport=7, flags="PA") / b"data",
        IP(src=src, dst=dst) / UDP(sport=45000, dport=443) / b"quic",
        IP(src=src, dst=dst, proto=47) / (b"gre" * 10),  # tunnels carry traffic
        IP(src=src, dst=dst, proto=50) / (b"esp" * 10),
    ]
    frames = [Ether(src=a, dst=b) / f for f in wanted + unwanted]
    return frames, len(wanted)


@needs_c
def test_scan_probes_wanted_alike(tmp_path: Path) -> None:
    """NULL/FIN/Xmas segments, bare RSTs, empty UDP datagrams, rare IP protocols and ACKs
    of flows never seen are wanted by both engines; data, GRE and ESP are not."""
    path = tmp_path / "probes.pcap"
    frames, n = probes()
    # a warm-up frame first, so no probe is wanted for being a never-seen MAC
    wrpcap(str(path), [frames[-1], *frames[n:], *frames])
    py = python_file(path, (NET4,), detector_rate=1000, detector_cap=1000)
    c = c_file(path, (NET4,), detector_rate=1000, detector_cap=1000)
    same(py, c)
    assert len(py["wanted"]) == 1 + n  # the warm-up frame: a new MAC


@needs_c
def test_empty_acks_and_their_answers_wanted_alike(tmp_path: Path) -> None:
    """An empty ACK is wanted when its peer has been quiet (an ACK, Window or Maimon
    scan's probe; a keepalive), and so is the peer's next segment (the answer that tells
    a live flow from a filtered host); the ACKs of a live flow are not."""
    a, b = "02:00:00:00:0a:01", "02:00:00:00:0b:02"
    cli, srv = "10.77.0.66", "10.77.0.10"

    def seg(t: float, fwd: bool, port: int, flags: str, data: bytes = b"") -> Ether:
        ip = IP(src=cli, dst=srv) if fwd else IP(src=srv, dst=cli)
        tcp = TCP(sport=40000, dport=port) if fwd else TCP(sport=port, dport=40000)
        p = Ether(src=a if fwd else b, dst=b if fwd else a) / ip / tcp
        p[TCP].flags = flags
        p = p / data if data else p
        p.time = t
        return p

    frames = [
        seg(0.0, True, 9, "S"),  # warm-up: both MACs seen
        seg(0.0, False, 9, "SA"),
        seg(1.0, True, 80, "PA", b"GET / HTTP/1.1\r\n"),  # a live flow: none wanted
        seg(1.01, False, 80, "A"),
        seg(1.02, False, 80, "PA", b"HTTP/1.1 200 OK\r\n"),
        seg(1.03, True, 80, "A"),
        seg(2.0, True, 22, "A"),  # wanted: nothing seen from the peer
        seg(2.01, False, 22, "R"),  # wanted (an RST), and the answer
        seg(3.0, True, 23, "A"),  # wanted
        seg(3.01, False, 23, "A"),  # wanted: the answer of a live flow
        seg(3.02, True, 23, "A"),  # not wanted: the peer just spoke
        seg(4.0, True, 24, "FA"),  # wanted (a FIN)
        seg(4.01, False, 24, "A"),  # wanted: the answer to the FIN|ACK
        seg(5.0, True, 25, "A"),  # wanted
        seg(5.5, True, 25, "A"),  # not wanted: the first still awaits its answer
        seg(16.0, True, 25, "A"),  # wanted: past the answer window, the peer still quiet
        seg(30.0, True, 80, "A"),  # wanted: the peer quiet for 29 s
        seg(30.01, False, 80, "PA", b"xx"),  # wanted: its answer
        seg(30.02, True, 80, "A"),  # not wanted
    ]
    path = tmp_path / "acks.pcap"
    wrpcap(str(path), frames)
    py = python_file(path, (NET4,), detector_rate=1000, detector_cap=1000)
    same(py, c_file(path, (NET4,), detector_rate=1000, detector_cap=1000))
    got = [(round(ts, 2)) for ts, _, _ in py["wanted"]]
    assert got == [0.0, 0.0, 2.0, 2.01, 3.0, 3.01, 4.0, 4.01, 5.0, 16.0, 30.0, 30.01]
    off = python_file(path, (NET4,), detector_rate=1000, detector_cap=0)
    assert off["wanted"] == []  # no detectors: the flows are not even tracked


def test_detector_budget_samples_the_whole_second(tmp_path: Path) -> None:
    """A SYN flood from spoofed sources ten times the detectors' rate, with a scanner's
    SYN every 20th frame: the scanner, known from its second probe, has three quarters of
    the budget, so every probe reaches the detectors, all through the second; the flood's
    one-shot senders share the other quarter, and the SYNs past it are counted in
    (second, victim, port) aggregates, none withheld; the same in both engines."""
    scanner = bytes([10, 30, 0, 66])
    path = tmp_path / "flood.pcap"
    n, rate = 20000, 2000
    frames = []
    for i in range(n):
        if i % 20:
            src = bytes([10, 100 + i // 65536, i // 256 % 256, i % 256])
            frames.append((1_800_000_000 + i / n, syn(src, VICTIM, 40000, 80, FLOOD_MAC)))
        else:
            frames.append(
                (1_800_000_000 + i / n, syn(scanner, VICTIM, 40000, 1 + i // 20, FLOOD_MAC))
            )
    write_frames(path, frames)
    py = python_file(path, (NET4,), detector_rate=rate, detector_cap=n)
    c = c_file(path, (NET4,), detector_rate=rate, detector_cap=n)
    same(py, c)
    probes = [ts for ts, _wire, frame in py["wanted"] if frame[26:30] == bytes([10, 30, 0, 66])]
    assert len(probes) == n // 20  # every one of the scanner's probes
    assert max(probes) - min(probes) > 0.9
    assert len(py["wanted"]) - len(probes) <= rate // 4  # the one-shot senders' quarter
    snap = py["snapshot"]
    assert snap.detector_frames_dropped == 0
    assert snap.detector_frames_aggregated == n - len(py["wanted"])
    [(second, victim, port, syns, senders, untracked)] = py["aggregates"]
    assert (second, victim, port) == (1_800_000_000, bytes([10, 30, 0, 1]), 80)
    assert syns == snap.detector_frames_aggregated
    assert len(senders) == 64
    assert all(count == 1 for _src, _mac, count in senders)
    assert untracked == syns - 64


@needs_c
def test_multicast_source_frame_is_malformed() -> None:
    """A frame with a group (multicast) source MAC: one malformed frame in both engines,
    never a device nor a frame for the detectors."""
    odd = bytes(Ether(src="01:00:5e:7f:ff:fa", dst="02:77:00:00:00:0a") / IP() / UDP(dport=9))
    ok = bytes(Ether(src="02:77:00:00:01:01") / IP(src="10.77.0.101") / UDP(dport=53) / b"q")
    py, c = Accounting((NET4,)), FAST((NET4,))  # type: ignore[misc]
    for acc in (py, c):
        acc.frame(odd, len(odd), 1.0)
        acc.frame(ok, len(ok), 1.1)
    assert py.malformed == {"multicast_source": 1}
    assert py.snapshot().active_macs == 1
    assert [w[2] for w in py.detector_batch()] == [ok]
    c.detector_batch()
    py.frame(odd, len(odd), 1.2)
    c.frame(odd, len(odd), 1.2)
    same(state(py), state(c))


@needs_c
def test_login_segments_agree(tmp_path: Path) -> None:
    """Refusals, login POSTs and their answers (IPv4 and IPv6), near-misses cut at every
    length, and random payloads behind login-like first bytes: the same wanted frames."""
    from scapy.layers.inet6 import IPv6

    from tests.detect.login_frames import NOT_REFUSALS, REFUSALS, answer, post, reply

    rng = random.Random(45)
    payloads = [r[3] for r in REFUSALS] + [n[1] for n in NOT_REFUSALS]
    prefixes = [b"HTTP/1.1 ", b"POST ", b"530", b"-E", b"\r\nLogin", b"\0\0\0\1", b"E\0\0", b"a1 "]
    prefixes += [b"RFB 003.003\n\0\0\0\0\0\0\0", b"RFB 003.00"]
    payloads += [p[:cut] for p in payloads for cut in range(0, min(len(p), 24))]
    payloads += [rng.choice(prefixes) + rng.randbytes(rng.randrange(0, 40)) for _ in range(400)]
    frames = []
    for i, data in enumerate(payloads):
        frame, _ = reply(8080, 40000 + i % 50, data, 0.0)
        frames.append(Ether(frame))
        six = Ether(src="02:77:00:00:00:0a", dst="02:77:00:00:66:66") / IPv6(
            src="fd77::10", dst="fd77::66"
        )
        frames.append(six / TCP(sport=8080, dport=40000 + i % 50, flags="PA") / data)
    for i in range(40):  # POSTs then answers, some late, some on another flow
        frames.append(Ether(post(8081, 42000 + i, "/login", "user=a&pass=b", 0.0)[0]))
        frames.append(Ether(answer(8081, 42000 + i + (i % 7 == 0), "200 OK", 700, 0.0)[0]))
    t = 1000.0
    for i, p in enumerate(frames):  # answers 0.5 s, 7 s or 12 s after their POST
        t += 12.0 if i % 11 == 0 else 7.0 if i % 7 == 0 else 0.5
        p.time = t
    path = tmp_path / "logins.pcap"
    wrpcap(str(path), frames)
    py = python_file(path, (NET4, NET6))
    assert len(py["wanted"]) > 100
    same(py, c_file(path, (NET4, NET6)))


@needs_c
def test_login_segments_cut_short_agree() -> None:
    """Login segments cut to a snap length (the wire length says more): the same frames
    wanted by both engines, whatever the cut."""
    from tests.detect.login_frames import REFUSALS, reply

    long_ok = b"a1 NO [AUTHENTICATIONFAILED] " + b"x" * 600  # longer than any refusal
    py, c = Accounting((NET4,)), FAST((NET4,))  # type: ignore[misc]
    for i, data in enumerate([r[3] for r in REFUSALS] + [long_ok]):
        frame, _ = reply(8080, 40000 + i, data, 0.0)
        for cut in (54, 57, 58, 60, 64, 70, 90, 128, 256, len(frame)):
            for acc in (py, c):
                acc.frame(frame[:cut], len(frame), 1.0 + i)
    assert py.detector_frames > 0
    same(state(py), state(c))


@needs_c
def test_udp_with_data_per_destination_agrees(tmp_path: Path) -> None:
    """Datagrams with data from spoofed and real senders, answered and not, multicast and
    broadcast beside them, over a second: the same aggregates in both engines, the
    answers counted, group destinations left out."""
    rng = random.Random(11)
    frames = []
    a4 = bytes  # addresses as bytes
    for i in range(3000):
        t = 1000 + i / 3000
        src = a4([10, rng.randrange(1, 250), rng.randrange(256), rng.randrange(256)])
        flows = (
            (b"\x02\x00\x00\x00\x0a\x66", src, a4([10, 77, 0, 9]), i, 53535),
            (b"\x02\x00\x00\x00\x00\x01", a4([198, 51, 100, 7]), a4([10, 77, 0, 50]), 443, 51000),
            (b"\x02\x00\x00\x00\x0a\x50", a4([10, 77, 0, 50]), a4([198, 51, 100, 7]), 51000, 443),
            (b"\x02\x00\x00\x00\x0a\x51", a4([10, 77, 0, 51]), a4([239, 1, 2, 3]), 5004, 5004),
            (b"\x02\x00\x00\x00\x0a\x52", a4([10, 77, 0, 52]), a4([255] * 4), 9, 9),
        )
        frames += [(t, udp(x, y, sport, dport, mac, 40)) for mac, x, y, sport, dport in flows]
    path = tmp_path / "udp.pcap"
    write_frames(path, frames)
    py = python_file(path, (NET4,))
    same(py, c_file(path, (NET4,)))
    got = {(second, dst): (n, answers) for second, dst, n, answers, *_ in py["udp_aggregates"]}
    # (a new MAC's first frame goes to the detectors as a frame, not into the count)
    n, answers = got[(1000, bytes([10, 77, 0, 9]))]
    assert n >= 2990
    assert answers == 0
    n, answers = got[(1000, bytes([10, 77, 0, 50]))]
    assert n >= 2990
    assert answers >= 2990
    assert not any(dst[0] >= 224 for _s, dst in got)


@needs_c
def test_udp_probes_per_sender_agree(tmp_path: Path) -> None:
    """A UDP scan with payloads (300 ports in one second, two of them answered), a client
    below the floor (7 ports), a sender past the tracked senders of a busy destination,
    and a sender of more ports than are kept: the same aggregates in both engines; a
    second of probes is handed over although it holds far fewer datagrams than a flood."""
    a4 = bytes
    atk, client, victim = a4([10, 77, 0, 66]), a4([10, 77, 0, 50]), a4([10, 77, 0, 9])
    amac, cmac, vmac = b"\x02\x00\x00\x00\x0a\x66", b"\x02\x00\x00\x00\x0a\x50", b"\x02" * 6
    busy = a4([10, 77, 0, 20])
    frames = []
    for i in range(300):
        t = 1000 + i / 300
        frames.append((t, udp(atk, victim, 45000, 1 + i, amac, 20)))
        if 1 + i in (7, 161):
            frames.append((t + 0.0001, udp(victim, atk, 1 + i, 45000, vmac, 40)))
        if i < 7:
            frames.append((t, udp(client, victim, 40000, 7000 + i, cmac, 20)))
    # 70 senders of one datagram each, then a scanner of 20 ports
    frames += [
        (1001 + i / 100, udp(a4([10, 77, 1, i]), busy, 5000, 443, cmac, 40)) for i in range(70)
    ]
    frames += [(1001.8 + i / 100, udp(atk, busy, 45000, 100 + i, amac, 20)) for i in range(20)]
    path = tmp_path / "probes.pcap"
    write_frames(path, frames)
    py = python_file(path, (NET4,))
    same(py, c_file(path, (NET4,)))
    got = {(a[0], a[1]): a for a in py["udp_aggregates"]}
    scanned = got[(1000, victim)]
    assert scanned[2] < accounting.UDP_FLOOR  # handed over for its probes, not a flood
    ((sender, mac, ports),) = scanned[9]
    assert (sender, mac) == (atk, amac)
    assert len(ports) == accounting.UDP_PROBE_PORTS  # the first ports kept, no more
    # the ports answered from: 161; port 7's answer was the first frame of a MAC never
    # seen, which goes to the detectors as a frame instead of into the count
    assert scanned[10] == (161,)
    assert (1001, busy) not in got  # the scanner came past the senders tracked exactly


def udp6(src: bytes, dst: bytes, sport: int, dport: int, mac: bytes, data: int = 24) -> bytes:
    """An Ethernet/IPv6/UDP datagram of ``data`` zero bytes."""
    head = struct.pack("!IHBB16s16s", 6 << 28, 8 + data, 17, 64, src, dst)
    return (
        b"\x02\x00\x00\x00\x0b\x02"
        + mac
        + b"\x86\xdd"
        + head
        + struct.pack("!HHHH", sport, dport, 8 + data, 0)
        + bytes(data)
    )


@needs_c
def test_udp_spread_agrees() -> None:
    """Slow UDP probes with data between the site's hosts, frame by frame with hand-overs
    along the way: the same port spreads in both engines. A -T2 scan (40 ports, 0.4 s
    apart) handed over six at a time with the second each port was first sent to; an
    IPv6 one; none for ports answered from in either order, a stream's repeated ports, a
    server answering from more ports than are kept, a subnet's broadcast address, or
    clients' ephemeral ports; a full table takes no new pair until its idle pairs are
    forgotten."""
    a4 = bytes
    amac, cmac, mmac = b"\x02\x00\x00\x00\x0a\x66", b"\x02\x00\x00\x00\x0a\x50", b"\x02" * 6
    atk, victim, client, server = (a4([10, 77, 0, n]) for n in (66, 9, 50, 20))
    console, media, atk2, atk3 = (a4([10, 77, 0, n]) for n in (40, 30, 67, 68))
    v6 = bytes.fromhex("20010db80077" + "00" * 9)
    atk6, victim6 = v6 + b"\x66", v6 + b"\x09"
    # (a never-seen MAC's first frame goes to the detectors, not into the count)
    frames = [
        (999.0, udp(atk, victim, 51733, 40000, amac)),
        (999.0, udp(client, server, 1, 1, cmac)),
    ]
    frames.append((999.0, udp(server, client, 1, 1, mmac)))
    frames += [(1000 + i * 0.4, udp(atk, victim, 51733, 1 + i, amac, 24)) for i in range(40)]
    frames += [(1000.1 + i * 0.4, udp(atk, victim, 51733, 40000 + i, amac, 24)) for i in range(20)]
    for i in range(10):  # answered from each port: half before the client's datagram
        t, port = 1000.2 + i, 2000 + i
        first, back = (t, t + 0.01) if i % 2 else (t + 0.01, t)
        frames.append((first, udp(client, server, 40100, port, cmac, 40)))
        frames.append((back, udp(server, client, port, 40100, mmac, 40)))
    for k in range(6):  # a stream: each port every half second
        frames += [
            (1000.3 + 2 * k + i / 2, udp(console, server, 14336, 14400 + k, cmac, 200))
            for i in range(40)
        ]
    for i in range(20):  # a media server answering from 20 ports
        frames.append((1000.4 + i, udp(client, media, 50000, 10000 + i, cmac, 100)))
        frames.append((1000.41 + i, udp(media, client, 10000 + i, 50000, mmac, 100)))
    broadcast = a4([10, 77, 0, 255])
    frames += [(1000.5 + i, udp(client, broadcast, 137, 130 + i, cmac, 50)) for i in range(10)]
    frames += [(1000.6 + i, udp6(atk6, victim6, 51733, 100 + i, amac)) for i in range(10)]
    # the table filled by a sweep of one datagram each from 4,100 addresses of the site
    sweeper = bytes.fromhex("20010db80077" + "00" * 7)
    for i in range(accounting.SPREAD_CAP + 4):
        src = sweeper + i.to_bytes(3, "big")
        frames.append((1100 + i / 1000, udp6(src, victim6, 40000, 9, cmac)))
    frames += [(1150 + i, udp(atk2, victim, 51733, 1 + i, amac, 24)) for i in range(10)]
    frames += [(2100 + i, udp(atk3, victim, 51733, 1 + i, amac, 24)) for i in range(14)]
    frames.sort(key=lambda x: x[0])
    py, c = Accounting((NET4, NET6)), FAST((NET4, NET6))
    got: dict[str, list[Any]] = {"py": [], "c": []}
    for n, (t, f) in enumerate(frames):
        for name, acc in (("py", py), ("c", c)):
            acc.frame(f, len(f), t)
            if n % 10 == 0:
                got[name] += acc.udp_spread()
    for name, acc in (("py", py), ("c", c)):
        got[name] += acc.udp_spread(final=True)
    assert got["c"] == got["py"]
    by_pair: dict[tuple[bytes, bytes], list[tuple[int, int]]] = {}
    for second, src, mac, dst, ports, answered in got["py"]:
        assert all(s <= second for _, s in ports)
        assert (mac, answered) == (amac, ())  # the sender's MAC; its victims answer none
        by_pair.setdefault((src, dst), []).extend(ports)
    scan = by_pair.pop((atk, victim))
    assert len(scan) == 40  # the ephemeral ones are no probes
    assert scan[:3] == [(1, 1000), (2, 1000), (3, 1000)]
    assert sorted(scan) == [(1 + i, int(1000 + i * 0.4)) for i in range(40)]
    assert len(by_pair.pop((atk6, victim6))) == 6  # the last four wait for two more
    late = by_pair.pop((atk3, victim))
    assert len(late) >= 6, late
    assert {p for p, _ in late} <= set(range(2, 15)), late  # its first port found no room
    assert by_pair == {}  # nothing else; atk2 came when the table was full


def frag6(src: bytes, dst: bytes, mac: bytes, ident: int, offset: int, more: bool) -> bytes:
    """An Ethernet/IPv6 fragment of UDP: 1,232 bytes at ``offset`` (8-byte units)."""
    data = (struct.pack("!HHHH", 4000, 9999, 2472, 0) + bytes(1224)) if offset == 0 else bytes(1232)
    head = struct.pack("!IHBB16s16s", 6 << 28, 8 + len(data), 44, 64, src, dst)
    fh = struct.pack("!BBHI", 17, 0, (offset << 3) | more, ident)
    return b"\x02\x00\x00\x00\x0b\x02" + mac + b"\x86\xdd" + head + fh + data


@needs_c
def test_fragments_per_destination_agree(tmp_path: Path) -> None:
    """IPv4 fragments of UDP (first and later) and of TCP (a SYN split in two), IPv6
    fragments, fragments answered by small datagrams, ICMP and multicast fragments, over
    a second: the same aggregates in both engines; fragments counted apart from whole
    datagrams (a fragmented datagram only there), with no ports, and the answers."""
    atk, nfs, laptop = (
        b"\x02\x00\x00\x00\x0a\x66",
        b"\x02\x00\x00\x00\x0a\x20",
        b"\x02\x00\x00\x00\x0a\x50",
    )
    a4 = bytes
    victim, tcp_victim, icmp_victim = a4([10, 77, 0, 9]), a4([10, 77, 0, 8]), a4([10, 77, 0, 7])
    server, client, group = a4([10, 77, 0, 20]), a4([10, 77, 0, 50]), a4([239, 1, 2, 3])
    v6_attacker, v6_victim = (
        bytes.fromhex("fd00" + "00" * 12 + "0066"),
        bytes.fromhex("fd00" + "00" * 12 + "0009"),
    )
    syn_head = struct.pack("!HHIIBBHHH", 4000, 80, 1, 0, 0x50, 0x02, 1024, 0, 0)
    frames = []
    for i in range(1200):
        t = 1000 + i / 1200
        batch = udp_in_fragments(a4([10, 77, 0, 66]), victim, 2000 + i, 9999, atk, i)
        batch += [
            frag4(a4([10, 77, 0, 66]), tcp_victim, atk, 6, i, 0, True, syn_head[:16]),
            frag4(a4([10, 77, 0, 66]), tcp_victim, atk, 6, i, 2, False, syn_head[16:]),
            frag4(a4([10, 77, 0, 66]), icmp_victim, atk, 1, i, 0, True, bytes(16)),
            frag4(a4([10, 77, 0, 66]), icmp_victim, atk, 1, i, 2, False, bytes(16)),
            udp(client, server, 800, 2049, laptop, 100),  # a request, answered in fragments
            *udp_in_fragments(server, client, 2049, 800, nfs, i),
            *udp_in_fragments(a4([10, 77, 0, 66]), group, 5004, 5004, atk, i),
            frag6(v6_attacker, v6_victim, atk, i, 0, True),
            frag6(v6_attacker, v6_victim, atk, i, 154, False),
        ]
        frames += [(t, frame) for frame in batch]
    path = tmp_path / "fragments.pcap"
    write_frames(path, frames)
    py = python_file(path, (NET4,))
    same(py, c_file(path, (NET4,)))
    got = {(a[1], a[8]): a for a in py["udp_aggregates"]}
    udp_victim = got[(victim, True)]
    assert (udp_victim[2], udp_victim[3]) == (3600, 0)  # every fragment, none answered
    assert (udp_victim[6], udp_victim[7]) == ((), ())  # later fragments carry no ports
    assert {(a, m): n for a, m, n in udp_victim[4]} == {(a4([10, 77, 0, 66]), atk): 3600}
    assert (victim, False) not in got  # the fragmented datagrams: counted once, as fragments
    assert got[(tcp_victim, True)][2] == 2400
    assert got[(v6_victim, True)][2] == 2400
    to_laptop = got[(client, True)]
    # answered by its requests (a new MAC's first frame goes to the detectors instead)
    assert (to_laptop[2], to_laptop[3]) == (3600, 1199)
    assert got[(server, False)][3] == 3597  # the requests (from the second), in fragments
    assert not any(dst in (icmp_victim, group) for dst, _frag in got)


@needs_c
def test_dns_over_tcp_segments_wanted_alike(tmp_path: Path) -> None:
    """DNS over TCP: a segment carrying a query or an answer reaches the detectors from
    both engines; a bare ACK on the same connection, and data on other ports, do not."""
    a, b = "02:00:00:00:0a:01", "02:00:00:00:0b:02"
    query = b"\x00\x1d" + bytes(12) + b"\x04data\x07example\x00\x00\x10\x00\x01"

    def seg(src: str, dst: str, sport: int, dport: int, data: bytes = b"") -> Ether:
        mac, peer = (a, b) if src.endswith(".66") else (b, a)
        return (
            Ether(src=mac, dst=peer)
            / IP(src=src, dst=dst)
            / TCP(sport=sport, dport=dport, flags="PA" if data else "A")
            / data
        )

    frames = [
        seg("10.77.0.66", "10.77.0.10", 40000, 80),  # warm-up: both MACs seen
        seg("10.77.0.10", "10.77.0.66", 80, 40000),
        seg("10.77.0.66", "10.77.0.10", 40001, 53, query),  # wanted: the query
        seg("10.77.0.10", "10.77.0.66", 53, 40001),  # a bare ACK: not
        seg("10.77.0.10", "10.77.0.66", 53, 40001, query),  # wanted: the answer
        seg("10.77.0.66", "10.77.0.10", 40002, 8053, query),  # data on another port: not
        seg("10.77.0.66", "10.77.0.10", 40001, 53),  # a bare ACK: not
    ]
    path = tmp_path / "dns_tcp.pcap"
    wrpcap(str(path), frames)
    py = python_file(path, (NET4,), detector_rate=1000, detector_cap=1000)
    c = c_file(path, (NET4,), detector_rate=1000, detector_cap=1000)
    same(py, c)
    wanted = [bytes(w[2]) for w in py["wanted"]]
    assert bytes(frames[2]) in wanted
    assert bytes(frames[4]) in wanted
    for i in (3, 5, 6):
        assert bytes(frames[i]) not in wanted, i


@needs_c
def test_quiet_resolver_answers_alike(tmp_path: Path) -> None:
    """The answers over UDP of a resolver the detectors no longer need (``quiet_answers``:
    address and MAC) are neither handed over nor counted as UDP flows, by both engines;
    its answers from another MAC (a forger), over IPv6 from a quiet IPv4 address, empty
    datagrams from its port 53 (probes), its queries and its other traffic still are."""
    res_mac, forger, client = "02:00:00:00:0a:01", "02:00:00:00:0e:0e", "02:00:00:00:0b:02"
    answer = bytes(12) + b"\x07example\x00\x00\x01\x00\x01"
    answer = answer[:2] + b"\x81\x80" + answer[4:]

    def dgram(mac: str, ip: Any, sport: int, dport: int, data: bytes = answer) -> Ether:
        return Ether(src=mac, dst=client) / ip / UDP(sport=sport, dport=dport) / data

    v4 = IP(src="10.77.0.10", dst="10.77.0.66")
    frames = [
        Ether(src=client, dst=res_mac)
        / IP(src="10.77.0.66", dst="10.77.0.10")
        / UDP(dport=53)
        / answer,  # the client's MAC seen first
        Ether(src=res_mac, dst=client) / IP(src="10.77.0.10", dst="10.77.0.66") / UDP(dport=9),
        dgram(res_mac, v4, 53, 40000),  # quiet
        dgram(res_mac, v4, 53, 40001),  # quiet
        dgram(forger, v4, 53, 40002),  # another MAC: wanted
        dgram(res_mac, IPv6(src="2001:db8::10", dst="2001:db8::66"), 53, 40003),  # wanted
        dgram(res_mac, v4, 53, 40004, b""),  # an empty datagram: a probe, wanted
        dgram(res_mac, v4, 40005, 53),  # a query of its own: wanted
        dgram(res_mac, v4, 53, 67),  # to the DHCP port: still its answer, quiet
    ]
    for i, f in enumerate(frames):
        f.time = 1.0 + i * 0.05
    path = tmp_path / "quiet.pcap"
    wrpcap(str(path), frames)
    quiet = [(bytes([10, 77, 0, 10]), bytes.fromhex("02000000" + "0a01"))]
    py_acc = Accounting((NET4,), detector_rate=100_000, detector_cap=1000)
    py_acc.quiet_answers(quiet)
    for ts, _lt, frame, wirelen in pcapfile.read(path):
        py_acc.frame(frame, wirelen, ts)
    assert FAST is not None
    c_acc = FAST((NET4,), detector_rate=100_000, detector_cap=1000)
    c_acc.quiet_answers(quiet)
    for item in scan(path):
        assert isinstance(item, Region)
        for _n in item.batches(c_acc.pcap, 1 << 30):
            pass
    assert (py_acc.answers_quiet, c_acc.answers_quiet) == (3, 3)
    py, c = state(py_acc), state(c_acc)
    same(py, c)
    wanted = {bytes(w[2]) for w in py["wanted"]}
    for i in (2, 3, 8):
        assert bytes(frames[i]) not in wanted, i
    for i in (0, 1, 4, 5, 6, 7):
        assert bytes(frames[i]) in wanted, i
    # replaced, not added to: an empty list wants every answer again
    c_acc.quiet_answers([])
    c_acc.frame(bytes(frames[2]), len(frames[2]), 10.0)
    assert [bytes(w[2]) for w in c_acc.detector_batch()] == [bytes(frames[2])]
    with pytest.raises(ValueError):
        c_acc.quiet_answers([(b"\x01\x02", b"\x00" * 6)])
    with pytest.raises(ValueError):
        py_acc.quiet_answers([(b"\x01\x02", b"\x00" * 6)])
