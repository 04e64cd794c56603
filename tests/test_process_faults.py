"""Process faults: the capture worker SIGKILLed, the main process SIGKILLed, the state
directory full or read-only. Real processes, real signals, a real tmpfs."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from scapy.utils import rdpcap

from tests.capture.test_live import config, run_daemon, scrape, sh, wait_metric
from tests.capture.test_live import lan as lan  # the namespaces fixture
from tests.capture.test_live import tmp_path as tmp_path  # readable by the worker
from tests.conftest import needs_netns, require_tools
from tests.helpers import free_port, get, running, sample, samples
from tests.snmp import agents, faults
from tests.snmp.conftest import missing_tools

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.timeout(90)


def _children(pid: int) -> list[int]:
    out = subprocess.run(
        ["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False
    ).stdout
    return [int(p) for p in out.split()]


def _worker(daemon: int) -> int | None:
    """The capture worker among the daemon's children."""
    for child in _children(daemon):
        with contextlib.suppress(OSError):
            cmd = Path(f"/proc/{child}/cmdline").read_bytes()
            if b"sentinel.capture.worker" in cmd:
                return child
    return None


@needs_netns
def test_killed_capture_worker_is_back_within_5_s_and_counted(
    lan: tuple[str, str], tmp_path: Path
) -> None:
    a, _ = lan
    port = free_port()
    d = run_daemon(a, config(tmp_path, port), [])
    try:
        wait_metric(a, port, "sentinel_task_up", 1.0, task="capture")
        body = wait_metric(a, port, "sentinel_lan_kernel_drops_total", 0.0)
        assert sample(body, "sentinel_task_restarts_total", task="capture") in (None, 0.0)
        first = _worker(d.pid)
        assert first is not None, _children(d.pid)
        os.kill(first, signal.SIGKILL)
        killed = time.monotonic()
        back = None
        while time.monotonic() - killed < 10:
            now = _worker(d.pid)
            if now is not None and now != first:
                body = scrape(a, port)
                if sample(body, "sentinel_task_up", task="capture") == 1.0:
                    back = time.monotonic() - killed
                    break
            time.sleep(0.1)
        assert back is not None, "no new worker within 10 s"
        assert back < 5.0, f"worker back after {back:.1f}s"
        assert sample(body, "sentinel_task_restarts_total", task="capture") == 1.0
        assert d.poll() is None
        print(f"capture worker back {back:.2f}s after SIGKILL")
    finally:
        d.terminate()
        out, _ = d.communicate(timeout=20)
    assert d.returncode == 0, out[-3000:]
    # One line for the failure, with what happened to the worker.
    failed = [ln for ln in out.splitlines() if "task failed" in ln and "task=capture" in ln]
    assert len(failed) == 1, out[-3000:]
    assert "exit code -9" in failed[0]


LAB = Path(__file__).resolve().parent / "data" / "lab"


@needs_netns
def test_sigkill_keeps_evidence_and_sends_no_alert_twice(
    lan: tuple[str, str], tmp_path: Path
) -> None:
    """arpspoof replayed on the LAN: the alert goes to the journal with an evidence pcap;
    kill -9; the worker goes too; after restart the pcap reads whole and the alert is
    not sent again."""
    require_tools("tcpreplay", package="tcpreplay")
    a, b = lan
    port = free_port()
    state = tmp_path / "state"
    state.mkdir()
    cfg = tmp_path / "s.yaml"
    cfg.write_text(
        f"listen: 127.0.0.1:{port}\nstate_dir: {state}\nlocal: {{enabled: false}}\n"
        "capture: {interface: lan0, networks: [10.77.0.0/24], ring_size_mb: 8}\n"
        "alerting: {incident_hold: 1s}\n"
    )
    pcap = tmp_path / "arp_spoof.pcap"
    pcap.write_bytes((LAB / "arp_spoof.pcap").read_bytes())
    d = run_daemon(a, cfg, [])
    try:
        wait_metric(a, port, "sentinel_task_up", 1.0, task="capture")
        wait_metric(a, port, "sentinel_lan_kernel_drops_total", 0.0)
        sh("ip", "netns", "exec", b, "tcpreplay", "-q", "-i", "peer0", "--pps=500", str(pcap))
        assert _until(lambda: list((state / "evidence").glob("arp_spoof-*.pcap")), 20)
        worker = _worker(d.pid)
        assert worker is not None
        time.sleep(3)  # the alert has gone to the journal (held 1 s for its incident)
        d.kill()
        first, _ = d.communicate(timeout=10)
        # The worker follows its parent instead of holding the capture socket.
        assert _until(lambda: not Path(f"/proc/{worker}").exists(), 10), "worker outlived main"
    finally:
        if d.poll() is None:
            d.kill()
            d.communicate(timeout=10)
    fired = [ln for ln in first.splitlines() if "msg=alert" in ln and "detector=arp_spoof" in ln]
    assert len(fired) == 1, first[-3000:]
    evidence = list((state / "evidence").glob("arp_spoof-*.pcap"))
    assert len(evidence) == 1
    assert len(rdpcap(str(evidence[0]))) > 0
    d = run_daemon(a, cfg, [])
    try:
        wait_metric(a, port, "sentinel_task_up", 1.0, task="capture")
        time.sleep(3)  # anything still queued in the outbox goes out now
    finally:
        d.terminate()
        second, _ = d.communicate(timeout=20)
    assert d.returncode == 0, second[-3000:]
    again = [ln for ln in second.splitlines() if "msg=alert" in ln and "detector=arp_spoof" in ln]
    assert again == [], second[-3000:]
    assert list((state / "evidence").glob("arp_spoof-*.pcap")) == evidence
    assert len(rdpcap(str(evidence[0]))) > 0


class Sink:
    """A webhook receiver on 127.0.0.1 that counts every event id it is sent."""

    def __init__(self) -> None:
        events: list[dict[str, Any]] = []
        self.events = events

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                events.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def ids(self, status: str | None = None) -> list[str]:
        return [e["id"] for e in self.events if status in (None, e["status"])]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _until(check: Any, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.2)
    return False


def test_sigkill_keeps_outbox_and_counter_state_and_sends_nothing_twice(tmp_path: Path) -> None:
    """kill -9 after an alert went out: after restart the counter totals continue from the
    state saved before, and the webhook has had every event exactly once."""
    missing = missing_tools()
    if missing:
        pytest.skip(f"needs {', '.join(missing)}")  # under CI: a failure (tests/conftest.py)
    user = faults.User("fault", "fault-auth-one", "fault-priv-one")
    one = faults.start_sim(tmp_path / "sim1", {"sw": "switch", "self": "switch"}, user)
    two = faults.start_sim(tmp_path / "sim2", {"sw": "rebooted", "self": "switch"}, user)
    proxy = faults.Proxy(one.port)
    sink = Sink()
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    state = tmp_path / "state"
    cfg = tmp_path / "s.yaml"
    good = (
        f"site: kill-test\nlisten: 127.0.0.1:{port}\nstate_dir: {state}\n"
        "local: {enabled: false}\n"
        f"alerting: {{webhook: {{url: 'http://127.0.0.1:{sink.port}/hook', timeout: 2s}}}}\n"
        "snmp:\n  auths: {sw: {version: '2c', community: sw}}\n"
        "  defaults: {interval: 5s, timeout: 1s, retries: 1}\n"
        f'  switches:\n    - {{name: sw, address: "{proxy.target}", auth: sw}}\n'
    )
    cfg.write_text(good)
    try:
        # 1. Poll, stop cleanly: the counter state is saved.
        with running(["--config", str(cfg)]) as d:
            d.wait_log("switch polled", timeout=30)
            d.signal(signal.SIGTERM)
            assert d.wait() == 0
        saved = (state / "snmp-counters.json").read_bytes()
        # 2. An alert goes out; kill -9 once the webhook has it.
        with running(["--config", str(cfg)]) as d:
            d.wait_log("switch polled", timeout=30)
            cfg.write_text(good + "bogus: true\n")
            d.signal(signal.SIGHUP)
            d.wait_log("reload failed, keeping the running config")
            assert _until(lambda: sink.ids("firing"), 15), "alert never sent"
            time.sleep(1.0)  # the daemon has had the answer
            d.proc.send_signal(signal.SIGKILL)
            assert d.wait() == -signal.SIGKILL
        assert (state / "snmp-counters.json").read_bytes() == saved
        assert (state / "alerts.sqlite3").exists()
        firing = sink.ids("firing")
        # 3. Restart against the rebooted agent: totals go on from the saved state.
        cfg.write_text(good)
        proxy.switch_to(two.port)
        with running(["--config", str(cfg)]) as d:
            d.wait_log("switch polled", timeout=30)
            _, _, text = get(url)
            rx = {
                lab["ifindex"]: v
                for lab, v in samples(text, "sentinel_interface_receive_bytes_total", switch="sw")
            }
            # Since boot the agent counted 1,000 / (impossible) / 2,000 bytes.
            assert rx == {"1": 5e11 + 1000, "2": 7e11, "3": 3e9 + 2000}, rx
            time.sleep(3)  # anything still queued would go out now
            d.signal(signal.SIGTERM)
            assert d.wait() == 0
        ids = sink.ids()
        assert len(ids) == len(set(ids)), f"delivered twice: {sink.events}"
        assert sink.ids("firing") == firing
        assert len(firing) == 1
        # Its cause is gone (the restart loaded a good config): resolved at start, once.
        resolved = [e for e in sink.events if e["status"] == "resolved"]
        assert len(resolved) == 1, sink.events
        assert resolved[0]["alert"]["detector"] == "sentinel_config_reload_failed"
    finally:
        sink.close()
        proxy.close()
        agents.stop(one)
        agents.stop(two)


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _fill(directory: Path) -> Path:
    """Write a file into ``directory`` until its file system is full."""
    filler = directory / "filler"
    with filler.open("wb", buffering=0) as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\0" * 4096)
    return filler


def _hup(d: Any, cfg: Path, text: str, expect: str) -> None:
    mark = len(d.lines)
    cfg.write_text(text)
    d.signal(signal.SIGHUP)
    d.wait_log(expect, start=mark)


def _stored_active(state: Path) -> list[str]:
    """The detectors of the alerts the outbox file holds as active (read by a second
    connection, as the next start would)."""
    db = sqlite3.connect(state / "alerts.sqlite3")
    try:
        return [d for (d,) in db.execute("SELECT detector FROM active ORDER BY rowid")]
    finally:
        db.close()


@pytest.mark.parametrize("fault", ["full", "read-only"])
def test_state_directory_full_or_read_only(tmp_path: Path, fault: str) -> None:
    """A 256 KiB tmpfs as state directory, full (or read-only) before start and again while
    running: one clear error line each, the daemon runs on and delivers alerts (the one
    raised while full too), and the outbox is written again once space returns."""
    sink = Sink()
    port = free_port()
    cfg = tmp_path / "s.yaml"
    with tmpfs(tmp_path / "state", "256k") as state:
        good = (
            f"site: disk-test\nlisten: 127.0.0.1:{port}\nstate_dir: {state}\n"
            "local: {enabled: false}\n"
            f"alerting: {{webhook: {{url: 'http://127.0.0.1:{sink.port}/hook', timeout: 2s}}}}\n"
        )
        bad = good + "bogus: true\n"
        reloaded = "config reloaded"
        failed = "reload failed, keeping the running config"

        def break_it() -> Path | None:
            if fault == "full":
                return _fill(state)
            subprocess.run(["mount", "-o", "remount,ro", str(state)], check=True)
            return None

        def mend(filler: Path | None) -> None:
            if filler is not None:
                filler.unlink()
            else:
                subprocess.run(["mount", "-o", "remount,rw", str(state)], check=True)

        cfg.write_text(good)
        try:
            # 0. Never started, and nowhere to write its site key: it refuses, clearly.
            filler = break_it()
            with running(["--config", str(cfg)]) as d:
                assert d.wait() == 1
                assert any("cannot start" in ln for ln in d.lines), d.lines
            mend(filler)
            with running(["--config", str(cfg)]) as d:  # a box that has run before
                d.wait_log("sentinel started")
                d.signal(signal.SIGTERM)
                assert d.wait() == 0
            # 1. Broken before start: the daemon starts, says why, alerts from memory.
            filler = break_it()
            with running(["--config", str(cfg)]) as d:
                d.wait_log("sentinel started")
                opened = [ln for ln in d.lines if "cannot open the alert outbox" in ln]
                assert len(opened) == 1, d.lines
                _hup(d, cfg, bad, failed)
                assert _until(lambda: sink.ids("firing"), 10), d.lines
                _hup(d, cfg, good, reloaded)
                assert _until(lambda: sink.ids("resolved"), 10), d.lines
                status, _, _ = get(f"http://127.0.0.1:{port}/metrics")
                assert status == 200
                d.signal(signal.SIGTERM)
                assert d.wait() == 0
                assert not [ln for ln in d.lines if "Traceback" in ln], d.lines
            mend(filler)
            if fault == "read-only":
                return  # a busy tmpfs cannot be remounted read-only under the daemon
            # 2. Fine at start, full while running: the alert raised then is kept in
            # memory and delivered anyway, and written to the outbox once space returns,
            # so a restart after that (here after kill -9) still knows it.
            sink.events.clear()
            url = f"http://127.0.0.1:{port}/metrics"
            with running(["--config", str(cfg)]) as d:
                d.wait_log("sentinel started")
                assert (state / "alerts.sqlite3").exists()
                filler = break_it()
                mark = len(d.lines)
                _hup(d, cfg, bad, failed)
                d.wait_log("cannot write the alert outbox, keeping it in memory", start=mark)
                assert _until(lambda: sink.ids("firing"), 10), d.lines
                assert d.proc.poll() is None
                status, _, text = get(url)
                assert status == 200
                assert sample(text, "sentinel_alert_outbox_on_disk") == 0
                assert _stored_active(state) == []  # not on disk yet: the disk is full
                mend(filler)
                d.wait_log("alert outbox written to the state directory again", start=mark)
                assert _stored_active(state) == ["sentinel_config_reload_failed"]
                _, _, text = get(url)
                assert sample(text, "sentinel_alert_outbox_on_disk") == 1
                assert not [ln for ln in d.lines if "could not be queued" in ln], d.lines
                assert not [ln for ln in d.lines if "Traceback" in ln], d.lines
                d.proc.send_signal(signal.SIGKILL)
                assert d.wait() == -signal.SIGKILL
            # 3. The restart finds the alert in the outbox and resolves it (its cause, the
            # broken config, is gone), once; nothing was delivered twice.
            cfg.write_text(good)
            with running(["--config", str(cfg)]) as d:
                d.wait_log("sentinel started")
                assert _until(lambda: sink.ids("resolved"), 10), d.lines
                time.sleep(1)  # anything else queued would go out now
                d.signal(signal.SIGTERM)
                assert d.wait() == 0
            ids = sink.ids()
            assert len(ids) == len(set(ids)), sink.events
            assert len(sink.ids("firing")) == 1, sink.events
            assert len(sink.ids("resolved")) == 1, sink.events
            [end] = [e for e in sink.events if e["status"] == "resolved"]
            assert end["alert"]["detector"] == "sentinel_config_reload_failed"
        finally:
            sink.close()
