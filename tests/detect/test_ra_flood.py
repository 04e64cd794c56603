"""rogue_ra under a router advertisement flood (thc-ipv6 flood_router26): one finding for
the flood, not one per forged router; a single rogue router keeps its own alert."""

from __future__ import annotations

import json
import random
from typing import TYPE_CHECKING

from sentinel.config.detect import DetectConfig, Gateway, RogueRa
from sentinel.detect.engine import Engine
from sentinel.detect.rogue_ra import FLOOD_QUIET, HOLD
from sentinel.detect.rogue_ra import RogueRa as RogueRaDetector
from sentinel.model import Severity
from tests.conftest import DATA
from tests.detect.crafted import make, run
from tests.detect.test_ipv6_first_hop import ATK_LL, ATTACKER, GW_LL, GW_MAC, ra
from tests.helpers import analyze

if TYPE_CHECKING:
    from pathlib import Path

    from sentinel.detect.base import Finding
    from sentinel.packet import Packet

LAB = DATA / "lab"
PINNED = DetectConfig(gateway=Gateway(mac=GW_MAC))


def detector(max_tracked: int = 20000) -> RogueRaDetector:
    s = RogueRa()
    return make(RogueRaDetector, settings=s, cfg=PINNED, max_tracked=max_tracked)


def forged(n: int, start: float, every: float, seed: int = 1) -> list[Packet]:
    """``n`` advertisements, each from a random MAC and link-local address."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        b = rng.randbytes(4)
        mac = "02:" + ":".join(f"{x:02x}" for x in b) + ":00"
        out.append(ra(mac, f"fe80::{b.hex()[:4]}:{b.hex()[4:]}", start + i * every))
    return out


def by_id(found: list[Finding]) -> set[tuple[str, str]]:
    return {(f.identifier, f.kind) for f in found}


def test_random_router_flood_is_one_flood_finding() -> None:
    """2,000 advertisements from 2,000 random MACs in a second: every finding is the one
    flood finding (identifier "lan"), critical, naming no MAC, its counts growing."""
    found = run(detector(), [ra(GW_MAC, GW_LL, 0.5), *forged(2000, 1.0, 0.0005)])
    assert found
    assert by_id(found) == {("lan", "flood")}
    assert {(f.severity, f.src_mac, f.src_ip) for f in found} == {(Severity.CRITICAL, "", "")}
    last = found[-1].counts
    assert last["advertisers"] == 2000
    assert last["adverts"] == 2000


def test_flood_through_the_engine_is_one_alert() -> None:
    """Through the engine: one rogue_ra alert for the whole flood (was one per MAC),
    beside the MAC flood that 1,500 new MACs also are."""
    engine = Engine(PINNED)
    alerts = []
    for p in [ra(GW_MAC, GW_LL, 0.5), *forged(1500, 1.0, 0.001)]:
        alerts += engine.packet(p)
    alerts += engine.finish()
    assert [(a.detector, a.kind) for a in alerts] == [
        ("rogue_ra", "flood"),
        ("mac_flood", "new_macs"),
    ]


def test_a_mac_sending_most_of_a_flood_is_named() -> None:
    """A flood whose advertisements mostly come from one MAC (the rest forged) names it."""
    frames = []
    for i, p in enumerate(forged(300, 1.0, 0.002)):
        frames += [p, ra(ATTACKER, ATK_LL, 1.0 + i * 0.002 + 0.0005)]
        if i % 2:
            frames.append(ra(ATTACKER, ATK_LL, 1.0 + i * 0.002 + 0.001))
    found = run(detector(), frames)
    assert by_id(found) == {("lan", "flood")}
    assert {f.src_mac for f in found} == {ATTACKER}
    assert {f.src_ip for f in found} == {ATK_LL}


def test_one_rogue_router_keeps_its_own_alert() -> None:
    """fake_router6: one laptop announcing every 3 s is its own critical finding, as
    are two rogue routers a few seconds apart; reported within a tick of HOLD."""
    one = run(detector(), [ra(ATTACKER, ATK_LL, t) for t in (1.0, 4.0, 7.0)])
    assert by_id(one) == {(ATTACKER, "rogue")}
    assert one[0].ts == 1.0
    assert one[0].severity is Severity.CRITICAL
    other = "02:77:00:00:01:02"
    frames = [ra(ATTACKER, ATK_LL, 1.0), ra(other, "fe80::77:ff:fe00:102", 4.0)]
    assert by_id(run(detector(), frames)) == {(ATTACKER, "rogue"), (other, "rogue")}


def test_a_reported_rogue_router_keeps_its_alert_in_a_flood() -> None:
    """A rogue router alerted before a flood starts goes on being its own finding; the
    flood counts only the routers it folds."""
    frames = [ra(ATTACKER, ATK_LL, 1.0)]
    frames += forged(500, 3.0 + HOLD, 0.001)
    frames.append(ra(ATTACKER, ATK_LL, 3.2 + HOLD))
    found = run(detector(), frames)
    assert by_id(found) == {(ATTACKER, "rogue"), ("lan", "flood")}
    assert [f for f in found if f.kind == "flood"][-1].counts["advertisers"] == 500


def test_after_a_flood_a_rogue_router_is_its_own_finding_again() -> None:
    """FLOOD_QUIET seconds after the last forged advertisement the flood is over."""
    after = 2.0 + FLOOD_QUIET + 2
    frames = [*forged(100, 1.0, 0.001), ra(ATTACKER, ATK_LL, after)]
    found = run(detector(), frames, until=after + 2)
    assert by_id(found) == {("lan", "flood"), (ATTACKER, "rogue")}


def test_flood_tables_stay_bounded() -> None:
    """20,000 forged routers: the sender table at its cap, nothing held."""
    d = detector(max_tracked=500)
    run(d, forged(20000, 1.0, 0.0001))
    assert d.stats()["senders"] == 500
    assert d.stats()["held"] == 0


def test_lab_ra_flood_is_one_rogue_ra_alert(tmp_path: Path) -> None:
    """The lab's flood_router26 capture (984 random routers): one rogue_ra alert, kind
    flood, beside the MAC flood it also is."""
    truth = json.loads((LAB / "ra_flood.json").read_text())
    cfg = tmp_path / "sentinel.yaml"
    cfg.write_text(json.dumps({"detect": {"gateway": truth["lab"]["gateway"]}}))
    found = analyze(LAB / truth["pcap"], tmp_path, "--config", str(cfg), "--reveal")
    ra_alerts = [a for a in found if a["detector"] == "rogue_ra"]
    assert [(a["kind"], a["identifier"]) for a in ra_alerts] == [("flood", "lan")], found
    counts = dict(ra_alerts[0]["counts"])
    assert counts["advertisers"] > 500
    assert ra_alerts[0]["source"] == {"ip": "", "mac": ""}
