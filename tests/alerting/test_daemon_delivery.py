"""The daemon itself: an alert queued while Alertmanager is down survives SIGKILL."""

from __future__ import annotations

import signal
import time
import urllib.request
from typing import TYPE_CHECKING

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.alerting.conftest import ROUTE_TO_HOOK, AlertmanagerProc, needs_alertmanager
from tests.helpers import free_port, running

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [
    needs_alertmanager,
    pytest.mark.timeout(120),
]


def received(am: AlertmanagerProc) -> dict[str, float]:
    """Alerts Alertmanager has received, by status (its own counters)."""
    with urllib.request.urlopen(f"{am.url}/metrics", timeout=5) as r:  # noqa: S310
        body = r.read().decode()
    out: dict[str, float] = {}
    for fam in text_string_to_metric_families(body):
        if fam.name == "alertmanager_alerts_received":
            for sample in fam.samples:
                if sample.name.endswith("_total"):
                    status = sample.labels["status"]
                    out[status] = out.get(status, 0.0) + sample.value
    return out


def test_alert_queued_then_sigkill_is_delivered_after_restart(tmp_path: Path) -> None:
    """A failed reload raises an alert while Alertmanager is down; kill -9; restart: delivered."""
    am = AlertmanagerProc(tmp_path / "am", ROUTE_TO_HOOK.format(hook_port=free_port()))
    port = free_port()
    cfg = tmp_path / "s.yaml"
    good = (
        f"site: bs-test\nlisten: 127.0.0.1:{port}\nstate_dir: {tmp_path / 'state'}\n"
        "local: {enabled: false}\n"
        f"alerting: {{alertmanager: {{urls: ['{am.url}'], resend: 5s, timeout: 1s}}}}\n"
    )
    cfg.write_text(good)
    with running(["--config", str(cfg)]) as d:
        d.wait_log("sentinel started")
        cfg.write_text(good + "bogus: true\n")
        d.signal(signal.SIGHUP)
        d.wait_log("reload failed, keeping the running config")
        time.sleep(1.5)  # the router has committed it to the outbox and failed to send
        d.proc.send_signal(signal.SIGKILL)
        d.wait()
    assert (tmp_path / "state" / "alerts.sqlite3").exists()
    cfg.write_text(good)
    am.start()
    try:
        with running(["--config", str(cfg)]) as d:
            d.wait_log("sentinel started")
            # The good config resolves the alert at start, right behind the queued firing
            # one: Alertmanager's API lists it only for that moment, its counters for good.
            deadline = time.monotonic() + 60
            got: dict[str, float] = {}
            while time.monotonic() < deadline and not (got.get("firing") and got.get("resolved")):
                got = received(am)
                time.sleep(0.5)
            assert got.get("firing"), f"the queued alert never reached Alertmanager: {got}"
            assert got.get("resolved"), got
            d.signal(signal.SIGTERM)
            assert d.wait() == 0
    finally:
        am.stop()
