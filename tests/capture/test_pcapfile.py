"""pcap and pcapng files: both byte orders, µs and ns timestamps, link types, damage."""

from __future__ import annotations

import bz2
import gzip
import lzma
import random
import struct
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Ether
from scapy.utils import PcapNgWriter, PcapWriter, wrpcap

from sentinel.capture.decode import LINK_ETHERNET, LINK_LINUX_SLL, LINK_LINUX_SLL2, LINK_RAW
from sentinel.capture.pcapfile import PcapError, read

if TYPE_CHECKING:
    from pathlib import Path

T0 = 1_700_000_000


def frames() -> list[bytes]:
    """Five frames of different sizes and kinds."""
    return [
        bytes(Ether(src="02:00:00:00:00:01") / IP(dst="10.77.0.1") / TCP(dport=443) / (b"a" * 100)),
        bytes(Ether() / IP() / UDP(dport=53) / b"q"),
        bytes(Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(pdst="10.77.0.9")),
        bytes(Ether() / IPv6() / UDP() / (b"v6" * 300)),
        bytes(Ether() / IP() / TCP(flags="S")),
    ]


def stamps() -> list[Decimal]:
    return [Decimal(T0 + i) + Decimal("0.000001") * (i * 111111 + 7) for i in range(5)]


def records(path: Path) -> list[tuple[float, int, bytes, int]]:
    return [(ts, lt, bytes(f), wl) for ts, lt, f, wl in read(path)]


def check(path: Path, linktype: int = LINK_ETHERNET, ns: bool = False) -> None:
    got = records(path)
    want = frames()
    assert [r[2] for r in got] == want
    assert [r[3] for r in got] == [len(f) for f in want]
    assert {r[1] for r in got} == {linktype}
    for (ts, *_), t in zip(got, stamps(), strict=True):
        assert ts == pytest.approx(float(t), abs=1e-9 if ns else 1e-6)


def pcap_bytes(
    order: str, nano: bool, linktype: int = LINK_ETHERNET, snaplen: int = 65535
) -> bytes:
    """A pcap file written here (scapy only writes the host's byte order)."""
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = [struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)]
    for f, t in zip(frames(), stamps(), strict=True):
        sec = int(t)
        frac = int((t - sec) * (10**9 if nano else 10**6))
        kept = f[:snaplen]
        out.append(struct.pack(order + "IIII", sec, frac, len(kept), len(f)) + kept)
    return b"".join(out)


def block_offsets(data: bytes, order: str = "<") -> list[tuple[int, int]]:
    """(offset, block type) of every block of a pcapng file written here."""
    out, off = [], 0
    while off < len(data):
        btype, n = struct.unpack_from(order + "II", data, off)
        out.append((off, btype))
        off += n
    return out


def first_packet_block(data: bytes) -> int:
    return next(off for off, btype in block_offsets(data) if btype == 6)


def block(order: str, btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    n = len(body) + 12
    return struct.pack(order + "II", btype, n) + body + struct.pack(order + "I", n)


def pcapng_bytes(order: str, tsresol: int | None, linktype: int = LINK_ETHERNET) -> bytes:
    """A pcapng file written here: SHB, IDB (optional if_tsresol), EPBs."""
    shb = block(order, 0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1))
    opts = b""
    if tsresol is not None:
        opts = struct.pack(order + "HH", 9, 1) + bytes([tsresol]) + b"\0\0\0"
        opts += struct.pack(order + "HH", 0, 0)
    idb = block(order, 1, struct.pack(order + "HHI", linktype, 0, 65535) + opts)
    units = 10**9 if tsresol == 9 else 10**6
    epbs = []
    for f, t in zip(frames(), stamps(), strict=True):
        ticks = int(t * units)
        head = struct.pack(order + "IIIII", 0, ticks >> 32, ticks & 0xFFFFFFFF, len(f), len(f))
        epbs.append(block(order, 6, head + f))
    return shb + idb + b"".join(epbs)


def scapy_packets() -> list[Ether]:
    out = []
    for f, t in zip(frames(), stamps(), strict=True):
        p = Ether(f)
        p.time = t
        out.append(p)
    return out


def test_pcap_from_scapy(tmp_path: Path) -> None:
    """A little-endian µs pcap written by scapy's wrpcap."""
    path = tmp_path / "a.pcap"
    wrpcap(str(path), scapy_packets())
    assert path.read_bytes()[:4] == b"\xd4\xc3\xb2\xa1"
    check(path)


def test_pcap_nanoseconds_from_scapy(tmp_path: Path) -> None:
    """A nanosecond pcap written by scapy's PcapWriter(nano=True)."""
    path = tmp_path / "ns.pcap"
    with PcapWriter(str(path), nano=True) as w:
        for p in scapy_packets():
            w.write(p)
    assert path.read_bytes()[:4] == b"\x4d\x3c\xb2\xa1"
    check(path, ns=True)


@pytest.mark.parametrize("order", ["<", ">"], ids=["little", "big"])
@pytest.mark.parametrize("nano", [False, True], ids=["us", "ns"])
def test_pcap_byte_orders_and_resolutions(tmp_path: Path, order: str, nano: bool) -> None:
    """pcap in both byte orders, with µs and ns timestamps."""
    path = tmp_path / "o.pcap"
    path.write_bytes(pcap_bytes(order, nano))
    check(path, ns=nano)


def test_pcapng_from_scapy(tmp_path: Path) -> None:
    """A pcapng file written by scapy's PcapNgWriter."""
    path = tmp_path / "a.pcapng"
    w = PcapNgWriter(str(path))
    for p in scapy_packets():
        w.write(p)
    w.close()
    check(path)


@pytest.mark.parametrize("order", ["<", ">"], ids=["little", "big"])
@pytest.mark.parametrize("tsresol", [None, 6, 9], ids=["default", "us", "ns"])
def test_pcapng_byte_orders_and_resolutions(
    tmp_path: Path, order: str, tsresol: int | None
) -> None:
    """pcapng in both byte orders, default, µs and ns if_tsresol."""
    path = tmp_path / "o.pcapng"
    path.write_bytes(pcapng_bytes(order, tsresol))
    check(path, ns=tsresol == 9)


def test_pcapng_sections_of_both_orders(tmp_path: Path) -> None:
    """Two sections with different byte orders in one file, each with its own interface."""
    path = tmp_path / "two.pcapng"
    path.write_bytes(pcapng_bytes("<", 9) + pcapng_bytes(">", None, LINK_RAW))
    got = records(path)
    assert len(got) == 10
    assert [r[1] for r in got] == [LINK_ETHERNET] * 5 + [LINK_RAW] * 5
    assert [r[2] for r in got[5:]] == frames()


def test_pcapng_skips_other_blocks(tmp_path: Path) -> None:
    """Unknown blocks (here a custom block and name resolution) are skipped."""
    data = pcapng_bytes("<", 6)
    cut = first_packet_block(data)
    extra = block("<", 0x00000BAD, b"custom data!") + block("<", 4, b"\0" * 4)
    path = tmp_path / "x.pcapng"
    path.write_bytes(data[:cut] + extra + data[cut:])
    check(path)


@pytest.mark.parametrize(
    ("linktype", "payload"),
    [
        (LINK_LINUX_SLL, struct.pack("!HHH8sH", 0, 1, 6, b"\2\0\0\0\0\1\0\0", 0x0800)),
        (LINK_LINUX_SLL2, struct.pack("!HHIHBB8s", 0x0800, 0, 2, 1, 0, 6, b"\2\0\0\0\0\1\0\0")),
        (LINK_RAW, b""),
    ],
    ids=["sll", "sll2", "raw"],
)
def test_link_types(tmp_path: Path, linktype: int, payload: bytes) -> None:
    """Linux cooked (SLL, SLL2) and raw-IP files report their link type, pcap and pcapng."""
    ip = bytes(IP(src="10.77.0.2", dst="10.77.0.3") / UDP(sport=1, dport=2))
    path = tmp_path / "l.pcap"
    with PcapWriter(str(path), linktype=linktype) as w:
        w.write(payload + ip)
    got = records(path)
    assert [(r[1], r[2]) for r in got] == [(linktype, payload + ip)]
    ng = tmp_path / "l.pcapng"
    data = pcapng_bytes(">", 9, linktype)
    ng.write_bytes(data)
    assert {r[1] for r in records(ng)} == {linktype}


def test_snap_truncated_records_keep_wire_length(tmp_path: Path) -> None:
    """Frames captured with a snap length keep their original length."""
    path = tmp_path / "snap.pcap"
    path.write_bytes(pcap_bytes("<", False, snaplen=64))
    got = records(path)
    assert [len(r[2]) for r in got] == [min(64, len(f)) for f in frames()]
    assert [r[3] for r in got] == [len(f) for f in frames()]


def test_frames_are_memoryviews(tmp_path: Path) -> None:
    """Frames are memoryviews into the file (no copy per packet)."""
    path = tmp_path / "m.pcap"
    path.write_bytes(pcap_bytes("<", False))
    assert all(isinstance(f, memoryview) for _ts, _lt, f, _wl in read(path))


def boundaries(data: bytes, order: str) -> list[int]:
    """The offsets where each pcap record ends."""
    ends, off = [], 24
    while off < len(data):
        incl = struct.unpack_from(order + "I", data, off + 8)[0]
        off += 16 + incl
        ends.append(off)
    return ends


def read_until_error(path: Path) -> tuple[int, str]:
    n = 0
    try:
        for _ in read(path):
            n += 1
    except PcapError as exc:
        return n, str(exc)
    return n, ""


@pytest.mark.parametrize("order", ["<", ">"], ids=["little", "big"])
def test_truncated_inside_frame_data(tmp_path: Path, order: str) -> None:
    """A file cut inside a frame yields every whole packet, then raises PcapError."""
    data = pcap_bytes(order, False)
    ends = boundaries(data, order)
    path = tmp_path / "cut.pcap"
    starts = [24, *ends[:-1]]
    for start, end in zip(starts, ends, strict=True):
        for cut in range(start + 16, end):
            path.write_bytes(data[:cut])
            n, err = read_until_error(path)
            assert (n, bool(err)) == (starts.index(start), True), cut
            assert "damaged record" in err
        path.write_bytes(data[:end])
        assert read_until_error(path) == (ends.index(end) + 1, "")


def test_truncated_inside_record_header(tmp_path: Path) -> None:
    """A pcap file cut inside a record header yields every whole packet, then raises."""
    data = pcap_bytes("<", False)
    ends = boundaries(data, "<")
    path = tmp_path / "cut.pcap"
    for i, end in enumerate(ends[:-1]):
        for cut in range(end + 1, end + 16):
            path.write_bytes(data[:cut])
            assert read_until_error(path)[0] == i + 1
            assert read_until_error(path)[1], cut


def test_truncated_inside_pcapng_block_header(tmp_path: Path) -> None:
    """A pcapng file cut in the first 12 bytes of a block yields the whole ones, then raises."""
    data = pcapng_bytes("<", 9)
    path = tmp_path / "cut.pcapng"
    last = block_offsets(data)[-1][0]
    for cut in range(last + 1, last + 12):
        path.write_bytes(data[:cut])
        assert read_until_error(path)[0] == 4
        assert read_until_error(path)[1], cut


def test_truncated_pcapng(tmp_path: Path) -> None:
    """A pcapng file cut inside a block (12 bytes or more of it left) raises after the whole
    ones."""
    data = pcapng_bytes("<", 9)
    path = tmp_path / "cut.pcapng"
    last = block_offsets(data)[-1][0]
    for cut in range(last + 12, len(data)):
        path.write_bytes(data[:cut])
        assert read_until_error(path)[0] == 4
        assert read_until_error(path)[1]


def test_absurd_record_length(tmp_path: Path) -> None:
    """A record claiming a huge captured length is damage, not a giant allocation."""
    data = bytearray(pcap_bytes("<", False))
    struct.pack_into("<I", data, 24 + 8, 0x7FFFFFFF)
    path = tmp_path / "huge.pcap"
    path.write_bytes(bytes(data))
    assert read_until_error(path) == (
        0,
        f"{path}: damaged record (captured length 2147483647 > 262144) at offset 24",
    )


def test_damaged_pcapng_block_length(tmp_path: Path) -> None:
    """A pcapng block length that is not a multiple of 4 or too small raises."""
    data = bytearray(pcapng_bytes("<", 6))
    first = first_packet_block(data)
    struct.pack_into("<I", data, first + 4, 7)
    path = tmp_path / "bad.pcapng"
    path.write_bytes(bytes(data))
    n, err = read_until_error(path)
    assert (n, "damaged block" in err) == (0, True)


def test_packet_before_interface(tmp_path: Path) -> None:
    """An enhanced packet block naming an interface that was not described raises."""
    data = pcapng_bytes("<", 6)
    shb_len = struct.unpack_from("<I", data, 4)[0]
    idb_len = struct.unpack_from("<I", data, shb_len + 4)[0]
    path = tmp_path / "noif.pcapng"
    path.write_bytes(data[:shb_len] + data[shb_len + idb_len :])
    n, err = read_until_error(path)
    assert n == 0
    assert "damaged packet block" in err


@pytest.mark.parametrize(
    "content",
    [b"", b"hello, this is not a capture file\n" * 3, b"\xd4\xc3\xb2\xa1" + b"\0" * 10],
    ids=["empty", "text", "short-header"],
)
def test_not_a_pcap(tmp_path: Path, content: bytes) -> None:
    """Empty, foreign and header-truncated files raise PcapError."""
    path = tmp_path / "junk.pcap"
    path.write_bytes(content)
    with pytest.raises(PcapError):
        list(read(path))


def test_stopping_early_releases_the_file(tmp_path: Path) -> None:
    """Abandoning the iteration part-way closes the generator without error."""
    path = tmp_path / "a.pcap"
    path.write_bytes(pcap_bytes("<", True))
    it = read(path)
    _ts, _lt, f, _wl = next(it)
    first = bytes(f)
    del f
    it.close()
    assert first == frames()[0]


COMPRESSORS = {"gzip": gzip.compress, "xz": lzma.compress, "bzip2": bz2.compress}


@pytest.mark.parametrize("kind", sorted(COMPRESSORS))
@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_compressed_files_read_as_the_capture(tmp_path: Path, kind: str, fmt: str) -> None:
    """gzip, xz and bzip2 files give the packets of the capture inside, also when several
    compressed members follow one another (appending to a rotated file)."""
    data = pcap_bytes("<", False) if fmt == "pcap" else pcapng_bytes("<", 6)
    compress = COMPRESSORS[kind]
    path = tmp_path / f"c.{fmt}.z"
    path.write_bytes(compress(data))
    check(path)
    half = len(data) // 2
    path.write_bytes(compress(data[:half]) + compress(data[half:]))
    check(path)


def test_compressed_stream_on_stdin() -> None:
    """A gzip stream on standard input is decompressed as it arrives."""
    from io import BytesIO

    from sentinel.capture.pcapfile import Capture

    cap = Capture("-", stdin=BytesIO(gzip.compress(pcap_bytes(">", True))))
    got = []
    for item in cap.items():
        assert not isinstance(item, tuple)
        got += [bytes(f) for _ts, _lt, f, _wl in item.records()]
    assert got == frames()


def big_capture(n: int = 3000) -> bytes:
    """A pcap of n distinct frames (larger than the decompressor's steps)."""
    rng = random.Random(2026)
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, LINK_ETHERNET)]
    for i in range(n):
        f = bytes(Ether() / IP(dst=f"10.77.{i >> 8}.{i & 255}") / UDP() / rng.randbytes(60))
        out.append(struct.pack("<IIII", T0 + i, 0, len(f), len(f)) + f)
    return b"".join(out)


@pytest.mark.parametrize("kind", ["gzip", "xz"])
def test_compressed_file_cut_off_is_read_up_to_the_cut(tmp_path: Path, kind: str) -> None:
    """A compressed capture cut off gives the packets decompressed before the cut, then a
    PcapError that says so; the whole file gives them all and no error."""
    data = COMPRESSORS[kind](big_capture())
    path = tmp_path / "cut.pcap.z"
    path.write_bytes(data)
    assert read_until_error(path) == (3000, "")
    path.write_bytes(data[: len(data) // 2])
    n, err = read_until_error(path)
    assert 1000 < n < 2000, n
    assert f"compressed data cut off ({kind})" in err
    path.write_bytes(data[:-4])  # the gzip trailer or the xz footer cut off
    n, err = read_until_error(path)
    assert n > 2900, n
    assert "cut off" in err


def test_damaged_compressed_data_is_read_up_to_the_damage(tmp_path: Path) -> None:
    """A byte changed inside gzip data: the packets before it, then the damage named
    (wherever in the second half the byte is)."""
    whole = gzip.compress(big_capture())
    path = tmp_path / "bad.pcap.gz"
    for at in range(len(whole) // 2, len(whole) - 8, len(whole) // 7):
        data = bytearray(whole)
        data[at] ^= 0x55
        path.write_bytes(bytes(data))
        n, err = read_until_error(path)
        assert 1000 < n <= 3000, (at, n)
        assert "(gzip)" in err, (at, err)


def test_garbage_after_compressed_data_is_damage(tmp_path: Path) -> None:
    path = tmp_path / "tail.pcap.gz"
    path.write_bytes(gzip.compress(pcap_bytes("<", False)) + b"not gzip at all")
    n, err = read_until_error(path)
    assert (n, "data after the end of the compressed stream" in err) == (5, True)


def test_zstd_is_named_not_misread(tmp_path: Path) -> None:
    path = tmp_path / "c.pcap.zst"
    path.write_bytes(b"\x28\xb5\x2f\xfd" + b"\0" * 40)
    assert read_until_error(path) == (
        0,
        f"{path}: zstd-compressed: not read, decompress it first (zstd -d) at offset 0",
    )
