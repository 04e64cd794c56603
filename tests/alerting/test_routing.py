"""The central Alertmanager example: valid, routes each school's alerts to its own admin."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import urllib.request
from typing import TYPE_CHECKING, Any

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
from tests.conftest import ROOT

if TYPE_CHECKING:
    from pathlib import Path

DEPLOY = ROOT / "deploy" / "alertmanager"
pytestmark = pytest.mark.timeout(60)


def generate(tmp: Path) -> Path:
    """Run make_site_routes.py on the example mapping; returns the template file."""
    out = tmp / "templates" / "sites.tmpl"
    subprocess.run(
        [sys.executable, str(DEPLOY / "make_site_routes.py"), str(DEPLOY / "sites.csv"), str(out)],
        check=True,
        capture_output=True,
    )
    return out


def test_generated_template_is_committed(tmp_path: Path) -> None:
    """templates/sites.tmpl is what the script makes from sites.csv."""
    assert generate(tmp_path).read_text() == (DEPLOY / "templates" / "sites.tmpl").read_text()


def test_bad_mapping_is_refused(tmp_path: Path) -> None:
    """A malformed row names its line and makes nothing."""
    bad = tmp_path / "sites.csv"
    bad.write_text('site,email\nok-site,a@b.example\n"x}}{{",c@d.example\n')
    proc = subprocess.run(
        [sys.executable, str(DEPLOY / "make_site_routes.py"), str(bad), str(tmp_path / "o")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert ":3: invalid site id" in proc.stderr
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
            await wait_for(lambda: len(srv.messages) >= 5)

            def state(name: str) -> str:
                found = [a for a in am.alerts() if a["labels"]["alertname"] == name]
                return str(found[0]["status"]["state"]) if found else ""

            await wait_for(lambda: state("SwitchDown") == "suppressed")
        finally:
            am.stop()
    got = sorted((tuple(r), raw.count(b"SwitchDown")) for _, r, raw in srv.messages)
    rcpts = [r for r, _ in got]
    assert ("admin@atheneum-leuven.example",) in rcpts
    assert ("it-beheer@kta-brugge.example",) in rcpts
    assert ("ict@bs-de-linde.example",) in rcpts  # the offline alert itself
    assert rcpts.count(("regional-it@region.example",)) == 2  # unknown site + critical
    assert all(n == 0 for _, n in got)  # SwitchDown inhibited: never mailed
