"""Sliding-window limits on new alerts: per detector and for the whole site."""

from __future__ import annotations

from collections import deque


class Window:
    """At most ``limit`` events in any ``window`` seconds; memory is bounded by ``limit``."""

    __slots__ = ("_times", "limit", "window")

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._times: deque[float] = deque(maxlen=limit)

    def full(self, now: float) -> bool:
        while self._times and self._times[0] <= now - self.window:
            self._times.popleft()
        return len(self._times) >= self.limit

    def add(self, now: float) -> None:
        self._times.append(now)


class RateLimiter:
    """``allow(detector, now)`` is true, and counts, when neither limit is reached."""

    MAX_DETECTORS = 256  # detector ids are a fixed set; this bounds a bug, not an attacker

    def __init__(self, per_detector: int, per_site: int, window: float) -> None:
        self.per_detector = per_detector
        self.window = window
        self._site = Window(per_site, window)
        self._detectors: dict[str, Window] = {}

    def allow(self, detector: str, now: float) -> bool:
        w = self._detectors.get(detector)
        if w is None:
            if len(self._detectors) >= self.MAX_DETECTORS:
                self._detectors.clear()
            w = self._detectors[detector] = Window(self.per_detector, self.window)
        if w.full(now) or self._site.full(now):
            return False
        w.add(now)
        self._site.add(now)
        return True
