"""Tests for the systemd notify protocol against real unix datagram sockets."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from typing import TYPE_CHECKING

import pytest

from sentinel.sdnotify import Notifier, watchdog_loop

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A datagram socket bound in tmp_path, standing in for systemd's notify socket."""
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(1.0)
    with sock:
        yield sock, path


def receive(sock: socket.socket) -> str:
    """One datagram from the listener, decoded."""
    return sock.recv(4096).decode()


def drain(sock: socket.socket) -> list[str]:
    """Every datagram waiting on the listener, without blocking."""
    messages = []
    sock.setblocking(False)
    with contextlib.suppress(BlockingIOError):
        while True:
            messages.append(sock.recv(4096).decode())
    return messages


def test_ready_sends_exact_datagram(listener: tuple[socket.socket, str]) -> None:
    """ready() sends exactly READY=1."""
    sock, path = listener
    notifier = Notifier.from_env({"NOTIFY_SOCKET": path})
    assert notifier.enabled
    assert notifier.ready() is True
    assert receive(sock) == "READY=1"


def test_ready_with_status(listener: tuple[socket.socket, str]) -> None:
    """ready(status) sends READY=1 and STATUS= in one datagram."""
    sock, path = listener
    assert Notifier.from_env({"NOTIFY_SOCKET": path}).ready("polling 3 targets")
    assert receive(sock) == "READY=1\nSTATUS=polling 3 targets"


def test_reloading_sends_monotonic_usec(listener: tuple[socket.socket, str]) -> None:
    """reloading() sends RELOADING=1 with the current CLOCK_MONOTONIC in microseconds."""
    sock, path = listener
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert Notifier.from_env({"NOTIFY_SOCKET": path}).reloading()
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    first, second = receive(sock).split("\n")
    assert first == "RELOADING=1"
    key, _, value = second.partition("=")
    assert key == "MONOTONIC_USEC"
    assert before <= int(value) <= after


def test_stopping_sends_exact_datagram(listener: tuple[socket.socket, str]) -> None:
    """stopping() sends exactly STOPPING=1."""
    sock, path = listener
    assert Notifier.from_env({"NOTIFY_SOCKET": path}).stopping()
    assert receive(sock) == "STOPPING=1"


def test_status_sends_exact_datagram(listener: tuple[socket.socket, str]) -> None:
    """status(text) sends exactly STATUS=text."""
    sock, path = listener
    assert Notifier.from_env({"NOTIFY_SOCKET": path}).status("2 of 3 targets up")
    assert receive(sock) == "STATUS=2 of 3 targets up"


def test_status_newline_cannot_inject_a_field(listener: tuple[socket.socket, str]) -> None:
    """A newline in a status text becomes a space instead of starting a new field."""
    sock, path = listener
    assert Notifier.from_env({"NOTIFY_SOCKET": path}).status("bad\nREADY=1")
    assert receive(sock) == "STATUS=bad READY=1"


def test_watchdog_sends_exact_datagram(listener: tuple[socket.socket, str]) -> None:
    """watchdog() sends exactly WATCHDOG=1."""
    sock, path = listener
    assert Notifier.from_env({"NOTIFY_SOCKET": path}).watchdog()
    assert receive(sock) == "WATCHDOG=1"


def test_abstract_socket() -> None:
    """A NOTIFY_SOCKET starting with @ reaches the abstract-namespace socket of that name."""
    name = f"sentinel-test-{os.getpid()}-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(1.0)
        assert Notifier.from_env({"NOTIFY_SOCKET": "@" + name}).ready()
        assert receive(sock) == "READY=1"


def test_from_env_defaults_to_process_environment(
    listener: tuple[socket.socket, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """from_env() without a mapping reads os.environ."""
    sock, path = listener
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    monkeypatch.setenv("WATCHDOG_USEC", "4000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    notifier = Notifier.from_env()
    assert notifier.watchdog_interval() == 2.0
    assert notifier.stopping()
    assert receive(sock) == "STOPPING=1"


def test_watchdog_interval_is_half_of_watchdog_usec() -> None:
    """WATCHDOG_USEC=200000 gives a keep-alive every 0.1 s."""
    notifier = Notifier.from_env({"NOTIFY_SOCKET": "/nonexistent", "WATCHDOG_USEC": "200000"})
    assert notifier.watchdog_interval() == pytest.approx(0.1)


def test_watchdog_pid_of_this_process_keeps_watchdog() -> None:
    """WATCHDOG_PID equal to our own pid keeps the watchdog."""
    env = {"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "200000", "WATCHDOG_PID": str(os.getpid())}
    assert Notifier.from_env(env).watchdog_interval() == pytest.approx(0.1)


def test_watchdog_pid_of_another_process_disables_watchdog() -> None:
    """WATCHDOG_PID naming another process means the watchdog is not ours to ping."""
    env = {"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "200000", "WATCHDOG_PID": str(os.getpid() + 1)}
    assert Notifier.from_env(env).watchdog_interval() is None


@pytest.mark.parametrize("usec", ["", "0", "-5", "soon"])
def test_unusable_watchdog_usec_disables_watchdog(usec: str) -> None:
    """A missing, zero, negative or non-numeric WATCHDOG_USEC means no watchdog."""
    env = {"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": usec}
    assert Notifier.from_env(env).watchdog_interval() is None


async def test_watchdog_loop_pings_every_interval(listener: tuple[socket.socket, str]) -> None:
    """watchdog_loop sends several WATCHDOG=1 within 0.35 s at a 0.1 s interval."""
    sock, path = listener
    notifier = Notifier.from_env({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000"})
    task = asyncio.create_task(watchdog_loop(notifier))
    await asyncio.sleep(0.35)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    messages = drain(sock)
    assert 3 <= len(messages) <= 8
    assert set(messages) == {"WATCHDOG=1"}


async def test_watchdog_loop_returns_without_watchdog(listener: tuple[socket.socket, str]) -> None:
    """watchdog_loop returns at once and sends nothing when WATCHDOG_PID is another process."""
    sock, path = listener
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000", "WATCHDOG_PID": "1"}
    async with asyncio.timeout(0.5):
        await watchdog_loop(Notifier.from_env(env))
    assert drain(sock) == []


async def test_watchdog_loop_returns_without_socket() -> None:
    """watchdog_loop returns at once when there is no notify socket, even with WATCHDOG_USEC."""
    async with asyncio.timeout(0.5):
        await watchdog_loop(Notifier.from_env({"WATCHDOG_USEC": "200000"}))


def test_no_notify_socket_is_a_noop() -> None:
    """Without NOTIFY_SOCKET the notifier is disabled and every call returns False."""
    notifier = Notifier.from_env({})
    assert not notifier.enabled
    assert notifier.notify("READY=1") is False
    assert notifier.ready("up") is False
    assert notifier.reloading() is False
    assert notifier.stopping() is False
    assert notifier.status("up") is False
    assert notifier.watchdog() is False
    assert notifier.watchdog_interval() is None


@pytest.mark.parametrize("value", ["", "relative/path", "vsock:2:1234"])
def test_unsupported_notify_socket_is_a_noop(value: str) -> None:
    """An empty, relative or non-unix NOTIFY_SOCKET leaves the notifier disabled."""
    assert not Notifier.from_env({"NOTIFY_SOCKET": value}).enabled


def test_missing_socket_path_returns_false(tmp_path: Path) -> None:
    """A NOTIFY_SOCKET path that does not exist makes notify return False without raising."""
    notifier = Notifier.from_env({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})
    assert notifier.enabled
    assert notifier.ready() is False
    assert notifier.watchdog() is False


def test_full_receiver_returns_false_instead_of_blocking(
    listener: tuple[socket.socket, str],
) -> None:
    """When systemd stops reading, sends fail fast with False rather than blocking the loop."""
    _, path = listener
    notifier = Notifier.from_env({"NOTIFY_SOCKET": path})
    results = [notifier.status("x" * 1024) for _ in range(5000)]
    assert results[0] is True
    assert results[-1] is False
