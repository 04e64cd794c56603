"""Shared fixtures: where the project is, and helpers for network namespaces."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

# The probes' default targets (the default gateway, the resolver, an outside resolver) are
# real addresses: no daemon the tests start may probe them (sentinel/probes/service.py).
os.environ["SENTINEL_NO_DEFAULT_PROBES"] = "1"

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"


def can_netns() -> bool:
    return os.geteuid() == 0 and shutil.which("ip") is not None


needs_netns = pytest.mark.skipif(not can_netns(), reason="needs root and ip(8) for namespaces")


def under_ci() -> bool:
    """True when the suite runs under CI (``CI=true``), where a missing tool is a failure."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_tools(*tools: str, package: str = "") -> None:
    """Skip (outside CI) or fail (under CI) when one of ``tools`` is not on PATH.

    Call it at the start of a test or fixture. Under CI a missing tool must not hide a
    gap behind a skip: ``scripts/test`` installs everything, so absence is a bug.
    """
    missing = [t for t in tools if shutil.which(t) is None]
    if not missing:
        return
    why = f"needs {', '.join(missing)}" + (f" (Debian package {package})" if package else "")
    if under_ci():
        pytest.fail(f"{why}: scripts/test installs it, so under CI its absence is a failure")
    pytest.skip(why)
