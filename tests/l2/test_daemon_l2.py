"""The daemon reads layer 2 of two switches: FDB counts, census, unconfigured neighbours."""

from __future__ import annotations

import signal
import time
from typing import TYPE_CHECKING

import pytest

from tests.helpers import free_port, get, running, sample, samples
from tests.l2.test_recordings import read

if TYPE_CHECKING:
    from pathlib import Path

    from tests.snmp import agents

pytestmark = pytest.mark.timeout(120)


def config(tmp: Path, sim: agents.Simulator, port: int) -> Path:
    host, udp = sim.target.split(":")
    path = tmp / "sentinel.yaml"
    path.write_text(
        f"""
site: l2-test
listen: 127.0.0.1:{port}
state_dir: {tmp / "state"}
local: {{enabled: false}}
snmp:
  auths:
    aruba: {{version: "2c", community: aruba-2930f-48p}}
    cisco: {{version: "2c", community: cisco-c9200-48p}}
  defaults: {{interval: 10s, timeout: 1s, retries: 1}}
  switches:
    - {{name: aruba-access-1, address: "{host}:{udp}", auth: aruba}}
    - {{name: cisco-access-1, address: "{host}:{udp}", auth: cisco}}
l2:
  students: 850
"""
    )
    return path


def test_daemon_exports_l2_and_census(l2sim: agents.Simulator, tmp_path: Path) -> None:
    """Both switches' FDB, PoE and neighbours; devices of both counted once each; state hashed."""
    truth = read(l2sim, "aruba-2930f-48p").devices | read(l2sim, "cisco-c9200-48p").devices
    port = free_port()
    with running(["--config", str(config(tmp_path, l2sim, port))]) as d:
        d.wait_log("sentinel started")
        d.wait_log("switch neighbour not configured", timeout=40)
        deadline = time.monotonic() + 40
        while True:
            _, _, text = get(f"http://127.0.0.1:{port}/metrics")
            read_by = {lab["switch"] for lab, _ in samples(text, "sentinel_fdb_macs")} & {
                "aruba-access-1",
                "cisco-access-1",
            }
            if len(read_by) == 2 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert len(read_by) == 2, text
        assert sample(text, "sentinel_devices_active", window="1h") == len(truth)
        assert sample(text, "sentinel_devices_active", window="1d") == len(truth)
        assert sample(text, "sentinel_site_students") == 850
        # core-sw1.school.lan is a neighbour of both and in neither config: one switch.
        assert sample(text, "sentinel_lldp_unconfigured_switches") == 1
        assert (
            sample(text, "sentinel_poe_pse_power_watts", switch="cisco-access-1", group="1") == 740
        )
        laa = sample(text, "sentinel_devices_locally_administered_ratio", window="1h")
        assert laa is not None
        assert 0.05 < laa < 0.5
        d.signal(signal.SIGTERM)
        assert d.wait() == 0
    state = (tmp_path / "state" / "census.bin").read_bytes()
    assert len(state) == 8 + 13 * len(truth)
    for mac in list(truth)[:200]:  # no MAC in clear, in either byte order
        assert mac.to_bytes(6, "big") not in state
        assert mac.to_bytes(6, "little") not in state
