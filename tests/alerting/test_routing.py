"""The central Alertmanager example: valid, routes each school's alerts to its own admin."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.alerting.conftest import (
    AMTOOL,
    AlertmanagerProc,
    needs_alertmanager,
    needs_amtool,
    smtp_server,
    wait_for,
)
from tests.conftest import ROOT, require_tools

DEPLOY = ROOT / "deploy" / "alertmanager"
INVENTORY = ROOT / "deploy" / "ansible" / "inventory" / "example.yml"
pytestmark = pytest.mark.timeout(60)


def generate(tmp: Path) -> Path:
    """Run make_site_routes.py on the example inventory; returns the template file."""
    out = tmp / "templates" / "sites.tmpl"
    subprocess.run(
        [sys.executable, str(DEPLOY / "make_site_routes.py"), str(INVENTORY), str(out)],
        check=True,
        capture_output=True,
    )
    return out


def test_generated_template_is_committed(tmp_path: Path) -> None:
    """templates/sites.tmpl is what the script makes from the example inventory."""
    assert generate(tmp_path).read_text() == (DEPLOY / "templates" / "sites.tmpl").read_text()


def test_ansible_inventory_list_gives_the_same_routes(tmp_path: Path) -> None:
    """The inventory as Ansible resolves it (INI, host_vars, plugins) routes the same."""
    require_tools("ansible-inventory", package="ansible")
    listed = subprocess.run(
        ["ansible-inventory", "-i", str(INVENTORY), "--list"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "ANSIBLE_LOCALHOST_WARNING": "False"},
    ).stdout
    for source, stdin in ((tmp_path / "inventory.json", None), (Path("-"), listed)):
        if stdin is None:
            source.write_text(listed)
        out = tmp_path / "from-json" / "sites.tmpl"
        subprocess.run(
            [sys.executable, str(DEPLOY / "make_site_routes.py"), str(source), str(out)],
            input=stdin,
            text=True,
            check=True,
            capture_output=True,
        )
        assert out.read_text() == (DEPLOY / "templates" / "sites.tmpl").read_text()


def test_group_vars_reach_their_hosts_and_host_vars_win(tmp_path: Path) -> None:
    """A whole group's admin address set once in its vars; one school overrides it."""
    inv = tmp_path / "inv.yml"
    inv.write_text(
        "all:\n  children:\n    gent:\n      vars: {sentinel_admin_email: [ict@gent.example]}\n"
        "      hosts:\n        a: {sentinel_site: school-a}\n"
        "        b: {sentinel_site: school-b, sentinel_admin_email: b@b.example}\n"
        "        router: {}\n"
    )
    out = tmp_path / "t.tmpl"
    subprocess.run(
        [sys.executable, str(DEPLOY / "make_site_routes.py"), str(inv), str(out)],
        check=True,
        capture_output=True,
    )
    text = out.read_text()
    assert '"school-a" -}}ict@gent.example' in text
    assert '"school-b" -}}b@b.example' in text
    assert "router" not in text  # a host without sentinel_site is not a school


@pytest.mark.parametrize(
    ("hosts", "message"),
    [
        (
            'x: {sentinel_site: "x}}{{", sentinel_admin_email: [a@b.example]}',
            "invalid sentinel_site",
        ),
        (
            "x: {sentinel_site: s1, sentinel_admin_email: [not-an-address]}",
            "invalid sentinel_admin",
        ),
        (
            "x: {sentinel_site: s1, sentinel_admin_email: a@b.example}\n"
            "        y: {sentinel_site: s1, sentinel_admin_email: c@d.example}",
            "site 's1' is also host x",
        ),
    ],
)
def test_bad_inventory_is_refused(tmp_path: Path, hosts: str, message: str) -> None:
    """A wrong school names its host and makes nothing."""
    bad = tmp_path / "inv.yml"
    bad.write_text(f"all:\n  children:\n    schools:\n      hosts:\n        {hosts}\n")
    proc = subprocess.run(
        [sys.executable, str(DEPLOY / "make_site_routes.py"), str(bad), str(tmp_path / "o")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert message in proc.stderr, proc.stderr
    assert "host " in proc.stderr
    assert not (tmp_path / "o").exists()


@needs_amtool
def test_amtool_check_config_passes() -> None:
    """amtool accepts the example configuration with its templates."""
    assert AMTOOL is not None
    proc = subprocess.run(
        [AMTOOL, "check-config", "alertmanager.yml"],
        cwd=DEPLOY,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@needs_amtool
@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        (["site=kta-brugge", "alertname=port_scan", "severity=warning"], "school-admin"),
        (
            ["site=kta-brugge", "alertname=arp_spoof", "severity=critical"],
            "school-admin,regional-it",
        ),
        (["alertname=VictoriaMetricsDown", "severity=warning"], "regional-it"),
    ],
)
def test_amtool_routes(labels: list[str], receivers: str) -> None:
    """School alerts go to the school's admin; critical ones to regional IT as well."""
    assert AMTOOL is not None
    proc = subprocess.run(
        [AMTOOL, "config", "routes", "test", "--config.file=alertmanager.yml", *labels],
        cwd=DEPLOY,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.stdout.strip() == receivers


def post(url: str, alerts: list[dict[str, Any]]) -> None:
    req = urllib.request.Request(  # noqa: S310 (loopback)
        f"{url}/api/v2/alerts",
        data=json.dumps(alerts).encode(),
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(req, timeout=5).close()  # noqa: S310


def alert(site: str, name: str, severity: str = "warning") -> dict[str, Any]:
    return {
        "labels": {"alertname": name, "site": site, "severity": severity},
        "annotations": {"summary": f"{name} at {site}"},
        "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 5)),
    }


@needs_alertmanager
async def test_real_alertmanager_mails_each_school_and_inhibits_offline(tmp_path: Path) -> None:
    """Each site's alert is mailed to its own admin; a school offline hides its switch alerts."""
    cfg = yaml.safe_load((DEPLOY / "alertmanager.yml").read_text())
    template = generate(tmp_path)
    with smtp_server(None, auth=False) as srv:
        cfg["global"] |= {"smtp_smarthost": f"127.0.0.1:{srv.port}", "smtp_require_tls": False}
        cfg["templates"] = [str(template)]
        for route in [cfg["route"], *cfg["route"]["routes"]]:
            route |= {"group_wait": "0s", "group_interval": "1s"}
        am = AlertmanagerProc(tmp_path / "am", yaml.safe_dump(cfg))
        await asyncio.to_thread(am.start)
        try:
            post(am.url, [alert("kta-brugge", "port_scan"), alert("atheneum-leuven", "dns_tunnel")])
            post(am.url, [alert("unknown-site", "mac_flood")])
            post(am.url, [alert("bs-de-linde-gent", "SchoolOffline", "critical")])
            post(am.url, [alert("bs-de-linde-gent", "SwitchDown")])
            # A full uplink at one school hides that school's loss alert, not another's.
            post(am.url, [alert("kta-brugge", "UplinkSaturated")])
            post(am.url, [alert("kta-brugge", "ConnectionPacketLoss")])
            post(am.url, [alert("atheneum-leuven", "ConnectionLatencyHigh")])
            await wait_for(lambda: len(srv.messages) >= 5)

            def state(name: str) -> str:
                found = [a for a in am.alerts() if a["labels"]["alertname"] == name]
                return str(found[0]["status"]["state"]) if found else ""

            await wait_for(lambda: state("SwitchDown") == "suppressed")
            await wait_for(lambda: state("ConnectionPacketLoss") == "suppressed")
            assert state("ConnectionLatencyHigh") == "active"

            def mailed(name: bytes) -> bool:
                return any(name in raw for _, _, raw in srv.messages)

            # Both schools' groups mailed again with the newcomers (group_interval 1 s).
            await wait_for(lambda: mailed(b"UplinkSaturated") and mailed(b"ConnectionLatencyHigh"))
        finally:
            am.stop()
    got = sorted((tuple(r), raw.count(b"SwitchDown")) for _, r, raw in srv.messages)
    rcpts = [r for r, _ in got]
    assert ("admin@atheneum-leuven.example",) in rcpts
    assert ("it-beheer@kta-brugge.example",) in rcpts
    assert ("ict@bs-de-linde.example",) in rcpts  # the offline alert itself
    assert rcpts.count(("regional-it@region.example",)) == 2  # unknown site + critical
    assert all(n == 0 for _, n in got)  # SwitchDown inhibited: never mailed
    assert not any(b"ConnectionPacketLoss" in raw for _, _, raw in srv.messages)
