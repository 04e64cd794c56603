"""Fuzz targets: each takes arbitrary bytes and checks that nothing escapes but the
errors its code declares, and that what is malformed is counted. The hypothesis tests
(tests/fuzz/test_fuzz.py) and the long coverage-guided run (bench/fuzz.py, atheris) call
the same functions.

Targets: the decoder at every link type; the payload parsers (DNS over UDP and TCP,
DHCP, DHCPv6); the pcap and pcapng readers (a stream and a memory-mapped file); the detection
pipeline end to end; the C accounting engine against the Python one, frame by frame,
on single frames, pcap regions and (C only, for the sanitizers) ring blocks; SNMP
values as pysnmp decodes them from a response message; the config loader.
"""

from __future__ import annotations

import io
import os
import struct
import tempfile
from typing import TYPE_CHECKING, Any

from sentinel.capture import accounting
from sentinel.capture.accounting import Accounting
from sentinel.capture.decode import decode
from sentinel.capture.pcapfile import MAX_FRAME, Capture, PcapError, Region
from sentinel.capture.pipeline import Pipeline, Settings, make_engine
from sentinel.config import parse_config
from sentinel.config.detect import DetectConfig
from sentinel.detect import dhcp, dhcp6, dns
from sentinel.detect.dns_clients import entropy
from sentinel.errors import ConfigError
from sentinel.packet import LINKTYPES

if TYPE_CHECKING:
    from collections.abc import Callable

FAST: Any = getattr(accounting, "FastAccounting", None)
NETS = ("10.77.0.0/16", "192.168.0.0/24", "2001:db8::/32")
DECODE_ERRORS = {
    "",
    "bad_ip_header",
    "bad_tcp_header",
    "too_many_vlan_tags",
    "truncated",
    "too_many_extension_headers",
    "unknown_linktype",
    "unsupported_arp",
}
SMALL = {"device_cap": 32, "window": 4.0, "talker_slots": 4, "detector_rate": 40}


def frames_of(data: bytes, limit: int = 64) -> list[bytes]:
    """Split fuzz bytes into frames: a length byte (times 8) before each."""
    out, off = [], 0
    while off < len(data) and len(out) < limit:
        n = data[off] * 8 + 1
        out.append(data[off + 1 : off + 1 + n])
        off += 1 + n
    return out


def decoder(data: bytes) -> None:
    """Every link type: the frame decodes or says why not, in a known word."""
    for lt in (*LINKTYPES, 0, 105):
        p = decode(data, lt, 1.0, len(data))
        assert p.error in DECODE_ERRORS, p.error
        if not p.error:
            assert p.payload_offset >= 0
            assert p.payload_offset + p.payload_length <= len(data)
        _ = p.payload


def payloads(data: bytes) -> None:
    """DNS (UDP and TCP), DHCP and DHCPv6 parsers never raise; problems are reported."""
    for tcp in (False, True):
        m = dns.parse(data, tcp=tcp)
        assert isinstance(m.error, str)
        for q in m.questions:
            assert isinstance(q.name, str)
            sub, domain, _known = dns.split_name(q.name)  # hostile names: a domain, no error
            assert domain in q.name or not domain or ".." in q.name or q.name.startswith(".")
            assert 0.0 <= entropy(sub) <= 8.0
    d = dhcp.parse(data)
    assert isinstance(d.error, str)
    d6 = dhcp6.parse(data)
    assert isinstance(d6.error, str)
    assert len(d6.addresses) <= dhcp6.MAX_LIST
    assert len(d6.dns_servers) <= dhcp6.MAX_LIST


def _records(cap: Capture) -> int:
    n = 0
    for item in cap.items():
        if isinstance(item, Region):
            for _rec in item.records():
                n += 1
        else:
            assert len(item[2]) <= MAX_FRAME
            n += 1
    return n


def _as_capture(data: bytes) -> list[bytes]:
    """The fuzz bytes as they are, and behind a pcap and a pcapng header (so mutations
    reach the record and block walkers, not only the magic check)."""
    shb = struct.pack("<IIIHHq", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1) + struct.pack("<I", 28)
    idb = struct.pack("<IIHHI", 1, 20, 1, 0, 65535) + struct.pack("<I", 20)
    return [
        data,
        struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1) + data,
        shb + idb + data,
    ]


def reader_stream(data: bytes) -> None:
    """The pcap/pcapng stream reader: packets, or PcapError naming an offset."""
    for blob in _as_capture(data):
        try:
            _records(Capture("-", stdin=io.BytesIO(blob)))
        except PcapError as exc:
            offset = exc.offset
        else:
            offset = 0
        assert offset <= len(blob), (offset, len(blob))


def reader_file(data: bytes) -> None:
    """The memory-mapped reader on the same bytes: the same packets as the stream."""
    with tempfile.TemporaryDirectory() as d:
        for i, blob in enumerate(_as_capture(data)):
            path = os.path.join(d, f"{i}.pcap")
            with open(path, "wb") as fh:
                fh.write(blob)
            got = []
            for source in (Capture(path), Capture("-", stdin=io.BytesIO(blob))):
                try:
                    got.append((_records(source), ""))
                except PcapError as exc:
                    got.append((-1, f"{exc.offset} {exc.what}"))
            if blob:
                assert got[0] == got[1], got


def _state(acc: Any) -> tuple[Any, ...]:
    return (
        acc.snapshot(),
        acc.talker_items(),
        acc.detector_batch(),
    )


def engines(data: bytes) -> None:
    """C and Python accounting, frame by frame: every counter after every frame, then
    tables, talkers and the frames the detectors want."""
    if FAST is None:
        return
    py, c = Accounting(NETS, **SMALL), FAST(NETS, **SMALL)
    for i, f in enumerate(frames_of(data)):
        ts = 1000.0 + i * 0.9
        wirelen = len(f) + (i % 3)
        py.frame(f, wirelen, ts)
        c.frame(f, wirelen, ts)
        assert py.packets == c.packets, i
        assert py.bytes == c.bytes, i
        assert py.malformed == c.malformed, i
    assert _state(py) == _state(c)


def regions(data: bytes) -> None:
    """The pcap region walkers of both engines over the same bytes: the same offsets,
    counts and damage, resuming after a small limit."""
    if FAST is None:
        return
    py, c = Accounting(NETS, **SMALL), FAST(NETS, **SMALL)
    view = memoryview(data)
    for big in (False, True):
        off_p = off_c = 0
        for _ in range(64):
            rp = py.pcap(view, off_p, len(data), big, 1e-6, 3)
            rc = c.pcap(view, off_c, len(data), big, 1e-6, 3)
            assert rp == rc, (rp, rc)
            off_p = off_c = rp[0]
            if rp[2] or not rp[1]:
                break
    assert _state(py) == _state(c)


def ring_blocks(data: bytes) -> None:
    """The C ring-block walker on arbitrary bytes, any base and size: it reads only
    inside the buffer (the sanitizer run checks it)."""
    if FAST is None or len(data) < 2:
        return
    c = FAST(NETS, **SMALL)
    base = data[0] % 64
    size = len(data) - base + data[1] % 16 - 8
    n = c.ring_block(data, base, size)
    assert n >= 0
    c.ring_block(data, -base, len(data))


def pipeline(data: bytes) -> None:
    """Every default detector on the frames: alerts or nothing, never an exception."""
    settings = Settings(networks=NETS, detect=DetectConfig())
    engine = make_engine(settings)
    p = Pipeline(settings, engine)
    for i, f in enumerate(frames_of(data)):
        p.frame(f, len(f), 1000.0 + i * 0.05)
    p.drain()
    p.tick(2000.0)
    assert engine is not None
    engine.finish()
    p.snapshot()


def config(data: bytes) -> None:
    """The config loader: a Config, or ConfigError with file, line and key path."""
    text = data.decode("utf-8", "replace")
    try:
        parse_config(text, environ={})
    except ConfigError as exc:
        issues = exc.issues
    else:
        issues = [None]
    assert issues  # an error names at least one problem


def snmp_values(data: bytes) -> None:
    """An SNMP response message as pysnmp's dispatcher decodes it (v1 and v2c), each
    value through the client's conversion: values, or pyasn1's decoding error."""
    from pyasn1.codec.ber import decoder as ber
    from pyasn1.error import PyAsn1Error
    from pysnmp.proto import api

    from sentinel.snmp.client import _value

    for version in (api.SNMP_VERSION_1, api.SNMP_VERSION_2C):
        mod = api.PROTOCOL_MODULES[version]
        try:
            msg, _rest = ber.decode(data, asn1Spec=mod.Message())
            pdu = mod.apiMessage.get_pdu(msg)
            binds = mod.apiPDU.get_varbinds(pdu)
        except (PyAsn1Error, ValueError, TypeError, KeyError, IndexError):
            continue  # pysnmp drops such a message: the request times out
        for _oid, value in binds:
            _value(value)


def seeds() -> list[bytes]:
    """Well-formed inputs for the mutators to start from: frames of each kind (scapy),
    a capture file of them, a config, an SNMP response."""
    from scapy.layers.dhcp import BOOTP, DHCP
    from scapy.layers.dns import DNS, DNSQR
    from scapy.layers.inet import ICMP, IP, TCP, UDP
    from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop
    from scapy.layers.l2 import ARP, Dot1Q, Ether
    from scapy.utils import PcapWriter

    eth = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    frames = [
        eth / IP(src="10.77.0.2", dst="10.77.0.3") / TCP(flags="S", dport=22),
        eth / Dot1Q(vlan=10) / Dot1Q(vlan=20) / IP() / UDP(dport=53) / DNS(qd=DNSQR()),
        eth / IPv6() / IPv6ExtHdrHopByHop() / IPv6ExtHdrFragment() / TCP(),
        eth / ARP(psrc="10.77.0.1", pdst="10.77.0.9"),
        eth / IP(dst="10.77.0.1") / ICMP(),
        eth / IP() / UDP(sport=67, dport=68) / BOOTP() / DHCP(options=[("message-type", 2), "end"]),
    ]
    out = [bytes(f) for f in frames]
    buf = io.BytesIO()
    w = PcapWriter(buf)
    for f in frames:
        w.write(f)
    w.flush()
    out.append(buf.getvalue())
    out.append(b"site:\n  name: school\ncapture:\n  interface: eth0\n")
    out.append(
        bytes.fromhex(
            "302902010104067075626c6963a21c02020101020100020100301030"
            "0e06082b060102010105000402616200"
        )
    )
    return out


TARGETS: dict[str, Callable[[bytes], None]] = {
    "decoder": decoder,
    "payloads": payloads,
    "reader_stream": reader_stream,
    "reader_file": reader_file,
    "engines": engines,
    "regions": regions,
    "ring_blocks": ring_blocks,
    "pipeline": pipeline,
    "config": config,
    "snmp_values": snmp_values,
}
