"""Read pcap and pcapng files (any byte order, µs or ns timestamps), memory-mapped, or a
pcap/pcapng stream from standard input (``-``).

``read`` yields ``(ts, linktype, frame, wirelen)`` with ``frame`` a memoryview into the
mapping: no copy per packet. ``scan`` yields a classic pcap file as one ``Region`` instead,
for the accounting to walk in one call per batch (``walk`` is the pure-Python walker).
``Capture`` is the same with the interfaces a file describes reported as it goes.

Damage is read the way tcpdump and Wireshark read it: every packet before it is
delivered, then ``PcapError`` names the file, the offset and what was wrong. Every
length is checked before anything is unpacked from it. pcapng blocks are handled one
by one and deliberately: section headers (either byte order, major version 1),
interface descriptions (link type, ``if_tsresol``, ``if_tsoffset``), enhanced packets,
the obsolete packet block, simple packets (which carry no time: they get the previous
packet's time, or the next one's when none came before); name resolution, statistics,
decryption secrets, journal export and custom blocks are skipped, as are block types
this reader does not know (the format says a reader skips those); ``skipped`` counts them.

Compressed captures (gzip, as ``tcpdump -z gzip`` rotates them and Wireshark saves
``.pcapng.gz``; xz; bzip2), files or standard input, are recognised by their magic, not
their name, and read as a stream while they are decompressed, a bounded piece at a time
(a highly compressed file never becomes one large buffer). Damage to the compressed data
is damage like any other: every packet decompressed before it is delivered, then
``PcapError`` says what was wrong, at the offset into the decompressed capture. zstd is
named and refused (the standard library has no decoder).
"""

from __future__ import annotations

import bz2
import lzma
import mmap
import os
import struct
import sys
import time
import zlib
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

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
COMPRESSED = {b"\x1f\x8b": "gzip", b"\xfd7zXZ\x00": "xz", b"BZh": "bzip2"}
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
ZSTD_REFUSED = "zstd-compressed: not read, decompress it first (zstd -d)"
MAX_FRAME = 262144  # as libpcap: a larger record is damage, not a giant allocation
MAX_BLOCK = 16 << 20  # a pcapng block larger than this is damage
STREAM_CHUNK = 1 << 20
STEP = 16 << 10  # decompressed bytes a step: damage loses at most this much before it

# pcapng block types skipped on purpose (all others unknown, skipped too, and counted)
SKIPPED_BLOCKS = {
    4: "name resolution",
    5: "interface statistics",
    9: "systemd journal export",
    10: "decryption secrets",
    0x00000BAD: "custom",
    0x40000BAD: "custom (do not copy)",
}

LINKTYPE_NAMES = {
    0: "NULL",
    1: "EN10MB",
    9: "PPP",
    12: "RAW",
    50: "PPP_HDLC",
    101: "RAW",
    104: "C_HDLC",
    105: "IEEE802_11",
    108: "LOOP",
    113: "LINUX_SLL",
    119: "IEEE802_11_PRISM",
    127: "IEEE802_11_RADIOTAP",
    192: "PPI",
    195: "IEEE802_15_4",
    201: "BLUETOOTH_HCI_H4_WITH_PHDR",
    220: "USB_LINUX_MMAPPED",
    228: "IPV4",
    229: "IPV6",
    249: "USBPCAP",
    253: "NETLINK",
    276: "LINUX_SLL2",
}

Record = tuple[float, int, memoryview, int]
# (view, offset, end, big endian, unit, limit) -> (next offset, frames, damaged)
Walker = Callable[[memoryview, int, int, bool, float, int], tuple[int, int, bool]]
_RECORD = {False: struct.Struct("<IIII"), True: struct.Struct(">IIII")}


def linktype_name(linktype: int) -> str:
    """``105 (IEEE802_11)``: the number and, where known, libpcap's name."""
    name = LINKTYPE_NAMES.get(linktype)
    return f"{linktype} ({name})" if name else str(linktype)


class PcapError(CaptureError):
    """The file is not a pcap/pcapng file, or it is damaged: ``name``, ``offset`` (-1 when
    the file could not be read at all) and ``what`` was wrong."""

    def __init__(self, name: str, offset: int, what: str) -> None:
        self.name, self.offset, self.what = name, offset, what
        super().__init__(f"{name}: {what}" + (f" at offset {offset}" if offset >= 0 else ""))


@dataclass(frozen=True, slots=True)
class Interface:
    """An interface a capture describes: a pcap file has one, a pcapng section any number."""

    index: int  # in the file: pcapng sections number theirs from 0, this counts on
    linktype: int


@dataclass(frozen=True, slots=True)
class Region:
    """The records of a classic pcap file: ``view[start:end]``, one link type. ``base`` is
    the file offset of ``view[0]`` (a stream is read a chunk at a time)."""

    name: str
    view: memoryview
    start: int
    end: int
    big_endian: bool
    unit: float  # seconds per fraction-of-second unit
    linktype: int
    base: int = 0

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
        for n, _off in self.progress(walker, limit):
            yield n

    def progress(self, walker: Walker, limit: int) -> Iterator[tuple[int, int]]:
        """``batches`` with the file offset reached after each call."""
        off, damaged = self.start, False
        while off < self.end and not damaged:
            off, n, damaged = walker(self.view, off, self.end, self.big_endian, self.unit, limit)
            yield n, self.base + off
            if not n:
                break
        if damaged:
            raise PcapError(self.name, self.base + off, _record_problem(self, off))
        if off != self.end:  # a capture cut off mid-record (tcpdump killed while writing)
            raise PcapError(self.name, self.base + off, "truncated record")


def _record_problem(r: Region, off: int) -> str:
    """What is wrong with the record at ``off`` that a walker stopped on."""
    if off + 16 > r.end:
        return "truncated record header"
    incl = _RECORD[r.big_endian].unpack_from(r.view, off)[2]
    if incl > MAX_FRAME:
        return f"damaged record (captured length {incl} > {MAX_FRAME})"
    return f"damaged record: cut off ({incl} bytes captured, {r.end - off - 16} left in the file)"


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


def read(path: str | Path) -> Iterator[Record]:
    """Every packet of a pcap or pcapng file, in file order."""
    for item in scan(path):
        if isinstance(item, Region):
            yield from item.records()
        else:
            yield item


def scan(path: str | Path) -> Iterator[Region | Record]:
    """A classic pcap file as one ``Region``; a pcapng file record by record."""
    return Capture(path).items()


class Capture:
    """One capture file (or ``-``, standard input): its regions and records, and the
    interfaces it describes (``on_interface`` is called as each is read)."""

    def __init__(
        self,
        path: str | Path,
        on_interface: Callable[[Interface], None] | None = None,
        stdin: BinaryIO | None = None,
    ) -> None:
        self.name = str(path)
        self.on_interface = on_interface or (lambda i: None)
        self.stdin = stdin
        self.size = 0  # bytes, when known (not for a stream)
        self.offset = 0  # how far the reading has come (pcapng and streams)
        self.skipped: dict[int, int] = {}  # pcapng block type -> blocks skipped
        self.interfaces: list[Interface] = []
        # Damage to compressed data: the stream ends there, this is raised after it.
        self.deferred: PcapError | None = None

    def _interface(self, linktype: int) -> Interface:
        i = Interface(len(self.interfaces), linktype)
        self.interfaces.append(i)
        self.on_interface(i)
        return i

    def items(self) -> Iterator[Region | Record]:
        if self.name == "-":
            yield from self._stream(self.stdin or sys.stdin.buffer)
            return
        try:
            fh = open(self.name, "rb")  # noqa: SIM115  (closed below or by the stream)
        except OSError as exc:
            raise PcapError(self.name, -1, exc.strerror or str(exc)) from None
        with fh:
            kind = _compression(fh.read(6))
            if kind == "zstd":
                raise PcapError(self.name, 0, ZSTD_REFUSED)
            if kind is not None:
                fh.seek(0)
                yield from self._stream(fh)
                return
        try:
            with open(self.name, "rb") as fh:
                self.size = os.fstat(fh.fileno()).st_size
                try:
                    mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
                except ValueError:  # empty file
                    raise PcapError(self.name, -1, "empty file") from None
                mtime = os.fstat(fh.fileno()).st_mtime
        except OSError as exc:
            raise PcapError(self.name, -1, exc.strerror or str(exc)) from None
        view = memoryview(mm)
        try:
            head = bytes(view[:4])
            if head in PCAP_MAGIC:
                order, unit = PCAP_MAGIC[head]
                linktype = _pcap_header(view, self.name, order)
                self._interface(linktype)
                yield Region(self.name, view, 24, len(view), order == ">", unit, linktype)
            elif len(view) >= 4 and struct.unpack("<I", head)[0] == PCAPNG_SHB:
                ng = _Pcapng(self, mtime)
                yield from ng.blocks(view, 0, True)
            else:
                raise PcapError(self.name, 0, _not_a_capture(head))
        finally:
            # Frames the caller still holds keep the mapping alive; it closes when they go.
            try:
                view.release()
                mm.close()
            except BufferError:
                pass

    def _stream(self, fh: BinaryIO) -> Iterator[Region | Record]:
        """A pcap or pcapng stream, a chunk at a time, as it arrives; a compressed one
        decompressed as it is read."""
        read1: Callable[[int], bytes] = getattr(fh, "read1", fh.read)
        data = _first_bytes(read1)
        if not data:
            raise PcapError(self.name, -1, "empty input")
        kind = _compression(data)
        if kind == "zstd":
            raise PcapError(self.name, 0, ZSTD_REFUSED)
        if kind is not None:
            read1 = _Decompressed(self, kind, data, read1).read
            data = _first_bytes(read1)
            if not data:
                raise self.deferred or PcapError(self.name, -1, f"empty input ({kind})")
        head = data[:4]
        if head in PCAP_MAGIC:
            order, unit = PCAP_MAGIC[head]
            linktype = _pcap_header(memoryview(data), self.name, order)
            self._interface(linktype)
            yield from self._pcap_stream(read1, data, order == ">", unit, linktype)
        elif len(data) >= 4 and struct.unpack("<I", head)[0] == PCAPNG_SHB:
            ng = _Pcapng(self, time.time())
            base = 0
            while True:
                more = read1(STREAM_CHUNK)
                final = not more
                data = data + more
                view = memoryview(data)
                # damage to compressed data: not the block's, raised as what it is
                used = yield from ng.blocks(view, base, final and self.deferred is None)
                if final:
                    if self.deferred is not None:
                        raise self.deferred
                    return
                data = data[used - base :]
                base = used
        else:
            # garbage out of damaged compressed data: the damage is what to report
            raise self.deferred or PcapError(self.name, 0, _not_a_capture(head))

    def _pcap_stream(
        self, read1: Callable[[int], bytes], data: bytes, big: bool, unit: float, lt: int
    ) -> Iterator[Region]:
        unpack = _RECORD[big].unpack_from
        base, start = 0, 24
        while True:
            more = read1(STREAM_CHUNK)
            data += more
            # whole records only: the walkers would take a record cut by the chunk for damage
            off, end = start, len(data)
            while off + 16 <= end:
                incl = unpack(data, off)[2]
                if incl > MAX_FRAME or off + 16 + incl > end:
                    break
                off += 16 + incl
            if not more and self.deferred is None:
                off = end  # the stream has ended: what is left is damage (the walker says)
            yield Region(self.name, memoryview(data), start, off, big, unit, lt, base)
            self.offset = base + off
            if not more:
                if self.deferred is not None:  # the compressed data's damage, after it
                    raise PcapError(self.name, self.offset, self.deferred.what)
                return
            if off + 16 <= len(data) and unpack(data, off)[2] > MAX_FRAME:
                r = Region(self.name, memoryview(data), off, len(data), big, unit, lt, base)
                raise PcapError(self.name, base + off, _record_problem(r, off))
            base += off
            data, start = data[off:], 0


def _first_bytes(read1: Callable[[int], bytes]) -> bytes:
    """At least a pcap file header's worth (24 bytes) of a stream, unless it ends first."""
    data = b""
    while len(data) < 24:
        more = read1(STREAM_CHUNK)
        if not more:
            break
        data += more
    return data


def _compression(head: bytes) -> str | None:
    """The compression ``head`` starts with (gzip, xz, bzip2, zstd), or None."""
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    for magic, kind in COMPRESSED.items():
        if head.startswith(magic):
            return kind
    return None


class _Decompressed:
    """``read(n)``: at most n bytes of the decompressed stream, b"" at its end. Members
    that follow one another (concatenated gzip, xz or bzip2 files, as appending to a
    rotated file makes them) are read as one stream. Data cut off or damaged raises
    ``PcapError`` once all that could be decompressed before it has been read."""

    def __init__(
        self, cap: Capture, kind: str, start: bytes, read1: Callable[[int], bytes]
    ) -> None:
        self.cap, self.kind, self.read1 = cap, kind, read1
        self.pending = start  # compressed bytes not yet given to the decompressor
        self.dec = self._new()
        self.ended = False  # the compressed input has ended

    def _new(self) -> Any:
        if self.kind == "gzip":
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        if self.kind == "xz":
            return lzma.LZMADecompressor()
        return bz2.BZ2Decompressor()

    def _damage(self, what: str) -> PcapError:
        return PcapError(self.cap.name, self.cap.offset, f"{what} ({self.kind})")

    def _more(self) -> bytes:
        more = b"" if self.ended else self.read1(STREAM_CHUNK)
        if not more:
            self.ended = True
        return more

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes, decompressed a ``STEP`` at a time so that damage loses only
        the step it is found in. At damage the stream ends (b""), and the capture's
        ``deferred`` holds the error, raised once what came before has been read."""
        out = bytearray()
        while len(out) < n and self.cap.deferred is None:
            try:
                piece = self._step(min(STEP, n - len(out)))
            except PcapError as exc:
                self.cap.deferred = exc
                break
            if not piece:
                break
            out += piece
        return bytes(out)

    def _step(self, n: int) -> bytes:
        while True:
            dec = self.dec
            if dec.eof:  # a member ended: the input ends too, or another member follows
                rest = (dec.unused_data + self.pending).lstrip(b"\0")  # xz stream padding
                self.pending = b""
                while len(rest) < 6:
                    more = self._more()
                    if not more:
                        break
                    rest = (rest + more).lstrip(b"\0")
                if not rest:
                    return b""
                if _compression(rest) != self.kind:
                    raise self._damage("data after the end of the compressed stream")
                self.dec, self.pending = self._new(), rest
                continue
            try:
                out: bytes = dec.decompress(self.pending, n)
            except (zlib.error, lzma.LZMAError, OSError, EOFError) as exc:
                raise self._damage(f"damaged compressed data ({exc})") from None
            # zlib hands back what max_length left unread; lzma and bz2 keep it inside
            self.pending = dec.unconsumed_tail if self.kind == "gzip" else b""
            if out:
                return out
            if dec.eof or self.pending or (self.kind != "gzip" and not dec.needs_input):
                continue
            more = self._more()
            if not more:
                raise self._damage("compressed data cut off")
            self.pending = more


def _not_a_capture(head: bytes) -> str:
    if head in (b"\x34\xcd\xb2\xa1", b"\xa1\xb2\xcd\x34"):
        return "a modified (Kuznetzov) pcap file, not read: convert it with editcap"
    return f"not a pcap or pcapng file (magic {head.hex() or 'none'})"


def _pcap_header(v: memoryview, name: str, order: str) -> int:
    """The link type of a pcap file header, after checking it."""
    if len(v) < 24:
        raise PcapError(name, len(v), "truncated file header")
    major = struct.unpack_from(order + "H", v, 4)[0]
    if major != 2:
        raise PcapError(name, 4, f"unsupported pcap version {major}")
    linktype: int = struct.unpack_from(order + "I", v, 20)[0] & 0x0FFFFFFF
    return linktype


_BODY_MIN = {PCAPNG_SHB: 16, 1: 8, 2: 20, 3: 4, 6: 20}  # bytes a block's body must hold


class _Pcapng:
    """The state a pcapng reader carries from block to block (and chunk to chunk)."""

    def __init__(self, capture: Capture, fallback_ts: float) -> None:
        self.cap = capture
        self.order = "<"
        self.iface: list[tuple[int, float, float]] = []  # (linktype, unit, offset seconds)
        self.last_ts: float | None = None
        self.fallback_ts = fallback_ts

    def damage(self, off: int, what: str) -> PcapError:
        return PcapError(self.cap.name, off, what)

    def blocks(self, v: memoryview, base: int, final: bool) -> Generator[Record, None, int]:
        """The packets of the whole blocks in ``v`` (file offset ``base``); returns the
        offset read up to. ``final``: nothing follows, so a block cut off is damage."""
        end = base + len(v)
        off = base
        while True:
            rel = off - base
            if off + 12 > end:
                if final and off != end:
                    raise self.damage(off, "truncated block header")
                self.cap.offset = off
                return off
            btype = struct.unpack_from(self.order + "I", v, rel)[0]
            if btype == PCAPNG_SHB:
                bom = bytes(v[rel + 8 : rel + 12])
                if bom == b"\x4d\x3c\x2b\x1a":
                    self.order = "<"
                elif bom == b"\x1a\x2b\x3c\x4d":
                    self.order = ">"
                else:
                    raise self.damage(off, f"section header with byte-order magic {bom.hex()}")
            order = self.order
            blen = struct.unpack_from(order + "I", v, rel + 4)[0]
            if blen < 12 + _BODY_MIN.get(btype, 0) or blen % 4 or blen > MAX_BLOCK:
                raise self.damage(off, f"damaged block (type {btype:#x}, length {blen})")
            if off + blen > end:
                if final:
                    raise self.damage(
                        off, f"truncated block (type {btype:#x}, {blen} bytes, {end - off} left)"
                    )
                self.cap.offset = off
                return off
            if struct.unpack_from(order + "I", v, rel + blen - 4)[0] != blen:
                raise self.damage(off, f"damaged block (type {btype:#x}): lengths differ")
            body, stop = rel + 8, rel + blen - 4
            if btype == 6:  # enhanced packet
                iface, hi, lo, incl, orig = struct.unpack_from(order + "IIIII", v, body)
                yield self._packet(v, off, iface, hi, lo, body + 20, incl, stop, orig)
            elif btype == 3:  # simple packet: no time, no interface number (it is 0)
                orig = struct.unpack_from(order + "I", v, body)[0]
                incl = min(orig, stop - body - 4)
                if not self.iface:
                    raise self.damage(off, "simple packet block before any interface")
                lt, _unit, _tsoff = self.iface[0]
                yield (
                    self._simple_ts(v, rel + blen, end - base),
                    lt,
                    v[body + 4 : body + 4 + incl],
                    orig,
                )
            elif btype == 2:  # packet block (obsolete): 16-bit interface, drops count
                iface = struct.unpack_from(order + "H", v, body)[0]
                hi, lo, incl, orig = struct.unpack_from(order + "IIII", v, body + 4)
                yield self._packet(v, off, iface, hi, lo, body + 20, incl, stop, orig)
            elif btype == 1:  # interface description
                lt, _res, _snap = struct.unpack_from(order + "HHI", v, body)
                unit, tsoff = _options(v, body + 8, stop, order)
                self.iface.append((lt, unit, tsoff))
                self.cap._interface(lt)
            elif btype == PCAPNG_SHB:
                major = struct.unpack_from(order + "H", v, body + 4)[0]
                if major != 1:
                    raise self.damage(off, f"unsupported pcapng version {major}")
                self.iface = []
            else:
                self.cap.skipped[btype] = self.cap.skipped.get(btype, 0) + 1
            off += blen

    def _packet(
        self,
        v: memoryview,
        off: int,
        iface: int,
        hi: int,
        lo: int,
        data: int,
        incl: int,
        stop: int,
        orig: int,
    ) -> Record:
        if iface >= len(self.iface):
            raise self.damage(off, f"damaged packet block: interface {iface} was not described")
        if incl > stop - data or incl > MAX_FRAME:
            raise self.damage(off, f"damaged packet block: captured length {incl}")
        lt, unit, tsoff = self.iface[iface]
        ts = ((hi << 32) | lo) * unit + tsoff
        self.last_ts = ts
        return ts, lt, v[data : data + incl], orig

    def _simple_ts(self, v: memoryview, rel: int, end: int) -> float:
        """A simple packet's time: the previous packet's, else the next timestamped one's
        in what has been read, else when the file was written (or the stream read)."""
        if self.last_ts is None:  # once: the packets after it take it as the previous time
            self.last_ts = self._next_ts(v, rel, end)
        return self.last_ts

    def _next_ts(self, v: memoryview, rel: int, end: int) -> float:
        order = self.order
        while rel + 28 <= end:
            btype, blen = struct.unpack_from(order + "II", v, rel)
            if blen < 12 or blen % 4 or rel + blen > end or btype == PCAPNG_SHB:
                break
            if btype in (2, 6) and blen >= 32:
                if btype == 6:
                    iface, hi, lo = struct.unpack_from(order + "III", v, rel + 8)
                else:
                    iface = struct.unpack_from(order + "H", v, rel + 8)[0]
                    hi, lo = struct.unpack_from(order + "II", v, rel + 12)
                if iface < len(self.iface):
                    _lt, unit, tsoff = self.iface[iface]
                    ts: float = ((hi << 32) | lo) * unit + tsoff
                    return ts
                break
            rel += blen
        return self.fallback_ts


def _options(v: memoryview, off: int, end: int, order: str) -> tuple[float, float]:
    """An interface block's ``if_tsresol`` (seconds per unit) and ``if_tsoffset``."""
    unit, tsoff = 1e-6, 0.0
    while off + 4 <= end:
        code, length = struct.unpack_from(order + "HH", v, off)
        if code == 0 or off + 4 + length > end:
            break
        if code == 9 and length >= 1:
            r = v[off + 4]
            unit = 2.0 ** -(r & 0x7F) if r & 0x80 else 10.0**-r
        elif code == 14 and length == 8:
            tsoff = float(struct.unpack_from(order + "q", v, off + 4)[0])
        off += 4 + (length + 3) // 4 * 4
    return unit, tsoff
