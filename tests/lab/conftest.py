"""Session fixtures: the school LAN in namespaces and sentinel running on its gateway."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.lab.lan import BASE_TOOLS, SchoolLan, Sentinel, missing

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.lab.lan import Host


def lab_skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "the live lab needs root (network namespaces, raw sockets)"
    gone = missing(BASE_TOOLS)
    if gone:
        return "the live lab needs " + ", ".join(f"{t} ({BASE_TOOLS[t]})" for t in gone)
    return None


@pytest.fixture(scope="session")
def lab_dir() -> Iterator[Path]:
    """A work directory the daemon and the lab's services can read."""
    d = Path(tempfile.mkdtemp(prefix="sentinel-lab-"))
    d.chmod(0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def lab(lab_dir: Path) -> Iterator[SchoolLan]:
    reason = lab_skip_reason()
    if reason:
        pytest.skip(reason)
    lan = SchoolLan(lab_dir / "lan")
    try:
        lan.up()
        yield lan
    finally:
        lan.down()


@pytest.fixture(scope="session")
def sentinel(lab: SchoolLan, lab_dir: Path) -> Iterator[Sentinel]:
    """``sentinel run`` inside the gateway namespace, capturing its LAN interface."""
    d = Sentinel(lab, lab_dir / "sentinel")
    d.work.mkdir()
    try:
        d.start()
        yield d
    finally:
        d.stop()


_identity = iter(range(1, 200))


@pytest.fixture
def attacker(lab: SchoolLan) -> Host:
    """A fresh address and MAC for the attacker laptop, so each test's alert is its own.

    The daemon keeps an alert active per (detector, source) and does not repeat it; a
    new identity per test makes every attack a first sighting.
    """
    n = next(_identity)
    return lab.set_attacker(f"10.77.0.{40 + n}", f"02:77:00:00:66:{n:02x}")
