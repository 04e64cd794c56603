"""One snmpsim serving the recorded walks of snmpsim-data, for the whole session."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.snmp import agents

if TYPE_CHECKING:
    from collections.abc import Iterator


def missing_tools() -> list[str]:
    missing = [t for t in ("snmpget", "snmpbulkwalk", "bzip2", "grep") if not shutil.which(t)]
    if agents.responder_path() is None:
        missing.append(agents.RESPONDER)
    if importlib.util.find_spec("snmpsim_data") is None:
        missing.append("snmpsim-data (PyPI)")
    return missing


@pytest.fixture(scope="session")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[agents.Simulator]:
    """snmpsim on 127.0.0.1 serving every recording with IF-MIB data, plus the v3 users."""
    missing = missing_tools()
    if missing:
        pytest.skip(f"needs {', '.join(missing)}")
    with agents.running(tmp_path_factory.mktemp("snmpsim")) as sim:
        yield sim


def poll(target: str, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """``python -m sentinel poll TARGET ARGS...``, captured."""
    return subprocess.run(
        [sys.executable, "-m", "sentinel", "poll", target, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


Key = tuple[str, tuple[tuple[str, str], ...]]


def series(text: str) -> dict[Key, float]:
    """Prometheus text as {(sample name, sorted labels): value}."""
    out: dict[Key, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = (s.name, tuple(sorted(s.labels.items())))
            assert key not in out, f"duplicate series {key}"
            out[key] = s.value
    return out
