"""Read pcap and pcapng files (any byte order, µs or ns timestamps), memory-mapped.

``read`` yields ``(ts, linktype, frame, wirelen)`` with ``frame`` a memoryview into the
mapping: no copy per packet. ``scan`` yields a classic pcap file as one ``Region`` instead,
for the accounting to walk in one call per batch (``walk`` is the pure-Python walker). A
damaged file ends the iteration with ``PcapError`` naming the offset; the packets before
it have been delivered.
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sentinel.errors import CaptureError

if TYPE_CHECKING:
    from pathlib import Path

PCAP_MAGIC = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
PCAPNG_SHB = 0x0A0D0D0A
MAX_FRAME = 262144

Record = tuple[float, int, memoryview, int]
# (view, offset, end, big endian, unit, limit) -> (next offset, frames, damaged)
Walker = Callable[[memoryview, int, int, bool, float, int], tuple[int, int, bool]]
_RECORD = {False: struct.Struct("<IIII"), True: struct.Struct(">IIII")}


@dataclass(frozen=True, slots=True)
class Region:
    """The records of a classic pcap file: ``view[start:end]``, one link type."""

    name: str
    view: memoryview
    start: int
    end: int
    big_endian: bool
    unit: float  # seconds per fraction-of-second unit
    linktype: int

    def records(self) -> Iterator[Record]:
        """The region record by record (``read`` for one region)."""
        batch: list[Record] = []

        def keep(f: memoryview, wirelen: int, ts: float) -> None:
            batch.append((ts, self.linktype, f, wirelen))

        def walker(
            v: memoryview, off: int, end: int, big: bool, unit: float, limit: int
        ) -> tuple[int, int, bool]:
            return walk(v, off, end, big, unit, limit, keep)

        for _ in self.batches(walker, 1024):
            yield from batch
            batch.clear()

    def batches(self, walker: Walker, limit: int) -> Iterator[int]:
        """Walk the region ``limit`` records a call (``walk`` or an accounting engine's
        ``pcap``), yielding each call's frame count; then raise ``PcapError`` if the file
        is damaged or cut off mid-record (the frames before have been delivered)."""
        off, damaged = self.start, False
        while off < self.end and not damaged:
            off, n, damaged = walker(self.view, off, self.end, self.big_endian, self.unit, limit)
            yield n
            if not n:
                break
        if damaged:
            raise PcapError(f"{self.name}: damaged record at offset {off}")
        if off != self.end:  # a capture cut off mid-record (tcpdump killed while writing)
            raise PcapError(f"{self.name}: truncated record at offset {off}")


def walk(
    view: memoryview,
    off: int,
    end: int,
    big_endian: bool,
    unit: float,
    limit: int,
    frame: Callable[[memoryview, int, float], None],
) -> tuple[int, int, bool]:
    """Up to ``limit`` records from ``off`` to ``frame``: (next offset, frames, damaged)."""
    unpack = _RECORD[big_endian].unpack_from
    n = 0
    while n < limit and off + 16 <= end:
        sec, frac, incl, orig = unpack(view, off)
        if incl > MAX_FRAME or off + 16 + incl > end:
            return off, n, True
        frame(view[off + 16 : off + 16 + incl], orig, sec + frac * unit)
        off += 16 + incl
        n += 1
    return off, n, False


class PcapError(CaptureError):
    """The file is not a pcap/pcapng file, or it is damaged."""


def read(path: str | Path) -> Iterator[Record]:
    """Every packet of a pcap or pcapng file, in file order."""
    for item in scan(path):
        if isinstance(item, Region):
            yield from item.records()
        else:
            yield item


def scan(path: str | Path) -> Iterator[Region | Record]:
    """A classic pcap file as one ``Region``; a pcapng file record by record."""
    with open(path, "rb") as fh:
        try:
            mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:  # empty file
            raise PcapError(f"{path}: empty file") from None
    view = memoryview(mm)
    try:
        head = bytes(view[:4])
        if head in PCAP_MAGIC:
            yield _region(view, str(path), *PCAP_MAGIC[head])
        elif len(view) >= 4 and struct.unpack("<I", head)[0] == PCAPNG_SHB:
            yield from _pcapng(view, str(path))
        else:
            raise PcapError(f"{path}: not a pcap or pcapng file")
    finally:
        # Frames the caller still holds keep the mapping alive; it closes when they go.
        try:
            view.release()
            mm.close()
        except BufferError:
            pass


def _region(v: memoryview, name: str, order: str, unit: float) -> Region:
    if len(v) < 24:
        raise PcapError(f"{name}: truncated file header")
    linktype = struct.unpack_from(order + "I", v, 20)[0] & 0x0FFFFFFF
    return Region(name, v, 24, len(v), order == ">", unit, linktype)


def _pcapng(v: memoryview, name: str) -> Iterator[Record]:
    end = len(v)
    off = 0
    order = "<"
    interfaces: list[tuple[int, float]] = []  # (linktype, seconds per timestamp unit)
    while off + 12 <= end:
        btype = struct.unpack_from(order + "I", v, off)[0]
        if btype == PCAPNG_SHB:
            bom = bytes(v[off + 8 : off + 12])
            order = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
            interfaces = []
        blen = struct.unpack_from(order + "I", v, off + 4)[0]
        if blen < 12 or blen % 4 or off + blen > end:
            raise PcapError(f"{name}: damaged block at offset {off}")
        body = off + 8
        if btype == 1:  # interface description
            linktype = struct.unpack_from(order + "H", v, body)[0]
            interfaces.append((linktype, _tsresol(v, body + 8, off + blen - 4, order)))
        elif btype == 6:  # enhanced packet
            iface, hi, lo, incl, orig = struct.unpack_from(order + "IIIII", v, body)
            if iface >= len(interfaces) or incl > blen - 32:
                raise PcapError(f"{name}: damaged packet block at offset {off}")
            linktype, unit = interfaces[iface]
            yield ((hi << 32) | lo) * unit, linktype, v[body + 20 : body + 20 + incl], orig
        elif btype == 3:  # simple packet: no timestamp
            if not interfaces:
                raise PcapError(f"{name}: packet before any interface at offset {off}")
            orig = struct.unpack_from(order + "I", v, body)[0]
            incl = min(orig, blen - 16)
            yield 0.0, interfaces[0][0], v[body + 4 : body + 4 + incl], orig
        off += blen
    if off != end:
        raise PcapError(f"{name}: truncated block at offset {off}")


def _tsresol(v: memoryview, off: int, end: int, order: str) -> float:
    """The if_tsresol option of an interface block: seconds per timestamp unit."""
    while off + 4 <= end:
        code, length = struct.unpack_from(order + "HH", v, off)
        if code == 0:
            break
        if code == 9 and length >= 1:
            r = v[off + 4]
            return 2.0 ** -(r & 0x7F) if r & 0x80 else 10.0**-r
        off += 4 + (length + 3) // 4 * 4
    return 1e-6
