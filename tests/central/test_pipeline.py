"""Every dashboard panel and variable query returns data from sentinel via vmagent in VM."""

from __future__ import annotations

import re
import shutil
import time
from typing import TYPE_CHECKING, Any

import pytest

from tests.central.common import DASHBOARDS, load, query_panels, variable_query, variables
from tests.central.pipeline import CAPTURES, SITE, Pipeline, missing_binaries
from tests.conftest import can_netns

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

SCAN = CAPTURES / "syn_scan_vertical.pcap"
pytestmark = [
    pytest.mark.skipif(not can_netns(), reason="needs root and ip(8) for namespaces"),
    pytest.mark.skipif(bool(missing_binaries()), reason=f"needs {missing_binaries()}"),
    pytest.mark.skipif(shutil.which("tcpreplay") is None, reason="needs tcpreplay"),
    pytest.mark.skipif(shutil.which("vmalert") is None, reason="needs vmalert"),
    pytest.mark.skipif(not SCAN.exists(), reason=f"needs {SCAN}"),
    pytest.mark.timeout(180),
]
# What Grafana would put for its built-ins with a 2-minute range and 2 s scrapes.
BUILTINS = {"__rate_interval": "20s", "__interval": "5s", "__range": "2m"}
_VAR = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\$(\w+)|\[\[(\w+)\]\]")


def substitute(expr: str, values: dict[str, str]) -> str:
    """Replace Grafana variables as Grafana does (multi values as a (a|b) regex)."""
    return _VAR.sub(lambda m: values[next(g for g in m.groups() if g)], expr)


@pytest.fixture(scope="module")
def pipeline() -> Iterator[Pipeline]:
    """The running pipeline, with a port scan replayed and a minute of samples stored."""
    p = Pipeline(scrape_interval="2s", rules=True)
    try:
        p.start()
        p.replay(SCAN)
        p.wait(
            lambda: p.instant(f'sentinel_detections_total{{site="{SITE}"}}'),
            "a detection remote-written",
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
