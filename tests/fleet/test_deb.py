"""The Debian package: contents, lintian, and its life on a box.

Install, upgrade, downgrade, remove and purge run with apt from the signed repository
in a throwaway Debian 12 root (never on the machine that builds).
"""

from __future__ import annotations

import subprocess
import time
from typing import TYPE_CHECKING

import pytest

from sentinel.cli import build_parser
from tests.fleet.conftest import Debs, Repo, build_repo, make_key

if TYPE_CHECKING:
    from pathlib import Path

    from tests.fleet.boxes import Box

pytestmark = [pytest.mark.timeout(900)]

STATE = "/var/lib/private/sentinel"  # where systemd keeps a DynamicUser= service's state


def contents(deb: Path) -> dict[str, str]:
    """path -> mode string, from dpkg-deb -c."""
    out = subprocess.run(
        ["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True
    ).stdout
    entries = {}
    for line in out.splitlines():
        parts = line.split()
        entries[parts[5].removeprefix(".").rstrip("/") or "/"] = parts[0]
    return entries


def test_package_contents(debs: Debs) -> None:
    """Units, config, man pages per subcommand, the C engine, and secrets kept private."""
    files = contents(debs.current)
    commands = next(a for a in build_parser()._actions if a.dest == "command").choices
    assert commands
    for name in ["sentinel", *(f"sentinel-{c}" for c in commands)]:
        assert f"/usr/share/man/man1/{name}.1.gz" in files, name
    for path in (
        "/lib/systemd/system/sentinel.service",
        "/lib/systemd/system/sentinel-vmagent.service",
        "/etc/sentinel/sentinel.example.yaml",
        "/etc/sentinel/vmagent/scrape.yml",
        "/etc/default/sentinel-vmagent",
        "/opt/sentinel/bin/sentinel",
        "/usr/bin/sentinel",
        "/usr/lib/sentinel/check-config",
    ):
        assert path in files, path
    assert any("/sentinel/capture/_fastpath" in p and p.endswith(".so") for p in files)
    # the Public Suffix List behind dns_tunnel's registered domains is bundled, data and all
    assert any(p.endswith("/publicsuffixlist/public_suffix_list.dat") for p in files)
    assert files["/etc/sentinel/credentials"].startswith("drwx------")
    assert files["/etc/sentinel/vmagent/credentials"].startswith("drwx------")
    assert not [p for p in files if "__pycache__" in p or p.endswith(".pyc")]
    assert not [p for p in files if "/pip/" in p], "build tools are not shipped"
    conffiles = subprocess.run(
        ["dpkg-deb", "--info", str(debs.current), "conffiles"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert sorted(conffiles) == [
        "/etc/default/sentinel-vmagent",
        "/etc/sentinel/sentinel.example.yaml",
        "/etc/sentinel/vmagent/scrape.yml",
    ]  # sentinel.yaml is the site's own: made by postinst when missing, never replaced


def test_lintian_clean(debs: Debs) -> None:
    """No error or warning left; each accepted tag is overridden with its reason."""
    proc = subprocess.run(
        ["lintian", "--fail-on", "error,warning", str(debs.current)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def seed_state(box: Box) -> dict[str, bytes]:
    """Counter state, an outbox, the site key and a site's own config and credential."""
    files = {
        f"{STATE}/snmp-counters.json": b'{"version": 1, "switches": {"core": {}}}\n',
        f"{STATE}/alerts.sqlite3": b"SQLite format 3\x00 outbox with undelivered alerts",
        f"{STATE}/site.key": b"k" * 32,
        "/etc/sentinel/sentinel.yaml": b"site: kta-brugge\nlisten: 127.0.0.1:9717\n",
        "/etc/sentinel/credentials/site-key": b"s3cret\n",
        "/etc/default/sentinel-vmagent": b"SENTINEL_SITE=kta-brugge\nSENTINEL_REGION=wvl\n"
        b"REMOTE_WRITE_URL=https://metrics.region.example/api/v1/write\n",
    }
    for path, data in files.items():
        p = box.path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return files


def assert_kept(box: Box, files: dict[str, bytes]) -> None:
    for path, data in files.items():
        assert box.path(path).read_bytes() == data, f"{path} changed"


def test_install_upgrade_downgrade_remove_purge(box: Box, debs: Debs) -> None:
    box.booted(True)  # the scripts then ask the init system (policy-rc.d answers)
    started = time.monotonic()
    box.apt("update")
    box.apt("install", f"sentinel={debs.previous_version}")
    print(f"install from the local repository: {time.monotonic() - started:.1f} s")
    assert box.installed_version() == debs.previous_version
    assert box.policy_calls() == ["sentinel.service start"]  # vmagent waits for its config
    assert box.path("etc/systemd/system/multi-user.target.wants/sentinel.service").is_symlink()
    wants = "etc/systemd/system/multi-user.target.wants/sentinel-vmagent.service"
    assert not box.path(wants).exists()
    assert box.path("etc/sentinel/sentinel.yaml").exists()
    assert box.run("sentinel --version").stdout.strip().startswith("sentinel ")

    files = seed_state(box)
    box.apt("install", "sentinel")  # the upgrade a wave rolls out
    assert box.installed_version() == debs.version
    assert box.policy_calls() == ["sentinel.service restart"], "restarted exactly once"
    assert_kept(box, files)
    assert box.run("find /opt/sentinel -name '*.pyc' | head -1").stdout, "byte-code compiled"
    # The upgraded box runs the new code on the config the old release wrote.
    box.run("sentinel check-config /etc/sentinel/sentinel.yaml")
    engine = box.run(
        "/opt/sentinel/bin/python -c "
        "'from sentinel.capture.accounting import engine; print(engine())'"
    )
    assert engine.stdout.strip() == "c"
    psl = box.run(
        "/opt/sentinel/bin/python -c 'from sentinel.detect.dns import registered_domain as r;"
        ' print(r("a.b.duckdns.org"))\''
    )
    assert psl.stdout.strip() == "b.duckdns.org"
    assert box.run("man -w sentinel-check-config || ls /usr/share/man/man1/").returncode == 0

    box.apt("install", "--allow-downgrades", f"sentinel={debs.previous_version}")  # rollback
    assert box.installed_version() == debs.previous_version
    assert box.policy_calls() == ["sentinel.service restart"]
    assert_kept(box, files)

    box.apt("remove", "sentinel")
    assert box.installed_version() == ""
    assert not box.path("opt/sentinel").exists(), "remove leaves no Python tree behind"
    assert_kept(box, files)  # config and state stay until purge
    box.apt("purge", "sentinel")
    for path in files:
        assert not box.path(path).exists(), f"purge left {path}"
    assert not box.path("etc/sentinel").exists()


def test_fresh_box_without_systemd_running(box: Box, debs: Debs) -> None:
    """In an image build (no init system) the scripts start nothing and still succeed."""
    box.apt("update")
    box.apt("install", "sentinel")
    assert box.installed_version() == debs.version
    assert box.policy_calls() == []
    box.run("/usr/lib/sentinel/check-config /etc/sentinel/sentinel.yaml")


def test_repository_signed_by_another_key_is_refused(
    box: Box, debs: Debs, repo: Repo, tmp_path: Path
) -> None:
    """apt refuses a repository whose index was not signed by the key the box trusts."""
    home = tmp_path / "other-gnupg"
    fpr = make_key(home, "Somebody else <other@sentinel.test>")
    rogue = build_repo(home, fpr, tmp_path / "rogue", debs.current)
    trusted = box.path("usr/share/keyrings/sentinel-archive-keyring.gpg").read_bytes()
    box.use_repo(rogue)
    box.path("usr/share/keyrings/sentinel-archive-keyring.gpg").write_bytes(trusted)
    proc = box.run("apt-get -q update", check=False)
    assert "NO_PUBKEY" in proc.stdout + proc.stderr or proc.returncode != 0
    assert "is not signed" in proc.stdout + proc.stderr or "NO_PUBKEY" in proc.stderr
    assert box.run("apt-get -q -y install sentinel", check=False).returncode != 0
    subprocess.run(["gpgconf", "--kill", "all"], env={"GNUPGHOME": str(home)}, check=False)
