"""What the central checks share: dashboards, rules, and the names sentinel exports."""

from __future__ import annotations

import functools
import json
from typing import TYPE_CHECKING, Any

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
    Role,
    SwitchHealth,
    Tier,
)
from tests.conftest import ROOT
from tests.test_grafana import (
    exprs,
    load,
    metric_names,
    probe_results,
    query_panels,
    variable_query,
    variables,
)

if TYPE_CHECKING:
    from pathlib import Path

DASHBOARDS = sorted((ROOT / "grafana" / "dashboards").glob("*.json"))
RULES = sorted((ROOT / "deploy" / "rules").glob("*.rules.yml"))
RULE_TESTS = sorted((ROOT / "deploy" / "rules" / "tests").glob("*.yml"))
SCRAPE = ROOT / "deploy" / "vmagent" / "scrape.yml"

__all__ = ["exprs", "load", "metric_names", "query_panels", "variable_query", "variables"]


@functools.cache
def exported_names() -> frozenset[str]:
    """Every sample name sentinel's metrics render with ALL collectors populated."""
    m = Metrics(CollectorRegistry())
    m.task_up.labels("capture").set(1)
    m.task_restarts.labels("capture").inc()
    m.config_reload_successful.set(1)
    m.config_reload_timestamp.set(1)
    m.local_sample_duration.observe(0.001)
    m.http_requests.labels("metrics", "200").inc()
    m.interfaces.publish(
        "sw",
        [
            InterfaceSample(
                "sw", 1, "ge1", "port 1", "uplink", Role.UPLINK, Tier.FULL,
                rx_bytes=1, tx_bytes=2, rx_packets=3, tx_packets=4, rx_errors=5,
                tx_errors=6, rx_discards=7, tx_discards=8, oper_up=True, admin_up=True,
                speed_bytes=125e6,
            )
        ],
    )  # fmt: skip
    m.l2.publish(
        L2Snapshot(
            "sw",
            neighbors=(Neighbor("ge1", "core-2", "ge24", "bridge"),),
            stations=(("ge2", 1),),
            fdb=(("", "10", 3),),
            poe_ports=(PoePort("ge1", True, "delivering", 3, 6.5),),
            poe_pses=(PoePse(1, 370.0, 120.0, 0.8, "on"),),
        )
    )
    m.l2.publish_census(CensusCounts(windows=(("1h", 3, 1, 1),), entries=3))
    m.l2.unconfigured_switches = 0
    m.l2.students = 10
    m.switches.publish(
        SwitchHealth("sw", True, 0.1, 1.0, 1.0, (("timeout", 1),), 1, 1, 0),
    )
    m.lan.publish(
        LanCounters(
            traffic=(("in", "ipv4", "tcp", 1, 60),),
            malformed=(("short", 1),),
            active_macs=1,
            active_ips=1,
            detections=(("port_scan", "warning", 1),),
            detector_tables=(("port_scan", 1, 0),),
        )
    )
    stats = AlertingStats(
        1, 0, 1, {"am": 0}, {"am": 1}, {"am": 0}, {"overflow": 0}, {"am": True},
        escalated={("brute_force", "critical"): 1},
    )  # fmt: skip
    m.alerting.source = lambda: stats
    for result in probe_results():
        m.probes.publish(result)
    m.probes.set_verdict("good", 0.1)
    names = {s.name for family in m.registry.collect() for s in family.samples}
    return frozenset(names)


@functools.cache
def agent_names() -> frozenset[str]:
    """Series the edge vmagent itself makes: ``up`` per target and the vmagent_* ones it keeps."""
    config = yaml.safe_load(SCRAPE.read_text())
    names = {"up"}
    for job in config["scrape_configs"]:
        for relabel in job.get("metric_relabel_configs", []):
            if relabel.get("action") == "keep" and relabel.get("source_labels") == ["__name__"]:
                names.update(relabel["regex"].split("|"))  # plain names, one alternative each
    return frozenset(names)


def rules() -> list[dict[str, Any]]:
    """Every rule of every group in deploy/rules."""
    return [
        rule
        for path in RULES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    ]


def recorded_names() -> set[str]:
    return {r["record"] for r in rules() if "record" in r}


def dashboard_queries(path: Path) -> list[str]:
    return [e for e in exprs(load(path)) if e.strip()]


def dump(obj: object) -> str:
    return json.dumps(obj, indent=1)[:3000]
