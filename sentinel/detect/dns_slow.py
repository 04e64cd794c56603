"""dns_tunnel's slow test: tunnel-shaped names one client asks over hours.

A tunnel asking one name every 20 s (dnscat2 ``--delay 20000``) puts 30 names in
``client_window`` and 180 in ``window``: below every other bar when its names are
short or its types ordinary. Its names still have a shape no ordinary lookup has, so
each client is also counted over ``slow_window`` (6 h): different random-looking names
(the client test's ``data_length`` and ``entropy_threshold``) that are either under no
known public suffix (dnscat2's direct mode, ``dnscat.<hex>`` straight to its server:
no resolver could answer them) or very long (``label_length``, ``name_length``:
iodine's and dnscat2's chunks under a domain), at least ``slow_names_threshold``
times. Hashed CDN and ad-frame host names and GUID telemetry sit in short labels under
known suffixes and never count, so a laptop's school day adds none or a handful.

Memory, whatever a flood of spoofed sources sends: a client is counted here only from
its ``ADMIT``-th such name while the client test tracks it (a source that asks once is
never let in), at most ``CLIENTS`` clients (the least recently counted go first, and
are counted as evictions); each holds at most ``BUCKETS`` running counts and two sets
of ``BITS`` bits (2 KiB) that tell a name asked again: a name is new when its bit is
clear in both. The sets take turns, one cleared every half ``slow_window``, so a name
is remembered for at least half the window and at most all of it; two names sharing
a bit count once, which can only lower the count (by about a tenth at a thousand
names).
"""

from __future__ import annotations

import math
import zlib
from collections import deque

from sentinel.detect.base import Bounded

ADMIT = 3  # tunnel-shaped names a client asks before it is counted here
CLIENTS = 1024  # clients counted at once
BITS = 8192  # per set: a power of two
BUCKET = 600.0  # seconds a running count covers, at least
BUCKETS = 48  # running counts a client holds, at most


class _Slow:
    __slots__ = ("buckets", "last", "older", "since", "total", "young")

    def __init__(self, ts: float) -> None:
        self.buckets: deque[list[int]] = deque()  # [bucket number, names]
        self.total = 0  # the sum over ``buckets``
        self.young = bytearray(BITS // 8)
        self.older = bytearray(BITS // 8)
        self.since = ts  # when ``young`` was cleared
        self.last = ts


class SlowNames:
    """Per-client counts of tunnel-shaped names over ``window`` seconds."""

    def __init__(self, window: float) -> None:
        self.window = window
        self.bucket = max(BUCKET, window / BUCKETS)
        self.span = max(1, math.ceil(window / self.bucket))
        self.table: Bounded[str, _Slow] = Bounded(CLIENTS)

    def add(self, client: str, name: str, ts: float) -> int:
        """One tunnel-shaped ``name`` from ``client`` (admitted): the count within the window."""
        c = self.table.get(client)
        if c is None:
            c = self.table.setdefault(client, value=_Slow(ts))
        c.last = ts
        if ts - c.since >= self.window / 2:
            c.older, c.young, c.since = c.young, bytearray(BITS // 8), ts
        bit = zlib.crc32(name.encode()) & (BITS - 1)
        byte, mask = bit >> 3, 1 << (bit & 7)
        if (c.young[byte] | c.older[byte]) & mask:
            return self._total(c, ts)  # asked before: no new data
        c.young[byte] |= mask
        number = int(ts // self.bucket)
        if not c.buckets or c.buckets[-1][0] != number:
            c.buckets.append([number, 0])
        c.buckets[-1][1] += 1
        c.total += 1
        return self._total(c, ts)

    def _total(self, c: _Slow, ts: float) -> int:
        oldest = int(ts // self.bucket) - self.span
        while c.buckets and c.buckets[0][0] <= oldest:
            c.total -= c.buckets.popleft()[1]
        return c.total

    def sweep(self, now: float) -> None:
        horizon = now - self.window
        for key, c in self.table.items():
            if c.last < horizon:
                self.table.pop(key)
