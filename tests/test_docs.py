"""The paperwork says what the code does: metrics table, detector count, licence, dashboards."""

from __future__ import annotations

import ast
import itertools
import json
import re
import subprocess
import tomllib
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from sentinel.detect.registry import detector_classes
from sentinel.metrics import Metrics
from sentinel.model import InterfaceSample, Role, Tier
from tests.conftest import ROOT
from tests.helpers import free_port, get, running

if TYPE_CHECKING:
    from pathlib import Path

README = ROOT / "README.md"
ARCHITECTURE = ROOT / "docs" / "ARCHITECTURE.md"
# The only modules that may define metric families (the import-linter contract on
# prometheus_client in pyproject.toml keeps it so).
METRIC_MODULES = (ROOT / "sentinel" / "metrics.py", ROOT / "sentinel" / "probemetrics.py")
FAMILY = re.compile(r"sentinel_[a-z0-9_]+")


def defined_families() -> set[str]:
    """Every ``sentinel_*`` family name the metric modules define, counters without _total.

    Read from the source, so a family that only appears with data (a switch, a capture,
    a probe) counts too. A name built by an f-string is found by rendering: one
    full-tier interface published gives every ``sentinel_interface_*`` family.
    """
    names: set[str] = set()
    templates: set[str] = set()
    for path in METRIC_MODULES:
        tree = ast.parse(path.read_text())
        in_fstrings = {
            id(c) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for c in node.values
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.JoinedStr):
                text = "".join(
                    str(v.value) if isinstance(v, ast.Constant) else "{}" for v in node.values
                )
                if text.startswith("sentinel_"):
                    templates.add(text)
            elif (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in in_fstrings
                and FAMILY.fullmatch(node.value)
            ):
                names.add(node.value)
    assert templates == {"sentinel_interface_{}"}, f"teach defined_families {templates}"
    m = Metrics(CollectorRegistry(), process=False)
    m.interfaces.publish("sw", [interface()])
    rendered = {f.name for f in m.registry.collect()}
    for template in templates:
        pattern = re.compile(re.escape(template).replace(r"\{\}", "[a-z0-9_]+"))
        found = {n for n in rendered if pattern.fullmatch(n)}
        assert found, template
        names |= found
    return {n.removesuffix("_total") for n in names}


def interface() -> InterfaceSample:
    return InterfaceSample(
        "sw",
        1,
        "ge1",
        "ge1",
        "",
        Role.UPLINK,
        Tier.FULL,
        rx_bytes=1,
        tx_bytes=1,
        rx_packets=1,
        tx_packets=1,
        rx_errors=0,
        tx_errors=0,
        rx_discards=0,
        tx_discards=0,
        oper_up=True,
        admin_up=True,
        speed_bytes=1.0,
    )


def expand(token: str) -> list[str]:
    """``a_{b,c}_d{labels}`` -> [a_b_d, a_c_d]: braces expand, a trailing brace is labels."""
    token = re.sub(r"\{[a-z_,]+\}$", "", token)
    parts = re.split(r"\{([a-z_,]+)\}", token)
    choices = [[p] if i % 2 == 0 else p.split(",") for i, p in enumerate(parts)]
    return ["".join(c) for c in itertools.product(*choices)]


def table_families(text: str) -> set[str]:
    """The families README's metrics table names (first column), counters without _total."""
    start = text.index("| metric | meaning |\n")
    rows = text[start:].split("\n\n", 1)[0].splitlines()[2:]
    found: set[str] = set()
    for row in rows:
        first = row.split(" | ")[0]
        for token in re.findall(r"`([^`]+)`", first):
            if token.startswith("sentinel_"):
                found.update(n.removesuffix("_total") for n in expand(token))
    return found


def test_expand_reads_the_table_notation() -> None:
    assert expand("sentinel_lan_{packets,bytes}_total{direction,family}") == [
        "sentinel_lan_packets_total",
        "sentinel_lan_bytes_total",
    ]
    assert expand("sentinel_task_up{task}") == ["sentinel_task_up"]
    assert len(expand("sentinel_interface_{receive,transmit}_{packets,errors}_total")) == 4


def test_readme_metric_table_lists_every_family() -> None:
    """Every family the code defines has a row in README.md's metrics table."""
    missing = defined_families() - table_families(README.read_text())
    assert not missing, f"add to README.md's metrics table: {sorted(missing)}"


def test_readme_metric_table_names_only_real_families() -> None:
    """The table names no family the code does not define (a rename, a typo)."""
    stale = table_families(README.read_text()) - defined_families()
    assert not stale, f"README.md's metrics table names what the code lacks: {sorted(stale)}"


def test_a_missing_row_is_caught() -> None:
    text = README.read_text().replace("`sentinel_alert_sink_up{sink}`", "")
    assert "sentinel_alert_sink_up" in defined_families() - table_families(text)


def test_the_running_daemon_exports_only_documented_families(tmp_path: Path) -> None:
    """The families of a real ``sentinel run`` (the built-in default) are in the table."""
    port = free_port()
    env = {"STATE_DIRECTORY": str(tmp_path)}
    with running(["--listen", f"127.0.0.1:{port}"], env) as d:
        d.wait_log("sentinel started")
        _, _, body = get(f"http://127.0.0.1:{port}/metrics")
    exported = {
        f.name.removesuffix("_total")
        for f in text_string_to_metric_families(body)
        if f.name.startswith("sentinel_") and not f.name.endswith("_created")
    }
    assert {"sentinel_build_info", "sentinel_interface_receive_bytes"} <= exported, exported
    assert exported <= table_families(README.read_text())
    assert exported <= defined_families()


NUMBERS = {
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
}


def test_detector_count_is_stated_right() -> None:
    """README and ARCHITECTURE count the detectors the registry has (new_device apart)."""
    real = len(set(detector_classes()) - {"new_device"})
    assert "new_device" in detector_classes()
    stated = []
    for path in (README, ARCHITECTURE):
        for m in re.finditer(r"\b(\w+) (?:LAN )?detectors\b", path.read_text()):
            word = m.group(1).lower()
            if word in NUMBERS or word.isdigit():
                stated.append((path.name, word))
    assert stated, "the docs no longer state how many detectors there are"
    wrong = [(f, w) for f, w in stated if NUMBERS.get(w, int(w) if w.isdigit() else -1) != real]
    assert not wrong, f"the registry has {real} detectors besides new_device: {wrong}"


def test_every_detector_is_in_readme_table() -> None:
    text = README.read_text()
    rows = set(re.findall(r"^\| `([a-z_0-9]+)` \|", text, re.MULTILINE))
    assert set(detector_classes()) <= rows


def test_licence_matches_pyproject() -> None:
    """LICENSE is the licence pyproject.toml declares (and the Debian copyright file)."""
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"]
    assert declared == "Apache-2.0"
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text
    assert "Version 2.0, January 2004" in text
    assert "License: Apache-2.0" in (ROOT / "deploy" / "debian" / "copyright").read_text()


def test_grafana_readme_names_every_dashboard() -> None:
    """grafana/README.md describes each dashboard in grafana/dashboards, by file and uid."""
    text = (ROOT / "grafana" / "README.md").read_text()
    dashboards = sorted((ROOT / "grafana" / "dashboards").glob("*.json"))
    assert dashboards
    for path in dashboards:
        d = json.loads(path.read_text())
        assert f"`dashboards/{path.name}`" in text, path.name
        assert f'"{d["title"]}"' in text, d["title"]
        assert f"`{d['uid']}`" in text, d["uid"]
    named = set(re.findall(r"`dashboards/([\w.-]+\.json)`", text))
    assert named == {p.name for p in dashboards}, "grafana/README.md names a dashboard not there"


# Paths of one machine, not of the product: a checkout, a home directory, shared notes.
MACHINE_PATHS = re.compile(r"(?<![\w.-])(/work/|/home/\w|/root/|\.\./shared/)")
# Files holding measurements (paths in recorded output) or third-party data.
SELF = "tests/test_docs.py"  # names the patterns it looks for
NOT_PROSE = (".pcap", ".pcapng", ".snmprec", ".bz2", ".png", ".svg", ".gz")


def test_no_machine_specific_paths_or_outside_notes() -> None:
    """No file in the repository names a path of the machine it was written on, nor
    design notes outside docs/."""
    files = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    hits = []
    for name in files:
        if name.endswith(NOT_PROSE) or name.startswith("bench/results/") or name == SELF:
            continue
        path = ROOT / name
        try:
            text = path.read_text()
        except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
            continue
        for n, line in enumerate(text.splitlines(), 1):
            if MACHINE_PATHS.search(line) or "DESIGN.md" in line:
                hits.append(f"{name}:{n}: {line.strip()[:100]}")
    assert not hits, "\n".join(hits)
