"""Distinct devices per site over an hour and a day, as keyed hashes only.

A device is a unicast MAC address seen as a source on the LAN by the capture (DHCP, ARP,
IPv6 neighbour discovery) or learned on a switch's access port (never on an uplink or a
trunk: those MACs belong to devices counted where they are plugged in). The same MAC
from both sources, or on two VLANs, is one device.

Only ``BLAKE2b-64(census key, MAC)`` is kept, where the census key is derived from the
site key: the hash cannot be reversed by hashing every address of a vendor's range
without the key, and the key never leaves the box. Each entry holds the hash, when it
was last seen, and two flags (locally administered; last seen behind an access point).
The table is capped (least recently seen dropped first, counted).

Randomised MACs: a phone or laptop with a private address uses a locally administered
MAC per network, and some rotate it (Android and Windows daily, iOS about every two
weeks). A device that rotates its MAC once a day is one device in the 1h window except
in the hour it rotates, and up to two in the 1d window (its old and new address both
fall within 24 hours). Hence the locally administered share is exported beside each
count: it bounds how much of the day's count rotation can inflate.
"""

from __future__ import annotations

import os
import struct
from typing import TYPE_CHECKING

from sentinel.model import CensusCounts
from sentinel.privacy import census_key, device_hash

__all__ = ["Census", "census_key"]

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

WINDOWS = (("1h", 3600), ("1d", 86400))
DEFAULT_CAP = 50_000  # a big secondary school runs ~5,000; a MAC flood stops here
FILE = "census.bin"
_MAGIC = b"SNTLCEN1"
_ROW = struct.Struct("<QIB")
_LAA, _WIRELESS = 1, 2


def _laa(mac: int) -> bool:
    return bool((mac >> 40) & 0x02)


class Census:
    """The site's device hashes: ``hash -> last_seen << 2 | flags``, oldest first."""

    def __init__(self, key: bytes, *, cap: int = DEFAULT_CAP) -> None:
        if len(key) < 16:
            raise ValueError("the census key must be at least 16 bytes")
        self._key = key[:64]
        self.cap = cap
        self._seen: dict[int, int] = {}
        self.evictions = 0

    def hash(self, mac: int) -> int:
        return device_hash(self._key, mac.to_bytes(6, "big"))

    def add(self, macs: Iterable[int], now: float, *, wireless: Iterable[int] = ()) -> None:
        """Devices seen at ``now`` (unix seconds); ``wireless`` ones were behind an AP."""
        behind = set(wireless)
        t = int(now) << 2
        seen = self._seen
        for mac in macs:
            if (mac >> 40) & 0x01:  # group address: never a device
                continue
            flags = (_LAA if _laa(mac) else 0) | (_WIRELESS if mac in behind else 0)
            self._put(self.hash(mac), t | flags)
        if len(seen) > self.cap:
            drop = len(seen) - self.cap
            for h in list(seen)[:drop]:
                del seen[h]
            self.evictions += drop

    def add_hashes(self, hashes: Iterable[tuple[int, bool]], now: float) -> None:
        """Devices hashed with this key elsewhere (capture): (hash, locally administered)."""
        t = int(now) << 2
        for h, laa in hashes:
            old = self._seen.get(h, 0)
            self._put(h, t | (_LAA if laa else 0) | (old & _WIRELESS))
        if len(self._seen) > self.cap:
            drop = len(self._seen) - self.cap
            for h in list(self._seen)[:drop]:
                del self._seen[h]
            self.evictions += drop

    def _put(self, h: int, value: int) -> None:
        seen = self._seen
        old = seen.pop(h, None)
        if old is not None and old >> 2 > value >> 2:
            value = old  # an older sighting never moves an entry back
        seen[h] = value

    def __len__(self) -> int:
        return len(self._seen)

    def counts(self, now: float) -> CensusCounts:
        limits = [(name, int(now) - seconds) for name, seconds in WINDOWS]
        totals = {name: [0, 0, 0] for name, _ in WINDOWS}
        for value in self._seen.values():
            t = value >> 2
            for name, since in limits:
                if t >= since:
                    row = totals[name]
                    row[0] += 1
                    row[1] += value & _LAA
                    row[2] += (value & _WIRELESS) >> 1
        self.expire(now)
        return CensusCounts(
            windows=tuple((n, *totals[n]) for n, _ in WINDOWS),  # type: ignore[misc]
            entries=len(self._seen),
            evictions=self.evictions,
        )

    def expire(self, now: float) -> None:
        """Forget devices not seen for longer than the longest window."""
        since = int(now) - WINDOWS[-1][1]
        old = [h for h, v in self._seen.items() if v >> 2 < since]
        for h in old:
            del self._seen[h]

    # -- state directory -----------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Hashes, times and flags only; written to a temporary file, then renamed."""
        tmp = path.with_suffix(".tmp")
        with tmp.open("wb") as f:
            f.write(_MAGIC)
            for h, v in self._seen.items():
                f.write(_ROW.pack(h, min(v >> 2, 0xFFFFFFFF), v & 3))
        os.replace(tmp, path)

    def load(self, path: Path, now: float) -> int:
        """Entries of a saved census still within the longest window; 0 if none or damaged."""
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return 0
        if not data.startswith(_MAGIC) or (len(data) - len(_MAGIC)) % _ROW.size:
            return 0
        since = int(now) - WINDOWS[-1][1]
        n = 0
        for h, t, flags in _ROW.iter_unpack(data[len(_MAGIC) :]):
            if t >= since:
                self._put(h, (t << 2) | (flags & 3))
                n += 1
        return n
