"""Evidence files appear whole or not at all: a writer SIGKILLed while writing leaves no
cut file under an evidence name, and its temporary is gone at the next start."""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
import time
from typing import TYPE_CHECKING

from sentinel.detect import evidence
from sentinel.detect.evidence import Evidence

if TYPE_CHECKING:
    from pathlib import Path

FRAMES = 5000
FRAME = 1514
# One pcap record header (16 bytes) and frame per packet, after the 24-byte file header.
WHOLE = 24 + FRAMES * (16 + FRAME)

# The writer: one evidence file of FRAMES full-size frames after another, as fast as it
# can, until it is killed. Each file is about 7.6 MB, so most of its time is spent writing.
WRITER = f"""
import sys, pathlib
from sentinel.detect.evidence import Evidence
ev = Evidence(pathlib.Path(sys.argv[1]), keep={FRAMES}, per_alert={FRAMES},
              max_total_bytes=64 << 20)
for i in range({FRAMES}):
    ev.add(1700000000.0 + i / 1000, bytes([10, 0, 0, 9]), b"", bytes([i % 256]) * {FRAME})
print("ready", flush=True)
n = 0
while True:
    n += 1
    ev.write("port_scan", f"w{{n}}", 1700000000.0 + n, "10.0.0.9", "")
"""


def _records(data: bytes) -> int:
    """Complete pcap records in ``data``; raises if the file ends inside one."""
    assert data[:4] == struct.pack("<I", 0xA1B2C3D4)
    off, n = 24, 0
    while off < len(data):
        _, _, incl, _ = struct.unpack_from("<IIII", data, off)
        off += 16 + incl
        assert off <= len(data), f"cut inside record {n}: {len(data)} bytes"
        n += 1
    return n


def test_writer_killed_mid_write_leaves_whole_files_only(tmp_path: Path) -> None:
    """SIGKILL a process writing 7.6 MB evidence files in a loop, several times: every
    file under an evidence name holds all its records; the cut one is a hidden temporary,
    which the next start deletes once stale, and which never counts as evidence."""
    folder = tmp_path / "evidence"
    for delay in (0.4, 0.55, 0.7):
        with subprocess.Popen(
            [sys.executable, "-c", WRITER, str(folder)], stdout=subprocess.PIPE, text=True
        ) as proc:
            assert proc.stdout is not None
            assert proc.stdout.readline() == "ready\n"
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
            assert proc.wait(10) == -signal.SIGKILL
    names = sorted(os.listdir(folder))
    finals = [n for n in names if n.endswith(".pcap")]
    temps = [n for n in names if n.endswith(evidence.TEMP_SUFFIX)]
    assert finals, names
    for name in finals:
        data = (folder / name).read_bytes()
        assert len(data) == WHOLE, (name, len(data))
        assert _records(data) == FRAMES
    # At most one temporary per killed writer (each kill most likely hit a write), plus
    # one made here so that the start below always has one to find.
    assert len(temps) <= 3, names
    assert all(n.startswith(".port_scan-") for n in temps)
    (folder / f".port_scan-x.pcap.abc{evidence.TEMP_SUFFIX}").write_bytes(b"\xd4\xc3")
    temps = sorted(n for n in os.listdir(folder) if n.endswith(evidence.TEMP_SUFFIX))
    # A new start within a minute keeps them (a live writer may own one) ...
    Evidence(folder)
    assert sorted(n for n in os.listdir(folder) if n.endswith(evidence.TEMP_SUFFIX)) == temps
    # ... and deletes them once they are older than any live write.
    old = time.time() - evidence.STALE_TEMP - 1
    for n in temps:
        os.utime(folder / n, (old, old))
    ev = Evidence(folder, keep=FRAMES, per_alert=FRAMES, max_total_bytes=WHOLE)
    assert [n for n in os.listdir(folder) if n.endswith(evidence.TEMP_SUFFIX)] == []
    # The budget counts evidence files only: one more write keeps exactly one of them.
    for i in range(FRAMES):
        ev.add(1.0 + i, bytes([10, 0, 0, 7]), b"", b"\x01" * FRAME)
    assert ev.write("port_scan", "last", 2.0, "10.0.0.7", "")
    assert [n for n in os.listdir(folder) if n.endswith(".pcap")] == [
        n for n in os.listdir(folder) if "last" in n
    ]


def test_failed_write_leaves_no_file(tmp_path: Path) -> None:
    """A write that fails (the folder is read-only to the rename: here a name that is a
    directory) returns no evidence name and leaves no temporary behind."""
    folder = tmp_path / "evidence"
    ev = Evidence(folder)
    ev.add(1.0, bytes([10, 0, 0, 5]), b"", b"\x02" * 60)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(1.0))
    (folder / f"port_scan-{stamp}-x.pcap").mkdir(parents=True)  # the rename must fail
    assert ev.write("port_scan", "x", 1.0, "10.0.0.5", "") == ""
    assert os.listdir(folder) == [f"port_scan-{stamp}-x.pcap"]
