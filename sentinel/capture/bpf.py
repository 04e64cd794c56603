"""The kernel filter on the capture socket: how many bytes of each frame reach the ring.

Detectors read payloads of DNS (53, TCP and UDP), DHCP (67, 68), DHCPv6 (546, 547) and
mDNS (5353) only;
every other frame is accounted and inspected by its headers. So the classic BPF program
attached to the socket keeps whole frames (up to ``snaplen``) for those ports, for
non-IP frames (ARP and friends, all small) and for IPv6 with extension headers (rare,
kept whole to be safe), and cuts everything else to ``header_snaplen`` bytes: room for
Ethernet, two VLAN tags, IPv4 or IPv6 with options and a full TCP header.

That keeps the kernel from copying bulk payload (TLS, QUIC, video) into the ring: less
work per frame in the softirq that feeds the ring, more frames per ring block, and
students' content never reaches user space. Accounting is unaffected: byte counts come
from the wire length the kernel reports, not from the bytes copied.

Frames no longer than ``header_snaplen`` are returned whole before any load, so every
load below is inside the frame (classic BPF drops a frame on an out-of-bounds load).
"""

from __future__ import annotations

from dataclasses import dataclass

PAYLOAD_PORTS = (53, 67, 68, 546, 547, 5353)  # DNS, DHCP, DHCPv6, mDNS: payloads parsed
VLAN_TYPES = (0x8100, 0x88A8, 0x9100)

# Classic BPF opcodes (linux/filter.h)
LD_LEN = 0x80  # A = frame length
LDH_ABS = 0x28  # A = u16 at k
LDB_ABS = 0x30  # A = u8 at k
LDH_IND = 0x48  # A = u16 at X + k
LDX_MSH = 0xB1  # X = 4 * (u8 at k & 0xf): the IPv4 header length
JEQ = 0x15
JGT = 0x25
JSET = 0x45
RET = 0x06

Instruction = tuple[int, int, int, int]  # code, jt, jf, k


@dataclass(frozen=True, slots=True)
class _Op:
    code: int
    k: int = 0
    jt: str | None = None  # label of the true branch (None: next instruction)
    jf: str | None = None
    label: str | None = None  # a label naming this instruction


def program(snaplen: int, header_snaplen: int) -> list[Instruction]:
    """The filter for these lengths; ``header_snaplen`` 0 (or >= snaplen): whole frames."""
    if not header_snaplen or header_snaplen >= snaplen:
        return [(RET, 0, 0, snaplen)]
    if header_snaplen < 128:
        raise ValueError("header_snaplen must be 0 or at least 128 (the headers must fit)")
    ops: list[_Op] = [_Op(LD_LEN), _Op(JGT, header_snaplen, jf="full")]
    for base in (0, 4, 8):  # no tag, one tag, two tags (QinQ)
        ops += [
            _Op(LDH_ABS, 12 + base, label=f"ether{base}"),
            _Op(JEQ, 0x0800, jt=f"ipv4_{base}"),
            _Op(JEQ, 0x86DD, jt=f"ipv6_{base}"),
        ]
        if base < 8:
            ops += [_Op(JEQ, t, jt=f"ether{base + 4}") for t in VLAN_TYPES]
        ops += [
            _Op(RET, snaplen),  # not IP: ARP, LLDP, ... (small frames, kept whole)
            _Op(LDB_ABS, 23 + base, label=f"ipv4_{base}"),  # protocol
            _Op(JEQ, 17, jt=f"frag{base}"),
            _Op(JEQ, 6, jt=f"frag{base}"),
            _Op(RET, header_snaplen),
            _Op(LDH_ABS, 20 + base, label=f"frag{base}"),
            _Op(JSET, 0x1FFF, jt="short"),  # a later fragment: no ports in it
            _Op(LDX_MSH, 14 + base),
            *_ports(LDH_IND, 14 + base),
            _Op(LDB_ABS, 20 + base, label=f"ipv6_{base}"),  # next header
            _Op(JEQ, 17, jt=f"ports6_{base}"),
            _Op(JEQ, 6, jt=f"ports6_{base}"),
            _Op(JEQ, 58, jt="short"),  # ICMPv6
            _Op(RET, snaplen),  # extension headers: kept whole
            *_ports(LDH_ABS, 54 + base, label=f"ports6_{base}"),
        ]
    ops += [_Op(RET, snaplen, label="full"), _Op(RET, header_snaplen, label="short")]
    return _assemble(ops)


def _ports(load: int, at: int, label: str | None = None) -> list[_Op]:
    """Source then destination port at ``at``: a payload port keeps the whole frame."""
    out = [_Op(load, at, label=label)]
    out += [_Op(JEQ, p, jt="full") for p in PAYLOAD_PORTS]
    out += [_Op(load, at + 2)]
    out += [_Op(JEQ, p, jt="full") for p in PAYLOAD_PORTS]
    out += [_Op(JEQ, 0, jt="short", jf="short")]
    return out


def _assemble(ops: list[_Op]) -> list[Instruction]:
    where = {op.label: i for i, op in enumerate(ops) if op.label}
    out: list[Instruction] = []
    for i, op in enumerate(ops):
        jt = where[op.jt] - i - 1 if op.jt else 0
        jf = where[op.jf] - i - 1 if op.jf else 0
        if not (0 <= jt <= 255 and 0 <= jf <= 255):
            raise ValueError(f"BPF jump out of range at {i}")  # only forward, 8 bits
        out.append((op.code, jt, jf, op.k))
    return out


def run(prog: list[Instruction], frame: bytes) -> int:
    """Interpret ``prog`` on ``frame`` as the kernel does (the opcodes used above only):
    the number of bytes kept. For tests and for reading the program."""
    a = x = pc = 0
    n = len(frame)

    def load(at: int, size: int) -> int | None:
        return int.from_bytes(frame[at : at + size], "big") if at + size <= n else None

    while True:
        code, jt, jf, k = prog[pc]
        pc += 1
        if code == RET:
            return min(k, n)
        if code == LD_LEN:
            a = n
        elif code in (LDH_ABS, LDB_ABS, LDH_IND):
            at = k + (x if code == LDH_IND else 0)
            value = load(at, 1 if code == LDB_ABS else 2)
            if value is None:
                return 0  # out of bounds: the kernel drops the frame
            a = value
        elif code == LDX_MSH:
            value = load(k, 1)
            if value is None:
                return 0
            x = 4 * (value & 0x0F)
        elif code in (JEQ, JGT, JSET):
            hit = a == k if code == JEQ else a > k if code == JGT else bool(a & k)
            pc += jt if hit else jf
        else:
            raise ValueError(f"opcode {code:#x} not interpreted")
