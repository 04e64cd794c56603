"""The daemon itself: an alert queued while Alertmanager is down survives SIGKILL."""

from __future__ import annotations

import signal
import time
from typing import TYPE_CHECKING

import pytest

from tests.alerting.conftest import ROUTE_TO_HOOK, AlertmanagerProc, needs_alertmanager
from tests.helpers import free_port, running

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [
    needs_alertmanager,
    pytest.mark.timeout(120),
]


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
            deadline = time.monotonic() + 60
            found: list[dict[str, object]] = []
            while time.monotonic() < deadline and not found:
                found = [
                    a
                    for a in am.alerts()
                    if a["labels"].get("alertname") == "sentinel_config_reload_failed"
                ]
                time.sleep(0.5)
            assert found, "the queued alert never reached Alertmanager"
            labels = found[0]["labels"]
            assert labels["site"] == "bs-test"  # type: ignore[index]
            assert labels["severity"] == "warning"  # type: ignore[index]
            assert "bogus" in found[0]["annotations"]["summary"]  # type: ignore[index]
            d.signal(signal.SIGTERM)
            assert d.wait() == 0
    finally:
        am.stop()
