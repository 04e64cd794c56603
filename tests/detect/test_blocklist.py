"""blocklist: addresses, networks and domains from files; reloads; missing files."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

import pytest
from scapy.layers.dns import DNS, DNSQR
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import Ether

from sentinel.capture.decode import decode
from sentinel.config.detect import Allow, Blocklist, DetectConfig
from sentinel.detect.base import Common
from sentinel.detect.blocklist import Blocklist as Detector

if TYPE_CHECKING:
    from pathlib import Path

    from sentinel.detect.base import Finding
    from sentinel.packet import Packet

CLIENT = "10.77.0.101"
LIST = """\
# malware hosts
203.0.113.66
198.51.100.0/24   # a whole network

bad.example
0.0.0.0 tracker.example.net
not a valid line
"""


def _detector(files: tuple[Path, ...], allow: Allow | None = None) -> Detector:
    s = Blocklist(allow=allow or Allow(), files=files, check_interval=60.0)
    return Detector(s, Common(DetectConfig(blocklist=s), ("10.77.0.0/24",), 20000))


def _syn(dst: str, ts: float = 1.0, src: str = CLIENT) -> Packet:
    return decode(
        bytes(Ether() / IP(src=src, dst=dst) / TCP(sport=40000, dport=443, flags="S")), ts=ts
    )


def _query(name: str, ts: float = 1.0) -> Packet:
    q = DNS(id=1, rd=1, qd=DNSQR(qname=name))
    return decode(
        bytes(Ether() / IP(src=CLIENT, dst="10.77.0.10") / UDP(sport=40000, dport=53) / q), ts=ts
    )


def _feed(d: Detector, packets: list[Packet]) -> list[Finding]:
    out: list[Finding] = []
    for p in packets:
        out += d.observe(p)
        out += d.tick(p.ts)
    return out


@pytest.fixture
def listfile(tmp_path: Path) -> Path:
    path = tmp_path / "block.txt"
    path.write_text(LIST)
    return path


def test_addresses_networks_and_domains(listfile: Path) -> None:
    """A SYN to a listed address or network, a ping, a query under a listed domain match."""
    d = _detector((listfile,))
    ping = decode(bytes(Ether() / IP(src=CLIENT, dst="203.0.113.66") / ICMP(type=8)), ts=2.0)
    found = _feed(
        d,
        [
            _syn("203.0.113.66"),
            _syn("198.51.100.7"),
            ping,
            _query("www.Bad.Example"),
            _query("tracker.example.net"),
        ],
    )
    assert [f.target_name for f in found] == [
        "203.0.113.66",
        "198.51.100.0/24",
        "bad.example",
        "tracker.example.net",
    ]  # the ping repeats the first (client, entry) within a minute
    assert found[0].identifier == f"{CLIENT}|203.0.113.66"
    assert found[2].kind == "domain"
    assert d.stats()["entries"] == 4


def test_unlisted_traffic_and_allowed_clients(listfile: Path) -> None:
    """Unlisted addresses and names, a parent of a listed domain, allowed clients: nothing."""
    d = _detector((listfile,), allow=Allow(hosts=("10.77.0.5",)))
    packets = [
        _syn("203.0.113.67"),
        _query("example"),
        _query("notbad.example"),
        _query("example.net"),
    ]
    packets.append(_syn("203.0.113.66", src="10.77.0.5"))
    answer = decode(
        bytes(Ether() / IP(src="203.0.113.66", dst=CLIENT) / TCP(sport=443, dport=4000, flags="SA"))
    )
    packets.append(answer)
    assert _feed(d, packets) == []


def test_reload_when_file_changes(listfile: Path) -> None:
    """A changed file is re-read at the next check, not before."""
    d = _detector((listfile,))
    d.tick(0.0)
    listfile.write_text("new.example\n")
    os.utime(listfile, ns=(10**18, 10**18))
    assert _feed(d, [_query("new.example", 10.0)]) == []  # before check_interval
    d.tick(61.0)
    assert [f.target_name for f in _feed(d, [_query("x.new.example", 62.0)])] == ["new.example"]
    assert _feed(d, [_query("bad.example", 63.0)]) == []


def test_missing_file_logged_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A missing file is logged once, does not crash, and is picked up when it appears."""
    missing = tmp_path / "later.txt"
    caplog.set_level(logging.INFO)
    d = _detector((missing,))
    for t in (0.0, 61.0, 122.0, 183.0):
        d.tick(t)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert d.stats()["files_unreadable"] == 1
    missing.write_text("203.0.113.66\n")
    d.tick(244.0)
    assert d.stats() == {"entries": 1, "files_unreadable": 0, "reported": 0, "evictions": 0}
    assert len(_feed(d, [_syn("203.0.113.66", 245.0)])) == 1


def test_reports_bounded(tmp_path: Path) -> None:
    """The (client, entry) table is capped: a spoofed flood evicts, never grows."""
    path = tmp_path / "block.txt"
    path.write_text("198.51.100.0/24\n")
    s = Blocklist(files=(path,))
    d = Detector(s, Common(DetectConfig(blocklist=s), (), 100))
    for i in range(500):
        d.observe(_syn("198.51.100.1", 1.0, src=f"10.1.{i // 250}.{i % 250}"))
    assert d.stats()["reported"] == 100
    assert d.stats()["evictions"] == 400
