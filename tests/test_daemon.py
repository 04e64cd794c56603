"""The daemon as systemd runs it: start, notify, reload good and bad, stop in order."""

from __future__ import annotations

import signal
import time
from typing import TYPE_CHECKING

import pytest

from tests.helpers import NotifySocket, free_port, get, running, sample

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture
def notify(tmp_path: Path) -> NotifySocket:
    sock = NotifySocket(tmp_path / "notify.sock")
    yield sock  # type: ignore[misc]
    sock.close()


def _env(tmp_path: Path, notify: NotifySocket) -> dict[str, str]:
    return {"NOTIFY_SOCKET": str(notify.path), "STATE_DIRECTORY": str(tmp_path / "state")}


@pytest.mark.timeout(90)
def test_start_reload_and_stop(tmp_path: Path, notify: NotifySocket) -> None:
    """READY after start; a bad reload keeps the old config; a good one applies; SIGTERM exits 0."""
    port = free_port()
    cfg = tmp_path / "sentinel.yaml"
    cfg.write_text(f"site: test-school\nlisten: 127.0.0.1:{port}\nlocal: {{interval: 1s}}\n")
    with running(["--config", str(cfg)], _env(tmp_path, notify)) as d:
        notify.wait_for("READY=1")
        d.wait_log("sentinel started")
        d.wait_log("local interfaces")  # the first sample is published
        status, ctype, body = get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200
        assert ctype.startswith("text/plain; version=0.0.4")
        assert sample(body, "sentinel_config_last_reload_successful") == 1.0
        assert sample(body, "sentinel_task_up", task="local") == 1.0
        assert sample(body, "sentinel_interface_receive_bytes_total", switch="local") is not None
        assert 'ifname="lo"' not in body  # excluded by default

        # A broken file: logged with its line, the old config keeps running.
        cfg.write_text(f"listen: 127.0.0.1:{port}\nlocal: {{interval: fast}}\nbogus: 1\n")
        notify.messages.clear()
        mark = len(d.lines)
        d.signal(signal.SIGHUP)
        notify.wait_for("RELOADING=1")
        notify.wait_for("READY=1")
        d.wait_log("reload failed, keeping the running config", start=mark)
        d.wait_log(f"{cfg}:2: local.interval: invalid duration", start=mark)
        d.wait_log(f"{cfg}:3: bogus: unknown key", start=mark)
        status, _, body = get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200
        assert sample(body, "sentinel_config_last_reload_successful") == 0.0
        assert sample(body, "sentinel_task_up", task="local") == 1.0

        # A good file on a new port: applied without a restart.
        port2 = free_port()
        cfg.write_text(
            f"listen: 127.0.0.1:{port2}\nlocal: {{interval: 2s, include: [lo], exclude: []}}\n"
        )
        mark = len(d.lines)
        d.signal(signal.SIGHUP)
        d.wait_log("config reloaded", start=mark)
        status, _, body = get(f"http://127.0.0.1:{port2}/metrics")
        assert status == 200
        assert sample(body, "sentinel_config_last_reload_successful") == 1.0
        deadline = time.monotonic() + 10
        while 'ifname="lo"' not in body and time.monotonic() < deadline:
            time.sleep(0.2)
            body = get(f"http://127.0.0.1:{port2}/metrics")[2]
        assert 'ifname="lo"' in body  # the restarted sampler uses the new include list

        mark = len(d.lines)
        d.signal(signal.SIGTERM)
        assert d.wait() == 0
        notify.wait_for("STOPPING=1")
        order = [
            d.wait_log("msg=stopping", start=mark),
            d.wait_log("task=local", start=mark),
            d.wait_log("stopped web server", start=mark),
            d.wait_log("msg=stopped", start=mark),
        ]
        assert order == sorted(order), "\n".join(d.lines[mark:])


def test_sigint_stops_cleanly(tmp_path: Path, notify: NotifySocket) -> None:
    """Ctrl-C (SIGINT) is an orderly stop with exit code 0."""
    port = free_port()
    with running(["--listen", f"127.0.0.1:{port}"], _env(tmp_path, notify)) as d:
        notify.wait_for("READY=1")
        d.signal(signal.SIGINT)
        assert d.wait() == 0


def test_built_in_default_says_what_it_does(tmp_path: Path, notify: NotifySocket) -> None:
    """With no config: local interfaces, health endpoints, and a log line per capability."""
    port = free_port()
    with running(["--listen", f"127.0.0.1:{port}"], _env(tmp_path, notify)) as d:
        notify.wait_for("READY=1")
        d.wait_log('config="<built-in default>"')
        d.wait_log("polling switches")  # "not polling switches" when no local agent answers
        d.wait_log("local interfaces")
        said = "\n".join(d.lines)
        assert "capturing LAN traffic" in said or "capture needs CAP_NET_RAW" in said
        assert get(f"http://127.0.0.1:{port}/-/healthy")[0] == 200
        assert get(f"http://127.0.0.1:{port}/-/ready")[0] == 200
        body = get(f"http://127.0.0.1:{port}/metrics")[2]
        assert sample(body, "sentinel_build_info") == 1.0
        assert sample(body, "sentinel_interface_up", switch="local") is not None
        assert (tmp_path / "state" / "site.key").stat().st_mode & 0o777 == 0o600
        d.signal(signal.SIGTERM)
        assert d.wait() == 0


def test_invalid_config_refuses_to_start(tmp_path: Path) -> None:
    """`sentinel run` with a broken file prints every error and exits 2."""
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("listen: nowhere\nlog: {level: loud}\n")
    with running(["--config", str(cfg)]) as d:
        assert d.wait() == 2
        assert d.lines == [
            f"{cfg}:1: listen: must be HOST:PORT, e.g. 127.0.0.1:9717 or [::1]:9717",
            f"{cfg}:2: log.level: must be one of: debug, info, warning, error",
        ]


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    """A listen address that is taken ends the daemon with exit 1 and says which address."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with running(["--listen", f"127.0.0.1:{port}"], {"STATE_DIRECTORY": str(tmp_path)}) as d:
            assert d.wait() == 1
            d.wait_log(f"address=127.0.0.1:{port}")
