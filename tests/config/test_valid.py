"""Valid configs: every shipped file passes, defaults are sane, secrets stay hidden."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sentinel.config import REDACTED, default_config, load_config, parse_config
from sentinel.config.schema import HostPort, parse_host_port
from sentinel.config.validate import parse_duration
from sentinel.detect.registry import detector_classes

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "config").glob("*.yaml"))


def test_shipped_configs_exist() -> None:
    """config/ holds the example and the installed default."""
    assert {p.name for p in SHIPPED} >= {"sentinel.example.yaml", "sentinel.yaml"}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_config_passes_check_config(path: Path, tmp_path: Path) -> None:
    """Every file in config/ passes `sentinel check-config`, given the credentials it names."""
    # systemd provides credentials at run time; stand in for it with one file per name.
    for name in re.findall(r"\{credential: ([\w.-]+)\}", path.read_text()):
        (tmp_path / name).write_text("an-example-passphrase\n")
    proc = subprocess.run(
        [sys.executable, "-m", "sentinel", "check-config", str(path)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "CREDENTIALS_DIRECTORY": str(tmp_path)},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"{path}: valid"


def test_example_documents_every_option() -> None:
    """Every key of the schema appears in the example file."""
    text = (ROOT / "config" / "sentinel.example.yaml").read_text()
    cfg = default_config()
    for key in ("site", "listen", "web_config_file", "state_dir", "shutdown_timeout"):
        assert re.search(rf"^#? ?{key}:", text, re.M), key
    for section in ("log", "local", "privacy", "snmp", "capture", "detect", "alerting", "l2"):
        for field in type(getattr(cfg, section)).__dataclass_fields__:
            assert re.search(rf"^  #? ?{field}:", text, re.M), f"{section}.{field}"
    for field in type(cfg.snmp.defaults).__dataclass_fields__:
        assert re.search(rf"^    #? ?{field}:", text, re.M), f"snmp.defaults.{field}"
    for field in ("include", "exclude", "types", "only_admin_up", "only_oper_up"):
        assert re.search(rf"^      {field}:", text, re.M), f"snmp.defaults.interfaces.{field}"
    # Every detector setting, in the detector's line of the example.
    for name in detector_classes():
        line = re.search(rf"^  {name}: (.*)$", text, re.M)
        assert line, name
        for field in type(getattr(cfg.detect, name)).__dataclass_fields__:
            if field not in ("enabled", "allow"):
                assert f"{field}:" in line.group(1), f"detect.{name}.{field}"


def test_empty_file_is_the_built_in_default() -> None:
    """An empty config equals the built-in default."""
    assert parse_config("") == default_config()
    assert default_config().listen == HostPort("127.0.0.1", 9717)


def test_secret_is_never_printed(tmp_path: Path) -> None:
    """A secret from a file loads, and repr/str of the config show <secret>."""
    key = tmp_path / "site.key"
    key.write_text("correct horse battery staple\n")
    cfg_file = tmp_path / "s.yaml"
    cfg_file.write_text("privacy:\n  key: {file: site.key}\n")
    cfg = load_config(cfg_file)
    assert cfg.privacy.key is not None
    assert cfg.privacy.key.reveal() == "correct horse battery staple"
    assert "correct horse" not in repr(cfg)
    assert REDACTED in repr(cfg)


def test_secret_from_env_and_credentials(tmp_path: Path) -> None:
    """Secrets come from the environment or systemd's credentials directory."""
    (tmp_path / "sentinel_site-key").write_text("from-systemd")
    env = {"SITE_KEY": "from-env", "CREDENTIALS_DIRECTORY": str(tmp_path)}
    a = parse_config("privacy: {key: {env: SITE_KEY}}", environ=env)
    b = parse_config("privacy: {key: {credential: sentinel_site-key}}", environ=env)
    assert a.privacy.key is not None
    assert b.privacy.key is not None
    assert a.privacy.key.reveal() == "from-env"
    assert b.privacy.key.reveal() == "from-systemd"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("30s", 30), ("5m", 300), ("1h30m", 5400), ("2d", 172800)],
)
def test_durations(text: str, seconds: float) -> None:
    """Durations with units convert to seconds."""
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:9717", HostPort("127.0.0.1", 9717)),
        ("[::1]:9000", HostPort("::1", 9000)),
        (":9717", HostPort("0.0.0.0", 9717)),
        ("localhost:80", HostPort("localhost", 80)),
    ],
)
def test_listen_addresses(text: str, expected: HostPort) -> None:
    """HOST:PORT forms parse, IPv6 in brackets."""
    assert parse_host_port(text) == expected
