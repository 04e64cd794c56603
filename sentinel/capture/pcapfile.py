"""Read pcap and pcapng files (any byte order, µs or ns timestamps), memory-mapped.

Yields ``(ts, linktype, frame, wirelen)`` with ``frame`` a memoryview into the mapping:
no copy per packet. A damaged file ends the iteration with ``PcapError`` naming the
offset; the packets before it have been delivered.
"""

from __future__ import annotations

import mmap
import struct
from typing import TYPE_CHECKING

from sentinel.errors import CaptureError

if TYPE_CHECKING:
    from collections.abc import Iterator
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


class PcapError(CaptureError):
    """The file is not a pcap/pcapng file, or it is damaged."""


def read(path: str | Path) -> Iterator[Record]:
    """Every packet of a pcap or pcapng file, in file order."""
    with open(path, "rb") as fh:
        try:
            mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:  # empty file
            raise PcapError(f"{path}: empty file") from None
    view = memoryview(mm)
    try:
        head = bytes(view[:4])
        if head in PCAP_MAGIC:
            yield from _pcap(view, str(path), *PCAP_MAGIC[head])
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


def _pcap(v: memoryview, name: str, order: str, unit: float) -> Iterator[Record]:
    if len(v) < 24:
        raise PcapError(f"{name}: truncated file header")
    linktype = struct.unpack_from(order + "I", v, 20)[0] & 0x0FFFFFFF
    rec = struct.Struct(order + "IIII")
    off, end = 24, len(v)
    while off + 16 <= end:
        sec, frac, incl, orig = rec.unpack_from(v, off)
        off += 16
        if incl > MAX_FRAME or off + incl > end:
            raise PcapError(f"{name}: damaged record at offset {off - 16}")
        yield sec + frac * unit, linktype, v[off : off + incl], orig
        off += incl
    if off != end:  # a capture cut off mid-record (tcpdump killed while writing)
        raise PcapError(f"{name}: truncated record at offset {off}")


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
