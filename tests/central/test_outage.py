"""A 60 s receiver outage loses no sample: vmagent buffers on disk and replays."""

from __future__ import annotations

import itertools
import re
import time

import pytest

from tests.central.pipeline import BINARIES, SITE, VMAGENT_PORT, Pipeline
from tests.conftest import can_netns, require_tools

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not can_netns(), reason="needs root and ip(8) for namespaces"),
    pytest.mark.timeout(300),
]
OUTAGE = 60.0


def pending(p: Pipeline) -> float:
    text = p.get_text(VMAGENT_PORT, "/metrics")
    found = re.findall(r"^vmagent_remotewrite_pending_data_bytes\{[^}]*\} (\S+)$", text, re.M)
    return sum(float(v) for v in found)


def test_no_sample_lost_across_a_receiver_outage() -> None:
    """Every scrape made during a 60 s outage reaches VictoriaMetrics once, in order."""
    require_tools(*BINARIES, package="victoria-metrics")
    p = Pipeline(scrape_interval="2s", capture=False)
    try:
        p.start()
        time.sleep(10)
        p.stop_vm()
        down = time.time()
        time.sleep(OUTAGE)
        assert pending(p) > 0, "vmagent buffered nothing during the outage"
        p.start_vm()
        p.wait(lambda: pending(p) == 0, "the buffer drained", timeout=90)
        time.sleep(5)
        # Each scrape of /metrics increments sentinel's request counter by exactly one,
        # and the value is written with that scrape: the stored values must be 1, 2, 3...
        series = p.instant(
            f'sentinel_http_requests_total{{site="{SITE}",handler=~".*metrics.*",code="200"}}[10m]'
        )
        assert len(series) == 1, series
        values = [int(float(v)) for _, v in series[0]["values"]]
        stamps = [float(t) for t, _ in series[0]["values"]]
        steps = {b - a for a, b in itertools.pairwise(values)}
        assert steps == {1}, f"gaps or repeats in {values}"
        assert values[-1] - values[0] + 1 == len(values)
        assert sum(down < t < down + OUTAGE for t in stamps) >= OUTAGE / 2 - 3
        # The agent's own scrape results agree: one `up` sample per scrape, all of them 1.
        (up,) = p.instant(f'up{{job="sentinel",site="{SITE}"}}[10m]')
        ups = [float(v) for _, v in up["values"]]
        assert set(ups) == {1.0}
        assert abs(len(ups) - len(values)) <= 1  # the scrape in flight at the query
    finally:
        p.stop()
