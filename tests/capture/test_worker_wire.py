"""The capture worker's messages to the main process: typed frames, never unpickled.

The normal path sends what a real pipeline produced from the reference captures
(snapshot, alerts, census) through the worker's non-blocking outbox over a socketpair,
and the main process's reader must get exactly those values. The hostile path writes
crafted byte streams from the worker's end: every one must break the connection with
``WireError`` (so the worker is restarted and the restart counted), never run code.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import os
import pickle
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from sentinel.capture import wire, worker
from sentinel.capture.accounting import N_CELLS, Snapshot
from sentinel.capture.offline import Analysis
from sentinel.capture.pipeline import Settings
from sentinel.capture.supervisor import Totals, receive
from sentinel.config.detect import DetectConfig
from sentinel.metrics import Metrics
from sentinel.supervise import Backoff, Health, supervise
from tests.conftest import DATA
from tests.helpers import total

if TYPE_CHECKING:
    from sentinel.model import Alert

REFERENCE = DATA / "reference"
KEY = b"k" * 32


@functools.cache
def _produced() -> tuple[Snapshot, list[Alert], list[tuple[int, bool]]]:
    """What a real pipeline makes of recorded scans, ARP spoofing and a DHCP rogue."""
    files = [REFERENCE / f for f in ("syn_scan_vertical.pcap", "arp_spoof.pcap", "rogue_dhcp.pcap")]
    job = Analysis(files, Settings(detect=DetectConfig(), site_key=KEY))
    alerts = list(job.run())
    assert job.pipeline.census is not None
    return job.pipeline.snapshot(own_drops=3), alerts, job.pipeline.census.take()


class Received:
    def __init__(self) -> None:
        self.metrics = Metrics(CollectorRegistry(), process=False)
        self.totals = Totals()
        self.alerts: list[Alert] = []
        self.census: list[tuple[int, bool]] = []


async def _serve(stream: bytes | list[bytes], got: Received | None = None) -> Received:
    """Write ``stream`` from the worker's end of a socketpair; run the reader to its end."""
    got = got or Received()
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    reader, writer = await asyncio.open_connection(sock=ours)
    out = worker.Outbox(theirs)

    async def write() -> None:
        for chunk in [stream] if isinstance(stream, bytes) else stream:
            out.send(chunk, droppable=False)
            while out.pending:
                await asyncio.sleep(0.001)
                out.flush()
        theirs.close()

    task = asyncio.create_task(write())
    try:
        async with asyncio.timeout(20):
            await receive(
                reader,
                Health("capture", got.metrics),
                Settings(interface="lan0"),
                got.metrics,
                got.totals,
                got.alerts.append,
                got.census.extend,
            )
    except asyncio.IncompleteReadError:
        pass  # the worker's end closed: the supervisor reports the worker's exit
    finally:
        task.cancel()
        writer.close()
        theirs.close()
    return got


async def test_real_messages_arrive_as_sent() -> None:
    """Snapshot, alerts (every field, ``kind`` included) and census survive the wire exactly."""
    snap, alerts, census = _produced()
    assert alerts  # a real workload
    assert census
    assert sum(snap.packets)
    assert snap.detections
    assert any(a.kind for a in alerts)
    alerts = [*alerts, dataclasses.replace(alerts[0], resolved=alerts[0].last_seen + 0.25)]
    stream = [
        wire.started("lan0", os.getpid(), "c"),
        wire.alerts(alerts),
        wire.census(census),
        wire.snapshot(snap),
    ]
    got = await _serve(stream)
    assert got.alerts == alerts
    assert got.census == census
    assert got.totals.current == snap
    text = generate_latest(got.metrics.registry).decode()
    assert total(text, "sentinel_lan_packets_total") == sum(snap.packets)
    assert total(text, "sentinel_lan_dropped_packets_total") == snap.own_drops


async def test_a_bad_message_after_good_ones_keeps_the_good_ones() -> None:
    """What arrived before the damage is kept; the damage ends the connection."""
    snap, alerts, _ = _produced()
    got = Received()
    with pytest.raises(wire.WireError, match="unknown kind 200"):
        await _serve([wire.alerts(alerts[:2]), wire.snapshot(snap), b"\xc8\0\0\0\0"], got)
    assert got.alerts == alerts[:2]
    assert got.totals.current == snap


class Boom:
    """Unpickling this would create ``path``: proof that nothing is unpickled."""

    path = ""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.path}",))


def _snapshot_json(**change: object) -> bytes:
    d = json.loads(wire.snapshot(Snapshot([0] * N_CELLS, [0] * N_CELLS, {}, 0, 0, 0, 0, 0))[5:])
    d.update(change)
    return json.dumps(d).encode()


def _alert_json(**change: object) -> bytes:
    _, alerts, _ = _produced()
    d = json.loads(wire.alerts(alerts[:1])[5:])
    d[0].update(change)
    return json.dumps(d).encode()


def frame(kind: int, body: bytes) -> bytes:
    return wire.HEADER.pack(kind, len(body)) + body


K = wire.Kind
HOSTILE: dict[str, tuple[bytes, str]] = {
    "unknown kind": (frame(9, b"{}"), "unknown kind 9"),
    "kind zero": (frame(0, b""), "unknown kind 0"),
    "started too long": (wire.HEADER.pack(K.STARTED, 5000), "length 5000 is longer"),
    "alerts 4 GiB": (wire.HEADER.pack(K.ALERTS, 0xFFFFFFFF), "length 4294967295"),
    "census not whole entries": (frame(K.CENSUS, b"\0" * 10), "not a whole number"),
    "census flag": (frame(K.CENSUS, wire.CENSUS_ENTRY.pack(1, 7)), "flag 7"),
    "error not utf-8": (frame(K.ERROR, b"\xff\xfe"), "not UTF-8"),
    "started not json": (frame(K.STARTED, b"\x80\x05"), "not JSON"),
    "started extra key": (
        frame(K.STARTED, b'{"interface":"x","pid":1,"engine":"c","x":1}'),
        "exactly the keys",
    ),
    "started pid string": (
        frame(K.STARTED, b'{"interface":"x","pid":"1","engine":"c"}'),
        "pid is not",
    ),
    "snapshot cells": (frame(K.SNAPSHOT, _snapshot_json(packets=[1])), "packets has 1 cells"),
    "snapshot negative": (
        frame(K.SNAPSHOT, _snapshot_json(active_ips=-1)),
        "active_ips is not a non-negative",
    ),
    "snapshot bool": (frame(K.SNAPSHOT, _snapshot_json(kernel_drops=True)), "kernel_drops"),
    "snapshot float": (frame(K.SNAPSHOT, _snapshot_json(own_drops=1.5)), "own_drops"),
    "snapshot malformed list": (frame(K.SNAPSHOT, _snapshot_json(malformed=[])), "malformed"),
    "snapshot detections row": (frame(K.SNAPSHOT, _snapshot_json(detections=[[1]])), "row"),
    "alerts not a list": (frame(K.ALERTS, b"{}"), "alerts is not a list"),
    "alert severity": (frame(K.ALERTS, _alert_json(severity="panic")), "severity"),
    "alert first_seen": (frame(K.ALERTS, _alert_json(first_seen="now")), "first_seen"),
    "alert counts": (frame(K.ALERTS, _alert_json(counts=[["a", 1, 2]])), "counts row"),
    "alert nested deep": (frame(K.ALERTS, b"[" * 100_000), "not JSON"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
async def test_crafted_frames_break_the_connection(name: str) -> None:
    """Each crafted frame raises WireError naming what was wrong, before any payload is used."""
    stream, message = HOSTILE[name]
    got = Received()
    with pytest.raises(wire.WireError, match=message):
        await _serve(stream, got)
    assert not got.alerts
    assert not got.census
    assert got.totals.current.packets == [0] * N_CELLS


@pytest.mark.parametrize("kind", [k.value for k in wire.Kind])
async def test_a_pickle_is_never_unpickled(kind: int, tmp_path: Path) -> None:
    """A pickle that would run a command, under every kind: an error, and nothing ran."""
    Boom.path = str(tmp_path / "ran")
    body = pickle.dumps(("snapshot", Boom()), protocol=pickle.HIGHEST_PROTOCOL)
    with pytest.raises(wire.WireError):
        await _serve(frame(kind, body))
    assert not Path(Boom.path).exists()
    pickle.loads(body)  # noqa: S301 (the proof that the payload was live: unpickling does run it)
    assert Path(Boom.path).exists()


async def test_a_bad_message_is_counted_as_a_restart() -> None:
    """Under the daemon's supervisor a malformed message counts one capture restart."""
    metrics = Metrics(CollectorRegistry(), process=False)
    calls = 0

    async def loop(health: Health) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            await _serve(frame(42, b""))
        # the second run returns: the supervisor is done

    await supervise("capture", loop, metrics, Backoff(initial=0.01, cap=0.01))
    text = generate_latest(metrics.registry).decode()
    assert total(text, "sentinel_task_restarts_total", task="capture") == 1
    assert calls == 2


def test_throughput_exceeds_what_the_worker_sends() -> None:
    """The worker sends a snapshot a second, alerts ten times a second and a census of up to
    65,536 devices every 10 s; decoding a full census and 1,000 alerts takes well under that."""
    snap, alerts, _ = _produced()
    batch = (alerts * (1000 // len(alerts) + 1))[:1000]
    census = [(i * 2654435761 % (1 << 64), bool(i & 1)) for i in range(65536)]
    frames = [wire.census(census), wire.alerts(batch), wire.snapshot(snap)]
    t0 = time.perf_counter()
    for f in frames:
        kind, n = wire.HEADER.unpack_from(f)
        assert len(f) == wire.HEADER.size + n
        wire.decode(kind, f[wire.HEADER.size :])
    elapsed = time.perf_counter() - t0
    assert elapsed < 1.0, f"{elapsed:.3f}s to decode 10 s worth of worst-case messages"


def measure(reps: int = 20) -> list[str]:
    """Decode time of the largest messages the worker sends (``python -m`` prints them)."""
    snap, alerts, _ = _produced()
    batch = (alerts * (worker.ALERTS_PER_MESSAGE // len(alerts) + 1))[: worker.ALERTS_PER_MESSAGE]
    census = [(i * 2654435761 % (1 << 64), bool(i & 1)) for i in range(65536)]
    lines = []
    for name, f in (
        ("census of 65,536 devices", wire.census(census)),
        (f"{len(batch)} alerts", wire.alerts(batch)),
        ("snapshot", wire.snapshot(snap)),
    ):
        kind, _n = wire.HEADER.unpack_from(f)
        body = f[wire.HEADER.size :]
        t0 = time.perf_counter()
        for _ in range(reps):
            wire.decode(kind, body)
        ms = (time.perf_counter() - t0) / reps * 1000
        lines.append(f"{name}: {len(f):,} bytes, decoded in {ms:.2f} ms")
    return lines


if __name__ == "__main__":
    print("\n".join(measure()))
