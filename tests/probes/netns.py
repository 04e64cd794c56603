"""Network namespaces for the probe tests, each with a unique name, removed afterwards."""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import json
import os
import secrets
import socket
import subprocess
import sys
import threading
from typing import TYPE_CHECKING, Any

from tests.conftest import ROOT
from tests.helpers import Daemon

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence


def sh(*args: str, check: bool = True) -> str:
    return subprocess.run(args, check=check, capture_output=True, text=True).stdout


def tag() -> str:
    return f"{os.getpid() % 10000}{secrets.token_hex(2)}"


@contextlib.contextmanager
def namespaces(*names: str) -> Iterator[list[str]]:
    """Fresh namespaces with loopback up; deleted on exit (their interfaces with them)."""
    t = tag()
    made: list[str] = []
    try:
        for n in names:
            ns = f"sp{n}-{t}"
            sh("ip", "netns", "add", ns)
            made.append(ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        yield made
    finally:
        for ns in made:
            sh("ip", "netns", "pids", ns, check=False)
            for pid in sh("ip", "netns", "pids", ns, check=False).split():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), 9)
            sh("ip", "netns", "del", ns, check=False)


def python_in(ns: str, code: str, timeout: float = 60) -> str:
    """Run Python ``code`` inside ``ns`` with this checkout importable; its stdout."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run(
        ["ip", "netns", "exec", ns, sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )
    if r.returncode:
        raise AssertionError(f"exit {r.returncode}: {r.stderr[-3000:]}")
    return r.stdout


def sentinel_in(ns: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``sentinel ARGS`` inside ``ns``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        ["ip", "netns", "exec", ns, sys.executable, "-m", "sentinel", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


PROBE = """
import asyncio, dataclasses, json, sys
from sentinel.config.probes import {settings}, ProbeTarget
from sentinel.probes.icmp import Pingers
from sentinel.probes.run import probe
async def main():
    p = Pingers("auto")
    out = []
    for _ in range({rounds}):
        r = await probe(ProbeTarget("t", {module!r}, {address!r}), {settings}(**{kwargs!r}), p)
        out.append(dataclasses.asdict(r))
    p.close()
    print(json.dumps(out))
asyncio.run(main())
"""
_SETTINGS = {
    "icmp": "IcmpSettings",
    "dns": "DnsSettings",
    "tcp": "TcpSettings",
    "http": "HttpSettings",
}


def probes_in(
    ns: str, module: str, address: str, rounds: int = 1, limit: float = 60, **settings: object
) -> list[dict[str, Any]]:
    """``rounds`` rounds of sentinel's own probe code inside ``ns``, one process: each
    ProbeResult as a dict (``phases`` as a dict too).

    ``settings`` are the module's settings (``pings=``, ``timeout=``, ...); ``limit`` bounds
    the subprocess."""
    code = PROBE.format(
        settings=_SETTINGS[module], module=module, address=address, kwargs=settings, rounds=rounds
    )
    out: list[dict[str, Any]] = json.loads(python_in(ns, code, timeout=limit))
    for r in out:
        r["phases"] = dict(r["phases"])
    return out


def probe_in(
    ns: str, module: str, address: str, limit: float = 60, **settings: object
) -> dict[str, Any]:
    """One round of sentinel's own probe code inside ``ns``: the ProbeResult as a dict."""
    return probes_in(ns, module, address, 1, limit, **settings)[0]


CLONE_NEWNET = 0x40000000


def socket_in(
    ns: str, family: int = socket.AF_INET, kind: int = socket.SOCK_STREAM
) -> socket.socket:
    """A socket that lives in ``ns``: made by a short thread that enters it (setns(2))."""
    libc = ctypes.CDLL(None, use_errno=True)
    made: list[socket.socket] = []
    failed: list[OSError] = []

    def enter() -> None:
        fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                failed.append(OSError(ctypes.get_errno(), f"setns {ns}"))
                return
            made.append(socket.socket(family, kind))
        finally:
            os.close(fd)

    t = threading.Thread(target=enter)  # the thread, not the test, changes namespace
    t.start()
    t.join()
    if failed:
        raise failed[0]
    return made[0]


def get_in(ns: str, host: str, port: int, path: str = "/metrics", timeout: float = 5) -> str:
    """``GET path`` from a server listening inside ``ns``; the body (any status)."""
    sock = socket_in(ns)
    sock.settimeout(timeout)
    try:
        sock.connect((host, port))
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        conn.sock = sock
        conn.request("GET", path)
        return conn.getresponse().read().decode()
    finally:
        sock.close()


class NsDaemon(Daemon):
    """``sentinel run ARGS`` inside ``ns``, its log collected line by line."""

    def __init__(self, ns: str, args: Sequence[str], env: dict[str, str] | None = None) -> None:
        super().__init__(
            args, {"PYTHONPATH": str(ROOT), **(env or {})}, prefix=("ip", "netns", "exec", ns)
        )


@contextlib.contextmanager
def daemon_in(ns: str, args: Sequence[str], env: dict[str, str] | None = None) -> Iterator[Daemon]:
    d = NsDaemon(ns, args, env)
    try:
        yield d
    finally:
        if d.proc.poll() is None:
            d.kill()
        d._reader.join(5)
        if d.proc.stdout is not None:
            d.proc.stdout.close()
