"""A learned resolver's answers stop reaching the detectors, and nothing else changes.

The engine says which DNS servers' answers no detector reads (``Engine.quiet_answers``:
dns_tunnel's resolvers, with the MACs their answers came from); the pipeline passes them
to the capture side, which counts those answers instead of handing them over. The same
alerts must come out, from fewer frames.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest

from sentinel.capture import pcapfile
from sentinel.capture.pipeline import Pipeline, Settings, make_engine
from sentinel.config.detect import DetectConfig
from sentinel.detect import base
from sentinel.detect.dns_tunnel import DnsTunnel

LAB = Path(__file__).resolve().parents[1] / "data" / "lab"
# captures where the lab resolver answers several clients (a busy LAN, a resolver relaying)
CAPTURES = ["dns_busy_benign.pcap", "baseline.pcap", "resolver_relay.pcap"]


def run(path: Path) -> tuple[list[Any], Pipeline]:
    settings = Settings(networks=("10.77.0.0/24",), detect=DetectConfig(), site_key=bytes(32))
    pl = Pipeline(settings, make_engine(settings))
    alerts: list[Any] = []
    for i, (ts, _lt, frame, wirelen) in enumerate(pcapfile.read(path)):
        pl.frame(frame, wirelen, ts)
        if i % 200 == 199:
            alerts += pl.drain()
    alerts += pl.drain(final=True)
    assert pl.engine is not None
    alerts += pl.engine.finish()
    return [(a.detector, a.identifier, a.severity, a.first_seen) for a in alerts], pl


@pytest.mark.parametrize("name", CAPTURES)
def test_same_alerts_from_fewer_frames(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    quiet_alerts, quiet = run(LAB / name)
    monkeypatch.setattr(DnsTunnel, "reads_resolver_answers", True)  # every answer wanted
    all_alerts, every = run(LAB / name)
    assert quiet_alerts == all_alerts
    assert every.accounting.answers_quiet == 0  # type: ignore[attr-defined]
    assert quiet.accounting.answers_quiet > 0  # type: ignore[attr-defined]
    assert quiet.decoded == every.decoded - quiet.accounting.answers_quiet  # type: ignore[attr-defined]


def test_a_detector_reading_answers_keeps_them_all() -> None:
    """A detector that does not say it leaves a resolver's answers unread gets them all."""

    class Reader:
        name: ClassVar[str] = "reader"
        wants: ClassVar[frozenset[str]] = frozenset({base.DNS})

        def observe(self, p: object) -> tuple[()]:
            return ()

        def tick(self, now: float) -> tuple[()]:
            return ()

        def stats(self) -> dict[str, int]:
            return {}

    _alerts, pl = run(LAB / "dns_busy_benign.pcap")
    engine = pl.engine
    assert engine is not None
    learned = engine.quiet_answers()
    assert learned  # the lab's resolver, from its MAC
    assert {ip for ip, _mac in learned} == {bytes([10, 77, 0, 10])}
    engine.detectors.append(Reader())  # type: ignore[arg-type]
    engine.routes.setdefault(base.DNS, []).append(Reader())  # type: ignore[arg-type]
    assert engine.quiet_answers() == set()
