"""`sentinel demo` for real: switches, capture, detections and alerts, then a clean stop.

Runs the command as a user would (as root, bounded by --duration), reads its /metrics and
its alert file while it runs, sends it SIGINT as Ctrl-C would, and checks that nothing it
made is left: no network namespace, no veth, no child process, no directory.
"""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import needs_netns
from tests.demo.common import (
    LAN,
    READY,
    SWITCHES,
    Demo,
    assert_stops_clean,
    running,
    scrape,
    series,
    until,
)

pytestmark = [needs_netns, pytest.mark.timeout(240)]


def test_demo_shows_everything_and_stops_clean() -> None:
    with running() as demo:
        check_demo(demo)


def check_demo(demo: Demo) -> None:
    lan = demo.find(LAN, timeout=120)
    ready = demo.find(READY, timeout=90)
    metrics, alerts = ready["metrics"], Path(ready["alerts"])
    workdir = alerts.parent
    assert Path(f"/run/netns/{lan['ns']}").exists()
    assert Path(f"/sys/class/net/{lan['veth']}").exists()

    # Switches polled over SNMP from the recordings, with counters that move.
    def switches_up() -> bool:
        up = series(scrape(metrics), "sentinel_switch_up")
        return all(up.get((("switch", s),)) == 1 for s in SWITCHES)

    until(switches_up, "all three demo switches up", 60)
    before = series(scrape(metrics), "sentinel_interface_receive_bytes_total")
    core = {k: v for k, v in before.items() if ("switch", "demo-core") in k}
    assert len(core) >= 10, sorted(before)[:5]
    time.sleep(11)  # two poll intervals
    after = series(scrape(metrics), "sentinel_interface_receive_bytes_total")
    grew = [k for k, v in core.items() if after.get(k, 0) > v]
    assert len(grew) >= 2, (core, after)
    assert all(after.get(k, 0) >= v for k, v in core.items())  # never backwards

    # Capture counts and detections from the replayed captures; alerts in the sink.
    def detected() -> bool:
        samples = scrape(metrics)
        packets = sum(series(samples, "sentinel_lan_packets_total").values())
        found = sum(series(samples, "sentinel_detections_total").values())
        return packets > 1000 and found >= 1

    until(detected, "LAN packets counted and a detection", 90)
    until(lambda: alerts.exists() and alerts.stat().st_size > 0, "an alert in the sink", 30)
    first = json.loads(alerts.read_text().splitlines()[0])
    assert first["demo"] is True
    assert first["site"] == "demo-school"
    assert first["alert"]["summary"].startswith("[DEMO] ")
    assert first["alert"]["detector"] in {"port_scan", "arp_spoof", "rogue_dhcp", "host_sweep"}
    with urllib.request.urlopen(ready["page"], timeout=5) as rsp:  # noqa: S310
        page = rsp.read().decode()
    assert "DEMO" in page
    assert "demo-core" in page
    with urllib.request.urlopen(ready["page"] + "metrics", timeout=5) as rsp:  # noqa: S310
        assert 'sentinel_demo_info{site="demo-school"' in rsp.read().decode()

    # Ctrl-C: everything it started goes away.
    assert_stops_clean(demo, lan, workdir)
