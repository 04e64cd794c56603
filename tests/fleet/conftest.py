"""Fixtures of the fleet tests: the package built once, a signed repository, boxes."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.conftest import ROOT, require_tools, under_ci
from tests.fleet.boxes import Box, source_hash

if TYPE_CHECKING:
    from collections.abc import Iterator

# The package under test is CURRENT; PREVIOUS is the release before it: the first
# packaged commit, built from its own sources with its own build script and maintainer
# scripts (20 commits older: other code, another postinst), under a version that sorts
# before CURRENT's. Upgrades and rollbacks run between two real builds.
PREVIOUS_COMMIT = "1527a7755aca46ed5660aa352ec85c72a9e4bcda"
PREVIOUS_VERSION = "0.1.0~git20261206.1527a77"


@dataclass(frozen=True)
class Debs:
    current: Path
    previous: Path
    version: str
    previous_version: str


@dataclass(frozen=True)
class Repo:
    path: Path
    gnupghome: Path
    fingerprint: str


def _needs_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (chroot, dpkg in a throwaway root)")


def _build(source: Path, out: Path, *args: str) -> Path:
    """scripts/build-deb of ``source`` into ``out`` (cached: built once per source)."""
    if not list(out.glob("sentinel_*.deb")):
        tmp = out.with_suffix(".part")
        shutil.rmtree(tmp, ignore_errors=True)
        proc = subprocess.run(
            [str(source / "scripts/build-deb"), "--out", str(tmp), *args],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-5000:]
        shutil.rmtree(out, ignore_errors=True)
        tmp.replace(out)
    (deb,) = out.glob("sentinel_*.deb")
    return deb


def previous_release(cache: Path) -> Path:
    """PREVIOUS_COMMIT's package, built from a clone of this repository at that commit."""
    out = cache / f"previous-{PREVIOUS_COMMIT[:12]}"
    if list(out.glob("sentinel_*.deb")):
        (deb,) = out.glob("sentinel_*.deb")
        return deb
    known = subprocess.run(
        ["git", "-C", str(ROOT), "cat-file", "-e", f"{PREVIOUS_COMMIT}^{{commit}}"],
        capture_output=True,
        check=False,
    )
    if known.returncode != 0:
        why = (
            f"the previous release {PREVIOUS_COMMIT[:12]} is not in this clone's history "
            "(a shallow clone? git fetch --unshallow)"
        )
        if under_ci():
            pytest.fail(why)
        pytest.skip(why)
    src = cache / "previous-src"
    shutil.rmtree(src, ignore_errors=True)
    subprocess.run(
        ["git", "clone", "-q", "--shared", "--no-checkout", str(ROOT), str(src)], check=True
    )
    subprocess.run(["git", "-C", str(src), "checkout", "-q", PREVIOUS_COMMIT], check=True)
    try:
        return _build(src, out, "--version", PREVIOUS_VERSION, "--no-lintian")
    finally:
        shutil.rmtree(src, ignore_errors=True)


@pytest.fixture(scope="session")
def debs() -> Debs:
    """scripts/build-deb's package (cached by a hash of the sources) and its predecessor."""
    _needs_root()
    require_tools("dpkg-buildpackage", "dh", package="debhelper")
    require_tools("dh_virtualenv", package="dh-virtualenv")
    require_tools("lintian", package="lintian")
    require_tools("dch", package="devscripts")
    require_tools("git", package="git")
    root = Path(tempfile.gettempdir()) / "sentinel-test-debs"
    current = _build(ROOT, root / source_hash())
    previous = previous_release(root)
    version, prev_version = field(current, "Version"), field(previous, "Version")
    assert prev_version == PREVIOUS_VERSION
    dpkg = subprocess.run(["dpkg", "--compare-versions", prev_version, "lt", version], check=False)
    assert dpkg.returncode == 0, f"{prev_version} must sort before {version}"
    return Debs(current, previous, version, prev_version)


def field(deb: Path, name: str) -> str:
    return subprocess.run(
        ["dpkg-deb", "-f", str(deb), name], capture_output=True, text=True, check=True
    ).stdout.strip()


def make_key(home: Path, uid: str) -> str:
    """A signing key without passphrase, made for this test run; returns its fingerprint."""
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    env = {**os.environ, "GNUPGHOME": str(home)}
    subprocess.run(
        ["gpg", "--batch", "--passphrase", "", "--quick-gen-key", uid, "ed25519", "sign", "1d"],
        env=env,
        check=True,
        capture_output=True,
    )
    out = subprocess.run(
        ["gpg", "--list-keys", "--with-colons", uid],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return next(ln.split(":")[9] for ln in out.splitlines() if ln.startswith("fpr:"))


def build_repo(gnupghome: Path, fingerprint: str, out: Path, *packages: Path) -> Path:
    proc = subprocess.run(
        [
            str(ROOT / "scripts/build-repo"),
            "--key",
            fingerprint,
            "--gnupghome",
            str(gnupghome),
            "--out",
            str(out),
            *map(str, packages),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


@pytest.fixture(scope="session")
def repo(debs: Debs, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Repo]:
    """The region's signed repository holding both versions, with a key made here."""
    require_tools("aptly", package="aptly")
    require_tools("gpg", "gpgv", package="gnupg")
    require_tools("mmdebstrap", package="mmdebstrap")
    base = tmp_path_factory.mktemp("repo")
    home = base / "gnupg"
    fpr = make_key(home, "Sentinel test repository <repo@sentinel.test>")
    path = build_repo(home, fpr, base / "public", debs.previous, debs.current)
    yield Repo(path, home, fpr)
    subprocess.run(
        ["gpgconf", "--kill", "all"], env={**os.environ, "GNUPGHOME": str(home)}, check=False
    )


@pytest.fixture
def box(repo: Repo, tmp_path: Path) -> Iterator[Box]:
    """A fresh Debian 12 root whose only apt source is the region's repository."""
    b = Box.create(tmp_path / "box", repo.path)
    yield b
    shutil.rmtree(b.root, ignore_errors=True)
