"""Raw SNMP counters to monotonic totals that never show a false spike or a negative rate.

The exported total starts at the agent's raw value (so a first poll equals what
snmpwalk shows) and then only ever grows by the traffic seen between two polls:

- a 32-bit counter that went back without a reboot wrapped once: add 2^32;
- a reboot (sysUpTime went back) restarted the counters at 0: the new raw value is the
  traffic since boot, if the link speed allows that much in the time since boot;
- ifCounterDiscontinuityTime changed, a 64-bit counter went back, or a delta larger than
  the link could carry: the interval's traffic is unknown, so nothing is added and the
  counter is re-based (a gap, not a spike), and the event is counted.

No I/O here; the poller feeds it raw values and agent time.
"""

from __future__ import annotations

from dataclasses import dataclass

WRAP32 = 1 << 32
SYSUPTIME_WRAP = 1 << 32  # hundredths of a second: about 497 days
# Margin over the nominal link speed before a delta counts as impossible (framing,
# rounding of ifHighSpeed, agents that sample counters a little apart).
SPEED_MARGIN = 1.25
SLACK_BYTES = 65536


@dataclass(frozen=True, slots=True)
class Interval:
    """What happened between two polls of one switch."""

    seconds: float  # agent time between the polls (sysUpTime), else local time
    rebooted: bool  # sysUpTime went back: every counter restarted
    uptime: float  # seconds since the agent booted, at this poll


def interval(prev_ticks: int | None, ticks: int, local_seconds: float) -> Interval:
    """Compare two sysUpTime readings (hundredths), knowing the local time between them."""
    uptime = ticks / 100.0
    if prev_ticks is None:
        return Interval(local_seconds, False, uptime)
    diff = ticks - prev_ticks
    if diff < 0 and prev_ticks + local_seconds * 100 * 2 >= SYSUPTIME_WRAP:
        diff += SYSUPTIME_WRAP  # sysUpTime wrapped after 497 days, no reboot
    if diff < 0 or diff > local_seconds * 100 * 2 + 500:
        # Went back (reboot), or jumped far ahead of local time (rebooted and ran
        # longer than us? impossible) -> treat as a reboot: counters are not comparable.
        return Interval(local_seconds, True, uptime)
    return Interval(diff / 100.0 if diff else local_seconds, False, uptime)


def advance(
    prev_raw: int,
    total: int,
    raw: int,
    *,
    wide: bool,
    iv: Interval,
    max_rate: float | None,
    discontinuity: bool = False,
) -> tuple[int, bool]:
    """The new total for one counter, and whether the interval's traffic had to be dropped.

    ``wide`` is True for 64-bit (HC) counters. ``max_rate`` is the most the counter can
    grow per second (from the link speed), or None when unknown.
    """
    if discontinuity:
        return total, True
    if iv.rebooted:
        delta = raw
        limit = _limit(max_rate, iv.uptime)
        if limit is not None and delta > limit:
            return total, True
        return total + delta, False
    delta = raw - prev_raw
    if delta < 0:
        if wide:
            return total, True  # a 64-bit counter never wraps in practice: agent reset it
        delta += WRAP32
    limit = _limit(max_rate, iv.seconds)
    if limit is not None and delta > limit:
        return total, True
    return total + delta, False


def _limit(max_rate: float | None, seconds: float) -> float | None:
    if not max_rate or max_rate <= 0:
        return None
    return max_rate * max(seconds, 1.0) * SPEED_MARGIN + SLACK_BYTES
