"""What ``sentinel analyze`` shows on a terminal: a progress line on long runs (packets,
rate, time left) and a summary table at the end."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, TextIO

from sentinel.capture.pcapfile import linktype_name

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sentinel.capture.offline import Analysis

SHOW_AFTER = 1.0  # seconds: short runs print no progress at all
EVERY = 0.5


class Progress:
    """A line on a terminal, redrawn at most every ``EVERY`` seconds."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.next = time.monotonic() + SHOW_AFTER
        self.shown = False

    def __call__(self, a: Analysis) -> None:
        now = time.monotonic()
        if now < self.next:
            return
        self.next = now + EVERY
        self.shown = True
        self.out.write("\r\033[K" + line(a, now))
        self.out.flush()

    def clear(self) -> None:
        if self.shown:
            self.out.write("\r\033[K")
            self.out.flush()


def line(a: Analysis, now: float) -> str:
    elapsed = max(now - a.started, 1e-9)
    packets = a.packets
    text = f"{packets:,} packets  {packets / elapsed:,.0f}/s"
    current = next((i for i, r in enumerate(a.reports) if not r.done), len(a.reports) - 1)
    if len(a.reports) > 1:
        text = f"file {current + 1}/{len(a.reports)}  " + text
    done = sum(r.bytes for r in a.reports)
    sizes = [r.size or _size(r.name) for r in a.reports]
    total = sum(sizes)
    if all(sizes) and total and done:
        left = elapsed * (total - done) / done
        text += f"  {min(done / total, 1.0):.0%}  {_clock(left)} left"
    return text


def _size(name: str) -> int:
    if name == "-":
        return 0
    try:
        import os

        return os.stat(name).st_size
    except OSError:
        return 0


def _clock(seconds: float) -> str:
    s = max(0, int(seconds + 0.5))
    return f"{s // 3600}:{s // 60 % 60:02}:{s % 60:02}"


def summary(a: Analysis, now: float | None = None) -> str:
    """The table printed at the end: each file, then the alerts by detector."""
    elapsed = max((now or time.monotonic()) - a.started, 1e-9)
    rows = [("file", "packets", "link type", "status")]
    for r in a.reports:
        kinds = ", ".join(linktype_name(lt) for lt in dict.fromkeys(r.linktypes)) or "-"
        rows.append((r.name, f"{r.packets:,}", kinds, r.status()))
    packets = a.packets
    rows.append(("total", f"{packets:,}", "", ""))
    out = _table(rows) + f"{elapsed:.1f} s, {packets / elapsed:,.0f} packets/s\n"
    alerts = [("detector", "alerts")] + [(d, f"{n:,}") for d, n in sorted(a.alerts.items())]
    out += "\n" + (_table(alerts) if a.alerts else "no alerts\n")
    malformed = a.pipeline.snapshot().malformed
    if malformed:
        out += "malformed frames: " + ", ".join(f"{k} {v:,}" for k, v in sorted(malformed.items()))
        out += "\n"
    return out


def _table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [
            c.rjust(w) if c[:1].isdigit() else c.ljust(w) for c, w in zip(row, widths, strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"
