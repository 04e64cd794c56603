"""Under CI a skip is a failure, unless it says the test does not apply (tests/conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING

from tests.conftest import NOT_APPLICABLE, ROOT

if TYPE_CHECKING:
    from pathlib import Path

CASES = f'''
import pytest

pytestmark = []


@pytest.mark.skipif(True, reason="needs a-tool-nobody-has")
def test_marker_skip():
    pass


def test_runtime_skip():
    pytest.skip("needs /no/such/file")


def test_importorskip():
    pytest.importorskip("no_such_module_anywhere")


def test_not_applicable():
    pytest.skip("{NOT_APPLICABLE} nothing to check on this platform")


@pytest.mark.xfail(reason="known", strict=True)
def test_xfail():
    assert False


def test_pass():
    pass
'''

SKIPPED_MODULE = """
import pytest

pytest.skip("needs a whole missing subsystem", allow_module_level=True)
"""


def outcomes(tmp_path: Path, ci: str | None) -> dict[str, str]:
    """Run the cases with tests/conftest.py as a plugin: {test name: outcome}."""
    (tmp_path / "test_cases.py").write_text(CASES)
    (tmp_path / "test_module_skip.py").write_text(SKIPPED_MODULE)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    proc = subprocess.run(
        [
            sys.executable,
            *("-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider", "-rA", "-q"),
            *("--continue-on-collection-errors", "--rootdir", str(tmp_path), "-c", os.devnull),
            str(tmp_path),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    got: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        word, _, rest = line.partition(" ")
        if word in ("PASSED", "FAILED", "SKIPPED", "XFAIL", "ERROR"):
            # "FAILED path::test - why", "SKIPPED [1] path:line: why", "ERROR path - why"
            if word == "SKIPPED":
                why = rest.split(": ", 1)[1]
                name = "module" if "whole missing" in why else why
            else:
                node = rest.split(" ", 1)[0]
                name = node.rsplit("::", 1)[-1] if "::" in node else "module"
            got[name] = word
    return got | {"_stdout": proc.stdout}


def test_under_ci_every_skip_fails_but_not_applicable(tmp_path: Path) -> None:
    got = outcomes(tmp_path, "true")
    # A skipif marker acts in setup, so it turns into an error there.
    assert got.get("test_marker_skip") == "ERROR", got["_stdout"]
    assert got.get("test_runtime_skip") == "FAILED", got["_stdout"]
    assert got.get("test_importorskip") == "FAILED", got["_stdout"]
    assert got.get("module") == "ERROR", got["_stdout"]
    assert got.get("test_xfail") == "XFAIL", got["_stdout"]
    assert got.get("test_pass") == "PASSED", got["_stdout"]
    assert f"{NOT_APPLICABLE} nothing to check on this platform" in got, got["_stdout"]
    assert "skipped under CI: needs a-tool-nobody-has" in got["_stdout"]


def test_outside_ci_skips_stay_skips(tmp_path: Path) -> None:
    got = outcomes(tmp_path, None)
    assert "FAILED" not in got.values(), got["_stdout"]
    assert "ERROR" not in got.values(), got["_stdout"]
    assert list(got.values()).count("SKIPPED") == 5, got["_stdout"]
