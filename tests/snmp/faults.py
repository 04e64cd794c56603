"""Faulty SNMP agents for tests: a UDP proxy in front of a real snmpsim that can delay,
garble or cut its answers, or switch to another snmpsim mid-poll; a socket that never
answers; an snmpsim started on the recordings of tests/data/snmp."""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tests.snmp import agents

if TYPE_CHECKING:
    from collections.abc import Mapping

DATA = Path(__file__).resolve().parent.parent / "data" / "snmp"


@dataclass(frozen=True)
class User:
    """An SNMPv3 user (SHA/AES, authPriv) of a fault simulator."""

    name: str
    auth_key: str
    priv_key: str

    def snmpsim_args(self) -> list[str]:
        return [
            f"--v3-user={self.name}",
            "--v3-auth-proto=SHA",
            f"--v3-auth-key={self.auth_key}",
            "--v3-priv-proto=AES",
            f"--v3-priv-key={self.priv_key}",
        ]


def start_sim(tmp: Path, files: Mapping[str, str], user: User) -> agents.Simulator:
    """snmpsim on 127.0.0.1 serving ``{community: recording stem of tests/data/snmp}``;
    SNMPv3 ``user`` reads the recording of the community ``self``."""
    data, cache = tmp / "data", tmp / "cache"
    data.mkdir(parents=True)
    cache.mkdir()
    for community, rec in files.items():
        shutil.copyfile(DATA / f"{rec}.snmprec", data / f"{community}.snmprec")
    port = agents.free_udp_port()
    exe = agents.responder_path()
    assert exe is not None
    argv = [
        exe,
        "--log-level=error",
        f"--cache-dir={cache}",
        "--v3-engine-id=80001f8880c0ffee0015",  # one agent whose keys change
        f"--data-dir={data}",
        f"--agent-udpv4-endpoint={agents.HOST}:{port}",
        *user.snmpsim_args(),
    ]
    env = {**os.environ, "SNMPSIM_ALLOW_ROOT": "true"}
    log = tmp / "snmpsim.log"
    with log.open("wb") as lf:
        proc = subprocess.Popen(
            argv,
            cwd=tmp,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=lf,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    sim = agents.Simulator(proc, port, [], data, log, 0.0)
    deadline = time.monotonic() + 60
    pending = [["-v2c", "-c", c] for c in files if c != "self"]
    while pending:
        if proc.poll() is not None or time.monotonic() > deadline:
            agents.stop(sim)
            raise RuntimeError(f"snmpsim not answering {pending[0]}: {agents.tail(log)}")
        if agents.snmpget_ok(sim.target, pending[0]):
            pending.pop(0)
        else:
            time.sleep(0.3)
    return sim


class Proxy:
    """A UDP relay on 127.0.0.1 in front of an agent, with a fault chosen at any time.

    ``mode``: ``relay`` (pass through), ``delay`` (answer ``delay`` seconds late),
    ``garbage`` (answer random bytes and cut-off responses instead).  ``switch_to(port,
    after=n)`` relays the next ``n`` requests to the current agent, then every later
    one to the agent on ``port``: with n=1 an agent "reboots" between the first request of
    a poll and its walks.
    """

    def __init__(self, upstream: int, mode: str = "relay", delay: float = 0.0) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((agents.HOST, 0))
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]
        self.upstream = upstream
        self.mode = mode
        self.delay = delay
        self.requests = 0
        self._next: tuple[int, int] | None = None  # (port, after n more requests)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._rng = random.Random(15)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @property
    def target(self) -> str:
        return f"{agents.HOST}:{self.port}"

    def switch_to(self, port: int, after: int = 0) -> None:
        with self._lock:
            self._next = (port, after)

    def _pick(self) -> int:
        with self._lock:
            self.requests += 1
            if self._next is not None:
                port, after = self._next
                if after <= 0:
                    self.upstream, self._next = port, None
                else:
                    self._next = (port, after - 1)
            return self.upstream

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, client = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._answer, args=(data, client), daemon=True).start()

    def _answer(self, data: bytes, client: tuple[str, int]) -> None:
        upstream = self._pick()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as up:
            up.settimeout(3)
            up.sendto(data, (agents.HOST, upstream))
            try:
                answer = up.recv(65535)
            except TimeoutError:
                return
        if self.mode == "delay":
            time.sleep(self.delay)
        elif self.mode == "garbage":
            n = self.requests
            if n % 3 == 0:
                answer = self._rng.randbytes(len(answer))
            elif n % 3 == 1:
                answer = answer[: len(answer) // 2]  # BER cut mid-varbind
            else:  # a valid header whose lengths lie
                answer = answer[:2] + b"\xff" * 8 + answer[10:]
        if not self._stop.is_set():
            try:
                self.sock.sendto(answer, client)
            except OSError:
                return

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


class Silent:
    """A UDP socket that takes every request and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((agents.HOST, 0))
        self.port: int = self.sock.getsockname()[1]

    @property
    def target(self) -> str:
        return f"{agents.HOST}:{self.port}"

    def close(self) -> None:
        self.sock.close()


def log_lines(lines: list[str], text: str, switch: str) -> list[str]:
    """Log lines containing ``text`` about ``switch``."""
    return [ln for ln in lines if text in ln and f"switch={switch} " in f"{ln} "]
