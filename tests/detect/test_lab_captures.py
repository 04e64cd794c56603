"""`sentinel analyze` on the reference lab's recorded captures: exactly the expected detectors.

The captures were recorded with real tools (nmap, hping3, arpspoof, a rogue dnsmasq,
hydra, macof) in a school LAN built from namespaces; each comes with ground truth.
They are copied with their ground truth into tests/data/reference (see its README).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from tests.conftest import DATA
from tests.helpers import analyze

if TYPE_CHECKING:
    from pathlib import Path

CAPTURES = DATA / "reference"
MANIFEST = CAPTURES / "MANIFEST.json"

# The lab names the SSH case after its scenario; sentinel's stable detector id is brute_force
# (a login that succeeds after the guessing is part of the same alert: with encrypted SSH
# the success is not visible on the wire).
LAB_NAMES = {"ssh_bruteforce": "brute_force", "ssh_login_after_bruteforce": "brute_force"}


def expected(capture: dict[str, object]) -> set[str]:
    return {LAB_NAMES.get(t, t) for t in capture["expected_alert_types"]}  # type: ignore[attr-defined]


def captures() -> list[dict[str, object]]:
    return list(json.loads(MANIFEST.read_text())["captures"])


def attacker(capture: dict[str, object]) -> dict[str, str] | None:
    """The ground truth's one attacker; None for the baseline and mac_flood (forged sources)."""
    truth = json.loads((CAPTURES / str(capture["ground_truth"])).read_text())
    attacks = [e for e in truth["events"] if e.get("malicious")]
    if not attacks or capture["scenario"] == "mac_flood":
        return None
    return dict(attacks[0])


WITH_ATTACKER = [(c, a) for c in captures() if (a := attacker(c)) is not None]


@pytest.mark.parametrize("capture", captures(), ids=lambda c: str(c["scenario"]))
def test_expected_detectors_exactly(capture: dict[str, object], tmp_path: Path) -> None:
    """Each capture raises exactly its expected detector ids (none for the baseline)."""
    alerts = analyze(CAPTURES / str(capture["pcap"]), tmp_path, "--reveal")
    assert {a["detector"] for a in alerts} == expected(capture)


@pytest.mark.parametrize(
    ("capture", "attack"), WITH_ATTACKER, ids=[str(c["scenario"]) for c, _ in WITH_ATTACKER]
)
def test_attacker_is_named(
    capture: dict[str, object], attack: dict[str, str], tmp_path: Path
) -> None:
    """The ground truth's attacker is the alert's source (mac_flood has no real source)."""
    alerts = analyze(CAPTURES / str(capture["pcap"]), tmp_path, "--reveal")
    sources = {a["source"]["ip"] for a in alerts} | {a["source"]["mac"] for a in alerts}  # type: ignore[index]
    assert attack["src_ip"] in sources or attack["src_mac"] in sources


def test_without_reveal_sources_are_pseudonymised(tmp_path: Path) -> None:
    """By default no attacker address appears in the output; a keyed pseudonym does."""
    alerts = analyze(CAPTURES / "syn_scan_vertical.pcap", tmp_path)
    text = json.dumps(alerts)
    assert alerts
    assert "10.77.0.66" not in text
    assert "02:77:00:00:66:66" not in text
    assert alerts[0]["source"]["ip"].startswith("anon-")  # type: ignore[index]
    assert (tmp_path / "site.key").exists()


def test_evidence_goes_to_the_state_dir_never_the_cwd(tmp_path: Path) -> None:
    """Evidence pcaps land in --state-dir/evidence, named in the alert."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    state = tmp_path / "state"
    (alert,) = analyze(CAPTURES / "ssh_bruteforce.pcap", state, cwd=cwd)
    assert (state / "evidence" / alert["evidence"]).stat().st_size > 24
    assert list(cwd.iterdir()) == []


def test_replay_is_deterministic(tmp_path: Path) -> None:
    """Two runs over the same capture print the same alerts."""
    pcap = CAPTURES / "arp_spoof.pcap"
    first = analyze(pcap, tmp_path)
    second = analyze(pcap, tmp_path)
    assert [{k: v for k, v in a.items() if k != "evidence"} for a in first] == [
        {k: v for k, v in a.items() if k != "evidence"} for a in second
    ]
