"""Evidence: a small pcap of the packets behind an alert, in a bounded, rotated folder.

The file keeps the link type of the frames it holds; frames of several link types (an
analysis of files from different interfaces) go into a pcapng file, an interface each.

A file appears whole or not at all: it is written to a hidden temporary in the same
folder, fsynced, renamed into place and the folder fsynced, so a writer killed in the
middle leaves only the temporary. Temporaries older than ``STALE_TEMP`` (a killed
writer's) are deleted when the folder is opened; they never count as evidence."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import struct
import tempfile
import time
from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

_REC = struct.Struct("<IIII")
LINK_ETHERNET = 1
TEMP_SUFFIX = ".part"  # hidden temporaries: ".<final name>.<random>.part"
STALE_TEMP = 60.0  # seconds: a live writer renames its temporary within milliseconds


def pcap_header(linktype: int) -> bytes:
    return struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype)


def _block(btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    n = len(body) + 12
    return struct.pack("<II", btype, n) + body + struct.pack("<I", n)


def pcapng(frames: list[tuple[float, int, bytes]]) -> bytes:
    """Frames of several link types as pcapng: one interface (µs) per link type."""
    out = [_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))]
    index: dict[int, int] = {}
    for _t, lt, _f in frames:
        if lt not in index:
            index[lt] = len(index)
            out.append(_block(1, struct.pack("<HHI", lt, 0, 65535)))
    for t, lt, f in frames:
        us = int(t * 1e6)
        head = struct.pack("<IIIII", index[lt], us >> 32, us & 0xFFFFFFFF, len(f), len(f))
        out.append(_block(6, head + f))
    return b"".join(out)


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
        self.recent: deque[tuple[float, bytes, bytes, bytes, int]] = deque(maxlen=keep)
        # ``add`` as one (ts, src_ip, src_mac, frame, linktype) tuple, for the engine,
        # which keeps nearly every frame: the deque's own append, no call of ours
        self.add_record = self.recent.append
        self.per_alert = per_alert
        self.max_total = max_total_bytes
        self.written = 0
        self.deleted = 0
        if directory is not None:
            remove_stale_temporaries(directory)

    def add(
        self, ts: float, src_ip: bytes, src_mac: bytes, frame: bytes, linktype: int = LINK_ETHERNET
    ) -> None:
        """Keep one frame; its source address and MAC as they are on the wire (4 or 16
        bytes, 6 bytes; empty when it has none): made text only when a file is written."""
        self.recent.append((ts, src_ip, src_mac, frame, linktype))

    def write(self, detector: str, name: str, ts: float, src_ip: str, src_mac: str) -> str:
        """Write the recent frames from this source (``src_ip``, ``src_mac`` as text); the
        file name, or "" when none."""
        if self.directory is None:
            return ""
        ip_raw = _raw_ip(src_ip)
        mac_raw = _raw_mac(src_mac)
        frames = [
            (t, lt, f)
            for t, ip, mac, f, lt in self.recent
            if (ip_raw and ip == ip_raw) or (mac_raw and mac == mac_raw)
        ][-self.per_alert :]
        if not frames:
            return ""
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(ts))
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:64]
        kinds = {lt for _t, lt, _f in frames}
        filename = f"{detector}-{stamp}-{safe}." + ("pcap" if len(kinds) == 1 else "pcapng")
        if len(kinds) > 1:
            data = pcapng(frames)
        else:
            parts = [pcap_header(frames[0][1])]
            for t, _lt, f in frames:
                sec = int(t)
                parts += (_REC.pack(sec, int((t - sec) * 1e6), len(f), len(f)), f)
            data = b"".join(parts)
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            write_atomically(self.directory / filename, data)
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
                if e.name.endswith((".pcap", ".pcapng"))
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


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that ``path`` is never seen cut short."""
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def remove_stale_temporaries(directory: Path, now: float | None = None) -> int:
    """Delete temporaries a killed writer left (older than ``STALE_TEMP``); how many."""
    limit = (time.time() if now is None else now) - STALE_TEMP
    removed = 0
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return 0
    for e in entries:
        if not (e.name.startswith(".") and e.name.endswith(TEMP_SUFFIX)):
            continue
        try:
            if e.stat(follow_symlinks=False).st_mtime < limit:
                os.unlink(e.path)
                removed += 1
        except OSError:
            continue
    return removed


def _raw_ip(text: str) -> bytes:
    """An address's wire form; b"" for none (or text that is no address)."""
    try:
        return ipaddress.ip_address(text).packed if text else b""
    except ValueError:
        return b""


def _raw_mac(text: str) -> bytes:
    """A MAC's wire form (``02:77:00:00:66:66``); b"" for none."""
    try:
        raw = bytes.fromhex(text.replace(":", "").replace("-", ""))
    except ValueError:
        return b""
    return raw if len(raw) == 6 else b""
