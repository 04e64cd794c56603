"""The daemon's own conditions (capture down, state disk nearly full, config reload failed)
as alerts: one when a condition begins, a resolution when it ends."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from sentinel.model import Alert, Severity

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

DISK_LOW_BYTES = 100 << 20  # or under 2 % of the file system


class Conditions:
    """Tracks which conditions hold, and hands their alerts to ``submit``."""

    def __init__(self, submit: Callable[[Alert], None], site: Callable[[], str]) -> None:
        self._submit = submit
        self._site = site
        self._since: dict[str, float] = {}

    def set(self, name: str, problem: str | None, severity: Severity) -> None:
        """Condition ``name`` holds (``problem`` says how) or, with None, no longer holds."""
        now = time.time()
        start = self._since.get(name)
        if problem is not None:
            self._since.setdefault(name, now)
            self._submit(
                Alert(
                    f"sentinel_{name}",
                    severity,
                    "self",
                    problem,
                    start or now,
                    now,
                    target=self._site(),
                )
            )
        elif start is not None:
            self.cleared(name, severity)

    def cleared(self, name: str, severity: Severity) -> None:
        """Condition ``name`` does not hold, whatever an earlier run left active in the
        outbox (the router ignores the resolution of an alert that is not active)."""
        now = time.time()
        start = self._since.pop(name, now)
        self._submit(
            Alert(
                f"sentinel_{name}",
                severity,
                "self",
                f"{name} ended",
                start,
                now,
                target=self._site(),
                resolved=now,
            )
        )

    def task_changed(self, task: str, error: BaseException | None) -> None:
        """A supervised task failed (``error``) or recovered (None)."""
        if task == "capture":
            text = f"LAN capture is down: {error}" if error is not None else None
            self.set("capture_down", text, Severity.CRITICAL)

    def check_disk(self, state_dir: Path) -> None:
        """The state directory (outbox, evidence, counters) running out of space."""
        try:
            st = os.statvfs(state_dir)
        except OSError:
            return
        free = st.f_bavail * st.f_frsize
        low = free < DISK_LOW_BYTES or st.f_bavail < st.f_blocks * 0.02
        problem = f"state directory {state_dir} has {free // (1 << 20)} MiB free"
        self.set("disk_full", problem if low else None, Severity.WARNING)
