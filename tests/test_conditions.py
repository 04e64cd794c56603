"""The daemon's own conditions: an alert when one begins, a resolution when it ends."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sentinel import conditions
from sentinel.conditions import Conditions
from sentinel.model import Alert, Severity

if TYPE_CHECKING:
    from pathlib import Path

    import pytest


def test_begin_and_end() -> None:
    """A condition alerts while it holds and resolves once when it ends; ending twice is quiet."""
    sent: list[Alert] = []
    c = Conditions(sent.append, lambda: "bs-test")
    c.set("capture_down", "LAN capture is down: no CAP_NET_RAW", Severity.CRITICAL)
    c.set("capture_down", None, Severity.CRITICAL)
    c.set("capture_down", None, Severity.CRITICAL)
    assert [(a.detector, a.resolved is None) for a in sent] == [
        ("sentinel_capture_down", True),
        ("sentinel_capture_down", False),
    ]
    assert sent[0].target == "bs-test"
    assert sent[1].first_seen == sent[0].first_seen


def test_capture_task_failure_is_a_condition() -> None:
    """Only the capture task's failures and recoveries are conditions."""
    sent: list[Alert] = []
    c = Conditions(sent.append, lambda: "bs-test")
    c.task_changed("local", RuntimeError("x"))
    c.task_changed("capture", RuntimeError("ring"))
    c.task_changed("capture", None)
    assert [a.resolved is None for a in sent] == [True, False]
    assert "ring" in sent[0].summary


def test_disk_nearly_full(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Less free space than the floor raises disk_full; enough space resolves it."""
    sent: list[Alert] = []
    c = Conditions(sent.append, lambda: "bs-test")
    monkeypatch.setattr(conditions, "DISK_LOW_BYTES", 1 << 62)
    c.check_disk(tmp_path)
    monkeypatch.setattr(conditions, "DISK_LOW_BYTES", 0)
    c.check_disk(tmp_path)
    assert [(a.detector, a.resolved is None) for a in sent] == [
        ("sentinel_disk_full", True),
        ("sentinel_disk_full", False),
    ]
