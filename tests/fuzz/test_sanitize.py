"""The C engine under AddressSanitizer and UndefinedBehaviorSanitizer (scripts/sanitize):
the engine, BPF and fuzz tests against a sanitizer build, where the compiler has them."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from tests.conftest import ROOT, require_tools, under_ci

if TYPE_CHECKING:
    from pathlib import Path


def sanitizers_work(tmp: Path) -> bool:
    src = tmp / "t.c"
    src.write_text("int main(void) { return 0; }\n")
    exe = tmp / "t"
    built = subprocess.run(
        ["gcc", "-fsanitize=address,undefined", str(src), "-o", str(exe)],
        capture_output=True,
        check=False,
    )
    return built.returncode == 0 and subprocess.run([str(exe)], check=False).returncode == 0


@pytest.mark.timeout(300)  # the engine tests again, under ASan and a malloc per object
def test_c_engine_under_sanitizers(tmp_path: Path) -> None:
    require_tools("gcc", package="gcc")
    if not sanitizers_work(tmp_path):
        if under_ci():
            pytest.fail("gcc cannot build with -fsanitize=address,undefined (libasan8, libubsan1)")
        pytest.skip("gcc here has no AddressSanitizer/UndefinedBehaviorSanitizer runtime")
    proc = subprocess.run(
        [str(ROOT / "scripts" / "sanitize")],
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        cwd=ROOT,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    assert "AddressSanitizer" not in out
    assert "runtime error" not in out
    assert " passed" in out
    assert "failed" not in out
