"""Counter extension: wraps, reboots and glitches give the true rate, never a spike."""

from __future__ import annotations

import itertools

from sentinel.snmp.counters import WRAP32, Interval, advance, interval

GBIT = 125_000_000.0  # bytes per second


def simulate(
    rate: float,
    steps: int,
    *,
    wide: bool,
    reboot_at: int | None = None,
    start_raw: int = 0,
    poll: float = 60.0,
) -> list[tuple[float, int]]:
    """A counter growing at ``rate`` bytes/s polled every ``poll`` s -> (time, exported)."""
    modulo = (1 << 64) if wide else WRAP32
    true_count = start_raw
    boot_time = -1_000_000.0  # booted long ago
    prev_ticks: int | None = None
    prev_raw = 0
    total = 0
    out = []
    for i in range(steps):
        t = i * poll
        if reboot_at is not None and i == reboot_at:
            boot_time = t - 20.0  # rebooted 20 s ago
            true_count = int(rate * 20.0)
        ticks = int((t - boot_time) * 100) % (1 << 32)
        raw = true_count % modulo
        if prev_ticks is None:
            total = raw
        else:
            iv = interval(prev_ticks, ticks, poll)
            total, _ = advance(prev_raw, total, raw, wide=wide, iv=iv, max_rate=GBIT)
        out.append((t, total))
        prev_ticks, prev_raw = ticks, raw
        true_count += int(rate * poll)
    return out


def rates(series: list[tuple[float, int]]) -> list[float]:
    return [(b[1] - a[1]) / (b[0] - a[0]) for a, b in itertools.pairwise(series)]


def test_32bit_wrap_gives_the_true_rate() -> None:
    """A 32-bit counter wrapping every ~86 s at 50 MB/s: every rate within 1 % of the truth."""
    rate = 50_000_000.0
    series = simulate(rate, 30, wide=False, start_raw=WRAP32 - 10_000_000)
    rs = rates(series)
    assert all(abs(r - rate) / rate < 0.01 for r in rs), rs
    assert all(b[1] >= a[1] for a, b in itertools.pairwise(series))


def test_reboot_gives_no_spike_and_no_negative_rate() -> None:
    """A reboot mid-series: counters restart at 0; rates stay within 1 % except the reboot gap."""
    rate = 30_000_000.0
    series = simulate(rate, 20, wide=True, reboot_at=10, start_raw=5_000_000_000_000)
    rs = rates(series)
    assert all(r >= 0 for r in rs)
    # The interval containing the reboot only sees the 20 s since boot: lower, never higher.
    for i, r in enumerate(rs):
        if i == 9:
            assert r <= rate * 1.01
        else:
            assert abs(r - rate) / rate < 0.01, (i, r)


def test_32bit_reboot_then_wrap() -> None:
    """A 32-bit counter across a reboot and a wrap after it: still the true rate."""
    rate = 60_000_000.0
    series = simulate(rate, 40, wide=False, reboot_at=5)
    rs = rates(series)
    assert all(r >= 0 for r in rs)
    assert sum(1 for r in rs if abs(r - rate) / rate < 0.01) >= len(rs) - 1


def test_64bit_going_back_without_reboot_is_a_gap_not_a_spike() -> None:
    """An agent that resets an HC counter: the interval is dropped and counted."""
    iv = Interval(60.0, False, 1e6)
    total, dropped = advance(10**12, 10**12, 5, wide=True, iv=iv, max_rate=GBIT)
    assert (total, dropped) == (10**12, True)


def test_impossible_delta_is_dropped() -> None:
    """More bytes than the link can carry in the interval is a glitch, not traffic."""
    iv = Interval(60.0, False, 1e6)
    total, dropped = advance(0, 0, int(GBIT * 60 * 2), wide=True, iv=iv, max_rate=GBIT)
    assert (total, dropped) == (0, True)
    total, dropped = advance(0, 0, int(GBIT * 60 * 0.9), wide=True, iv=iv, max_rate=GBIT)
    assert (total, dropped) == (int(GBIT * 60 * 0.9), False)


def test_reboot_with_recorded_counters_is_dropped() -> None:
    """After a reboot, a raw value the link could not have carried since boot is not added."""
    iv = Interval(60.0, True, 10.0)
    total, dropped = advance(10**9, 10**9, 10**12, wide=True, iv=iv, max_rate=GBIT)
    assert (total, dropped) == (10**9, True)


def test_discontinuity_time_rebases() -> None:
    """ifCounterDiscontinuityTime changed: nothing added for the interval."""
    iv = Interval(60.0, False, 1e6)
    assert advance(100, 100, 50, wide=True, iv=iv, max_rate=None, discontinuity=True) == (100, True)


def test_sysuptime_wrap_is_not_a_reboot() -> None:
    """sysUpTime wraps after 497 days; that is not a reboot."""
    iv = interval((1 << 32) - 1000, 5000, 60.0)
    assert not iv.rebooted
    assert abs(iv.seconds - 60.0) < 0.01
    assert interval(500_000, 100, 60.0).rebooted
