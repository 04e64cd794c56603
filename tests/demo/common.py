"""What the demo tests share: run `sentinel demo`, read its output, check it left nothing."""

from __future__ import annotations

import contextlib
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ROOT, require_tools

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

READY = re.compile(r"ready: metrics=(?P<metrics>\S+) page=(?P<page>\S+) alerts=(?P<alerts>\S+)")
LAN = re.compile(r"LAN: capture on (?P<veth>\S+), recorded captures replayed from (?P<ns>\S+)")
SWITCHES = ("demo-core", "demo-wing-b", "demo-gym")


class Demo:
    """The running command: its output lines, as they come, and what they announced."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def find(self, pattern: re.Pattern[str], timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if m := pattern.search(line):
                    return m
            assert self.proc.poll() is None, "\n".join(self.lines[-30:])
            time.sleep(0.2)
        raise AssertionError(f"no {pattern.pattern!r} in:\n" + "\n".join(self.lines[-30:]))


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (read from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            if c not in found:
                found.add(c)
                todo.append(c)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(url, timeout=5) as rsp:  # noqa: S310 (loopback)
        text = rsp.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def series(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str
) -> dict[tuple[tuple[str, str], ...], float]:
    return {labels: v for (n, labels), v in samples.items() if n == name}


def until(check: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(1.0)
    raise AssertionError(f"timed out after {timeout:.0f}s: {what}")


@contextlib.contextmanager
def running(*extra: str) -> Iterator[Demo]:
    """``sentinel demo`` on free ports, bounded to 200 s, stopped on the way out."""
    require_tools("ip", package="iproute2")
    require_tools("sysctl", package="procps")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sentinel", "demo", "--listen", "127.0.0.1:0", "--page",
         "127.0.0.1:0", "--duration", "200", *extra],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    d = Demo(proc)
    try:
        yield d
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        d.reader.join(10)
        assert proc.stdout is not None
        proc.stdout.close()


def assert_stops_clean(demo: Demo, lan: re.Match[str], workdir: Path) -> None:
    """SIGINT (Ctrl-C): exit 0, and every process, the namespace, the veth, the files gone."""
    children = descendants(demo.proc.pid)
    assert len(children) >= 4, children  # snmpsim, sentinel and its worker, the replayer
    demo.proc.send_signal(signal.SIGINT)
    assert demo.proc.wait(60) == 0, "\n".join(demo.lines[-30:])
    demo.reader.join(10)
    assert [p for p in children if alive(p)] == []
    assert not Path(f"/run/netns/{lan['ns']}").exists()
    assert not Path(f"/sys/class/net/{lan['veth']}").exists()
    ip_netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    assert lan["ns"] not in ip_netns.stdout
    assert workdir.name.startswith("sentinel-demo-")
    assert not workdir.exists()
    assert any("stopped; nothing left running" in line for line in demo.lines)
