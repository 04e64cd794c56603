"""The ``l2`` section: layer-2 reads of the switches and the device census."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class L2Config:
    """Neighbours, forwarding tables and PoE of every switch; the site's device census."""

    enabled: bool = True
    students: int | None = None  # enrolled students, for devices-per-student on dashboards
    max_devices: int = 50_000  # census cap (keyed hashes); the oldest go first

    def validate(self) -> list[tuple[str, str]]:
        issues = []
        if self.students is not None and not 0 <= self.students <= 1_000_000:
            issues.append(("students", "must be between 0 and 1000000"))
        if not 100 <= self.max_devices <= 1_000_000:
            issues.append(("max_devices", "must be between 100 and 1000000"))
        return issues
