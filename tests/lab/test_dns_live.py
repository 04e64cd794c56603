"""DNS tunnels without a fixed domain, live: dnscat2's direct mode and iodine sent straight
to their servers, captured by ``sentinel run`` on the lab gateway; the school resolver
relaying three students' busy lookups raises nothing."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest

from tests.lab.scenarios import SCENARIOS
from tests.lab.test_attacks_live import need

if TYPE_CHECKING:
    from tests.lab.lan import Host, SchoolLan, Sentinel

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]


def tunnel(name: str, lab: SchoolLan, sentinel: Sentinel, attacker: Host) -> dict[str, str]:
    """Run one scenario: dns_tunnel and dns_bypass name the attacker, nobody else is named."""
    need(name)
    t0 = time.monotonic()
    outcome = SCENARIOS[name].run(lab, False)
    sources = (attacker.ip, attacker.mac)
    hits = {}
    for detector in outcome.expected:
        hit = sentinel.wait_detection(detector, t0, timeout=15, sources=sources)
        assert hit is not None, (
            f"{outcome.command}: no {detector} from {sources}; "
            f"seen: {[d.fields for d in sentinel.findings(t0)]}"
        )
        hits[detector] = hit.fields
    for d in sentinel.findings(t0):
        named = {d.fields.get(k) for k in ("source", "source_ip", "source_mac")} - {None, ""}
        assert named <= set(sources), d.fields
    return hits["dns_tunnel"]


def test_dnscat2_direct_mode(lab: SchoolLan, sentinel: Sentinel, attacker: Host) -> None:
    """dnscat2 straight to its server, no domain: the per-client test names the laptop."""
    found = tunnel("dnscat2_direct", lab, sentinel, attacker)
    assert "whatever their domain" in found.get("summary", ""), found  # kind client


def test_iodine_txt_direct(lab: SchoolLan, sentinel: Sentinel, attacker: Host) -> None:
    """iodine -T TXT straight to iodined, not through the resolver."""
    tunnel("iodine_txt_direct", lab, sentinel, attacker)


def test_resolver_relaying_busy_lookups_raises_nothing(lab: SchoolLan, sentinel: Sentinel) -> None:
    """Three students' hashed CDN, telemetry and site lookups, relayed upstream: nothing."""
    need("dns_busy_benign")
    t0 = time.monotonic()
    SCENARIOS["dns_busy_benign"].run(lab, False)
    time.sleep(4)
    found = sentinel.findings(t0)
    assert found == [], "\n".join(str(d.fields) for d in found)
