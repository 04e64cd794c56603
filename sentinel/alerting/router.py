"""The alert router: submit → clean → dedupe → rate limit → outbox → every sink, at least once.

``submit`` is synchronous and cheap (one SQLite commit without fsync, see ``outbox``), and
never raises, so the detection side can call it from the event loop at any time. Delivery
runs in ``run``: one loop per sink (a slow mail server does not hold up Alertmanager), a
re-send loop for sinks that want active alerts again (Alertmanager), and housekeeping
(expiry, auto-resolve). Failed deliveries back off exponentially with jitter per entry.

Dedupe keeps one notification per alert, except for news: a repeat more severe than
the active alert (an escalation) is queued at once, and supersedes its lower form if
that is still waiting (held for its incident, or retried); a less severe repeat keeps
the active alert's severity and texts. An escalation names the severity the admin was
told before (``Alert.escalated_from``): the most severe form of the alert (or, for a
finding folded into an incident, of its incident) handed to a sink so far; none when the
lower form was never sent (it was still held for its incident), so the admin is never
pointed at a warning that did not arrive.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import random
import sqlite3
import time
from collections import Counter
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from sentinel import logsetup
from sentinel.alerting import build
from sentinel.alerting.clean import clean
from sentinel.alerting.outbox import FILE, Outbox
from sentinel.alerting.ratelimit import RateLimiter
from sentinel.alerting.sink import SinkError
from sentinel.model import AlertingStats
from sentinel.supervise import Backoff

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from sentinel.alerting.sink import Event, Sink
    from sentinel.config.alerting import AlertingConfig
    from sentinel.model import Alert, Severity
    from sentinel.supervise import Health

log = logsetup.get(__name__)

IDLE_MAX = 5.0  # seconds a delivery loop sleeps at most before looking at the outbox again
RESTORE_EVERY = 5.0  # seconds between attempts to write an outbox held in memory back
HOUSEKEEPING = 30.0  # seconds between expiry / auto-resolve passes
SEND_GUARD = 600.0  # outer deadline on one send, beyond each sink's own timeouts
MAX_MEMBERS = 10000  # findings folded into incidents; beyond, each is notified on its own


@runtime_checkable
class Keeper(Protocol):
    """A sink that keeps state of its own in the outbox (the e-mail sink's threads)."""

    def attach(self, store: Outbox) -> None: ...


@runtime_checkable
class Refresher(Protocol):
    """A sink that wants the active alerts again every ``resend`` seconds."""

    resend: float

    async def refresh(self, alerts: Sequence[Alert]) -> None: ...


class Router:
    """Owns the outbox and the sinks; ``run`` is the loop the daemon supervises."""

    def __init__(
        self,
        config: AlertingConfig,
        site: str,
        state_dir: Path | None,
        *,
        sinks: Sequence[Sink] | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        outbox: Outbox | None = None,
    ) -> None:
        """Open the outbox in ``state_dir`` (``None``: in memory, lost at exit), or go on
        with ``outbox``, a previous router's (a reload)."""
        self.config = config
        self.site = site
        self.sinks = list(sinks) if sinks is not None else build.sinks(config, site)
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 (jitter, not cryptography)
        self._backoff = Backoff(config.outbox.retry_initial, config.outbox.retry_max)
        path = state_dir / FILE if state_dir is not None else None
        if outbox is not None:
            self.outbox = outbox
            outbox.resize(config.outbox.max_entries)
        else:
            self.outbox = self._open(path, config.outbox.max_entries)
        self._next_restore = 0.0  # monotonic
        for sink in self.sinks:
            if isinstance(sink, Keeper):
                sink.attach(self.outbox)
        self._limiter = RateLimiter(
            config.rate_limit.per_detector, config.rate_limit.per_site, config.rate_limit.window
        )
        self._wake = {s.name: asyncio.Event() for s in self.sinks}
        self._received = 0
        self._suppressed = 0
        self._delivered: Counter[str] = Counter()
        self._failures: Counter[str] = Counter()
        self._dropped: Counter[str] = Counter()
        self._up = {s.name: True for s in self.sinks}
        removed = self.outbox.forget_sinks(self._wake)
        if removed:
            self._dropped["sink_removed"] += removed
            log.warning("dropped alerts queued for sinks no longer configured", count=removed)
        now = clock()
        self._active = {a.key: a for a in self.outbox.active()}
        # Findings folded into another alert's incident -> that alert's key; incidents
        # whose own finding ended while others go on. In memory: after a restart the
        # incident's alert is active again from the outbox, so a folded finding that
        # repeats is folded again (``_submit``); one that ends without repeating leaves
        # the incident to end with its own finding, or when it goes stale.
        self._members: dict[tuple[str, str], tuple[str, str]] = {}
        self._ending: dict[tuple[str, str], float] = {}
        self._correlated = 0
        self._escalations: Counter[tuple[str, str]] = Counter()
        # Key -> the most severe firing form handed to a sink. An alert restored from the
        # outbox was, as a rule, sent before the restart.
        self._told = {k: a.severity for k, a in self._active.items()}
        # (key, severity) of firing alerts being sent right now: maybe notified already.
        self._sending: Counter[tuple[tuple[str, str], Severity]] = Counter()
        self._seen = dict.fromkeys(self._active, now)  # wall time of the last repeat
        self._queued = self.outbox.counts()

    @staticmethod
    def _open(path: Path | None, max_entries: int) -> Outbox:
        try:
            return Outbox(path, max_entries)
        except sqlite3.Error as exc:
            # A full or read-only state directory must not stop the monitoring: alerts
            # still go out, from memory, until a restart finds the directory writable.
            log.error(
                "cannot open the alert outbox, queueing alerts in memory", file=path, error=exc
            )
            return Outbox(None, max_entries)

    def _restore(self, *, now: bool = False) -> None:
        """An outbox held in memory (the disk refused a write): try to write it back, at
        most every ``RESTORE_EVERY`` seconds (or ``now``)."""
        if self.outbox.on_disk or self.outbox.path is None:
            return
        t = time.monotonic()
        if not now and t < self._next_restore:
            return
        self._next_restore = t + RESTORE_EVERY
        self.outbox.restore()

    # -- the producer side -------------------------------------------------------------

    def submit(self, alert: Alert) -> None:
        """Take one alert or resolution; never blocks on the network, never raises."""
        try:
            self._submit(alert)
        except Exception as exc:  # a broken disk must not take the detectors down
            self._dropped["error"] += 1
            log.error("alert could not be queued", detector=alert.detector, error=exc)

    def _submit(self, alert: Alert) -> None:
        self._restore()
        now = self._clock()
        alert = clean(alert)
        self._received += 1
        key = alert.key
        if alert.resolved is not None:
            self._end(alert, now)
            return
        escalating = False
        was: Severity | None = None
        lead = self._members.get(key)
        if lead is not None:  # a finding folded into its incident: not sent on its own
            leader = self._active.get(lead)
            if leader is None or alert.severity.rank <= leader.severity.rank:
                self._suppressed += 1
                self._seen[key] = now
                self._fold(lead, alert)
                return
            # It became more severe than its incident's alert: notified on its own now
            # (it still names its incident), as a more severe finding would have been.
            was = self._notified(lead)
            self._unfold(key, lead, now)
            escalating = True
        active = self._active.get(key)
        if active is not None:
            self._ending.pop(key, None)
            self._seen[key] = now
            if alert.severity.rank > active.severity.rank:
                self._escalate(active, alert, now)
                return
            self._suppressed += 1
            if alert.severity.rank < active.severity.rank:  # never a downgrade
                alert = dataclasses.replace(
                    alert,
                    severity=active.severity,
                    summary=active.summary,
                    description=active.description,
                    target=active.target,
                    kind=active.kind,
                )
            self._active[key] = dataclasses.replace(
                alert,
                first_seen=min(active.first_seen, alert.first_seen),
                findings=active.findings,
                escalated_from=active.escalated_from,
            )
            return
        lead = alert.lead
        leader = self._active.get(lead) if lead != key else None
        if (
            leader is not None
            and alert.severity.rank <= leader.severity.rank
            and len(self._members) < MAX_MEMBERS
        ):
            # The incident was notified: this finding is part of it. A more severe one
            # is notified on its own (it still names its incident).
            self._members[key] = lead
            self._seen[key] = now
            self._correlated += 1
            self._fold(lead, alert)
            return
        if not self._limiter.allow(alert.detector, now):
            self._dropped["rate_limited"] += 1
            log.debug("alert over the rate limit", detector=alert.detector)
            return
        alert = dataclasses.replace(alert, findings=(alert.finding,), escalated_from=was)
        if escalating:
            self._escalations[(alert.detector, alert.severity.value)] += 1
        self._active[key] = alert
        self._seen[key] = now
        self.outbox.activate(alert)
        # A detector's alert opens an incident: wait a moment for the source's next
        # findings, so that the one notification names them (delivery sends the active
        # form, see ``deliver_once``).
        hold = self.config.incident_hold if alert.incident and not escalating else 0.0
        self._enqueue(alert, now, now + hold)

    def _escalate(self, active: Alert, alert: Alert, now: float) -> None:
        """A repeat more severe than the alert that was notified (a warning become
        critical): news, sent at once with its new severity and summary, never held
        and never suppressed. Alertmanager tells alerts apart by their labels, severity
        among them: it is told that the alert of the old severity ended, so the incident
        does not fire twice there until the old one times out."""
        findings = tuple(alert.finding if f == active.finding else f for f in active.findings)
        told = self._notified(alert.key)
        escalated = dataclasses.replace(
            alert,
            first_seen=min(active.first_seen, alert.first_seen),
            findings=findings,
            escalated_from=told if told is not None and told.rank < alert.severity.rank else None,
        )
        self._active[alert.key] = escalated
        self.outbox.activate(escalated)
        self._escalations[(alert.detector, alert.severity.value)] += 1
        log.info(
            "alert escalated",
            detector=alert.detector,
            severity=alert.severity.value,
            was=active.severity.value,
        )
        self._enqueue(escalated, now)
        refreshers = [s.name for s in self.sinks if isinstance(s, Refresher)]
        if refreshers:
            end = dataclasses.replace(
                active, resolved=now, last_seen=alert.last_seen, escalated_from=None
            )
            self._enqueue(end, now, sinks=refreshers)

    def _unfold(self, key: tuple[str, str], lead: tuple[str, str], now: float) -> None:
        """``key`` is no longer folded into ``lead``'s incident; an incident whose own
        finding ended and that waited only for this one ends now."""
        del self._members[key]
        ended = self._ending.get(lead)
        if ended is not None and lead not in self._members.values():
            self._finish(lead, ended, self._active[lead].last_seen, now)

    def _fold(self, lead: tuple[str, str], member: Alert) -> None:
        """Name ``member``'s finding in its incident's alert, which stays active with it."""
        leader = self._active[lead]
        findings = leader.findings or (leader.finding,)
        new = member.finding not in findings
        if new:
            findings = (*findings, member.finding)
        self._active[lead] = dataclasses.replace(
            leader, findings=findings, last_seen=max(leader.last_seen, member.last_seen)
        )
        self._seen[lead] = max(self._seen.get(lead, 0.0), self._seen[member.key])
        if new:  # kept across a restart, and in the incident's end
            self.outbox.activate(self._active[lead])

    def _end(self, alert: Alert, now: float) -> None:
        """A resolution. An incident ends when its last finding does: one end is sent."""
        key = alert.key
        lead = self._members.pop(key, None)
        self._seen.pop(key, None)
        if lead is not None:
            ended = self._ending.get(lead)
            if ended is not None and lead not in self._members.values():
                self._finish(lead, max(ended, alert.resolved or ended), alert.last_seen, now)
            return
        if key not in self._active:
            log.debug("resolution of an alert that is not active", detector=alert.detector)
            return
        if key in self._members.values():  # its findings go on: the incident is not over
            self._ending[key] = alert.resolved or now
            self._seen[key] = now
            return
        self._finish(key, alert.resolved or now, alert.last_seen, now)

    def _finish(self, key: tuple[str, str], resolved: float, last: float, now: float) -> None:
        active = self._active.pop(key)
        self._ending.pop(key, None)
        self._seen.pop(key, None)
        self._told.pop(key, None)
        self.outbox.deactivate(key)
        # The end of what was sent: same severity and fields (Alertmanager identifies an
        # alert by its labels), with the resolution's times; the end of an escalated alert
        # is the end, not news of its escalation again.
        end = dataclasses.replace(
            active,
            resolved=resolved,
            last_seen=max(active.last_seen, last),
            escalated_from=None,
        )
        self._enqueue(end, now)

    def _enqueue(
        self, alert: Alert, now: float, at: float | None = None, sinks: Sequence[str] = ()
    ) -> None:
        """Queue ``alert`` for every sink (or only ``sinks``), due at ``at``."""
        names = list(sinks) if sinks else list(self._wake)
        evicted = self.outbox.put(alert, names, now, at)
        if evicted and not self.outbox.on_disk and self.outbox.path is not None:
            self._dropped["memory_full"] += evicted
            log.warning(
                "alert outbox held in memory is full, dropped lowest severity first",
                dropped=evicted,
            )
        elif evicted:
            self._dropped["overflow"] += evicted
            log.warning("alert outbox full, dropped lowest severity first", dropped=evicted)
        for name in names:
            self._queued[name] = self._queued.get(name, 0) + 1
            self._wake[name].set()
        if evicted:
            self._queued = self.outbox.counts()

    # -- delivery ----------------------------------------------------------------------

    async def run(self, health: Health) -> None:
        """Deliver until cancelled: one loop per sink, re-sends, housekeeping."""
        async with asyncio.TaskGroup() as tg:
            for sink in self.sinks:
                tg.create_task(self._deliver_loop(sink), name=f"alert-sink:{sink.name}")
                if isinstance(sink, Refresher):
                    tg.create_task(
                        self._refresh_loop(sink.name, sink), name=f"alert-resend:{sink.name}"
                    )
            tg.create_task(self._housekeeping(health), name="alert-housekeeping")

    async def _deliver_loop(self, sink: Sink) -> None:
        wake = self._wake[sink.name]
        while True:
            wake.clear()
            self._restore()
            if await self.deliver_once(sink):
                continue
            at = self.outbox.next_due(sink.name)
            idle = IDLE_MAX if at is None else min(IDLE_MAX, max(0.0, at - self._clock()))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(idle):
                    await wake.wait()

    async def deliver_once(self, sink: Sink, *, ignore_backoff: bool = False) -> bool:
        """Send one batch of due events to ``sink``; true if it delivered something."""
        now = self._clock()
        pending = self.outbox.due(sink.name, math.inf if ignore_backoff else now, sink.batch)
        if not pending:
            return False
        stale = [p.event.id for p in pending if self._superseded(p.event)]
        if stale:  # never sent: the alert's more severe form is queued after them
            self.outbox.done(stale)
            self._queued[sink.name] = max(0, self._queued.get(sink.name, 0) - len(stale))
            pending = [p for p in pending if p.event.id not in stale]
            if not pending:
                return True
        ids = [p.event.id for p in pending]
        events = [self._current(p.event) for p in pending]
        firing = (e.alert for e in events if e.alert.resolved is None)
        flight = Counter((a.key, a.severity) for a in firing)
        self._sending.update(flight)
        try:
            async with asyncio.timeout(SEND_GUARD):
                await sink.send(events)
        except Exception as exc:
            self._failures[sink.name] += 1
            got = set(exc.delivered if isinstance(exc, SinkError) else ()) & set(ids)
            self._tell([e for e in events if e.id in got])
            if got:  # delivered before the failure: done, never sent again
                self._done(sink.name, [i for i in ids if i in got])
            left = [p for p in pending if p.event.id not in got]
            if not left:
                self._set_up(sink.name, True)
                return True
            attempt = max(p.attempts for p in left)
            delay = self._backoff.delay(attempt, self._rng)
            self.outbox.retry([p.event.id for p in left], self._clock() + delay)
            self._set_up(sink.name, False, exc, retry_in=round(delay, 1))
            return bool(got)
        finally:
            self._sending.subtract(flight)
            self._sending = +self._sending  # drop the zeros
        self._tell(events)
        self._done(sink.name, ids)
        self._set_up(sink.name, True)
        return True

    def _superseded(self, event: Event) -> bool:
        """A firing alert not yet delivered (held for its incident, or retried) whose
        active form is more severe: its escalation, queued later, says it all."""
        a = event.alert
        now = self._active.get(a.key) if a.resolved is None else None
        return now is not None and now.severity.rank > a.severity.rank

    def _notified(self, key: tuple[str, str]) -> Severity | None:
        """The most severe form of the alert ``key`` a sink has, or is being sent now."""
        told = [s for k, s in self._sending if k == key]
        if key in self._told:
            told.append(self._told[key])
        return max(told, key=lambda s: s.rank, default=None)

    def _tell(self, events: Sequence[Event]) -> None:
        """Remember the most severe form of each active alert a sink took."""
        for e in events:
            a = e.alert
            if a.resolved is not None or a.key not in self._active:
                continue
            told = self._told.get(a.key)
            if told is None or told.rank < a.severity.rank:
                self._told[a.key] = a.severity

    def _current(self, event: Event) -> Event:
        """A firing alert as it is now: with every finding folded into its incident since
        it was queued (an end carries its final form already)."""
        a = event.alert
        now = self._active.get(a.key) if a.resolved is None else None
        if now is None or now.findings == a.findings:
            return event
        return dataclasses.replace(event, alert=dataclasses.replace(a, findings=now.findings))

    def _done(self, name: str, ids: Sequence[int]) -> None:
        self.outbox.done(ids)
        self._delivered[name] += len(ids)
        self._queued[name] = max(0, self._queued.get(name, 0) - len(ids))

    async def _refresh_loop(self, name: str, sink: Refresher) -> None:
        while True:
            await asyncio.sleep(sink.resend)
            firing = list(self._active.values())
            if not firing:
                continue
            try:
                async with asyncio.timeout(SEND_GUARD):
                    await sink.refresh(firing)
            except Exception as exc:
                self._failures[name] += 1
                self._set_up(name, False, exc)
            else:
                self._set_up(name, True)

    async def _housekeeping(self, health: Health) -> None:
        while True:
            self.housekeep()
            health.ok()
            await asyncio.sleep(HOUSEKEEPING)

    def housekeep(self) -> None:
        """Drop events past ``max_age``; resolve alerts not repeated for ``resolve_after``."""
        now = self._clock()
        expired = self.outbox.expire(now - self.config.outbox.max_age)
        if expired:
            self._dropped["expired"] += expired
            log.warning("alerts expired undelivered", count=expired)
        stale = [k for k, t in self._seen.items() if t < now - self.config.resolve_after]
        for key in stale:
            alert = self._active.get(key)
            lead = self._members.get(key)
            if alert is None and lead is not None and lead in self._active:
                alert = dataclasses.replace(
                    self._active[lead], detector=key[0], identifier=key[1], incident=""
                )
            if alert is not None:
                self.submit(dataclasses.replace(alert, resolved=now))
        self._queued = self.outbox.counts()

    def _set_up(self, name: str, up: bool, error: object = None, **fields: object) -> None:
        if up and not self._up[name]:
            log.info("alert sink delivering again", sink=name)
        elif not up and self._up[name]:
            log.error(
                "alert sink failing, alerts kept in the outbox", sink=name, error=error, **fields
            )
        elif not up:
            log.debug("alert sink still failing", sink=name, error=error, **fields)
        self._up[name] = up

    async def flush(self, deadline: float) -> None:
        """Try once more to deliver everything queued before ``deadline`` (``loop.time()``).

        Used at shutdown; what is still queued at the deadline stays in the outbox for the
        next start.
        """

        async def drain(sink: Sink) -> None:
            while await self.deliver_once(sink, ignore_backoff=True):
                pass

        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout_at(deadline):
                async with asyncio.TaskGroup() as tg:
                    for sink in self.sinks:
                        tg.create_task(drain(sink))

    async def close(self, *, keep_outbox: bool = False) -> None:
        """Close the sinks' connections and the outbox (unless ``keep_outbox``: the next
        router takes it over). An outbox held in memory is written back first if it can."""
        for sink in self.sinks:
            with contextlib.suppress(Exception):
                await sink.close()
        if not keep_outbox:
            self._restore(now=True)
            if not self.outbox.on_disk and self.outbox.path is not None:
                log.error(
                    "alert outbox still held in memory at exit, its events are lost",
                    events=sum(self.outbox.counts().values()),
                )
            self.outbox.close()

    def stats(self) -> AlertingStats:
        return AlertingStats(
            received=self._received,
            suppressed=self._suppressed,
            active=len(self._active),
            queued={s.name: self._queued.get(s.name, 0) for s in self.sinks},
            delivered={s.name: self._delivered[s.name] for s in self.sinks},
            failures={s.name: self._failures[s.name] for s in self.sinks},
            dropped=dict(self._dropped),
            sink_up=dict(self._up),
            on_disk=self.outbox.on_disk,
            correlated=self._correlated,
            escalated=dict(self._escalations),
        )
