"""The central Alertmanager at region size: 3,800 schools, each with its own route.

make_site_routes.py turns the region's inventory of 3,800 schools (the Ansible inventory
that deploys the boxes) into one route and one receiver per school; amtool names the
right receiver for a sample of schools, and a real Alertmanager loads that config, mails
each school's admin and lets SchoolOffline hide that school's switch and port alerts
(and only that school's).
"""

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

from tests import inventories
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
SITES = 3800
SAMPLE = ["school-0001", "school-0002", "school-1234", "school-2718", "school-3799", "school-3800"]
pytestmark = pytest.mark.timeout(120)


def admin(site: str) -> str:
    return f"ict@{site}.example"


def region_mapping(tmp: Path) -> Path:
    """The inventory of 3,800 schools, the second address of every tenth one a helpdesk."""
    schools = []
    for i in range(1, SITES + 1):
        site = f"school-{i:04d}"
        extra = [f"helpdesk-{i % 7}@region.example"] if i % 10 == 0 else []
        schools.append((site, [admin(site), *extra]))
    return inventories.write(tmp / "inventory" / "schools.yml", schools)


def generate(tmp: Path, base: Path | None = None) -> Path:
    """Run make_site_routes.py with --config; returns the generated alertmanager.yml."""
    out = tmp / "region" / "alertmanager.yml"
    subprocess.run(
        [
            sys.executable, str(DEPLOY / "make_site_routes.py"), str(region_mapping(tmp)),
            str(out.parent / "templates" / "sites.tmpl"),
            f"--config={base or DEPLOY / 'alertmanager.yml'}", f"--config-out={out}",
        ],
        check=True, capture_output=True,
    )  # fmt: skip
    return out


def test_every_school_gets_a_route_and_a_receiver(tmp_path: Path) -> None:
    """3,800 routes under the school route, each to a receiver mailing that school only."""
    cfg = yaml.safe_load(generate(tmp_path).read_text())
    (school,) = [r for r in cfg["route"]["routes"] if r["receiver"] == "school-admin"]
    routes = {r["matchers"][0]: r["receiver"] for r in school["routes"]}
    assert len(routes) == SITES
    assert routes['site="school-2718"'] == "school-school-2718"
    receivers = {r["name"]: r for r in cfg["receivers"]}
    assert len(receivers) == SITES + 2
    (mail,) = receivers["school-school-0010"]["email_configs"]
    assert mail["to"] == "ict@school-0010.example, helpdesk-3@region.example"
    assert mail["headers"] == receivers["school-admin"]["email_configs"][0]["headers"]
    # The base config's own routes, inhibitions and receivers are kept as they were.
    base = yaml.safe_load((DEPLOY / "alertmanager.yml").read_text())
    assert cfg["inhibit_rules"] == base["inhibit_rules"]
    assert cfg["route"]["routes"][1:] == base["route"]["routes"][1:]


def test_a_base_config_without_the_school_route_is_refused(tmp_path: Path) -> None:
    """Without a route to school-admin there is nowhere to hang the schools: a clear error."""
    base = tmp_path / "base.yml"
    base.write_text("route: {receiver: r}\nreceivers: [{name: r}]\n")
    proc = subprocess.run(
        [
            sys.executable, str(DEPLOY / "make_site_routes.py"), str(region_mapping(tmp_path)),
            str(tmp_path / "t.tmpl"), f"--config={base}", f"--config-out={tmp_path / 'o.yml'}",
        ],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "no route to the receiver school-admin" in proc.stderr
    assert not (tmp_path / "o.yml").exists()


@needs_amtool
def test_amtool_accepts_the_region_config_and_routes_a_sample_of_schools(tmp_path: Path) -> None:
    """amtool check-config passes; routes test names each sampled school's own receiver."""
    assert AMTOOL is not None
    config = generate(tmp_path)
    check = subprocess.run(
        [AMTOOL, "check-config", str(config)], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"{SITES + 2} receivers" in check.stdout

    def route(*labels: str) -> str:
        proc = subprocess.run(
            [AMTOOL, "config", "routes", "test", f"--config.file={config}", *labels],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        return proc.stdout.strip()

    for site in SAMPLE:
        assert route(f"site={site}", "alertname=SwitchDown", "severity=warning") == f"school-{site}"
        assert (
            route(f"site={site}", "alertname=SchoolOffline", "severity=critical")
            == f"school-{site},regional-it"
        )
    # A school missing from the inventory still reaches the template receiver (fallback).
    assert route("site=school-9999", "severity=warning") == "school-admin"
    assert route("alertname=VictoriaMetricsDown", "severity=warning") == "regional-it"


def post(url: str, alerts: list[dict[str, Any]]) -> None:
    req = urllib.request.Request(  # noqa: S310 (loopback)
        f"{url}/api/v2/alerts",
        data=json.dumps(alerts).encode(),
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(req, timeout=10).close()  # noqa: S310


def alert(site: str, name: str, severity: str = "warning", **labels: str) -> dict[str, Any]:
    return {
        "labels": {"alertname": name, "site": site, "severity": severity, **labels},
        "annotations": {"summary": f"{name} at {site}"},
        "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 5)),
    }


@needs_alertmanager
async def test_real_alertmanager_with_3800_schools_mails_and_inhibits(tmp_path: Path) -> None:
    """With every school routed: each admin gets their school's mail, and a school offline
    has its switch and port alerts suppressed while another school's still go out."""
    offline, online = "school-2718", "school-0042"
    with smtp_server(None, auth=False) as srv:
        base = yaml.safe_load((DEPLOY / "alertmanager.yml").read_text())
        base["global"] |= {"smtp_smarthost": f"127.0.0.1:{srv.port}", "smtp_require_tls": False}
        for r in [base["route"], *base["route"]["routes"]]:
            r |= {"group_wait": "0s", "group_interval": "1s"}
        (tmp_path / "base.yml").write_text(yaml.safe_dump(base))
        config = generate(tmp_path, tmp_path / "base.yml")
        text = config.read_text().replace(
            "templates/*.tmpl", str(config.parent / "templates/*.tmpl")
        )
        am = AlertmanagerProc(tmp_path / "am", text)
        await asyncio.to_thread(am.start)
        try:
            post(am.url, [alert(offline, "SchoolOffline", "critical")])
            port_alerts = [
                alert(offline, "SwitchDown", "critical", switch="gym"),
                alert(offline, "UplinkDown", "critical", switch="core", ifname="ge1"),
                alert(offline, "InterfaceErrors", switch="core", ifname="ge7"),
                alert(online, "SwitchDown", "critical", switch="gym"),
            ]
            post(am.url, port_alerts)

            def state(site: str, name: str) -> str:
                found = [
                    a for a in am.alerts()
                    if a["labels"]["alertname"] == name and a["labels"]["site"] == site
                ]  # fmt: skip
                return str(found[0]["status"]["state"]) if found else ""

            await wait_for(lambda: state(offline, "SwitchDown") == "suppressed")
            await wait_for(lambda: state(offline, "InterfaceErrors") == "suppressed")
            await wait_for(lambda: state(offline, "UplinkDown") == "suppressed")
            assert state(online, "SwitchDown") == "active"
            # Both schools' admins, and regional IT for the two critical groups.
            await wait_for(lambda: len(srv.messages) >= 4)
            await asyncio.sleep(2)  # a further group interval: nothing else may arrive
        finally:
            am.stop()
    by_rcpt: dict[str, list[bytes]] = {}
    for _, rcpts, raw in srv.messages:
        for r in rcpts:
            by_rcpt.setdefault(r, []).append(raw)
    assert set(by_rcpt) == {admin(offline), admin(online), "regional-it@region.example"}
    offline_mail = b"".join(by_rcpt[admin(offline)])
    assert b"SchoolOffline" in offline_mail
    for hidden in (b"SwitchDown", b"UplinkDown", b"InterfaceErrors"):
        assert hidden not in offline_mail
    assert b"SwitchDown" in b"".join(by_rcpt[admin(online)])
