"""`sentinel demo --region`: the fleet's series in VictoriaMetrics, alerts in Alertmanager.

The region runs on loopback beside the demo school: vmagent (the project's scrape config)
pushes the demo's metrics with ``site`` and ``region`` into VictoriaMetrics, vmalert
evaluates the project's rules against it, and Alertmanager, with the project's routing,
receives the daemon's own alerts and notifies the school's receiver. Then SIGINT, and
nothing may be left, the region's processes included.
"""

from __future__ import annotations

import json
import re
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import needs_netns, require_tools
from tests.demo.common import LAN, READY, SWITCHES, assert_stops_clean, running, until

pytestmark = [needs_netns, pytest.mark.timeout(240)]

REGION = re.compile(
    r"region: victoria-metrics=(?P<vm>\S+) vmalert=(?P<vmalert>\S+) "
    r"alertmanager=(?P<am>\S+) vmagent=(?P<vmagent>\S+)"
)


def get_json(url: str, **params: str) -> Any:
    if params:
        url += "?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=10) as rsp:  # noqa: S310 (loopback)
        return json.loads(rsp.read())


def instant(vm: str, expr: str) -> list[dict[str, Any]]:
    answer = get_json(f"{vm}/api/v1/query", query=expr)
    assert answer["status"] == "success", answer
    return answer["data"]["result"]  # type: ignore[no-any-return]


def test_region_receives_the_demo() -> None:
    require_tools("victoria-metrics", "vmalert", "vmagent", package="victoria-metrics")
    require_tools("prometheus-alertmanager", package="prometheus-alertmanager")
    with running("--region", "--region-free-ports") as demo:
        lan = demo.find(LAN, timeout=120)
        ready = demo.find(READY, timeout=120)
        region = demo.find(REGION, timeout=10)
        vm, vmalert, am = region["vm"], region["vmalert"], region["am"]

        # The fleet's series: every demo switch, with the labels the edge agent adds.
        def switches_stored() -> bool:
            found = instant(vm, 'sentinel_switch_up{site="demo-school", region="demo"} == 1')
            return {r["metric"]["switch"] for r in found} == set(SWITCHES)

        until(switches_stored, "the demo switches in VictoriaMetrics", 60)
        until(
            lambda: bool(instant(vm, 'sentinel_detections_total{site="demo-school"}')),
            "a detection in VictoriaMetrics",
            60,
        )
        until(
            lambda: bool(instant(vm, 'sentinel_demo_info{site="demo-school", region="demo"}')),
            "the demo's info metric in VictoriaMetrics",
            30,
        )

        # vmalert runs the project's rules without errors.
        groups = get_json(f"{vmalert}/api/v1/rules")["data"]["groups"]
        names = {g["name"] for g in groups}
        assert {"sentinel.recording", "sentinel.alerts"} <= names
        rules = [r for g in groups for r in g["rules"]]
        assert len(rules) >= 15
        assert [r["name"] for r in rules if r.get("lastError")] == []

        # The daemon's own alerts reach Alertmanager, labelled with the school ...
        def port_scans() -> list[dict[str, Any]]:
            return [
                a
                for a in get_json(f"{am}/api/v2/alerts")
                if a["labels"].get("site") == "demo-school"
                and a["labels"].get("alertname") == "port_scan"
            ]

        until(lambda: bool(port_scans()), "the port scan alert in Alertmanager", 60)
        (fired,) = port_scans()
        assert fired["status"]["state"] == "active"
        assert fired["labels"]["severity"] == "warning"

        # ... and its routing sends them to the school's receiver (group_wait 30s).
        notes = Path(ready["alerts"]).with_name("notifications.jsonl")

        def school_notified() -> list[dict[str, Any]]:
            if not notes.exists():
                return []
            return [
                n
                for n in map(json.loads, notes.read_text().splitlines())
                if n["receiver"] == "school-admin" and n["group"] == {"site": "demo-school"}
            ]

        until(lambda: bool(school_notified()), "a notification to school-admin", 60)
        assert "port_scan" in school_notified()[0]["alertnames"]

        assert_stops_clean(demo, lan, Path(ready["alerts"]).parent)
