"""The engine: one alert per source, resolved when quiet, pseudonymised, with evidence."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from scapy.utils import rdpcap

from sentinel.config.detect import DetectConfig, Evidence
from sentinel.detect.engine import Engine
from sentinel.privacy import Pseudonymiser
from tests.detect.crafted import pkt
from tests.helpers import analyze

if TYPE_CHECKING:
    from sentinel.model import Alert

KEY = b"k" * 32


def scan(t0: float, ports: range, src: str = "10.77.0.66") -> list:  # type: ignore[type-arg]
    out = []
    for i, port in enumerate(ports):
        t = t0 + i / 100
        out.append(
            pkt(
                Ether(src="02:77:00:00:66:66", dst="02:77:00:00:00:0a")
                / IP(src=src, dst="10.77.0.10")
                / TCP(sport=40000, dport=port, flags="S"),
                t,
            )
        )
        out.append(
            pkt(
                Ether(src="02:77:00:00:00:0a", dst="02:77:00:00:66:66")
                / IP(src="10.77.0.10", dst=src)
                / TCP(sport=port, dport=40000, flags="RA"),
                t + 0.001,
            )
        )
    return out


def feed(engine: Engine, packets: list, end: float) -> list[Alert]:  # type: ignore[type-arg]
    alerts: list[Alert] = []
    for p in packets:
        alerts += engine.packet(p)
    t = packets[-1].ts
    while t < end:
        t += 1
        alerts += engine.tick(t)
    return alerts


def test_repeats_are_suppressed_and_quiet_sources_resolve(tmp_path: Path) -> None:
    """Two scans by the same source within the hour: one alert; quiet 10 min: resolved."""
    cfg = DetectConfig(resolve_after=600.0)
    e = Engine(cfg, pseudonymise=Pseudonymiser(KEY), evidence_dir=tmp_path)
    alerts = feed(e, scan(0, range(1, 60)) + scan(120, range(100, 160)), end=1000)
    opened = [a for a in alerts if a.resolved is None]
    resolved = [a for a in alerts if a.resolved is not None]
    assert [a.detector for a in opened] == ["port_scan"]
    assert len(resolved) == 1
    assert resolved[0].identifier == opened[0].identifier
    assert resolved[0].last_seen >= 120
    assert e.detections == {("port_scan", "warning"): 1}


def test_alerts_name_devices_by_pseudonym_only(tmp_path: Path) -> None:
    """No clear address in any field; the pseudonym is the keyed one."""
    name = Pseudonymiser(KEY)
    e = Engine(DetectConfig(), pseudonymise=name, evidence_dir=tmp_path)
    (alert,) = [a for a in feed(e, scan(0, range(1, 40)), end=10) if a.resolved is None]
    text = repr(alert)
    assert "10.77.0.66" not in text
    assert "02:77:00:00:66:66" not in text
    assert "10.77.0.10" not in text
    assert alert.source.ip == name("10.77.0.66")
    assert alert.source.mac == name("02:77:00:00:66:66")
    assert name("10.77.0.66") in alert.summary


def test_evidence_pcap_holds_the_triggering_packets(tmp_path: Path) -> None:
    """The evidence file named in the alert exists and holds the scanner's packets."""
    e = Engine(DetectConfig(), evidence_dir=tmp_path)
    (alert,) = [a for a in feed(e, scan(0, range(1, 40)), end=10) if a.resolved is None]
    assert alert.evidence.endswith(".pcap")
    frames = rdpcap(str(tmp_path / alert.evidence))
    assert 1 <= len(frames) <= DetectConfig().evidence.packets_per_alert
    assert all(f[IP].src == "10.77.0.66" for f in frames)  # the source's own frames


def test_evidence_folder_is_bounded(tmp_path: Path) -> None:
    """Many alerts: the oldest evidence files are deleted to stay within the budget."""
    cfg = replace(DetectConfig(), evidence=Evidence(max_total_mb=0, packets_per_alert=5))
    e = Engine(cfg, evidence_dir=tmp_path)
    for i in range(5):
        feed(e, scan(i * 10, range(1, 30), src=f"10.77.0.{70 + i}"), end=i * 10 + 5)
    assert e.evidence.written == 5
    assert e.evidence.deleted >= 4
    assert len(list(tmp_path.glob("*.pcap"))) <= 1


def test_replay_gives_the_same_alerts(tmp_path: Path) -> None:
    """Time comes from the packets: two runs over the same packets give equal alerts."""

    def once() -> list[tuple[str, str, float]]:
        e = Engine(DetectConfig(), pseudonymise=Pseudonymiser(KEY))
        return [
            (a.detector, a.identifier, a.first_seen)
            for a in feed(e, scan(1000, range(1, 50)), end=1100)
        ]

    assert once() == once()


def test_flood_alerts_carry_pseudonymised_top_talkers(tmp_path: Path) -> None:
    """A MAC flood has no single source: its alert names the LAN's top talkers, by pseudonym."""
    pcap = Path(__file__).resolve().parents[1] / "data" / "lab" / "mac_flood.pcap"
    floods = [a for a in analyze(pcap, tmp_path) if a["kind"] == "new_macs"]
    assert floods
    text = floods[0]["description"]
    assert "Top talkers on the LAN: anon-" in text
    assert "10.77.0." not in json.dumps(floods)
