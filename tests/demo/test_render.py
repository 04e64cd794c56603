"""scripts/render_dashboards.py without a store: Grafana's variables, legends and units."""

from __future__ import annotations

import importlib.util
import json
from typing import TYPE_CHECKING

from tests.conftest import ROOT

if TYPE_CHECKING:
    from types import ModuleType


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "render_dashboards", ROOT / "scripts" / "render_dashboards.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_variables_legends_and_units() -> None:
    r = load()
    values = {"site": "(demo\\\\-school)", "__rate_interval": "40s"}
    expr = 'rate(x{site=~"$site"}[$__rate_interval]) + y{site=~"${site}"} + z{s="[[site]]"}'
    assert r.substitute(expr, values) == (
        'rate(x{site=~"(demo\\\\-school)"}[40s]) + y{site=~"(demo\\\\-school)"}'
        ' + z{s="(demo\\\\-school)"}'
    )
    assert r.substitute("$unknown", values) == "$unknown"
    labels = {"__name__": "m", "switch": "core", "ifname": "Gi0/49"}
    assert r.legend("{{switch}} {{ifname}} in", labels) == "core Gi0/49 in"
    assert r.legend("__auto", labels) == 'm{ifname="Gi0/49", switch="core"}'
    assert r.fmt("bps", 953_600_000) == "954 Mb/s"
    assert r.fmt("percent", 94.4) == "94.4 %"
    assert r.fmt("s", 57 * 86400) == "57.0 days"
    assert r.fmt(None, 2200) == "2.2 k"


def test_main_dashboards_exist_and_every_panel_kind_is_drawn() -> None:
    r = load()
    kinds = set()
    for name in r.MAIN:
        dashboard = json.loads((r.DASHBOARDS / f"{name}.json").read_text())
        kinds |= {p["type"] for p in r.panels(dashboard["panels"])}
    drawn = {"row", "timeseries", "state-timeline", "heatmap", "stat", "table", "bargauge",
             "piechart", "nodeGraph"}  # fmt: skip
    assert kinds <= drawn, kinds - drawn
