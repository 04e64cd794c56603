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

from tests.conftest import ROOT, require_tools
from tests.fleet.boxes import Box, source_hash

if TYPE_CHECKING:
    from collections.abc import Iterator

# The package under test is CURRENT; PREVIOUS is the same build with a lower version,
# standing in for the release before it (the upgrade and rollback paths run the same
# maintainer scripts dpkg would run between two real releases).
PREVIOUS_SUFFIX = "~prev1"


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


@pytest.fixture(scope="session")
def debs() -> Debs:
    """scripts/build-deb's package (cached by a hash of the sources) and its predecessor."""
    _needs_root()
    require_tools("dpkg-buildpackage", "dh", package="debhelper")
    require_tools("dh_virtualenv", package="dh-virtualenv")
    require_tools("lintian", package="lintian")
    require_tools("dch", package="devscripts")
    cache = Path(tempfile.gettempdir()) / "sentinel-test-debs" / source_hash()
    if not list(cache.glob("sentinel_*.deb")):
        tmp = cache.with_suffix(".part")
        shutil.rmtree(tmp, ignore_errors=True)
        proc = subprocess.run(
            [str(ROOT / "scripts/build-deb"), "--out", str(tmp)],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        shutil.rmtree(cache, ignore_errors=True)
        tmp.replace(cache)
    (current,) = (p for p in cache.glob("sentinel_*.deb") if PREVIOUS_SUFFIX not in p.name)
    version = field(current, "Version")
    prev_version = version + PREVIOUS_SUFFIX  # sorts before version: "~" is lowest
    previous = cache / current.name.replace(version, prev_version)
    if not previous.exists():
        tree = cache / "repack"
        shutil.rmtree(tree, ignore_errors=True)
        subprocess.run(["dpkg-deb", "-R", str(current), str(tree)], check=True)
        control = tree / "DEBIAN/control"
        control.write_text(
            control.read_text().replace(f"Version: {version}\n", f"Version: {prev_version}\n")
        )
        subprocess.run(
            ["dpkg-deb", "-b", "-Zxz", "-z1", str(tree), str(previous)],
            check=True,
            capture_output=True,
        )
        shutil.rmtree(tree)
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
