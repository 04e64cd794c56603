"""Fuzzing in the test suite: hypothesis over every target (random bytes and mutations of
well-formed inputs), a short coverage-guided atheris run (bench/fuzz.py), and the C
engine refusing use before initialisation. The long run is bench/fuzz.py itself."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import NOT_APPLICABLE, ROOT
from tests.fuzz import targets

if TYPE_CHECKING:
    from pathlib import Path

SEEDS = targets.seeds()


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A well-formed input with bytes flipped, cut, or spliced with random ones."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 8))):
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        data[i] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    if draw(st.booleans()):
        data += draw(st.binary(max_size=64))
    return bytes(data)


INPUTS = st.one_of(st.binary(max_size=1500), mutated())
FAST_TARGETS = [n for n in targets.TARGETS if n not in ("reader_file", "snmp_values")]
SLOW_TARGETS = ["reader_file", "snmp_values"]


def _run(name: str, examples: int) -> None:
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(INPUTS)
    def check(data: bytes) -> None:
        targets.TARGETS[name](data)

    check()


@pytest.mark.parametrize("name", FAST_TARGETS)
def test_hypothesis(name: str) -> None:
    """400 inputs per target: nothing escapes but the declared errors."""
    _run(name, 400)


@pytest.mark.parametrize("name", SLOW_TARGETS)
def test_hypothesis_slow_targets(name: str) -> None:
    """The memory-mapped reader (a file per input) and pysnmp's decoder: 100 inputs."""
    _run(name, 100)


def test_seeds_are_well_formed() -> None:
    """The seeds decode without error where they are frames, so mutations start from
    valid inputs (not from garbage that stops at the first check)."""
    from sentinel.capture.decode import decode

    frames = [s for s in SEEDS if s[:6] == bytes.fromhex("020000000002")]
    assert len(frames) == 6
    assert all(not decode(f).error for f in frames)


def test_atheris_short_run() -> None:
    """bench/fuzz.py for 3,000 inputs: libFuzzer runs them all without a finding."""
    if sys.version_info >= (3, 13):
        pytest.skip(f"{NOT_APPLICABLE} atheris has no build for Python 3.13 and later")
    pytest.importorskip("atheris")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "fuzz.py"), "--runs", "3000"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    # libFuzzer may execute a few units past -runs (seen: 3,025 once on a loaded machine,
    # 3,000 on reruns): all 3,000 ran is what matters
    assert result["executed"] >= 3000
    assert result["findings"] == []
    assert result["coverage_edges"] > 100


def test_core_refuses_use_before_init() -> None:
    """`Core.__new__(Core)` without __init__: every method raises RuntimeError instead
    of crashing the process (run in a child, so a crash fails the test, not the run)."""
    code = """
from sentinel.capture import _fastpath
Core = _fastpath.Core
c = Core.__new__(Core)
calls = [("frame", (b"x" * 60, 60, 1.0)), ("pcap", (b"", 0, 0, False, 1e-6, 1)),
         ("ring_block", (b"", 0, 0)), ("detector_batch", ()), ("active", ()),
         ("talker_items", ())]
for name, args in calls:
    try:
        getattr(c, name)(*args)
    except RuntimeError as exc:
        assert "before __init__" in str(exc)
    else:
        raise SystemExit(f"{name} ran on an uninitialised Core")
assert c.packets == [0] * 64 and c.malformed == {}
c.__init__([], [])
c.frame(b"x" * 60, 60, 1.0)
assert sum(c.packets) == 1
c.__init__([], [])  # a second __init__ keeps the state
assert sum(c.packets) == 1
print("ok")
"""
    pytest.importorskip("sentinel.capture._fastpath")
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


FINDINGS = sorted((ROOT / "tests" / "data" / "fuzz").iterdir())


@pytest.mark.parametrize("path", FINDINGS, ids=[p.name for p in FINDINGS])
def test_findings_stay_fixed(path: Path) -> None:
    """Inputs the fuzzers found (first byte: the target, as bench/fuzz.py picks it): a
    YAML tag on a mapping key, nesting past the recursion limit."""
    names = sorted(targets.TARGETS)
    data = path.read_bytes()
    targets.TARGETS[names[data[0] % len(names)]](data[1:])
