"""Pseudonymisation fails closed: an empty, short or unreadable site key is an error that
stops the daemon and `sentinel analyze`, never a run that names devices in clear text."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from typing import TYPE_CHECKING

import pytest

from sentinel.capture.offline import Analysis
from sentinel.capture.pipeline import Settings
from sentinel.config import PrivacyConfig
from sentinel.config.detect import DetectConfig
from sentinel.config.secret import Secret, SecretSource
from sentinel.privacy import SiteKeyError, site_key
from tests.conftest import DATA
from tests.helpers import free_port, running

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

SCAN = DATA / "lab" / "connect_scan.pcap"
ATTACKER = json.loads((DATA / "lab" / "connect_scan.json").read_text())["attacker"]["ip"]

BAD_FILES = {
    "empty": ("", "is empty"),
    "blank line": ("\n", "is empty"),
    "short": ("00112233\n", "holds only 4 bytes"),
    "not hex": ("not a key\n", "is not a hex key"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_a_bad_key_file_is_an_error_and_left_alone(tmp_path: Path, case: str) -> None:
    """The key file is neither used nor replaced (that would change every pseudonym)."""
    text, message = BAD_FILES[case]
    (tmp_path / "site.key").write_text(text)
    with pytest.raises(SiteKeyError, match=message):
        site_key(PrivacyConfig(), tmp_path)
    assert (tmp_path / "site.key").read_text() == text


def test_a_key_file_that_cannot_be_read_is_an_error(tmp_path: Path) -> None:
    """A site.key that is a directory (or any unreadable path) is not replaced by a new key."""
    (tmp_path / "site.key").mkdir()
    with pytest.raises(SiteKeyError, match="cannot read the site key"):
        site_key(PrivacyConfig(), tmp_path)


@pytest.mark.parametrize(("value", "message"), [("", "is empty"), ("short", "has 5 bytes")])
def test_a_configured_key_too_short_is_an_error(tmp_path: Path, value: str, message: str) -> None:
    """privacy.key empty or under 16 bytes: an error naming the key, nothing generated."""
    privacy = PrivacyConfig(key=Secret(value, SecretSource("inline", "")))
    with pytest.raises(SiteKeyError, match=f"privacy.key {message}"):
        site_key(privacy, tmp_path)
    assert not (tmp_path / "site.key").exists()


def test_no_key_in_the_settings_is_never_clear_text() -> None:
    """A pipeline built without a site key still pseudonymises (with a key of its own)."""
    alerts = list(Analysis([SCAN], Settings(detect=DetectConfig())).run())
    assert alerts
    for a in alerts:
        assert ATTACKER not in json.dumps([a.identifier, a.source.ip, a.summary, a.description])
        assert a.identifier.startswith("anon-")


def test_daemon_refuses_to_start_on_an_empty_key(tmp_path: Path) -> None:
    """`sentinel run` with an empty site.key logs why and exits 1; the file stays as it was."""
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    (state / "site.key").write_text("")
    cfg = tmp_path / "s.yaml"
    cfg.write_text(f"site: bs-test\nlisten: 127.0.0.1:{free_port()}\nstate_dir: {state}\n")
    with running(["--config", str(cfg)]) as d:
        d.wait_log("cannot start")
        assert d.wait() == 1
        assert any("site.key is empty" in line for line in d.lines), d.lines
        assert not any("sentinel started" in line for line in d.lines)
    assert (state / "site.key").read_text() == ""


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory an unprivileged user can enter (pytest's tmp_path is private to root)."""
    from pathlib import Path

    d = Path(tempfile.mkdtemp(prefix="sentinel-key-"))
    d.chmod(0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _analyze(
    args: list[str], home: Path, user: int | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sentinel", "analyze", "--format", "json", *args, str(SCAN)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(home)},
        user=user,
    )


def test_analyze_stops_on_an_empty_key(tmp_path: Path) -> None:
    """`sentinel analyze --state-dir` with an empty key: exit 1, the file named, no alerts."""
    state = tmp_path / "state"
    state.mkdir()
    (state / "site.key").write_text("\n")
    proc = _analyze(["--state-dir", str(state)], tmp_path)
    assert proc.returncode == 1
    assert f"{state / 'site.key'} is empty" in proc.stderr
    assert proc.stdout == ""
    assert ATTACKER not in proc.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="not applicable: needs root to run as nobody")
def test_analyze_stops_on_a_key_it_may_not_read(shared_dir: Path) -> None:
    """The daemon's key (root, 0600) read by an unprivileged user: an error, not a new key
    and not clear text."""
    state = shared_dir / "state"
    state.mkdir(mode=0o755)
    (state / "site.key").write_text("ab" * 32 + "\n")
    (state / "site.key").chmod(0o600)
    home = shared_dir / "home"
    home.mkdir(mode=0o777)
    proc = _analyze(["--state-dir", str(state)], home, user=65534)
    assert proc.returncode == 1, proc.stderr
    assert "cannot read the site key: Permission denied" in proc.stderr
    assert proc.stdout == ""
    assert (state / "site.key").read_text() == "ab" * 32 + "\n"
