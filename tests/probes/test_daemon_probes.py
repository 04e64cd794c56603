"""The probes as daemon tasks: real servers on loopback, scraped from /metrics, reloaded."""

from __future__ import annotations

import signal
import time
from typing import TYPE_CHECKING

import pytest

from tests.helpers import free_port, get, running, sample
from tests.probes.servers import dnsmasq, web_server

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.timeout(90)


def wait_sample(url: str, name: str, timeout: float = 20.0, **labels: str) -> tuple[float, str]:
    end = time.monotonic() + timeout
    body = ""
    while time.monotonic() < end:
        _, _, body = get(url)
        value = sample(body, name, **labels)
        if value is not None:
            return value, body
        time.sleep(0.2)
    raise AssertionError(f"no {name} {labels} in /metrics:\n{body[-3000:]}")


def config(port: int, dns_port: int, base: str, extra: str = "") -> str:
    return f"""\
listen: 127.0.0.1:{port}
local: {{enabled: false}}
probes:
  icmp: {{interval: 2s, pings: 5, spacing: 100ms, timeout: 500ms}}
  dns: {{interval: 1s, timeout: 1s}}
  http: {{interval: 1s, timeout: 2s}}
  tcp: {{interval: 1s, timeout: 1s}}
  verdict: {{interval: 1s, window: 10s}}
  targets:
    - {{name: lo, module: icmp, address: 127.0.0.1}}
    - {{name: resolver, module: dns, address: "127.0.0.1:{dns_port}"}}
    - {{name: portal, module: http, address: "{base}/ok", essential: true}}
{extra}"""


def test_daemon_probes_and_reload(tmp_path: Path) -> None:
    """Each target gets its task and series; the verdict is good; a reload adds and removes."""
    port = free_port()
    cfg = tmp_path / "sentinel.yaml"
    url = f"http://127.0.0.1:{port}/metrics"
    env = {"STATE_DIRECTORY": str(tmp_path / "state")}
    with dnsmasq() as dns_port, web_server() as base:
        cfg.write_text(config(port, dns_port, base))
        with running(["--config", str(cfg)], env) as d:
            d.wait_log("sentinel started")
            d.wait_log("ICMP probes")  # which socket kind, and why
            value, _ = wait_sample(url, "sentinel_probe_success", probe="icmp", target="lo")
            assert value == 1
            for probe, target in (("dns", "resolver"), ("http", "portal")):
                assert wait_sample(url, "sentinel_probe_success", probe=probe, target=target)[0]
            _, body = wait_sample(url, "sentinel_connection_verdict", verdict="good")
            assert sample(body, "sentinel_connection_verdict", verdict="good") == 1
            assert sample(body, "sentinel_connection_verdict", verdict="service_down") == 0
            assert sample(body, "sentinel_task_up", task="probe:lo") == 1
            assert sample(body, "sentinel_task_up", task="verdict") == 1
            assert sample(body, "sentinel_probe_icmp_loss_ratio", target="lo") == 0
            assert sample(body, "sentinel_probe_dns_rcode", target="resolver") == 0
            assert sample(body, "sentinel_probe_http_status_code", target="portal") == 200

            # Reload: the portal goes, a TCP target to a closed port comes.
            closed = free_port()
            new = config(port, dns_port, base).replace(
                f'    - {{name: portal, module: http, address: "{base}/ok", essential: true}}\n',
                f'    - {{name: mail, module: tcp, address: "127.0.0.1:{closed}", '
                "essential: true}\n",
            )
            cfg.write_text(new)
            d.signal(signal.SIGHUP)
            d.wait_log("config reloaded")
            value, body = wait_sample(url, "sentinel_probe_success", probe="tcp", target="mail")
            assert value == 0
            assert 'target="portal"' not in body
            _, body = wait_sample(
                url, "sentinel_probe_failures_total", target="mail", reason="refused"
            )
            d.wait_log("probe failed")
            end = time.monotonic() + 10
            while time.monotonic() < end:
                _, _, body = get(url)
                if sample(body, "sentinel_connection_verdict", verdict="service_down") == 1:
                    break
                time.sleep(0.3)
            assert sample(body, "sentinel_connection_verdict", verdict="service_down") == 1
            d.signal(signal.SIGTERM)
            assert d.wait() == 0
