"""snmpsim serving the synthetic layer-2 recordings of tests/data/l2 (see generate.py there)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.snmp import agents
from tests.snmp.conftest import missing_tools

if TYPE_CHECKING:
    from collections.abc import Iterator

DATA = Path(__file__).resolve().parent.parent / "data" / "l2"
RECORDINGS = ("aruba-2930f-48p", "cisco-c9200-48p")


@pytest.fixture(scope="session")
def l2sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[agents.Simulator]:
    """One snmpsim on 127.0.0.1; each recording is the community of its file name."""
    missing = missing_tools()
    if missing:
        pytest.skip(f"needs {', '.join(missing)}")  # under CI: a failure (tests/conftest.py)
    tmp = tmp_path_factory.mktemp("l2sim")
    data = tmp / "data"
    data.mkdir()
    recs = []
    for name in RECORDINGS:
        src = DATA / f"{name}.snmprec"
        shutil.copyfile(src, data / src.name)
        recs.append(agents.Recording(name, "synthetic", src.read_text().count("\n"), 53, False))
    # The v3 users of the responder read the "self" context; they are not used here.
    shutil.copyfile(DATA / f"{RECORDINGS[0]}.snmprec", data / "self.snmprec")
    with agents.running(tmp, recs) as sim:
        yield sim
