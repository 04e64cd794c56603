"""Every dashboard panel and variable query returns data from sentinel via vmagent in VM."""

from __future__ import annotations

import datetime as dt
import math
import re
import time
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pytest

from sentinel.probemetrics import VERDICTS
from tests.central.common import (
    DASHBOARDS,
    load,
    query_panels,
    rules,
    variable_query,
    variables,
)
from tests.central.pipeline import BINARIES, CAPTURES, SITE, Pipeline
from tests.conftest import can_netns, require_tools

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

SCAN = CAPTURES / "syn_scan_vertical.pcap"
pytestmark = [
    pytest.mark.skipif(not can_netns(), reason="needs root and ip(8) for namespaces"),
    pytest.mark.timeout(180),
]
# What Grafana would put for its built-ins with a 2-minute range and 2 s scrapes.
BUILTINS = {"__rate_interval": "20s", "__interval": "5s", "__range": "2m"}
REFUSED = b"530 Login incorrect.\r\n"  # FTP's answer to a wrong password
_VAR = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\$(\w+)|\[\[(\w+)\]\]")


def escalating_spray(path: Path) -> None:
    """A pcap of one client spraying FTP over five servers: ten accepted sessions closed
    with a FIN (brute_force's spray warning), then ten refused logins (530) from the same
    servers (the same alert, critical): one escalation for the Security dashboard."""
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether
    from scapy.packet import Packet, Raw
    from scapy.utils import wrpcap

    client, client_mac = "10.77.0.67", "02:77:00:00:00:67"
    frames: list[Packet] = []
    t = 1_800_000_000.0

    def add(src: str, dst: str, macs: tuple[str, str], ports: tuple[int, int], flags: str,
            seq: int, ack: int = 0, load: bytes = b"") -> None:  # fmt: skip
        nonlocal t
        frame = Ether(src=macs[0], dst=macs[1]) / IP(src=src, dst=dst)
        frame /= TCP(sport=ports[0], dport=ports[1], flags=flags, seq=seq, ack=ack)
        if load:
            frame /= Raw(load)
        frame.time = t
        t += 0.02
        frames.append(frame)

    sport = 40000
    for refused in (False, True):
        for n in range(10):
            server, mac = f"10.77.0.{20 + n % 5}", f"02:77:00:00:00:{20 + n % 5:02x}"
            sport += 1
            up, down = (client_mac, mac), (mac, client_mac)
            add(client, server, up, (sport, 21), "S", 1000)
            add(server, client, down, (21, sport), "SA", 5000, 1001)
            add(client, server, up, (sport, 21), "A", 1001, 5001)
            if refused:
                add(server, client, down, (21, sport), "PA", 5001, 1001, REFUSED)
            add(client, server, up, (sport, 21), "FA", 1001, 5001)
            add(server, client, down, (21, sport), "FA", 5001, 1002)
        t += 1.0
    wrpcap(str(path), frames)


def substitute(expr: str, values: dict[str, str]) -> str:
    """Replace Grafana variables as Grafana does (multi values as a (a|b) regex)."""
    return _VAR.sub(lambda m: values[next(g for g in m.groups() if g)], expr)


@pytest.fixture(scope="module")
def pipeline() -> Iterator[Pipeline]:
    """The running pipeline, with a port scan and an escalating FTP spray replayed, probes
    running, a minute of samples stored and vmalert's recorded series and alerts in place."""
    require_tools(*BINARIES, "tcpreplay", "vmalert", package="victoria-metrics, tcpreplay")
    require_tools("prometheus-alertmanager", package="prometheus-alertmanager")
    require_tools("dnsmasq", package="dnsmasq-base")
    assert SCAN.exists(), SCAN
    p = Pipeline(scrape_interval="2s", rules=True, probes=True, alerting=True)
    try:
        p.start()
        p.replay(SCAN)
        spray = p.tmp / "ftp_spray_escalating.pcap"
        escalating_spray(spray)
        p.replay(spray)
        p.wait(
            lambda: p.instant(f'sentinel_detections_total{{site="{SITE}"}}'),
            "a detection remote-written",
        )
        p.wait(
            lambda: p.instant(f'sentinel_alerts_escalated_total{{site="{SITE}"}}'),
            "an escalation remote-written",
        )
        p.wait(
            lambda: (
                p.instant("count_over_time(sentinel_switch_up[2m]) >= 8")
                and p.instant("count_over_time(sentinel_lan_bytes_total[2m]) >= 8")
            ),
            "enough samples for rates",
            timeout=60,
        )
        # The Fleet dashboard reads recorded series, some recorded from recorded ones.
        p.wait(
            lambda: (
                p.instant("site:sentinel_busiest_uplink_utilisation:ratio_rate5m")
                and p.instant("count_over_time(site_bucket:sentinel_uplinks:count[1m]) >= 4")
            ),
            "vmalert's recorded series",
            timeout=60,
        )
        p.wait(
            lambda: (
                p.instant("count_over_time(site:sentinel_connection_poor_school_day:flag[1m]) >= 4")
                and p.instant("site_target:sentinel_probe_icmp_rtt_seconds:p95_rate5m")
            ),
            "the probes' recorded series",
            timeout=60,
        )
        yield p
    finally:
        p.stop()


def resolve(p: Pipeline, dashboard: dict[str, Any]) -> dict[str, str]:
    """Run the variable queries in order; each takes every value found (Grafana's All)."""
    values = dict(BUILTINS)
    for v in variables(dashboard):
        if v["type"] == "datasource":
            values[v["name"]] = "sentinel-vm"
            continue
        query = substitute(variable_query(v), values)
        m = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\s*\)\s*", query, re.DOTALL)
        assert m, query
        (answer,) = p.vm(
            [("/api/v1/series", {"match[]": m.group(1), "start": int(time.time()) - 600})]
        )
        assert answer.get("status") == "success", (query, answer)
        found = sorted({s[m.group(2)] for s in answer["data"] if m.group(2) in s})
        assert found, (v["name"], query)
        chosen = found if v.get("multi") else found[:1]
        values[v["name"]] = "(" + "|".join(re.escape(x).replace("\\", "\\\\") for x in chosen) + ")"
    return values


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_query_returns_data(pipeline: Pipeline, path: Path) -> None:
    """Each variable resolves to values and each panel target's range query returns series."""
    dashboard = load(path)
    values = resolve(pipeline, dashboard)
    targets = [
        (panel["title"], substitute(t["expr"], values))
        for panel in query_panels(dashboard)
        for t in panel["targets"]
    ]
    end = time.time()
    params = {"start": end - 120, "end": end, "step": "5s"}
    answers = pipeline.vm([("/api/v1/query_range", {"query": q, **params}) for _, q in targets])
    empty = {
        title: (query, answer.get("error"))
        for (title, query), answer in zip(targets, answers, strict=True)
        if answer.get("status") != "success" or not answer["data"]["result"]
    }
    assert empty == {}


def test_agent_adds_site_and_region(pipeline: Pipeline) -> None:
    """Every sentinel series in the store carries the site and region the agent added."""
    unlabelled = pipeline.instant('count({job="sentinel", site="", __name__=~"sentinel_.*"})')
    assert unlabelled == []
    (labelled,) = pipeline.instant(f'count({{job="sentinel", site="{SITE}", region!=""}})')
    assert int(labelled["value"][1]) > 100


def legend(fmt: str, labels: dict[str, str]) -> str:
    """A legendFormat filled in as Grafana fills it."""
    return re.sub(r"\{\{(\w+)\}\}", lambda m: labels.get(m[1], ""), fmt)


def panel_values(p: Pipeline, uid: str, title: str) -> dict[str, float]:
    """The panel's instant values now, by legend (its first target's legendFormat)."""
    (path,) = [d for d in DASHBOARDS if load(d)["uid"] == uid]
    dashboard = load(path)
    (panel,) = [x for x in query_panels(dashboard) if x["title"] == title]
    values = resolve(p, dashboard)
    out = {}
    for t in panel["targets"]:
        for series in p.instant(substitute(t["expr"], values)):
            out[legend(t["legendFormat"], series["metric"])] = float(series["value"][1])
    assert out, (title, panel["targets"])
    assert all(math.isfinite(v) for v in out.values()), (title, out)
    return out


def test_connection_quality_panels_show_the_probed_services(pipeline: Pipeline) -> None:
    """The Connection quality row and the Fleet ranking give the values the probed services
    make: no loss and sub-50 ms round trips on loopback, dnsmasq answering, the portal's 200
    and the platform's 500, the certificate's days left, one verdict, a share within 0..1."""
    school = "sentinel-school"
    util = panel_values(pipeline, school, "Uplink utilisation beside the connection")
    assert all(0 <= v <= 1.5 for v in util.values()), util  # counters move in steps
    rtt = panel_values(pipeline, school, "Round trip, median and 95th percentile")
    assert 0 < rtt["lo median"] <= rtt["lo p95"] < 0.05, rtt
    assert panel_values(pipeline, school, "Packet loss") == {"lo": 0.0}
    dns = panel_values(pipeline, school, "DNS time")
    assert 0 < dns["resolver"] < 0.5, dns
    status = panel_values(pipeline, school, "Essential services: HTTP status")
    assert status == {"portal": 200.0, "platform": 500.0}
    expiry = panel_values(pipeline, school, "Certificate expiry")
    days = pipeline.services["not_after"] - time.time()
    assert expiry.keys() == {"portal"}
    assert abs(expiry["portal"] - days) < 60, (expiry, days)
    verdict = panel_values(pipeline, school, "Connection verdict")
    assert len(verdict) == 1, verdict
    assert set(verdict) <= set(VERDICTS), verdict
    share = panel_values(pipeline, "sentinel-fleet", "Poor connection, share of the school day")
    assert share.keys() == {SITE}
    assert 0 <= share[SITE] <= 1
    # Loopback and dnsmasq are fine and the uplinks below 90 %, but the essential platform
    # fails: service_down, so the (test's all-day) school day has a poor share above zero.
    assert verdict == {"service_down": 1.0}
    assert share[SITE] > 0


def test_probe_alerts_reach_alertmanager(pipeline: Pipeline) -> None:
    """vmalert fires CertificateExpiringSoon for the portal and EssentialServiceDown for the
    failing platform into the region's Alertmanager, labelled with the school."""
    wanted = {("CertificateExpiringSoon", "portal"), ("EssentialServiceDown", "platform")}

    def fired() -> set[tuple[str, str]]:
        return {
            (a["labels"]["alertname"], a["labels"].get("target", ""))
            for a in pipeline.alerts()
            if a["labels"].get("site") == SITE and a["status"]["state"] == "active"
        }

    pipeline.wait(lambda: wanted <= fired(), f"{wanted} in Alertmanager", timeout=60)
    alerts = {
        a["labels"]["alertname"]: a
        for a in pipeline.alerts()
        if (a["labels"]["alertname"], a["labels"].get("target")) in wanted
    }
    cert = alerts["CertificateExpiringSoon"]
    assert cert["labels"]["severity"] == "warning"
    assert cert["labels"]["region"]
    assert "expires in 2d 23h" in cert["annotations"]["summary"], cert["annotations"]
    assert {r["name"] for r in cert["receivers"]} == {"school-admin"}
    assert not any(
        a["labels"].get("target") == "portal"
        for a in pipeline.alerts()
        if a["labels"]["alertname"] == "EssentialServiceDown"
    )


def test_school_day_follows_brussels_time(pipeline: Pipeline) -> None:
    """VictoriaMetrics evaluates the shipped local-time and school-day rules as the calendar
    says: UTC+1, or UTC+2 in summer time, and 1 only from 08:00 to 16:00 on weekdays."""
    (local,) = pipeline.instant("sentinel:local_time:seconds")
    now = dt.datetime.now(ZoneInfo("Europe/Brussels"))
    offset = now.utcoffset()
    assert offset is not None
    assert abs(float(local["value"][1]) - (now.timestamp() + offset.total_seconds())) < 30
    (rule,) = [r for r in rules() if r.get("record") == "sentinel:school_day:flag"]
    (flag,) = pipeline.instant(rule["expr"])
    assert float(flag["value"][1]) == float(now.weekday() < 5 and 8 <= now.hour < 16)
