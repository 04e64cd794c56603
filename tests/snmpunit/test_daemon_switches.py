"""The daemon polling switches: down and up logged once each, reloads add and remove switches."""

from __future__ import annotations

import asyncio
import signal
from typing import TYPE_CHECKING

import pytest

from tests.helpers import free_port, get, running, sample
from tests.snmpunit.agent import serve, switch_table

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


async def wait_for(predicate, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    end = asyncio.get_running_loop().time() + timeout
    while not await asyncio.to_thread(predicate):
        if asyncio.get_running_loop().time() > end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.3)


async def test_switch_down_up_and_reload(tmp_path: Path) -> None:
    """A silent switch is down (logged once), back up (logged once); reload swaps switches."""
    port = free_port()
    async with (
        serve(switch_table(4)) as (a_port, behaviour, _),
        serve(switch_table(2)) as (
            b_port,
            _,
            _,
        ),
    ):
        cfg = tmp_path / "s.yaml"
        cfg.write_text(
            f"listen: 127.0.0.1:{port}\nstate_dir: {tmp_path / 'state'}\n"
            "local: {enabled: false}\n"
            "snmp:\n  defaults: {interval: 5s, timeout: 500ms, retries: 0}\n"
            f"  switches:\n    - {{name: sw-a, address: '127.0.0.1:{a_port}'}}\n"
        )
        url = f"http://127.0.0.1:{port}/metrics"

        def metric(name: str, **labels: str) -> float | None:
            try:
                return sample(get(url, 2)[2], name, **labels)
            except OSError:
                return None

        with running(["--config", str(cfg)]) as d:
            await wait_for(lambda: metric("sentinel_switch_up", switch="sw-a") == 1.0)
            assert metric("sentinel_interface_receive_bytes_total", switch="sw-a", ifindex="3") == (
                10**10 + 3
            )
            behaviour.silent = True
            await wait_for(lambda: metric("sentinel_switch_up", switch="sw-a") == 0.0)
            await wait_for(
                lambda: (
                    (metric("sentinel_snmp_errors_total", switch="sw-a", kind="timeout") or 0) >= 2
                )
            )
            assert metric("sentinel_task_up", task="snmp:sw-a") == 1.0  # down is not a crash
            behaviour.silent = False
            await wait_for(lambda: metric("sentinel_switch_up", switch="sw-a") == 1.0)
            assert sum("switch down" in line for line in d.lines) == 1
            assert sum("switch up again" in line for line in d.lines) == 1

            cfg.write_text(
                cfg.read_text().replace(
                    f"name: sw-a, address: '127.0.0.1:{a_port}'",
                    f"name: sw-b, address: '127.0.0.1:{b_port}'",
                )
            )
            d.signal(signal.SIGHUP)
            await wait_for(lambda: metric("sentinel_switch_up", switch="sw-b") == 1.0)
            assert metric("sentinel_switch_up", switch="sw-a") is None
            assert metric("sentinel_interface_up", switch="sw-a", ifindex="1") is None
            d.signal(signal.SIGTERM)
            assert await asyncio.to_thread(d.wait) == 0


async def test_totals_survive_a_daemon_restart(tmp_path: Path) -> None:
    """After a switch reboot, a restarted daemon continues the totals instead of re-basing.

    Re-basing to the agent's raw counter would be a decrease, which Prometheus reads as a
    counter reset: rate() would then count the whole counter again (a false spike).
    """
    from pysnmp.proto import rfc1902

    from tests.snmpunit.agent import IFX

    port = free_port()
    async with serve(switch_table(1, uptime=50_000_000)) as (a_port, _, set_table):
        cfg = tmp_path / "s.yaml"
        cfg.write_text(
            f"listen: 127.0.0.1:{port}\nstate_dir: {tmp_path / 'state'}\n"
            "local: {enabled: false}\n"
            "snmp:\n  defaults: {interval: 5s, timeout: 500ms, retries: 0}\n"
            f"  switches:\n    - {{name: sw, address: '127.0.0.1:{a_port}'}}\n"
        )
        url = f"http://127.0.0.1:{port}/metrics"

        def rx() -> float | None:
            try:
                return sample(get(url, 2)[2], "sentinel_interface_receive_bytes_total", switch="sw")
            except OSError:
                return None

        first = 10**10 + 1
        with running(["--config", str(cfg)]) as d:
            await wait_for(lambda: rx() == first)
            # The switch reboots: uptime 30 s, its counter restarted and counted 7,000 bytes.
            rebooted = switch_table(1, uptime=3000)
            rebooted[(*IFX, 6, 1)] = rfc1902.Counter64(7000)
            set_table(rebooted)
            await wait_for(lambda: rx() == first + 7000)
            d.signal(signal.SIGTERM)
            assert await asyncio.to_thread(d.wait) == 0
        assert (tmp_path / "state" / "snmp-counters.json").exists()
        later = switch_table(1, uptime=3001)  # 10 ms later: consistent with real time
        later[(*IFX, 6, 1)] = rfc1902.Counter64(9000)
        set_table(later)
        with running(["--config", str(cfg)]) as d:
            await wait_for(lambda: rx() is not None)
            assert rx() == first + 9000  # not 9000: no decrease, no spike
            d.signal(signal.SIGTERM)
            assert await asyncio.to_thread(d.wait) == 0
