"""The connection verdict: probe results and uplink utilisation over a window, one word.

Rules, first match wins (docs/PROBES.md):

1. ``uplink_saturated``: the busiest direction of the busiest uplink carried at least
   ``saturated_ratio`` of its speed over the window. A full uplink explains latency and
   loss, so it goes first: the school's own traffic, not the provider. Also when the
   path is bad (rule 2's test) and the uplink was that full within two seconds of the bad
   ICMP rounds (two sampling intervals): a window that a full uplink fills only in
   part, and the queue it leaves draining.
2. ``provider_degraded``: the uplink is not full, yet ICMP loss over the window is at least
   ``loss_ratio`` or the median round trip is at least ``latency``.
3. ``dns_slow``: the path is fine but the median DNS probe took ``dns_latency`` or more, or
   DNS probes failed.
4. ``service_down``: the path and DNS are fine but an essential target's last round failed.
5. ``good``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sentinel.model import InterfaceSample, ProbeResult, Role

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from sentinel.config.probes import VerdictConfig

HISTORY_PER_TARGET = 128
# Seconds either side of an ICMP round in which a full uplink still explains it: the
# queue it built drains after it, and the counters are sampled about once a second, so
# the last interval the uplink was full in can end up to one interval before the upload
# stops (the one it stops in reads part-full), and a round that starts as it stops sees
# the queue drain: two intervals.
DRAIN = 2.0
# Seconds a bad round may wait for the uplink counters that cover it before it is judged
# without them (an idle uplink's counters do not change, so they never arrive).
PENDING = 5.0


@dataclass(frozen=True, slots=True)
class Verdict:
    verdict: str
    why: str
    utilisation: float | None


class History:
    """Recent results per target, bounded in count; the verdict reads a window of them."""

    def __init__(self) -> None:
        self._results: dict[str, deque[ProbeResult]] = {}

    def add(self, r: ProbeResult) -> None:
        q = self._results.get(r.target)
        if q is None:
            q = self._results[r.target] = deque(maxlen=HISTORY_PER_TARGET)
        q.append(r)

    def forget(self, target: str) -> None:
        self._results.pop(target, None)

    def window(self, since: float) -> list[ProbeResult]:
        return [r for q in self._results.values() for r in q if r.time >= since]


Counters = tuple[float, int, int, float | None]  # first seen (loop time), rx, tx, speed
SNAPSHOTS_PER_UPLINK = 4096


class Utilisation:
    """Uplink byte counters, each snapshot timed when first seen; the busiest direction's
    share of speed over a span.

    The counters come from the local sampler and the SNMP pollers on their own schedules.
    Timing a snapshot by the verdict tick that reads it would be off by up to a sampling
    interval at each end of a span (a window of 6 s read at 1 s ticks from 1 s samples
    showed 114 % of a full uplink, then 80 %). So ``add`` is called more often than
    samples arrive and keeps a snapshot only when its counters changed: its time is then
    within one call of when it was sampled.
    """

    def __init__(self) -> None:
        self._seen: dict[tuple[str, int], deque[Counters]] = {}

    def add(self, now: float, samples: Iterable[InterfaceSample]) -> None:
        for s in samples:
            if s.role is not Role.UPLINK:
                continue
            key = (s.switch, s.ifindex)
            q = self._seen.get(key)
            if q is None:
                q = self._seen[key] = deque(maxlen=SNAPSHOTS_PER_UPLINK)
            if q and (q[-1][1], q[-1][2]) == (s.rx_bytes, s.tx_bytes):
                continue  # the same snapshot as before (or no traffic: the next one counts)
            q.append((now, s.rx_bytes, s.tx_bytes, s.speed_bytes))

    def ratio(self, now: float, window: float, speed_bits: int) -> float | None:
        """The busiest direction of the busiest uplink over the last ``window`` seconds."""
        for key, q in list(self._seen.items()):
            while len(q) > 2 and q[1][0] <= now - window:
                q.popleft()
            if q[-1][0] < now - 2 * window:  # gone (or idle for long: comes back on change)
                del self._seen[key]
        return self.between(now - window, now, speed_bits)

    def peak(self, start: float, end: float, speed_bits: int) -> float | None:
        """The busiest direction of the busiest uplink in any one sampling interval that
        overlaps [start, end]: a full uplink during part of a span, which an average
        over the span would dilute with the idle part."""
        best: float | None = None
        for have in self._seen.values():
            prev: Counters | None = None
            for snap in have:
                if prev is not None and snap[0] > start and prev[0] < end:
                    share = _share(prev, snap, speed_bits)
                    if share is not None:
                        best = share if best is None else max(best, share)
                if snap[0] >= end:
                    break
                prev = snap
        return best

    def known_until(self) -> float | None:
        """The time of the newest snapshot of the uplink heard from least recently: up to
        when the counters of every uplink are known."""
        return min((q[-1][0] for q in self._seen.values() if q), default=None)

    def between(self, start: float, end: float, speed_bits: int) -> float | None:
        """The same share between the first and the last snapshot within [start, end]: what
        the uplink did during that time, not around it. With fewer than two inside, from
        the last one before ``start`` to the first after ``end`` (or the nearest there are).

        An uplink is measured from its first snapshot: one that appeared during the span
        (the daemon just started, a switch was added) counts from then.
        """
        best: float | None = None
        for have in self._seen.values():
            if len(have) < 2:
                continue
            inside = [x for x in have if start <= x[0] <= end]
            if len(inside) >= 2:
                first, last = inside[0], inside[-1]
            else:
                before = [x for x in have if x[0] <= start]
                after = [x for x in have if x[0] >= end]
                first = before[-1] if before else have[0]
                last = after[0] if after else have[-1]
            share = _share(first, last, speed_bits)
            if share is not None:
                best = share if best is None else max(best, share)
        return best


def _share(first: Counters, last: Counters, speed_bits: int) -> float | None:
    """The busiest direction's share of speed between two snapshots of one uplink."""
    (t0, rx0, tx0, _), (t1, rx, tx, speed) = first, last
    bits = speed_bits or (speed * 8 if speed else 0)
    if t1 - t0 <= 0 or bits <= 0 or rx < rx0 or tx < tx0:
        return None
    return max(rx - rx0, tx - tx0) * 8 / (t1 - t0) / bits


def _median(values: Sequence[float]) -> float:
    s = sorted(values)
    return s[len(s) // 2] if s else 0.0


def _degraded(icmp: Sequence[ProbeResult], cfg: VerdictConfig) -> str:
    """Why these ICMP rounds, taken together, show a bad path; empty when they do not."""
    sent = sum(r.sent for r in icmp)
    if not sent:
        return ""
    loss = 1 - sum(len(r.rtts) for r in icmp) / sent
    if loss >= cfg.loss_ratio:
        return f"ICMP loss {loss:.1%}"
    rtt = _median([x for r in icmp for x in r.rtts])
    if rtt >= cfg.latency:
        return f"median RTT {rtt * 1000:.0f} ms"
    return ""


@dataclass(frozen=True, slots=True)
class UplinkView:
    """What the verdict may ask of the uplink counters, in the results' (unix) time.

    ``peak(start, end)`` is the highest utilisation in one sampling interval overlapping
    the span; ``known_until`` is up to when every uplink's counters are known (None
    without uplinks); ``now`` is the verdict's time.
    """

    peak: Callable[[float, float], float | None]
    known_until: float | None
    now: float


def decide(
    results: Sequence[ProbeResult],
    essential: frozenset[str],
    utilisation: float | None,
    cfg: VerdictConfig,
    uplink: UplinkView | None = None,
    previous: str = "",
) -> Verdict:
    """Apply the rules above to the results of one window.

    With ``uplink``, a bad path is judged round by round: a round is the uplink's when
    the uplink was full in a sampling interval within ``DRAIN`` of it (its queue still
    building or draining), and the provider is blamed only if the other rounds, alone,
    show a bad path. A bad round whose covering counters have not arrived yet waits for
    them (up to ``PENDING`` seconds) instead of blaming the provider for a moment:
    when only such rounds are bad, the ``previous`` verdict stands.
    """
    if utilisation is not None and utilisation >= cfg.saturated_ratio:
        return Verdict("uplink_saturated", f"uplink at {utilisation:.0%} of its speed", utilisation)
    icmp = [r for r in results if r.probe == "icmp"]
    why = _degraded(icmp, cfg)
    if why and uplink is not None:
        calm: list[ProbeResult] = []
        busiest: float | None = None
        for r in icmp:
            busy = uplink.peak(r.time - r.duration - DRAIN, r.time + DRAIN)
            if busy is not None and busy >= cfg.saturated_ratio:
                busiest = busy if busiest is None else max(busiest, busy)
            elif (
                uplink.known_until is not None
                and uplink.known_until < r.time + DRAIN
                and uplink.now - r.time < PENDING
                and _degraded([r], cfg)
            ):
                continue  # not judged yet: the uplink after it is not known
            else:
                calm.append(r)
        calm_why = _degraded(calm, cfg)
        if busiest is not None and not calm_why:
            return Verdict(
                "uplink_saturated",
                f"{why} while the uplink ran at {busiest:.0%} of its speed",
                utilisation,
            )
        if len(calm) < len(icmp) and not calm_why and previous:
            return Verdict(previous, f"{why}: waiting for the uplink counters", utilisation)
        why = calm_why
    if why:
        return Verdict("provider_degraded", why, utilisation)
    dns = [r for r in results if r.probe == "dns"]
    if dns:
        failed = [r for r in dns if not r.success]
        slow = _median([r.duration for r in dns])
        if failed:
            return Verdict(
                "dns_slow", f"{len(failed)} of {len(dns)} DNS probes failed", utilisation
            )
        if slow >= cfg.dns_latency:
            return Verdict("dns_slow", f"median DNS time {slow * 1000:.0f} ms", utilisation)
    last: dict[str, ProbeResult] = {}
    for r in sorted(results, key=lambda r: r.time):
        if r.target in essential:
            last[r.target] = r
    down = sorted(name for name, r in last.items() if not r.success)
    if down:
        return Verdict("service_down", f"essential service down: {', '.join(down)}", utilisation)
    return Verdict("good", "", utilisation)
