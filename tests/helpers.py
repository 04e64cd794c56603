"""Test helpers: a daemon in a subprocess, a notify socket, a free port."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from typing import TYPE_CHECKING, Any

from prometheus_client.parser import text_string_to_metric_families

if TYPE_CHECKING:
    import signal
    from collections.abc import Iterator, Sequence
    from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class NotifySocket:
    """A real unix datagram socket standing in for systemd's NOTIFY_SOCKET."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[str] = []

    def wait_for(self, field: str, timeout: float = 15.0) -> list[str]:
        """Read datagrams until one contains ``field``; returns everything read so far."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                data = self.sock.recv(4096).decode()
            except TimeoutError:
                continue
            self.messages.append(data)
            if field in data.split("\n"):
                return self.messages
        raise AssertionError(f"no {field} in {self.messages}")

    def close(self) -> None:
        self.sock.close()


class Daemon:
    """``sentinel run`` as a subprocess with its log collected line by line."""

    def __init__(
        self, args: Sequence[str], env: dict[str, str] | None = None, prefix: Sequence[str] = ()
    ) -> None:
        """``prefix``: what the command runs under, e.g. ``ip netns exec NS``."""
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        full_env.pop("JOURNAL_STREAM", None)
        self.proc = subprocess.Popen(
            [*prefix, sys.executable, "-m", "sentinel", "run", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=full_env,
        )
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()

    def wait_log(self, text: str, timeout: float = 15.0, start: int = 0) -> int:
        """Index of the first log line from ``start`` on that contains ``text``."""
        end = time.monotonic() + timeout
        with self._cond:
            while True:
                for i in range(start, len(self.lines)):
                    if text in self.lines[i]:
                        return i
                left = end - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(f"{text!r} not logged:\n" + "\n".join(self.lines))
                self._cond.wait(min(left, 0.1))

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 20.0) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(5)
        return code

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        self.proc.wait(5)


@contextlib.contextmanager
def running(args: Sequence[str], env: dict[str, str] | None = None) -> Iterator[Daemon]:
    d = Daemon(args, env)
    try:
        yield d
    finally:
        if d.proc.poll() is None:
            d.kill()
        d._reader.join(5)
        if d.proc.stdout is not None:
            d.proc.stdout.close()


def get(url: str, timeout: float = 5.0) -> tuple[int, str, str]:
    """Plain GET: status, content type, body."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 (loopback only)
            return r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode()


def samples(text: str, name: str, **labels: str) -> list[tuple[dict[str, str], float]]:
    """Every series ``name`` carrying ``labels`` in a text exposition: (its labels, value).

    The exposition is read with prometheus_client's own parser, as Prometheus reads it
    (escaped label values, ``_total`` and ``_created`` samples of a counter).
    """
    families = text_string_to_metric_families(text)
    return [
        (s.labels, float(s.value))
        for family in families
        for s in family.samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    ]


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of the first series ``name`` carrying ``labels`` in a text exposition."""
    found = samples(text, name, **labels)
    return found[0][1] if found else None


def total(text: str, name: str, **labels: str) -> float:
    """The sum of every series ``name`` carrying ``labels`` (0 when there is none)."""
    return sum(v for _, v in samples(text, name, **labels))


def analyze(
    pcap: Path, state_dir: Path, *extra: str, cwd: Path | None = None
) -> list[dict[str, Any]]:
    """`sentinel analyze --format json` on one file: its alerts, one dict each."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sentinel",
            "analyze",
            "--format",
            "json",
            "--state-dir",
            str(state_dir),
            *extra,
            str(pcap),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


def use_engine(engine: str, monkeypatch: Any) -> None:
    """Run on the Python capture engine ("python") or the C one ("c", which must be
    built: a missing build fails, never falls back)."""
    import pytest

    from sentinel.capture import accounting

    if engine == "python":
        monkeypatch.setenv("SENTINEL_NO_EXTENSIONS", "1")
        return
    monkeypatch.delenv("SENTINEL_NO_EXTENSIONS", raising=False)
    if getattr(accounting, "FastAccounting", None) is None:
        pytest.fail("the C engine is not built")
