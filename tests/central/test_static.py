"""Dashboards, rules and edge-agent configs: structure, metric names, and the tools' own checks.

No JSON schema of Grafana's dashboard model (schemaVersion 39) is published in a pip or
Debian package, so the structure is checked here against Grafana's documented model.
"""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING, Any

import pytest

from tests.central.common import (
    DASHBOARDS,
    RULE_TESTS,
    RULES,
    SCRAPE,
    agent_names,
    dashboard_queries,
    exported_names,
    load,
    metric_names,
    query_panels,
    recorded_names,
    rules,
    variables,
)
from tests.conftest import ROOT, require_tools

if TYPE_CHECKING:
    from pathlib import Path

PANEL_TYPES = {
    "row", "stat", "timeseries", "table", "bargauge", "heatmap", "piechart", "state-timeline",
    "nodeGraph",
}  # fmt: skip
dashboards = pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)


def need(binary: str) -> None:
    """Skip without the tool, or fail under CI (where scripts/test installs it)."""
    package = "prometheus" if binary == "promtool" else "victoria-metrics"
    require_tools(binary, package=package)


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=60, cwd=cwd, check=False)


def structure_errors(d: dict[str, Any]) -> list[str]:
    """Differences from Grafana's dashboard model (the fields provisioning relies on)."""
    errors = []
    for key, kind in (
        ("uid", str), ("title", str), ("schemaVersion", int), ("panels", list),
        ("templating", dict), ("time", dict), ("annotations", dict), ("tags", list),
    ):  # fmt: skip
        if not isinstance(d.get(key), kind):
            errors.append(f"{key} is not a {kind.__name__}")
    if d.get("schemaVersion") != 39:
        errors.append("schemaVersion is not 39")
    if "id" in d and d["id"] is not None:
        errors.append("a provisioned dashboard has no fixed id")
    if len(d.get("uid", "")) > 40:
        errors.append("uid longer than 40 characters")
    for panel in d.get("panels", []):
        title = panel.get("title")
        if panel.get("type") not in PANEL_TYPES:
            errors.append(f"{title}: unknown panel type {panel.get('type')}")
        pos = panel.get("gridPos", {})
        if not all(isinstance(pos.get(k), int) for k in "hwxy"):
            errors.append(f"{title}: gridPos needs integer h, w, x, y")
        elif pos["x"] + pos["w"] > 24 or pos["w"] < 1 or pos["h"] < 1:
            errors.append(f"{title}: gridPos outside the 24-column grid")
        if panel.get("type") != "row":
            if not isinstance(panel.get("fieldConfig", {}).get("defaults"), dict):
                errors.append(f"{title}: fieldConfig.defaults missing")
            if not isinstance(panel.get("options"), dict):
                errors.append(f"{title}: options missing")
            if not panel.get("description"):
                errors.append(f"{title}: no description")
    errors.extend(
        f"variable {v.get('name')}: needs name and type query/datasource"
        for v in variables(d)
        if not {"name", "type"} <= v.keys() or v["type"] not in {"query", "datasource"}
    )
    return errors


def overlaps(d: dict[str, Any]) -> list[tuple[str, str]]:
    """Pairs of top-level panels whose grid rectangles overlap."""
    boxes = [(p["title"], p["gridPos"]) for p in d["panels"]]
    found = []
    for i, (ta, a) in enumerate(boxes):
        for tb, b in boxes[i + 1 :]:
            if (
                a["x"] < b["x"] + b["w"]
                and b["x"] < a["x"] + a["w"]
                and a["y"] < b["y"] + b["h"]
                and b["y"] < a["y"] + a["h"]
            ):
                found.append((ta, tb))
    return found


def test_the_four_central_dashboards_exist() -> None:
    """Fleet, School, Switch and Security dashboards are provisioned from grafana/dashboards."""
    uids = {load(p)["uid"] for p in DASHBOARDS}
    assert {"sentinel-fleet", "sentinel-school", "sentinel-switch", "sentinel-security"} <= uids


@dashboards
def test_dashboard_structure(path: Path) -> None:
    """The dashboard follows Grafana's model: fields, panel types, grid, no overlaps."""
    d = load(path)
    assert structure_errors(d) == []
    assert overlaps(d) == []


@dashboards
def test_dashboard_template_variables(path: Path) -> None:
    """Each dashboard has the datasource, region and site selectors; switch before interface."""
    names = [v["name"] for v in variables(load(path))]
    assert names[:3] == ["datasource", "region", "site"], names
    if "interface" in names:
        assert "switch" in names or "$switch" not in str(load(path)), names


@dashboards
def test_dashboard_metrics_exist_in_sentinel(path: Path) -> None:
    """Every metric a dashboard queries is one sentinel renders with all collectors populated."""
    known = exported_names() | recorded_names()
    missing = {e: metric_names(e) - known for e in dashboard_queries(path)}
    assert {e: m for e, m in missing.items() if m} == {}


@pytest.mark.parametrize("uid", ["sentinel-fleet", "sentinel-security"])
def test_region_wide_dashboards_read_no_raw_interface_series(uid: str) -> None:
    """Fleet and Security panels never read the region's raw interface series (~4 M at
    3,800 schools x 20 switches) nor its raw probe and verdict series (hundreds a school):
    the per-school recorded series stand in for them."""
    (path,) = [p for p in DASHBOARDS if load(p)["uid"] == uid]
    raw = {
        panel["title"]: sorted(
            n
            for n in metric_names(t["expr"])
            if n.startswith(("sentinel_interface_", "sentinel_probe_", "sentinel_connection_"))
        )
        for panel in query_panels(load(path))
        for t in panel["targets"]
    }
    assert {title: names for title, names in raw.items() if names} == {}


@pytest.mark.parametrize("uid", ["sentinel-school", "sentinel-switch"])
def test_site_dashboards_show_one_school(uid: str) -> None:
    """School and Switch dashboards select exactly one site, so no query spans the region."""
    (path,) = [p for p in DASHBOARDS if load(p)["uid"] == uid]
    (site,) = [v for v in variables(load(path)) if v["name"] == "site"]
    assert not site.get("multi")
    assert not site.get("includeAll")


def test_dashboards_read_only_recorded_series_that_a_rule_test_checks() -> None:
    """Every recorded series a dashboard reads has a promtool unit test (deploy/rules/tests)."""
    tested = "\n".join(p.read_text() for p in RULE_TESTS)
    read = {n for p in DASHBOARDS for e in dashboard_queries(p) for n in metric_names(e)}
    exprs = [line for line in tested.splitlines() if line.strip().startswith("- expr:")]
    untested = {n for n in read & recorded_names() if not any(n in e for e in exprs)}
    assert untested == set()


def test_rule_metrics_exist() -> None:
    """Every metric a rule reads is sentinel's, a recorded one, or one the edge vmagent makes."""
    known = exported_names() | recorded_names() | agent_names()
    missing = {r.get("alert") or r["record"]: metric_names(r["expr"]) - known for r in rules()}
    assert {k: v for k, v in missing.items() if v} == {}


def test_rules_use_the_alertmanager_names() -> None:
    """The alerts Alertmanager inhibits by name exist, and every alert has severity and summary."""
    alertmanager = (ROOT / "deploy" / "alertmanager" / "alertmanager.yml").read_text()
    alerts = {r["alert"]: r for r in rules() if "alert" in r}
    for name in ("SchoolOffline", "SwitchDown", "UplinkDown", "UplinkSaturated", "SnmpPollFailing"):
        assert name in alerts
        assert name in alertmanager
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in {"info", "warning", "critical"}, name
        assert "site" in rule["annotations"]["summary"], name


def test_every_panel_query_type_is_known() -> None:
    """Every non-row panel of every dashboard has at least one PromQL target."""
    for path in DASHBOARDS:
        for panel in query_panels(load(path)):
            assert any(t.get("expr") for t in panel["targets"]), (path.name, panel["title"])


def test_promtool_check_rules() -> None:
    """promtool accepts the rule files."""
    need("promtool")
    result = run("promtool", "check", "rules", *map(str, RULES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_rule_unit_tests() -> None:
    """The rule unit tests in deploy/rules/tests pass (promtool test rules)."""
    need("promtool")
    assert RULE_TESTS
    result = run("promtool", "test", "rules", *map(str, RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_vmalert_accepts_the_rules(tmp_path: Path) -> None:
    """vmalert parses the rules and their templates (-dryRun)."""
    need("vmalert")
    result = run("vmalert", "-dryRun", *(f"-rule={p}" for p in RULES), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_vmagent_accepts_the_scrape_config(tmp_path: Path) -> None:
    """vmagent parses deploy/vmagent/scrape.yml strictly, with the site and region filled in."""
    need("vmagent")
    result = subprocess.run(
        ["vmagent", f"-promscrape.config={SCRAPE}", "-dryRun"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False,
        env={"SENTINEL_SITE": "bs-x", "SENTINEL_REGION": "r", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_prometheus_agent_config_is_valid() -> None:
    """promtool accepts the Prometheus agent-mode config."""
    need("promtool")
    config = ROOT / "deploy" / "prometheus-agent" / "prometheus-agent.yml"
    result = run("promtool", "check", "config", "--agent", str(config))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "unit",
    [
        "deploy/vmagent/sentinel-vmagent.service",
        "deploy/prometheus-agent/sentinel-prometheus-agent.service",
    ],
)
def test_agent_units_are_hardened(unit: str) -> None:
    """The edge agent units run unprivileged, sandboxed, with credentials via LoadCredential."""
    text = (ROOT / unit).read_text()
    for line in (
        "DynamicUser=yes", "NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateDevices=yes",
        "StateDirectory=", "LoadCredential=", "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
        "SystemCallFilter=@system-service", "CapabilityBoundingSet=\n",
        "MemoryDenyWriteExecute=yes",
    ):  # fmt: skip
        assert line in text + "\n", (unit, line)
