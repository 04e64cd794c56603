"""The persistent outbox: every alert event once per sink, until that sink has it.

Why SQLite (standard library) rather than a JSON-lines append log: delivery state changes
per entry and per sink (attempts, next retry, done), eviction picks the lowest severity
first, and the active set must be looked up by key. An append log would need its own
compaction, index and torn-write recovery; SQLite's write-ahead log gives atomic commits
that survive SIGKILL of the daemon (a commit is in the WAL file, in the OS page cache,
before ``commit()`` returns). ``synchronous=NORMAL`` skips the fsync per commit, so a
submit costs well under a millisecond and never waits for the disk; the price is that a
power cut can lose the last commits since the last checkpoint, never corrupt the file.

Tables: ``outbox`` (one row per event per sink) and ``active`` (firing alerts by key, so
re-sends and dedupe survive a restart). Access is from the event loop thread only.
"""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sentinel.alerting import codec
from sentinel.alerting.sink import Event

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence
    from pathlib import Path

    from sentinel.model import Alert

FILE = "alerts.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sink TEXT NOT NULL,
    rank INTEGER NOT NULL,
    created REAL NOT NULL,
    next_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    alert TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (sink, next_at);
CREATE INDEX IF NOT EXISTS outbox_evict ON outbox (rank, id);
CREATE TABLE IF NOT EXISTS active (
    detector TEXT NOT NULL,
    identifier TEXT NOT NULL,
    alert TEXT NOT NULL,
    PRIMARY KEY (detector, identifier)
);
"""


@dataclass(frozen=True, slots=True)
class Pending:
    """An event waiting for one sink, with its retry state."""

    event: Event
    attempts: int


class Outbox:
    """SQLite-backed queue of events per sink plus the set of active alerts."""

    def __init__(self, path: Path | None, max_entries: int) -> None:
        """Open (or create) the outbox at ``path``; ``None`` keeps it in memory (tests)."""
        self.max_entries = max_entries
        self._db = sqlite3.connect(":memory:" if path is None else str(path), isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def put(self, alert: Alert, sinks: Iterable[str], now: float) -> int:
        """Queue ``alert`` for each of ``sinks``; returns how many entries were evicted."""
        data = codec.dumps(alert)
        rows = [(sink, alert.severity.rank, now, now, data) for sink in sinks]
        with self._tx():
            self._db.executemany(
                "INSERT INTO outbox (sink, rank, created, next_at, alert) VALUES (?,?,?,?,?)", rows
            )
            (count,) = self._db.execute("SELECT count(*) FROM outbox").fetchone()
            excess = int(count) - self.max_entries
            if excess > 0:
                # Lowest severity first, oldest first within a severity.
                self._db.execute(
                    "DELETE FROM outbox WHERE id IN "
                    "(SELECT id FROM outbox ORDER BY rank, id LIMIT ?)",
                    (excess,),
                )
        return max(0, excess)

    def due(self, sink: str, now: float, limit: int) -> list[Pending]:
        """Up to ``limit`` events for ``sink`` whose retry time has come, oldest first."""
        rows = self._db.execute(
            "SELECT id, created, attempts, alert FROM outbox WHERE sink = ? AND next_at <= ? "
            "ORDER BY id LIMIT ?",
            (sink, now, limit),
        ).fetchall()
        return [Pending(Event(i, codec.loads(a), c), n) for i, c, n, a in rows]

    def next_due(self, sink: str) -> float | None:
        """When the next event for ``sink`` is due (unix time), or ``None`` if none waits."""
        (at,) = self._db.execute(
            "SELECT min(next_at) FROM outbox WHERE sink = ?", (sink,)
        ).fetchone()
        return None if at is None else float(at)

    def done(self, ids: Sequence[int]) -> None:
        """The events ``ids`` were delivered."""
        with self._tx():
            self._db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])

    def retry(self, ids: Sequence[int], next_at: float) -> None:
        """Delivery of ``ids`` failed: try again at ``next_at``."""
        with self._tx():
            self._db.executemany(
                "UPDATE outbox SET attempts = attempts + 1, next_at = ? WHERE id = ?",
                [(next_at, i) for i in ids],
            )

    def expire(self, before: float) -> int:
        """Drop events created before ``before``; returns how many."""
        with self._tx():
            cur = self._db.execute("DELETE FROM outbox WHERE created < ?", (before,))
        return int(cur.rowcount)

    def forget_sinks(self, keep: Iterable[str]) -> int:
        """Drop events for sinks no longer configured; returns how many."""
        names = list(keep)
        marks = ",".join("?" * len(names))
        with self._tx():
            sql = f"DELETE FROM outbox WHERE sink NOT IN ({marks})"  # noqa: S608 (only '?' marks)
            cur = self._db.execute(sql, names)
        return int(cur.rowcount)

    def counts(self) -> dict[str, int]:
        """Events waiting, per sink."""
        return dict(self._db.execute("SELECT sink, count(*) FROM outbox GROUP BY sink").fetchall())

    def activate(self, alert: Alert) -> None:
        """Record ``alert`` as active (or refresh its stored copy)."""
        with self._tx():
            self._db.execute(
                "INSERT OR REPLACE INTO active (detector, identifier, alert) VALUES (?,?,?)",
                (alert.detector, alert.identifier, codec.dumps(alert)),
            )

    def deactivate(self, key: tuple[str, str]) -> None:
        with self._tx():
            self._db.execute("DELETE FROM active WHERE detector = ? AND identifier = ?", key)

    def active(self) -> list[Alert]:
        """Every active alert, as last stored."""
        rows = self._db.execute("SELECT alert FROM active ORDER BY rowid").fetchall()
        return [codec.loads(a) for (a,) in rows]

    @contextlib.contextmanager
    def _tx(self) -> Iterator[None]:
        # Autocommit mode (isolation_level=None): transactions are explicit and short.
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
