"""The systemd notify protocol and watchdog keep-alive, standard library only."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["Notifier", "watchdog_loop"]


def _socket_address(value: str) -> str | None:
    """Turn a NOTIFY_SOCKET value into a connectable address; ``@name`` is an abstract socket."""
    if not value:
        return None
    if value.startswith("@"):
        return "\0" + value[1:]
    if value.startswith("/"):
        return value
    return None  # systemd also uses vsock: addresses, which a gateway box never sees


def _watchdog_usec(environ: Mapping[str, str]) -> int | None:
    """Return WATCHDOG_USEC when the watchdog is set for this very process, else None."""
    pid = environ.get("WATCHDOG_PID")
    if pid is not None and pid.strip() != str(os.getpid()):
        return None
    try:
        usec = int(environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    return usec if usec > 0 else None


class Notifier:
    """Sends state changes to systemd; without a socket every call is a no-op returning False."""

    __slots__ = ("_address", "_watchdog_usec")

    def __init__(self, address: str | None = None, watchdog_usec: int | None = None) -> None:
        self._address = address
        self._watchdog_usec = watchdog_usec if watchdog_usec and watchdog_usec > 0 else None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        """Build a notifier from NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID."""
        env = os.environ if environ is None else environ
        return cls(_socket_address(env.get("NOTIFY_SOCKET", "")), _watchdog_usec(env))

    def __repr__(self) -> str:
        return f"Notifier(address={self._address!r}, watchdog_usec={self._watchdog_usec!r})"

    @property
    def enabled(self) -> bool:
        """True when a notify socket is known."""
        return self._address is not None

    def notify(self, *fields: str) -> bool:
        """Send ``fields`` as one datagram; return False, never raise, when it cannot be sent."""
        if self._address is None or not fields:
            return False
        data = "\n".join(fields).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.setblocking(False)
                sock.sendto(data, self._address)
        except OSError:
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """Tell systemd start-up (or a reload) is finished, optionally with a status line."""
        if status is None:
            return self.notify("READY=1")
        return self.notify("READY=1", _status_field(status))

    def reloading(self) -> bool:
        """Tell systemd a reload started; MONOTONIC_USEC is required by systemd >= 253."""
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={usec}")

    def stopping(self) -> bool:
        """Tell systemd the daemon is shutting down."""
        return self.notify("STOPPING=1")

    def status(self, text: str) -> bool:
        """Set the one-line status shown by ``systemctl status``."""
        return self.notify(_status_field(text))

    def watchdog(self) -> bool:
        """Send one watchdog keep-alive."""
        return self.notify("WATCHDOG=1")

    def watchdog_interval(self) -> float | None:
        """Seconds between keep-alives (half of WATCHDOG_USEC), or None without a watchdog."""
        if self._watchdog_usec is None:
            return None
        return self._watchdog_usec / 2_000_000


def _status_field(text: str) -> str:
    """Format a STATUS= field; a newline would start a new field, so it becomes a space."""
    return "STATUS=" + " ".join(text.splitlines())


async def watchdog_loop(notifier: Notifier) -> None:
    """Ping the watchdog from the event loop forever, so a blocked loop stops the pings."""
    interval = notifier.watchdog_interval()
    if interval is None or not notifier.enabled:
        return
    while True:
        notifier.watchdog()
        await asyncio.sleep(interval)
