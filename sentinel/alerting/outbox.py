"""The persistent outbox: every alert event once per sink, until that sink has it.

Why SQLite (standard library) rather than a JSON-lines append log: delivery state changes
per entry and per sink (attempts, next retry, done), eviction picks the lowest severity
first, and the active set must be looked up by key. An append log would need its own
compaction, index and torn-write recovery; SQLite's write-ahead log gives atomic commits
that survive SIGKILL of the daemon (a commit is in the WAL file, in the OS page cache,
before ``commit()`` returns). ``synchronous=NORMAL`` skips the fsync per commit, so a
submit costs well under a millisecond and never waits for the disk; the price is that a
power cut can lose the last commits since the last checkpoint, never corrupt the file.

Tables: ``outbox`` (one row per event per sink), ``active`` (firing alerts by key, so
re-sends and dedupe survive a restart) and ``threads`` (the first mail's Message-ID of
each alert, by a hash of its key, so its later mails still reply to it after a restart;
``alerting.threads``). Access is from the event loop thread only.

A write the state directory refuses (full, read-only, I/O error) does not lose the event:
the outbox is copied into memory (SQLite's backup API, ids and retry state included) and
carries on there, for at most ``MEMORY_EXTRA`` events beyond what it held (then lowest
severity first, counted by the router as ``memory_full``). ``restore`` copies it back in
one transaction once the directory takes writes again, so a restart after that keeps
every event; event ids (and so webhook ids and mail Message-IDs) are the same throughout.
A SIGKILL while the outbox is in memory loses what happened since: the events raised
meanwhile, and the delivery of older ones (sent again after the restart).
"""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from sentinel import logsetup
from sentinel.alerting import codec
from sentinel.alerting.sink import Event

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from pathlib import Path

    from sentinel.model import Alert

log = logsetup.get(__name__)
T = TypeVar("T")

FILE = "alerts.sqlite3"
MEMORY_EXTRA = 1000  # events an outbox held in memory takes beyond what it held on disk

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
CREATE TABLE IF NOT EXISTS threads (
    key TEXT PRIMARY KEY,
    message_id TEXT NOT NULL
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
        self.path = path
        self.max_entries = max_entries
        self._db = sqlite3.connect(":memory:" if path is None else str(path), isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._disk = self._db if path is not None else None
        self._memory_limit: int | None = None  # events allowed while held in memory

    def resize(self, max_entries: int) -> None:
        """A new bound (a reload); applies from the next event on."""
        self.max_entries = max_entries

    @property
    def _limit(self) -> int:
        if self._memory_limit is None:
            return self.max_entries
        return min(self.max_entries, self._memory_limit)

    @property
    def on_disk(self) -> bool:
        """Whether writes go to the file (false: held in memory, or opened without one)."""
        return self._disk is not None and self._db is self._disk

    def close(self) -> None:
        if self._disk is not None and self._db is not self._disk:
            self._disk.close()
        self._db.close()

    def restore(self) -> int | None:
        """Write an outbox held in memory back to its file, in one transaction.

        Returns the events now on disk, or ``None`` if the outbox is not in memory or the
        file still refuses the write (nothing changes then).
        """
        if self._disk is None or self._db is self._disk:
            return None
        try:
            self._db.backup(self._disk)
        except sqlite3.Error as exc:
            log.debug("alert outbox still not writable", file=self.path, error=exc)
            return None
        self._db.close()
        self._db = self._disk
        self._memory_limit = None
        (count,) = self._db.execute("SELECT count(*) FROM outbox").fetchone()
        log.info("alert outbox written to the state directory again", file=self.path, events=count)
        return int(count)

    def put(self, alert: Alert, sinks: Iterable[str], now: float, at: float | None = None) -> int:
        """Queue ``alert`` for each of ``sinks``, due at ``at`` (default ``now``); returns
        how many entries were evicted."""
        data = codec.dumps(alert)
        due = now if at is None else at
        rows = [(sink, alert.severity.rank, now, due, data) for sink in sinks]

        def insert(db: sqlite3.Connection) -> int:
            db.executemany(
                "INSERT INTO outbox (sink, rank, created, next_at, alert) VALUES (?,?,?,?,?)", rows
            )
            (count,) = db.execute("SELECT count(*) FROM outbox").fetchone()
            excess = int(count) - self._limit
            if excess > 0:
                # Lowest severity first, oldest first within a severity.
                db.execute(
                    "DELETE FROM outbox WHERE id IN "
                    "(SELECT id FROM outbox ORDER BY rank, id LIMIT ?)",
                    (excess,),
                )
            return max(0, excess)

        return self._write(insert)

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
        self._write(
            lambda db: db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])
        )

    def retry(self, ids: Sequence[int], next_at: float) -> None:
        """Delivery of ``ids`` failed: try again at ``next_at``."""
        self._write(
            lambda db: db.executemany(
                "UPDATE outbox SET attempts = attempts + 1, next_at = ? WHERE id = ?",
                [(next_at, i) for i in ids],
            )
        )

    def expire(self, before: float) -> int:
        """Drop events created before ``before``; returns how many."""
        return self._write(
            lambda db: db.execute("DELETE FROM outbox WHERE created < ?", (before,)).rowcount
        )

    def forget_sinks(self, keep: Iterable[str]) -> int:
        """Drop events for sinks no longer configured; returns how many."""
        names = list(keep)
        marks = ",".join("?" * len(names))
        sql = f"DELETE FROM outbox WHERE sink NOT IN ({marks})"  # noqa: S608 (only '?' marks)
        return self._write(lambda db: db.execute(sql, names).rowcount)

    def counts(self) -> dict[str, int]:
        """Events waiting, per sink."""
        return dict(self._db.execute("SELECT sink, count(*) FROM outbox GROUP BY sink").fetchall())

    def activate(self, alert: Alert) -> None:
        """Record ``alert`` as active (or refresh its stored copy)."""
        row = (alert.detector, alert.identifier, codec.dumps(alert))
        self._write(
            lambda db: db.execute(
                "INSERT OR REPLACE INTO active (detector, identifier, alert) VALUES (?,?,?)", row
            )
        )

    def deactivate(self, key: tuple[str, str]) -> None:
        self._write(
            lambda db: db.execute("DELETE FROM active WHERE detector = ? AND identifier = ?", key)
        )

    def active(self) -> list[Alert]:
        """Every active alert, as last stored."""
        rows = self._db.execute("SELECT alert FROM active ORDER BY rowid").fetchall()
        return [codec.loads(a) for (a,) in rows]

    def threads(self) -> list[tuple[str, str]]:
        """Every mail thread (hashed key, first Message-ID), oldest started first."""
        rows = self._db.execute("SELECT key, message_id FROM threads ORDER BY rowid").fetchall()
        return [(str(k), str(m)) for k, m in rows]

    def save_threads(
        self, started: Sequence[tuple[str, str]], ended: Sequence[str], cap: int
    ) -> None:
        """Add the threads ``started``, drop those ``ended``, keep the newest ``cap``."""

        def save(db: sqlite3.Connection) -> None:
            db.executemany("DELETE FROM threads WHERE key = ?", [(k,) for k in ended])
            # REPLACE gives the row a new rowid: a restarted thread counts as the newest.
            db.executemany("INSERT OR REPLACE INTO threads (key, message_id) VALUES (?,?)", started)
            db.execute(
                "DELETE FROM threads WHERE rowid NOT IN "
                "(SELECT rowid FROM threads ORDER BY rowid DESC LIMIT ?)",
                (cap,),
            )

        self._write(save)

    def _write(self, body: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``body`` in one transaction; if the file refuses it, in memory instead."""
        try:
            return _transaction(self._db, body)
        except sqlite3.OperationalError as exc:
            if self._disk is None or self._db is not self._disk:
                raise
            self._to_memory(exc)
        return _transaction(self._db, body)

    def _to_memory(self, error: Exception) -> None:
        disk = self._db
        memory = sqlite3.connect(":memory:", isolation_level=None)
        disk.backup(memory)  # a read of the file: works on a full or read-only disk
        self._db = memory
        (count,) = memory.execute("SELECT count(*) FROM outbox").fetchone()
        self._memory_limit = int(count) + MEMORY_EXTRA
        log.error(
            "cannot write the alert outbox, keeping it in memory until the state directory "
            "takes writes again",
            file=self.path,
            error=error,
            events=count,
            limit=self._limit,
        )


def _transaction(db: sqlite3.Connection, body: Callable[[sqlite3.Connection], T]) -> T:
    # Autocommit mode (isolation_level=None): transactions are explicit and short. A
    # COMMIT that fails (the disk filled up) leaves the transaction open: roll it back.
    db.execute("BEGIN IMMEDIATE")
    try:
        result = body(db)
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
        raise
    return result
