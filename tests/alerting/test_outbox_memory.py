"""The outbox when its file refuses writes: held in memory with the same ids, bounded,
and written back whole once the file takes writes again."""

from __future__ import annotations

import dataclasses
import sqlite3
from typing import TYPE_CHECKING

import pytest

from sentinel.alerting import outbox as outbox_mod
from sentinel.alerting.outbox import FILE, Outbox
from sentinel.alerting.router import Router
from sentinel.config.alerting import AlertingConfig, OutboxConfig, RateLimitConfig
from sentinel.model import Severity
from tests.alerting.conftest import make_alert
from tests.alerting.test_units import Clock, FakeSink, router

if TYPE_CHECKING:
    from pathlib import Path

    from sentinel.model import Alert


def big(identifier: str, severity: Severity = Severity.WARNING) -> Alert:
    """An alert too large for the free space of the pages the file already has."""
    return dataclasses.replace(make_alert(identifier, severity=severity), summary="s" * 20_000)


def fill(box: Outbox) -> sqlite3.Connection:
    """Make the outbox's file full: SQLite refuses to grow it (SQLITE_FULL), as on a full
    disk. Returns the file's connection, to give the space back."""
    disk = box._disk  # the test's own handle on the file, to mimic the disk filling up
    assert disk is not None
    (pages,) = disk.execute("PRAGMA page_count").fetchone()
    disk.execute(f"PRAGMA max_page_count={pages}")
    return disk


def ids(box: Outbox, sink: str = "s") -> list[tuple[int, str, float]]:
    return [(p.event.id, p.event.alert.identifier, p.event.created) for p in box.due(sink, 1e9, 99)]


def test_full_file_keeps_events_in_memory_and_writes_them_back(tmp_path: Path) -> None:
    """Events put while the file is full are kept (and delivered, retried) in memory under
    fresh ids; the file is unchanged meanwhile; restore writes everything back in one go,
    and a reopened outbox has exactly the memory state, ids and active set included."""
    path = tmp_path / FILE
    box = Outbox(path, max_entries=100)
    box.put(big("before"), ["s"], 1.0)
    disk = fill(box)
    with pytest.raises(sqlite3.OperationalError, match="full"):  # the fault is real
        disk.execute("INSERT INTO active VALUES ('x', 'y', ?)", ("z" * 20_000,))
    assert box.on_disk
    during = big("during")
    box.put(during, ["s"], 2.0)
    box.activate(during)
    assert not box.on_disk
    assert ids(box) == [(1, "before", 1.0), (2, "during", 2.0)]
    box.done([1])
    box.retry([2], 50.0)
    assert box.restore() is None  # still full: nothing changes
    reader = Outbox(path, max_entries=100)
    assert [i for i, _, _ in ids(reader)] == [1]  # the file as it was before
    assert reader.active() == []
    reader.close()
    disk.execute("PRAGMA max_page_count=1073741823")  # space returns
    assert box.restore() == 1
    assert box.on_disk
    box.put(make_alert("after"), ["s"], 3.0)
    box.close()
    again = Outbox(path, max_entries=100)
    assert ids(again) == [(2, "during", 2.0), (3, "after", 3.0)]
    [p] = again.due("s", 50.0, 1)
    assert (p.event.alert, p.attempts) == (during, 1)
    assert [p.event.id for p in again.due("s", 49.0, 9)] == [3]  # 2 waits for its retry
    assert again.active() == [during]
    again.close()


def test_memory_is_bounded_lowest_severity_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In memory the outbox holds what it had plus MEMORY_EXTRA events; beyond that the
    lowest severity goes first, and ``put`` says how many it dropped."""
    monkeypatch.setattr(outbox_mod, "MEMORY_EXTRA", 2)
    box = Outbox(tmp_path / FILE, max_entries=100)
    box.put(big("c0", Severity.CRITICAL), ["s"], 1.0)
    fill(box)
    assert box.put(big("i1", Severity.INFO), ["s"], 2.0) == 0
    assert not box.on_disk
    assert box.put(big("w2"), ["s"], 3.0) == 0
    assert box.put(big("c3", Severity.CRITICAL), ["s"], 4.0) == 1
    assert [name for _, name, _ in ids(box)] == ["c0", "w2", "c3"]
    box.close()


async def test_router_delivers_from_memory_counts_the_overflow_and_writes_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the router: alerts submitted while the file is full are delivered under
    the ids they are written back with; past the memory bound they are counted as
    ``memory_full``; closing writes the rest back, and ``on_disk`` shows the state."""
    monkeypatch.setattr(outbox_mod, "MEMORY_EXTRA", 2)
    sink = FakeSink()
    clock = Clock()
    r = router(tmp_path, clock, sink, rate_limit=RateLimitConfig(per_detector=100, per_site=100))
    disk = fill(r.outbox)
    n = 0
    while r.outbox.on_disk:  # until the pages the file has are full
        n += 1
        assert n < 100
        r.submit(big(f"a{n}"))
    for name in ("x", "y", "z"):  # a{n} and x within MEMORY_EXTRA, y and z beyond it
        r.submit(big(name))
    st = r.stats()
    assert (st.on_disk, st.dropped) == (False, {"memory_full": 2})
    assert st.active == n + 3
    while await r.deliver_once(sink):
        pass
    sent = [e.id for e in sink.sent]
    assert len(sent) == len(set(sent)) == n + 3 - 2
    names = [*(f"a{i}" for i in range(1, n + 1)), "x", "y", "z"]
    assert [e.alert.identifier for e in sink.sent] == names[2:]  # the two oldest went
    r.submit(big("d"))  # waits, undelivered
    disk.execute("PRAGMA max_page_count=1073741823")  # space returns
    await r.close()
    again = Outbox(tmp_path / FILE, max_entries=100)
    [left] = again.due("fake", 1e12, 9)
    assert (left.event.alert.identifier, left.event.id > max(sent)) == ("d", True)
    assert len(again.active()) == n + 4
    again.close()


async def test_reload_hands_an_outbox_held_in_memory_to_the_new_router(tmp_path: Path) -> None:
    """A changed alerting section builds a new router on the old one's outbox: what it
    held in memory (the file full) is still there, under the same ids, and still not on
    disk; the new bound applies."""
    sink = FakeSink()
    old = router(
        tmp_path, Clock(), sink, rate_limit=RateLimitConfig(per_detector=100, per_site=100)
    )
    fill(old.outbox)
    n = 0
    while old.outbox.on_disk:
        n += 1
        assert n < 100
        old.submit(big(f"a{n}"))
    before = [(p.event.id, p.event.alert.identifier) for p in old.outbox.due("fake", 1e12, 999)]
    await old.close(keep_outbox=True)
    new = Router(
        AlertingConfig(outbox=OutboxConfig(max_entries=500)),
        "site-a",
        tmp_path,
        sinks=[sink],
        outbox=old.outbox,
    )
    assert not new.stats().on_disk
    assert new.stats().active == n
    assert [(p.event.id, p.event.alert.identifier) for p in new.outbox.due("fake", 1e12, 999)] == (
        before
    )
    assert new.outbox.max_entries == 500
    await new.close()
