"""Live capture from an AF_PACKET TPACKET_V3 memory-mapped ring, a block at a time.

The kernel fills blocks of frames; the reader hands each ready block to a block consumer
and gives it back to the kernel. The accounting walks the block in one call (in C when
the extension is built); ``walk_block`` is the pure-Python walker, with
``struct.unpack_from`` on the mapping (no copy, no object per packet beyond what the
frame consumer makes). Promiscuous mode comes from PACKET_ADD_MEMBERSHIP,
which needs only CAP_NET_RAW and is undone by the kernel when the socket closes. A
classic BPF program (``bpf.py``) sets how much of each frame the kernel copies: headers
only, unless detectors read the payload.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import mmap
import select
import socket
import struct
from collections.abc import Callable

from sentinel.capture import bpf
from sentinel.errors import CaptureError

SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_RX_RING = 5
PACKET_STATISTICS = 6
PACKET_VERSION = 10
TPACKET_V3 = 2
PACKET_MR_PROMISC = 1
ETH_P_ALL = 0x0003
SO_ATTACH_FILTER = 26
TP_STATUS_KERNEL = 0
TP_STATUS_USER = 1

_BLOCK = struct.Struct("=IIIIII")  # version, offset_to_priv, status, num_pkts, first, blk_len
_PKT = struct.Struct("=IIIIIIHH")  # next, sec, nsec, snaplen, len, status, mac, net
_STATUS = struct.Struct("=I")

# (frame view, wire length, timestamp) for each packet of a block
FrameConsumer = Callable[[memoryview, int, float], None]
# (ring view, block offset, block size) -> frames in the block
BlockConsumer = Callable[[memoryview, int, int], int]


def walk_block(view: memoryview, base: int, block_size: int, frame: FrameConsumer) -> int:
    """Hand every frame of the TPACKET_V3 block at ``base`` to ``frame``."""
    _v, _p, _status, num, first, _l = _BLOCK.unpack_from(view, base)
    unpack = _PKT.unpack_from
    pos = base + first
    for _ in range(num):
        nxt, sec, nsec, snap, wire, _st, mac, _net = unpack(view, pos)
        frame(view[pos + mac : pos + mac + snap], wire, sec + nsec * 1e-9)
        pos += nxt
    return int(num)


class _SockFilter(ctypes.Structure):
    _fields_ = (
        ("code", ctypes.c_uint16),
        ("jt", ctypes.c_uint8),
        ("jf", ctypes.c_uint8),
        ("k", ctypes.c_uint32),
    )


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_uint16), ("filter", ctypes.POINTER(_SockFilter)))


class Ring:
    """One capture socket with its mapped ring; ``close()`` releases both."""

    def __init__(
        self,
        interface: str,
        *,
        block_size: int = 1 << 20,
        block_count: int = 32,
        snaplen: int = 65535,
        header_snaplen: int = 0,
        block_timeout_ms: int = 50,
        promiscuous: bool = True,
        sock: socket.socket | None = None,
    ) -> None:
        self.interface = interface
        reused = sock is not None
        if sock is not None:
            self.sock = sock
        else:
            try:
                self.sock = new_socket()
            except PermissionError:
                raise CaptureError(
                    "capture needs CAP_NET_RAW (run by the systemd unit, or "
                    "setcap/AmbientCapabilities for a non-root user)"
                ) from None
        try:
            if reused:
                self._reset()
            self._setup(
                block_size,
                block_count,
                bpf.program(snaplen, header_snaplen),
                block_timeout_ms,
                promiscuous,
            )
        except BaseException:
            self.sock.close()
            raise
        self.block_size = block_size
        self.block_count = block_count
        self.next_block = 0

    def _reset(self) -> None:
        """Make a socket an earlier ring used ready for a new one: stop its delivery,
        drop what queued meanwhile, release the old ring (unmapped: its process is gone)."""
        s = self.sock
        with contextlib.suppress(OSError):  # the interface is gone: _setup says so
            s.bind((self.interface, 0))  # protocol 0: the kernel stops delivering
        s.setblocking(False)
        with contextlib.suppress(OSError):
            while True:
                s.recv(65536)
        s.setblocking(True)
        with contextlib.suppress(OSError):  # no ring yet: nothing to release
            s.setsockopt(SOL_PACKET, PACKET_RX_RING, bytes(28))

    def _setup(
        self,
        block_size: int,
        block_count: int,
        program: list[bpf.Instruction],
        tov: int,
        promiscuous: bool,
    ) -> None:
        s = self.sock
        try:
            ifindex = socket.if_nametoindex(self.interface)
        except OSError:
            raise CaptureError(f"no network interface named {self.interface!r}") from None
        if program != [(bpf.RET, 0, 0, 65535)]:  # more than "accept every frame whole"
            prog = (_SockFilter * len(program))(*(_SockFilter(*ins) for ins in program))
            fprog = _SockFprog(len(program), ctypes.cast(prog, ctypes.POINTER(_SockFilter)))
            s.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, bytes(fprog))
            self._keep = prog  # the kernel copies it; kept until here anyway
        s.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V3)
        frame_size = 2048
        req = struct.pack(
            "=IIIIIII",
            block_size,
            block_count,
            frame_size,
            block_size * block_count // frame_size,
            tov,
            0,
            0,
        )
        try:
            s.setsockopt(SOL_PACKET, PACKET_RX_RING, req)
        except OSError as exc:
            raise CaptureError(f"cannot set up the capture ring: {exc.strerror}") from None
        self.map = mmap.mmap(
            s.fileno(), block_size * block_count, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE
        )
        self.view = memoryview(self.map)
        try:
            s.bind((self.interface, ETH_P_ALL))
        except OSError as exc:
            raise CaptureError(f"cannot capture on {self.interface}: {exc.strerror}") from None
        if promiscuous:
            mreq = struct.pack("iHH8s", ifindex, PACKET_MR_PROMISC, 0, b"")
            s.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
        self.poller = select.poll()
        self.poller.register(s.fileno(), select.POLLIN | select.POLLERR)

    def statistics(self) -> tuple[int, int]:
        """(packets, drops) the kernel counted since the last call (it resets them)."""
        data = self.sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 12)
        packets, drops, _freeze = struct.unpack("=III", data)
        return packets, drops

    def read(self, consume: BlockConsumer, timeout_ms: int) -> int:
        """Hand every ready block to ``consume``; wait up to ``timeout_ms`` for one.

        Returns the number of packets handed over.
        """
        view, bs = self.view, self.block_size
        base = self.next_block * bs
        if _STATUS.unpack_from(view, base + 8)[0] & TP_STATUS_USER == 0:
            try:
                self.poller.poll(timeout_ms)
            except InterruptedError:
                return 0
        total = 0
        while True:
            base = self.next_block * bs
            if not _STATUS.unpack_from(view, base + 8)[0] & TP_STATUS_USER:
                return total
            total += consume(view, base, bs)
            _STATUS.pack_into(view, base + 8, TP_STATUS_KERNEL)  # hand the block back
            self.next_block = (self.next_block + 1) % self.block_count

    def close(self) -> None:
        try:
            self.view.release()
            self.map.close()
        except (AttributeError, BufferError):
            pass
        self.sock.close()


def new_socket() -> socket.socket:
    """A packet socket that receives nothing until a ``Ring`` binds it.

    Creating it needs CAP_NET_RAW; binding, the ring, the filter and promiscuous mode do
    not. The daemon makes one while it holds the capability and hands it to every capture
    worker, so that neither needs the capability afterwards.
    """
    return socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)


def open_ring(interface: str, **kwargs: int | bool) -> Ring:
    """A ring on ``interface``; ``CaptureError`` says clearly what is missing."""
    try:
        return Ring(interface, **kwargs)  # type: ignore[arg-type]
    except OSError as exc:
        if exc.errno == errno.EPERM:
            raise CaptureError("capture needs CAP_NET_RAW") from None
        raise CaptureError(f"cannot capture on {interface}: {exc.strerror}") from None
