"""check-config reads credentials from where the unit would load them, outside systemd."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.config.test_invalid import DATA, expected
from tests.conftest import needs_root

ROOT = Path(__file__).resolve().parents[2]
SECRET = "do-not-print-this-value"


def check_config(*args: str, user: int | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CREDENTIALS_DIRECTORY"}
    return subprocess.run(
        [sys.executable, "-m", "sentinel", "check-config", *args],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        cwd=ROOT,
        user=user,
    )


def write(directory: Path, name: str, text: str, mode: int) -> None:
    (directory / name).write_text(text)
    (directory / name).chmod(mode)


def test_missing_unreadable_loose_and_foreign_credentials(tmp_path: Path) -> None:
    """Each bad credential is named by key path and line, never by its value."""
    creds = tmp_path / "credentials"
    creds.mkdir(mode=0o700)
    write(creds, "site-key", SECRET + "\n", 0o600)
    write(creds, "snmp-auth", SECRET + "\n", 0o640)
    write(creds, "alertmanager-password", "", 0o600)
    path = DATA / "check-credentials.yaml"
    proc = check_config("--credentials-dir", str(creds), str(path))
    want = [line.replace("{creds}", str(creds)) for line in expected(path)]
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == want
    assert SECRET not in proc.stdout + proc.stderr


@needs_root("to run check-config as another user")
def test_unreadable_credential_says_permission_denied() -> None:
    """A credential the checking user cannot read is reported as such (not as missing)."""
    # tmp_path is private to root; this directory must be traversable by nobody.
    with tempfile.TemporaryDirectory(prefix="sentinel-creds-") as top:
        os.chmod(top, 0o711)  # noqa: S103 (search only, no listing or reading)
        creds = Path(top)
        write(creds, "site-key", SECRET + "\n", 0o600)  # root's, unreadable by nobody
        config = creds / "sentinel.yaml"
        config.write_text("privacy:\n  key: {credential: sentinel_site-key}\n")
        config.chmod(0o644)
        proc = check_config("--credentials-dir", str(creds), str(config), user=65534)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"{config}:2: privacy.key.credential: credential 'sentinel_site-key': cannot read "
        f"{creds}/site-key: permission denied (check as root, or point --credentials-dir "
        "at a directory you can read)"
    ]
    assert SECRET not in proc.stdout + proc.stderr


def typical_school() -> str:
    """The YAML block of README.md's "A typical school"."""
    readme = (ROOT / "README.md").read_text()
    m = re.search(r"A\s+typical school:\s*```yaml\n(.*?)```", readme, re.S)
    assert m, "README.md has no typical school block"
    return m.group(1)


@pytest.mark.parametrize("which", ["example", "readme"])
def test_shipped_examples_pass_given_their_credentials(which: str, tmp_path: Path) -> None:
    """config/sentinel.example.yaml and the README's school pass with a right credentials dir."""
    if which == "example":
        path = ROOT / "config" / "sentinel.example.yaml"
    else:
        path = tmp_path / "school.yaml"
        path.write_text(typical_school())
    creds = tmp_path / "credentials"
    creds.mkdir(mode=0o700)
    used = "\n".join(
        line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")
    )
    names = sorted(set(re.findall(r"\{credential: sentinel_([\w.-]+)\}", used)))
    assert names, "the file names no credential"
    for name in names:
        write(creds, name, "an-example-passphrase\n", 0o600)
    proc = check_config("--credentials-dir", str(creds), str(path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"{path}: valid"
    # Without the files, each one is named.
    for name in names:
        (creds / name).unlink()
    proc = check_config("--credentials-dir", str(creds), str(path))
    assert proc.returncode == 2
    missing = re.findall(r"credential '(sentinel_[\w.-]+)': \S+ does not exist", proc.stderr)
    assert sorted(set(missing)) == [f"sentinel_{n}" for n in names]
