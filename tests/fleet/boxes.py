"""Throwaway Debian boxes for the packaging and rollout tests.

A box is a directory tree made from one Debian 12 base (mmdebstrap, minbase plus python3,
systemd and victoria-metrics), reached with chroot. The base is built once and cached
under the system's temp dir, keyed by a hash of what goes into it; each test unpacks its
own copy. Nothing runs in a box but dpkg, apt and the package's own scripts: there is no
init system, and /usr/sbin/policy-rc.d records every start, stop and restart the
maintainer scripts ask for, and refuses them.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.conftest import ROOT

SUITE = "bookworm"


def host_mirror() -> str:
    """The Debian archive this machine's apt uses: the boxes come from the same place."""
    sources = Path("/etc/apt/sources.list.d/debian.sources")
    if sources.exists():
        for line in sources.read_text().splitlines():
            if line.startswith("URIs:"):
                return line.split()[1]
    legacy = Path("/etc/apt/sources.list")
    if legacy.exists():
        for line in legacy.read_text().splitlines():
            fields = line.split()
            if len(fields) >= 3 and fields[0] == "deb" and not fields[1].startswith("["):
                return fields[1]
    raise RuntimeError("no Debian archive in /etc/apt: the test boxes need one for mmdebstrap")


BASE_PACKAGES = ("python3", "python3-apt", "systemd", "victoria-metrics")
POLICY_LOG = "/var/log/policy-rc.d.log"
POLICY_RC_D = f"""#!/bin/sh
# Test box: record what maintainer scripts ask of the init system, allow nothing.
echo "$*" >> {POLICY_LOG}
exit 101
"""
REPO_IN_BOX = "/srv/sentinel-repo"
KEYRING_IN_BOX = "/usr/share/keyrings/sentinel-archive-keyring.gpg"


def base_tarball() -> Path:
    """The cached base root (a tar made by mmdebstrap), built on first use."""
    mirror = host_mirror()
    key = hashlib.sha256(f"{SUITE} {mirror} {' '.join(BASE_PACKAGES)} minbase".encode())
    cache = Path(tempfile.gettempdir()) / "sentinel-test-boxes"
    cache.mkdir(exist_ok=True)
    tar = cache / f"base-{key.hexdigest()[:16]}.tar"
    with (cache / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time across test processes
        if not tar.exists():
            tmp = tar.with_suffix(".part.tar")  # mmdebstrap picks the format by suffix
            subprocess.run(
                [
                    "mmdebstrap",
                    "--quiet",
                    "--variant=minbase",
                    f"--include={','.join(BASE_PACKAGES)}",
                    SUITE,
                    str(tmp),
                    mirror,
                ],
                check=True,
                capture_output=True,
                timeout=600,
            )
            tmp.replace(tar)
    return tar


class Box:
    """One throwaway Debian root."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def create(cls, root: Path, repo: Path | None = None) -> Box:
        root.mkdir(parents=True)
        subprocess.run(["tar", "-C", str(root), "-xf", str(base_tarball())], check=True)
        box = cls(root)
        policy = root / "usr/sbin/policy-rc.d"
        policy.write_text(POLICY_RC_D)
        policy.chmod(0o755)
        (root / "etc/apt/sources.list").unlink(missing_ok=True)  # only the region's repo
        if repo is not None:
            box.use_repo(repo)
        return box

    def use_repo(self, repo: Path) -> None:
        """Copy the published repository in and point apt at it with signed-by."""
        dst = self.path(REPO_IN_BOX)
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(repo, dst)
        shutil.copy(repo / "sentinel-archive-keyring.gpg", self.path(KEYRING_IN_BOX))
        self.path("etc/apt/sources.list.d/sentinel.list").write_text(
            f"deb [signed-by={KEYRING_IN_BOX}] file://{REPO_IN_BOX} {SUITE} main\n"
        )

    def path(self, inside: str) -> Path:
        return self.root / inside.lstrip("/")

    def run(self, script: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            "DEBIAN_FRONTEND": "noninteractive",
            "LC_ALL": "C.UTF-8",
        }
        proc = subprocess.run(
            ["chroot", str(self.root), "/bin/sh", "-ec", script],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"in box: {script}\n{proc.stdout}\n{proc.stderr}")
        return proc

    def apt(self, *args: str) -> subprocess.CompletedProcess[str]:
        """apt-get as a box runs it unattended: keep changed config files."""
        opts = "-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold"
        return self.run(f"apt-get -q -y {opts} {' '.join(args)}")

    def booted(self, on: bool) -> None:
        """Make the maintainer scripts believe systemd runs (they test /run/systemd/system)."""
        d = self.path("run/systemd/system")
        if on:
            d.mkdir(parents=True, exist_ok=True)
        elif d.exists():
            d.rmdir()

    def policy_calls(self) -> list[str]:
        """What the maintainer scripts asked the init system, and clears the record."""
        log = self.path(POLICY_LOG)
        calls = log.read_text().splitlines() if log.exists() else []
        log.unlink(missing_ok=True)
        return calls

    def installed_version(self, package: str = "sentinel") -> str:
        proc = self.run(f"dpkg-query -W -f '${{Status}} ${{Version}}' {package} || true")
        status, _, version = proc.stdout.rpartition(" ")
        return version if status == "install ok installed" else ""


NOT_PACKAGED = (b"tests/", b"docs/", b"bench/", b"grafana/", b"deploy/ansible/")


def source_hash() -> str:
    """A hash of every tracked file that goes into the package: the deb cache key."""
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    h = hashlib.sha256()
    for name in sorted(f for f in files if f and not f.startswith(NOT_PACKAGED)):
        p = ROOT / os.fsdecode(name)
        if p.is_file():
            h.update(name + b"\0" + p.read_bytes())
    return h.hexdigest()[:16]


def unpack_base(root: Path) -> Path:
    """The base root unpacked once into ``root`` (the shared lower layer of overlay boxes)."""
    root.mkdir(parents=True)
    subprocess.run(["tar", "-C", str(root), "-xf", str(base_tarball())], check=True)
    return root


class OverlayBox(Box):
    """A box whose root is an overlay over an unpacked base: many boxes, one base on disk."""

    @classmethod
    def mount(cls, base: Path, where: Path, repo: Path | None = None) -> OverlayBox:
        for d in ("upper", "work", "root"):
            (where / d).mkdir(parents=True)
        subprocess.run(
            [
                "mount",
                "-t",
                "overlay",
                "overlay",
                "-o",
                f"lowerdir={base},upperdir={where / 'upper'},workdir={where / 'work'}",
                str(where / "root"),
            ],
            check=True,
        )
        box = cls(where / "root")
        policy = box.path("usr/sbin/policy-rc.d")
        policy.write_text(POLICY_RC_D)
        policy.chmod(0o755)
        box.path("etc/apt/sources.list").unlink(missing_ok=True)
        if repo is not None:
            box.use_repo(repo)
        return box

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", str(self.root)], check=False)
