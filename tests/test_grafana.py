"""Checks of the Grafana dashboards: well-formed, and querying only metrics sentinel exports."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from sentinel.metrics import Metrics
from sentinel.model import (
    AlertingStats,
    CensusCounts,
    InterfaceSample,
    L2Snapshot,
    LanCounters,
    Neighbor,
    PoePort,
    PoePse,
    ProbeResult,
    Role,
    SwitchHealth,
    Tier,
)

GRAFANA = Path(__file__).resolve().parents[1] / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").rglob("*.json"))

# Words of PromQL that look like identifiers but are not metric names.
PROMQL_KEYWORDS = frozenset(
    {
        "and",
        "or",
        "unless",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "offset",
        "bool",
        "atan2",
        "inf",
        "nan",
    }
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_LABEL_LIST = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_VARIABLE = re.compile(r"\$\{?\w+(?::\w+)?\}?|\[\[\w+(?::\w+)?\]\]")
_NUMBER = re.compile(r"(?<![\w:])(?:0x[0-9a-fA-F]+|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)\w*")
_IDENTIFIER = re.compile(r"(?<![\w:])([a-zA-Z_:][\w:]*)(\s*\()?")
_LABEL_VALUES = re.compile(r"^\s*label_values\((.*),\s*\w+\s*\)\s*$", re.DOTALL)
_VARIABLE_REF = re.compile(r"\$(\w+)|\$\{(\w+)(?::[^}]*)?\}|\[\[(\w+)(?::[^\]]*)?\]\]")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression (or a Grafana label_values query) reads."""
    if m := _LABEL_VALUES.match(expr):
        expr = m.group(1)
    elif expr.strip().startswith("label_values("):
        return set()  # label_values(label): no metric
    for pattern in (_STRING, _MATCHERS, _RANGE, _LABEL_LIST, _VARIABLE, _NUMBER):
        expr = pattern.sub(" ", expr)
    names = set()
    for m in _IDENTIFIER.finditer(expr):
        name, call = m.group(1), m.group(2)
        if call or name.lower() in PROMQL_KEYWORDS:
            continue  # a function, an aggregation or a keyword
        names.add(name)
    return names


@functools.cache
def exported_names() -> frozenset[str]:
    """Every sample name sentinel's metrics render, with one full-tier interface published.

    Labelled metrics that have no child yet (task_up before a task starts) render no sample;
    their names follow from the family type, as prometheus_client renders them.
    """
    metrics = Metrics(CollectorRegistry())
    metrics.interfaces.publish(
        "sw",
        [
            InterfaceSample(
                "sw",
                1,
                "Gi1/0/1",
                "GigabitEthernet1/0/1",
                "uplink to the region",
                Role.UPLINK,
                Tier.FULL,
                rx_bytes=1,
                tx_bytes=2,
                rx_packets=3,
                tx_packets=4,
                rx_errors=5,
                tx_errors=6,
                rx_discards=7,
                tx_discards=8,
                oper_up=True,
                admin_up=True,
                speed_bytes=125e6,
            )
        ],
    )
    metrics.lan.publish(
        LanCounters(
            traffic=(("in", "ipv4", "tcp", 1, 60),),
            malformed=(("truncated", 1),),
            detections=(("port_scan", "warning", 1),),
            detector_tables=(("port_scan", 1, 0),),
        )
    )
    metrics.l2.publish(
        L2Snapshot(
            "sw",
            neighbors=(Neighbor("ge1", "core-2", "ge24", "bridge"),),
            stations=(("ge2", 1),),
            fdb=(("", "10", 3),),
            poe_ports=(PoePort("ge1", True, "delivering", 3, 6.5),),
            poe_pses=(PoePse(1, 370.0, 120.0, 0.8, "on"),),
        )
    )
    metrics.l2.publish_census(CensusCounts(windows=(("1h", 3, 1, 1),), entries=3))
    metrics.l2.unconfigured_switches = 0
    metrics.l2.students = 10
    metrics.switches.publish(SwitchHealth("sw", True, 0.1, 1.0, 1.0, (("timeout", 1),), 1, 1, 0))
    for result in probe_results():
        metrics.probes.publish(result)
    metrics.probes.set_verdict("good", 0.1)
    metrics.alerting.source = lambda: AlertingStats(
        received=2,
        suppressed=0,
        active=1,
        queued={"email": 0},
        delivered={"email": 2},
        failures={"email": 0},
        dropped={"expired": 0},
        sink_up={"email": True},
        escalated={("port_scan", "critical"): 1},
    )
    suffixes = {
        "counter": ("_total", "_created"),
        "gauge": ("",),
        "info": ("_info",),
        "histogram": ("_bucket", "_count", "_sum", "_created"),
        "summary": ("", "_count", "_sum", "_created"),
    }
    names: set[str] = set()
    for family in metrics.registry.collect():
        if family.samples:
            names.update(s.name for s in family.samples)
        else:
            names.update(family.name + s for s in suffixes.get(family.type, ("",)))
    return frozenset(names)


def probe_results() -> tuple[ProbeResult, ...]:
    """One round of each probe module, so every connection-quality series renders."""
    return (
        ProbeResult("icmp", "lo", "127.0.0.1", True, 0.1, sent=2, rtts=(0.001, 0.002),
                    phases=(("resolve", 0.0), ("setup", 0.0), ("rtt", 0.001))),
        ProbeResult("dns", "resolver", "127.0.0.1", True, 0.01, rcode=0, answers=1,
                    phases=(("resolve", 0.0), ("connect", 0.0), ("request", 0.01))),
        ProbeResult("tcp", "mail", "127.0.0.1:25", False, 0.01, reason="refused"),
        ProbeResult("http", "portal", "https://127.0.0.1/", True, 0.05, status=200,
                    tls_version="TLS 1.3", cert_expiry=2e9, phases=(("connect", 0.01),)),
    )  # fmt: skip


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, including those inside rows."""
    found = []
    for panel in dashboard.get("panels", []):
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def query_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in panels(dashboard) if p.get("type") != "row"]


def variables(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return dashboard.get("templating", {}).get("list", [])  # type: ignore[no-any-return]


def variable_query(variable: dict[str, Any]) -> str:
    query = variable.get("query", "")
    return query.get("query", "") if isinstance(query, dict) else str(query)


def exprs(dashboard: dict[str, Any]) -> list[str]:
    """Every PromQL query: the panels' targets and the query variables."""
    found = [t.get("expr", "") for p in query_panels(dashboard) for t in p.get("targets", [])]
    found += [variable_query(v) for v in variables(dashboard) if v.get("type") == "query"]
    return found


def strings(node: object) -> list[str]:
    """Every string value anywhere in a JSON document."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for v in node.values() for s in strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in strings(v)]
    return []


def referenced_variables(text: str) -> set[str]:
    """Template variables used in a string, without Grafana's built-ins ($__rate_interval...)."""
    names = {next(g for g in m.groups() if g) for m in _VARIABLE_REF.finditer(text)}
    return {n for n in names if not n.startswith("__")}


def balanced(expr: str) -> bool:
    """Parentheses, braces and brackets outside string literals nest properly."""
    pairs = {")": "(", "}": "{", "]": "["}
    stack: list[str] = []
    for char in _STRING.sub('""', expr):
        if char in "({[":
            stack.append(char)
        elif char in pairs and (not stack or stack.pop() != pairs[char]):
            return False
    return not stack


@functools.cache
def recorded_names() -> frozenset[str]:
    """Series the central recording rules (deploy/rules) write, which dashboards may read."""
    rules = GRAFANA.parent / "deploy" / "rules"
    return frozenset(
        rule["record"]
        for path in sorted(rules.glob("*.rules.yml"))
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "record" in rule
    )


def unknown_metrics(dashboard: dict[str, Any]) -> dict[str, set[str]]:
    """Metric names each query reads that sentinel does not export nor a rule records."""
    exported = exported_names() | recorded_names()
    found = {}
    for expr in exprs(dashboard):
        missing = metric_names(expr) - exported
        if missing:
            found[expr] = missing
    return found


dashboards = pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)


def test_there_are_dashboards() -> None:
    """grafana/dashboards holds at least one dashboard."""
    assert DASHBOARDS


@dashboards
def test_dashboard_parses_and_has_identity(path: Path) -> None:
    """The file is a JSON object with a uid, a title and a schemaVersion."""
    dashboard = load(path)
    assert isinstance(dashboard, dict)
    assert dashboard.get("uid")
    assert dashboard.get("title")
    assert isinstance(dashboard.get("schemaVersion"), int)


def test_dashboard_uids_are_unique() -> None:
    """No two dashboards share a uid (provisioning would load only one)."""
    uids = [load(p)["uid"] for p in DASHBOARDS]
    assert len(uids) == len(set(uids)), uids


@dashboards
def test_panel_ids_are_unique(path: Path) -> None:
    """Every panel, rows and their children included, has its own integer id."""
    ids = [p.get("id") for p in panels(load(path))]
    assert all(isinstance(i, int) for i in ids), ids
    assert len(ids) == len(set(ids)), ids


@dashboards
def test_every_panel_has_a_datasource_and_a_query(path: Path) -> None:
    """Each non-row panel names a datasource and has at least one target with a PromQL expr."""
    for panel in query_panels(load(path)):
        title = panel.get("title")
        assert panel.get("datasource", {}).get("uid"), title
        targets = panel.get("targets", [])
        assert targets, title
        assert all(t.get("refId") for t in targets), title
        assert any(t.get("expr", "").strip() for t in targets), title
        for target in targets:
            assert balanced(target.get("expr", "")), (title, target.get("expr"))


@dashboards
def test_datasources_are_the_selector_variable(path: Path) -> None:
    """Panels and targets reference ${datasource}, never a fixed uid."""
    for panel in query_panels(load(path)):
        refs = [panel["datasource"]] + [t["datasource"] for t in panel["targets"]]
        for ref in refs:
            assert ref == {"type": "prometheus", "uid": "${datasource}"}, panel.get("title")


@dashboards
def test_every_referenced_variable_is_defined(path: Path) -> None:
    """Every $variable used anywhere in the dashboard is a defined template variable."""
    dashboard = load(path)
    defined = {v["name"] for v in variables(dashboard)}
    used = {n for s in strings(dashboard) for n in referenced_variables(s)}
    assert used <= defined, used - defined


@dashboards
def test_variables_only_use_earlier_variables(path: Path) -> None:
    """A variable's query refers only to variables defined before it (chained selectors)."""
    earlier: set[str] = set()
    for variable in variables(load(path)):
        used = referenced_variables(json.dumps(variable))
        assert used <= earlier, (variable["name"], used - earlier)
        earlier.add(variable["name"])


@dashboards
def test_every_query_filters_on_site_and_region(path: Path) -> None:
    """Each metric selector in a panel query is restricted to the selected sites and regions."""
    dashboard = load(path)
    for panel in query_panels(dashboard):
        for target in panel["targets"]:
            expr = target["expr"]
            for name in metric_names(expr):
                for m in re.finditer(rf"(?<![\w:]){name}(?![\w:])\s*(\{{[^}}]*\}})?", expr):
                    matchers = m.group(1) or ""
                    assert 'site=~"$site"' in matchers, (panel["title"], expr)
                    assert 'region=~"$region"' in matchers, (panel["title"], expr)


@dashboards
def test_every_metric_is_exported_by_sentinel(path: Path) -> None:
    """Every metric a query reads is one sentinel's code actually exports."""
    dashboard = load(path)
    assert any(metric_names(e) for e in exprs(dashboard))
    assert unknown_metrics(dashboard) == {}


def test_exported_names_come_from_the_code() -> None:
    """The exported names include counters as _total, gauges, and labelled families."""
    names = exported_names()
    assert "sentinel_interface_receive_bytes_total" in names
    assert "sentinel_interface_transmit_discards_total" in names
    assert "sentinel_interface_speed_bytes" in names
    assert "sentinel_task_up" in names
    assert "sentinel_task_restarts_total" in names
    assert "sentinel_interface_receive_bytes" not in names
    assert "sentinel_alerts_escalated_total" in names  # the alert router's counts
    assert "sentinel_alert_sink_up" in names


def test_metric_names_skip_functions_labels_and_keywords() -> None:
    """The extractor keeps metric names only: not functions, labels, keywords or variables."""
    expr = (
        'sum by (site, switch) (8 * rate(sentinel_a_total{site=~"$site",x="sentinel_no"}'
        "[$__rate_interval] offset 5m)) / on(site) group_left(ifalias) sentinel_b "
        "unless sentinel_c == bool 1e3 or vector(0) and up"
    )
    assert metric_names(expr) == {"sentinel_a_total", "sentinel_b", "sentinel_c", "up"}
    assert metric_names('label_values(sentinel_d{region=~"$region"}, site)') == {"sentinel_d"}
    assert metric_names("label_values(site)") == set()


def test_a_missing_metric_is_caught() -> None:
    """A dashboard querying a metric sentinel does not export fails the check."""
    dashboard = load(DASHBOARDS[0])
    target = query_panels(dashboard)[0]["targets"][0]
    target["expr"] += ' + sentinel_bogus_metric_total{site=~"$site"}'
    assert unknown_metrics(dashboard) == {target["expr"]: {"sentinel_bogus_metric_total"}}


def test_provisioning_matches_the_dashboards() -> None:
    """The provisioned datasource is the dashboards' default, and the provider is a file one."""
    provisioning = GRAFANA / "provisioning"
    (source,) = yaml.safe_load((provisioning / "datasources" / "sentinel.yaml").read_text())[
        "datasources"
    ]
    assert source["type"] == "prometheus"
    assert source["url"].startswith("http")
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "sentinel.yaml").read_text())[
        "providers"
    ]
    assert provider["type"] == "file"
    assert provider["options"]["path"]
    for path in DASHBOARDS:
        (selector,) = [v for v in variables(load(path)) if v["name"] == "datasource"]
        assert selector["type"] == "datasource"
        assert selector["query"] == source["type"]
        assert selector["current"]["value"] == source["uid"]
