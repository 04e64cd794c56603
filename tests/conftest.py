"""Shared fixtures: where the project is, and helpers for network namespaces.

Skips and CI. Outside CI a test that needs a tool, a file or root skips with the reason.
Under CI (``CI=true``) every skip is a failure (``pytest_runtest_makereport`` below), so a
skip can never hide a gap, unless its reason starts with ``NOT_APPLICABLE``: a test that
has nothing to check on this platform by design, not for want of anything CI installs.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Generator

# The probes' default targets (the default gateway, the resolver, an outside resolver) are
# real addresses: no daemon the tests start may probe them (sentinel/probes/service.py).
os.environ["SENTINEL_NO_DEFAULT_PROBES"] = "1"

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"


def can_netns() -> bool:
    return os.geteuid() == 0 and shutil.which("ip") is not None


# A skip whose reason starts with this is not a gap: under CI it stays a skip.
NOT_APPLICABLE = "not applicable:"


def under_ci() -> bool:
    """True when the suite runs under CI (``CI=true``), where a missing tool is a failure."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing_tools(*tools: str) -> list[str]:
    return [t for t in tools if shutil.which(t) is None]


def needs_tools(*tools: str, package: str = "") -> pytest.MarkDecorator:
    """A marker: skip (outside CI; a failure under CI) when one of ``tools`` is not on PATH."""
    missing = missing_tools(*tools)
    why = f"needs {', '.join(missing or tools)}" + (
        f" (Debian package {package})" if package else ""
    )
    return pytest.mark.skipif(bool(missing), reason=why)


def needs_root(why: str) -> pytest.MarkDecorator:
    """A marker: skip (outside CI; a failure under CI) unless running as root."""
    return pytest.mark.skipif(os.geteuid() != 0, reason=f"needs root: {why}")


def require_tools(*tools: str, package: str = "") -> None:
    """Skip when one of ``tools`` is not on PATH (under CI the skip is a failure).

    Call it at the start of a test or fixture; ``needs_tools`` is the marker form.
    """
    missing = missing_tools(*tools)
    if missing:
        pytest.skip(
            f"needs {', '.join(missing)}" + (f" (Debian package {package})" if package else "")
        )


needs_netns = pytest.mark.skipif(not can_netns(), reason="needs root and ip(8) for namespaces")


def _skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def _fail_skip_under_ci(report: pytest.TestReport | pytest.CollectReport) -> None:
    if not (under_ci() and report.skipped) or hasattr(report, "wasxfail"):
        return
    reason = _skip_reason(report)
    if reason.startswith(NOT_APPLICABLE):
        return
    report.outcome = "failed"
    report.longrepr = (
        f"skipped under CI: {reason}\n"
        "Under CI a skip would hide a gap: scripts/test installs every tool and runs as "
        f"root. Fix the environment, or, if the test has nothing to check here by design, "
        f"start the skip's reason with {NOT_APPLICABLE!r}."
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport() -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    _fail_skip_under_ci(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report() -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    report = yield
    _fail_skip_under_ci(report)
    return report
