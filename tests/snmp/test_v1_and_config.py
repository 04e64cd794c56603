"""SNMPv1 (no GETBULK, no 64-bit counters) and `sentinel poll --config FILE SWITCH`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.snmp import agents
from tests.snmp.agents import V3_DEFAULT_RECORDING, V3_SHA256_AES256
from tests.snmp.conftest import poll, series

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
IF_IN_OCTETS = "1.3.6.1.2.1.2.2.1.10"


def receive_bytes(text: str) -> dict[str, float]:
    return {
        dict(labels)["ifindex"]: v
        for (name, labels), v in series(text).items()
        if name == "sentinel_interface_receive_bytes_total"
    }


def test_v1_reads_the_32_bit_counters(simulator: agents.Simulator) -> None:
    """-v 1 walks with GETNEXT and exports ifInOctets, as snmpbulkwalk reads them."""
    r = poll(simulator.target, "-v", "1", "-c", V3_DEFAULT_RECORDING, "--name", "sw")
    assert r.returncode == 0, r.stderr
    got = receive_bytes(r.stdout)
    walked = agents.bulkwalk(simulator.target, IF_IN_OCTETS, agents.v2c_args(V3_DEFAULT_RECORDING))
    want = {oid.rsplit(".", 1)[1]: float(v) for oid, v in walked.items()}  # type: ignore[arg-type]
    assert got
    assert got == {k: want[k] for k in got}


def test_poll_a_switch_from_the_config(simulator: agents.Simulator, tmp_path: Path) -> None:
    """`sentinel poll --config FILE core` uses that switch's address and v3 credentials."""
    user = V3_SHA256_AES256
    cfg = tmp_path / "sentinel.yaml"
    cfg.write_text(
        "snmp:\n  auths:\n    school:\n      version: 3\n"
        f"      user: {user.name}\n"
        f"      auth: {{protocol: {user.auth_proto}, passphrase: {user.auth_key}}}\n"
        f"      priv: {{protocol: {user.priv_proto}, passphrase: {user.priv_key}}}\n"
        f"  switches:\n    - {{name: core, address: '{simulator.target}', auth: school}}\n"
    )
    r = poll("core", "--config", str(cfg))
    assert r.returncode == 0, r.stderr
    assert series(r.stdout)[("sentinel_switch_up", (("switch", "core"),))] == 1
    missing = poll("gym", "--config", str(cfg))
    assert missing.returncode == 2
    assert "no switch 'gym'" in missing.stderr
    assert "switches: core" in missing.stderr
