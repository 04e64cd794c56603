"""`sentinel analyze` names a device by the daemon's pseudonym: one site key, one name."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import TYPE_CHECKING

from sentinel import cli
from sentinel.privacy import Pseudonymiser
from tests.conftest import DATA
from tests.helpers import free_port, running

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

SCAN = DATA / "lab" / "connect_scan.pcap"
ATTACKER = json.loads((DATA / "lab" / "connect_scan.json").read_text())["attacker"]["ip"]


def analyze(*args: str, env: dict[str, str]) -> list[dict[str, object]]:
    proc = subprocess.run(
        [sys.executable, "-m", "sentinel", "analyze", "--format", "json", *args, str(SCAN)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


def test_analyze_uses_the_key_the_daemon_generated(tmp_path: Path) -> None:
    """The daemon generates its key in state_dir; analyze --config on the same config
    names the scanner as the daemon would, and writes its evidence elsewhere."""
    state = tmp_path / "daemon-state"
    port = free_port()
    cfg = tmp_path / "s.yaml"
    cfg.write_text(f"site: bs-test\nlisten: 127.0.0.1:{port}\nstate_dir: {state}\n")
    with running(["--config", str(cfg)]) as d:
        d.wait_log("sentinel started")
    key = bytes.fromhex((state / "site.key").read_text().strip())
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path / "home")}
    alerts = analyze("--config", str(cfg), env=env)
    assert alerts
    assert {a["identifier"] for a in alerts} == {Pseudonymiser(key)(ATTACKER)}
    assert not (state / "evidence").exists() or not any((state / "evidence").iterdir())
    assert any((tmp_path / "home" / ".cache" / "sentinel" / "evidence").iterdir())


def test_analyze_without_config_uses_the_installed_configs_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No --config: the key of the installed config (a credential, as install.sh writes
    it), not a key of analyze's own."""
    creds = tmp_path / "credentials"
    creds.mkdir(mode=0o700)
    secret = "a3" * 32
    (creds / "sentinel_site-key").write_text(secret + "\n")
    (creds / "sentinel_site-key").chmod(0o600)
    installed = tmp_path / "sentinel.yaml"
    installed.write_text(
        "site: bs-test\nprivacy:\n  key: {credential: sentinel_site-key}\n"
        f"state_dir: {tmp_path / 'state'}\n"
    )
    monkeypatch.setattr(cli, "INSTALLED_CONFIG", installed)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    assert cli.main(["analyze", "--format", "json", str(SCAN)]) == 0
    alerts = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert alerts
    assert {a["identifier"] for a in alerts} == {Pseudonymiser(secret.encode())(ATTACKER)}
    assert not (tmp_path / "state" / "site.key").exists()


def test_unreadable_installed_config_is_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An installed config whose key analyze cannot read: it says the pseudonyms differ."""
    installed = tmp_path / "sentinel.yaml"
    installed.write_text("site: bs-test\nprivacy:\n  key: {credential: sentinel_site-key}\n")
    monkeypatch.setattr(cli, "INSTALLED_CONFIG", installed)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "state"))
    assert cli.main(["analyze", "--format", "json", str(SCAN)]) == 0
    err = capsys.readouterr().err
    assert "cannot read the daemon's site key" in err
    assert "pseudonyms will differ" in err


def test_state_dir_names_the_key_directory(tmp_path: Path) -> None:
    """--state-dir: the key kept there (an analysis kept apart from the box's own)."""
    state = tmp_path / "mine"
    state.mkdir()
    key = bytes(range(32))
    (state / "site.key").write_text(key.hex() + "\n")
    alerts = analyze("--state-dir", str(state), env={"PATH": "/usr/bin:/bin"})
    assert {a["identifier"] for a in alerts} == {Pseudonymiser(key)(ATTACKER)}
