"""Child processes of the demo: started in their own process group, stopped in order.

Each child gets SIGTERM if the demo itself dies (``PR_SET_PDEATHSIG``), so even a killed
demo leaves no process behind. Output goes to a log file, or line by line to a callback
(the daemon's log, shown with a demo prefix).
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import threading
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

PR_SET_PDEATHSIG = 1


def _child_setup() -> None:  # runs in the child between fork and exec
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


class Child:
    """One child process and what reads its output."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log: Path,
        on_line: Callable[[str], None] | None = None,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.log = log
        self._out: IO[bytes] = log.open("ab")
        self.proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if on_line else self._out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            process_group=0,  # Ctrl-C reaches the demo only; it stops children in order
            preexec_fn=_child_setup,  # only prctl(2) between fork and exec
        )
        self._reader: threading.Thread | None = None
        if on_line is not None:
            self._reader = threading.Thread(
                target=self._read, args=(on_line,), name=f"demo-{name}", daemon=True
            )
            self._reader.start()

    def _read(self, on_line: Callable[[str], None]) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self._out.write(raw)
            self._out.flush()
            on_line(raw.decode(errors="replace").rstrip("\n"))

    @property
    def pid(self) -> int:
        return self.proc.pid

    def running(self) -> bool:
        return self.proc.poll() is None

    def tail(self, n: int = 5) -> str:
        try:
            lines = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return " | ".join(lines[-n:])

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        if self._reader is not None:
            self._reader.join(timeout=5)
        self._out.close()
        return self.proc.returncode
