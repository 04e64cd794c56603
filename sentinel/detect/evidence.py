"""Evidence: a small pcap of the packets behind an alert, in a bounded, rotated folder."""

from __future__ import annotations

import os
import re
import struct
import time
from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
_REC = struct.Struct("<IIII")


class Evidence:
    """Keeps the last frames seen by the detectors and writes an alert's share of them."""

    def __init__(
        self,
        directory: Path | None,
        *,
        keep: int = 4096,
        per_alert: int = 50,
        max_total_bytes: int = 100 << 20,
    ) -> None:
        self.directory = directory
        self.recent: deque[tuple[float, str, str, bytes]] = deque(maxlen=keep)
        self.per_alert = per_alert
        self.max_total = max_total_bytes
        self.written = 0
        self.deleted = 0

    def add(self, ts: float, src_ip: str, src_mac: str, frame: bytes) -> None:
        self.recent.append((ts, src_ip, src_mac, frame))

    def write(self, detector: str, name: str, ts: float, src_ip: str, src_mac: str) -> str:
        """Write the recent frames from this source; the file name, or "" when none."""
        if self.directory is None:
            return ""
        frames = [
            (t, f)
            for t, ip, mac, f in self.recent
            if (src_ip and ip == src_ip) or (src_mac and mac == src_mac)
        ][-self.per_alert :]
        if not frames:
            return ""
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(ts))
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:64]
        filename = f"{detector}-{stamp}-{safe}.pcap"
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            with open(self.directory / filename, "wb") as fh:
                fh.write(PCAP_HEADER)
                for t, f in frames:
                    sec = int(t)
                    fh.write(_REC.pack(sec, int((t - sec) * 1e6), len(f), len(f)))
                    fh.write(f)
        except OSError:
            return ""
        self.written += 1
        self._rotate()
        return filename

    def _rotate(self) -> None:
        """Delete the oldest evidence files until the folder fits its budget."""
        assert self.directory is not None
        try:
            files = sorted(
                (e.stat().st_mtime, e.stat().st_size, e.path)
                for e in os.scandir(self.directory)
                if e.name.endswith(".pcap")
            )
        except OSError:
            return
        total = sum(size for _, size, _ in files)
        for _, size, path in files:
            if total <= self.max_total:
                break
            try:
                os.unlink(path)
            except OSError:
                continue
            total -= size
            self.deleted += 1
