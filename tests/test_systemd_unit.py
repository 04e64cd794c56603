"""Checks of deploy/systemd/sentinel.service: required settings and the sandbox score."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from tests.conftest import require_tools

UNIT = Path(__file__).parents[1] / "deploy" / "systemd" / "sentinel.service"
MAX_EXPOSURE = 2.0


def settings() -> dict[str, list[str]]:
    """Every Key=value of the unit file, values in order of appearance, comments skipped."""
    found: dict[str, list[str]] = {}
    for raw in UNIT.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"not a Key=value line: {line!r}"
        found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_type_notify_with_watchdog() -> None:
    """The unit is Type=notify, accepts notifications from the main process only, has a watchdog."""
    unit = settings()
    assert unit["Type"] == ["notify"]
    assert unit["NotifyAccess"] == ["main"]
    assert unit["WatchdogSec"]
    assert unit["WatchdogSec"][-1] not in ("0", "infinity")


def test_reload_sends_sighup() -> None:
    """ExecReload sends SIGHUP to the main process."""
    (reload,) = settings()["ExecReload"]
    assert "-HUP" in reload.split()
    assert "$MAINPID" in reload


def test_runs_sentinel_with_config() -> None:
    """ExecStart runs 'sentinel run' with the config in /etc/sentinel."""
    (start,) = settings()["ExecStart"]
    assert start.split()[1:] == ["run", "--config", "/etc/sentinel/sentinel.yaml"]


def test_only_cap_net_raw() -> None:
    """CAP_NET_RAW is the only capability kept and the only one granted."""
    unit = settings()
    assert unit["CapabilityBoundingSet"] == ["CAP_NET_RAW"]
    assert unit["AmbientCapabilities"] == ["CAP_NET_RAW"]


def test_not_root() -> None:
    """The service never runs as root: DynamicUser=yes or a named non-root User=."""
    unit = settings()
    users = unit.get("User", [])
    assert "root" not in users
    assert "0" not in users
    assert unit.get("DynamicUser") == ["yes"] or users


def test_state_directory_and_credentials() -> None:
    """State goes to StateDirectory= and secrets come through LoadCredential=."""
    unit = settings()
    assert unit["StateDirectory"] == ["sentinel"]
    assert unit["LoadCredential"]
    assert all(":" in value for value in unit["LoadCredential"])


def test_proc_net_stays_visible() -> None:
    """ProcSubset=pid is not set, because it would hide /proc/net from the sampler."""
    assert settings().get("ProcSubset", ["all"]) == ["all"]


def test_address_families() -> None:
    """Exactly the socket families the daemon uses are allowed."""
    (families,) = settings()["RestrictAddressFamilies"]
    assert set(families.split()) == {"AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK", "AF_PACKET"}


def test_security_exposure_at_most_two() -> None:
    """systemd-analyze security rates the unit's exposure 2.0 or lower."""
    require_tools("systemd-analyze", package="systemd")
    analyze = shutil.which("systemd-analyze")
    assert analyze is not None
    result = subprocess.run(
        [analyze, "security", "--offline=true", "--no-pager", str(UNIT)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    match = re.search(
        r"Overall exposure level for sentinel\.service:\s*(\d+(?:\.\d+)?)", result.stdout
    )
    assert match, f"no exposure line (exit {result.returncode}):\n{result.stdout}\n{result.stderr}"
    assert float(match.group(1)) <= MAX_EXPOSURE, result.stdout
