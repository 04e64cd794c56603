"""pytest plugin for scripts/sanitize: load the sanitizer build of the C engine as
``sentinel.capture._fastpath`` before anything imports the installed one."""

from __future__ import annotations

import importlib.util
import os
import sys

so = os.environ["SENTINEL_SANITIZED_FASTPATH"]
spec = importlib.util.spec_from_file_location("sentinel.capture._fastpath", so)
assert spec is not None
assert spec.loader is not None
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
sys.modules["sentinel.capture._fastpath"] = module

import sentinel.capture  # noqa: E402

sentinel.capture._fastpath = module  # type: ignore[attr-defined]

with open("/proc/self/maps") as maps:
    loaded = maps.read()
assert "libasan" in loaded, "libasan is not preloaded"
assert so in loaded, "the sanitizer build is not the one loaded"


def pytest_report_header() -> str:
    return f"C engine: sanitizer build {so}"
