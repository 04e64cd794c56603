"""Mail threads: the first Message-ID of each alert, so that its later mails reply to it.

An alert's mails are its first notification, its escalation (a warning become critical)
and its end. Each later one carries ``In-Reply-To`` and ``References`` naming the first,
so mail clients that thread by these headers (Thunderbird, mutt) show them as one
conversation; Gmail and Outlook also group by subject, which changes with severity.
What ties them is the key the router tells alerts apart by: ``Alert.lead``, the
alert's own (detector, identifier), or its incident's first alert's when it joined one
(the router treats an incident as one alert: an escalation out of it names the
incident's severity). A thread
ends with the end of its own alert; the next alert under that key starts a new one.

The table holds no device identifiers: a thread's key is a hash of the site and the
alert's key, its value the first mail's Message-ID (which carries only the outbox entry).
It keeps at most ``MAX_THREADS`` threads, the oldest started evicted first: a later mail
of an evicted thread starts a thread of its own. The router stores the table in its
outbox (``Store``), so queued follow-ups still reply to their first mail after a restart
or a reload.

A thread starts only once its first mail has been delivered, so a mail never replies to
one that did not arrive (a warning dropped undelivered because its escalation superseded
it): ``plan`` says what a batch would do, ``commit`` applies what was delivered.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from sentinel import logsetup

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sentinel.model import Alert

log = logsetup.get(__name__)

MAX_THREADS = 1000  # threads remembered; a mail a day per alert for weeks at a busy site


class Store(Protocol):
    """Where the table outlives the process (``Outbox``)."""

    def threads(self) -> list[tuple[str, str]]:
        """Every (key, first Message-ID), oldest started first."""
        ...

    def save_threads(
        self, started: Sequence[tuple[str, str]], ended: Sequence[str], cap: int
    ) -> None:
        """Add ``started``, drop ``ended``, keep only the newest ``cap``."""
        ...


def thread_key(alert: Alert, site: str) -> str:
    """The key of the thread ``alert``'s mails belong to: no identifier in clear text."""
    detector, identifier = alert.lead
    data = f"{site}\0{detector}\0{identifier}".encode()
    return hashlib.sha256(data).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Step:
    """One mail of a batch: its thread, and the first Message-ID it replies to (if any)."""

    key: str
    message_id: str
    parent: str | None  # the thread's first mail; None: this one starts it or stands alone
    starts: bool  # this mail is the thread's first
    ends: bool  # this mail is the end of the thread's own alert


class Threads:
    """The bounded table of first Message-IDs, in memory, saved to a ``Store`` if given."""

    def __init__(self, cap: int = MAX_THREADS) -> None:
        self.cap = cap
        self._first: OrderedDict[str, str] = OrderedDict()
        self._store: Store | None = None

    def __len__(self) -> int:
        return len(self._first)

    def attach(self, store: Store) -> None:
        """Go on from the table ``store`` keeps (after a restart or a reload), and save to it."""
        try:
            kept = store.threads()
        except Exception as exc:  # a damaged table must not stop the mail
            log.error("cannot read the mail threads, starting afresh", error=exc)
            kept = []
        self._store = store
        self._first = OrderedDict(kept[-self.cap :] if self.cap > 0 else ())

    def first(self, key: str) -> str | None:
        """The Message-ID the thread ``key`` started with, if it is remembered."""
        return self._first.get(key)

    def plan(self, mails: Sequence[tuple[str, str, bool]]) -> list[Step]:
        """For (key, Message-ID, ends) of each mail in sending order: what each replies to,
        if all were delivered. Changes nothing."""
        ahead: dict[str, str | None] = {}  # what earlier mails of the batch did
        steps = []
        for key, message_id, ends in mails:
            parent = ahead[key] if key in ahead else self._first.get(key)
            starts = parent is None and not ends
            steps.append(Step(key, message_id, parent, starts, ends))
            if ends:
                ahead[key] = None
            elif starts:
                ahead[key] = message_id
        return steps

    def commit(self, steps: Sequence[Step]) -> None:
        """These mails were delivered (a prefix of a plan, in order): start and end threads."""
        touched: dict[str, str | None] = {}
        for step in steps:
            if step.ends:
                self._first.pop(step.key, None)
                touched[step.key] = None
            elif step.starts:
                self._first[step.key] = step.message_id
                self._first.move_to_end(step.key)
                touched[step.key] = step.message_id
        while len(self._first) > self.cap:
            self._first.popitem(last=False)
        if self._store is not None and touched:
            started = [(k, v) for k, v in touched.items() if v is not None]
            ended = [k for k, v in touched.items() if v is None]
            try:
                self._store.save_threads(started, ended, self.cap)
            except Exception as exc:  # the mails went out: never make them look undelivered
                log.error("cannot save the mail threads, kept in memory", error=exc)
