"""Main-process side of capture: start the worker, read its messages, publish metrics.

The worker's counters start at zero each time it starts; totals from earlier workers are
kept here, so the exported counters only ever grow. A worker that dies or goes silent
is an error, and so is one that sends bytes that are not a well-formed message (``wire``;
nothing it sends is unpickled): the supervisor in the daemon logs it once, backs off and
starts a new one (counted in ``sentinel_task_restarts_total{task="capture"}``).
"""

from __future__ import annotations

import asyncio
import contextlib
import pickle
import socket
import subprocess
import sys
from typing import TYPE_CHECKING

from sentinel import logsetup
from sentinel.capture import wire
from sentinel.capture.accounting import DIRECTIONS, FAMILIES, PROTOCOLS, Snapshot
from sentinel.errors import CaptureError
from sentinel.model import Alert, LanCounters

if TYPE_CHECKING:
    from collections.abc import Callable

    from sentinel.capture.pipeline import Settings
    from sentinel.metrics import Metrics
    from sentinel.supervise import Health

log = logsetup.get(__name__)
SILENCE = 15.0  # seconds without a message before the worker counts as stuck


class Totals:
    """Cumulative counters across worker restarts."""

    def __init__(self) -> None:
        self.base = _zero()
        self.current = _zero()

    def new_worker(self) -> None:
        self.base = _add(self.base, self.current)
        self.current = _zero()

    def update(self, snap: Snapshot) -> LanCounters:
        self.current = snap
        total = _add(self.base, snap)
        traffic = []
        for i, (p, b) in enumerate(zip(total.packets, total.bytes, strict=True)):
            if p:
                d, f, pr = i // 16, (i // 4) % 4, i % 4
                traffic.append((DIRECTIONS[d], FAMILIES[f], PROTOCOLS[pr], p, b))
        return LanCounters(
            traffic=tuple(traffic),
            malformed=tuple(sorted(total.malformed.items())),
            active_macs=snap.active_macs,
            active_ips=snap.active_ips,
            device_table_full=total.device_table_full,
            kernel_packets=total.kernel_packets,
            kernel_drops=total.kernel_drops,
            own_drops=total.own_drops,
            detector_packets=total.detector_frames,
            detector_aggregated=total.detector_frames_aggregated,
            detections=tuple(
                (d, sev, n) for (d, sev), n in sorted(_merged(self.base, snap).items())
            ),
            detector_tables=tuple(
                (d, size, evicted) for d, (size, evicted) in sorted(snap.detector_tables.items())
            ),
        )


def _merged(a: Snapshot, b: Snapshot) -> dict[tuple[str, str], int]:
    out = dict(a.detections)
    for k, v in b.detections.items():
        out[k] = out.get(k, 0) + v
    return out


def _zero() -> Snapshot:
    n = len(DIRECTIONS) * len(FAMILIES) * len(PROTOCOLS)
    return Snapshot([0] * n, [0] * n, {}, 0, 0, 0, 0, 0)


def _add(a: Snapshot, b: Snapshot) -> Snapshot:
    malformed = dict(a.malformed)
    for k, v in b.malformed.items():
        malformed[k] = malformed.get(k, 0) + v
    return Snapshot(
        [x + y for x, y in zip(a.packets, b.packets, strict=True)],
        [x + y for x, y in zip(a.bytes, b.bytes, strict=True)],
        malformed,
        b.active_macs,
        b.active_ips,
        a.device_table_full + b.device_table_full,
        a.detector_frames + b.detector_frames,
        a.detector_frames_dropped + b.detector_frames_dropped,
        a.kernel_packets + b.kernel_packets,
        a.kernel_drops + b.kernel_drops,
        a.own_drops + b.own_drops,
        detections=_merged(a, b),
        detector_frames_aggregated=a.detector_frames_aggregated + b.detector_frames_aggregated,
    )


async def run(
    health: Health,
    settings: Settings,
    metrics: Metrics,
    totals: Totals,
    on_alert: Callable[[Alert], None] | None = None,
    on_census: Callable[[list[tuple[int, bool]]], None] | None = None,
    capture: socket.socket | None = None,
) -> None:
    """Run one worker until it fails; the caller (supervise) restarts it.

    ``capture`` is the daemon's packet socket (``ring.new_socket``), handed to every worker
    so that neither process needs CAP_NET_RAW once it is made.

    ``on_census`` gets the keyed hashes of devices the LAN showed (ARP, DHCP, IPv6 ND).
    """
    totals.new_worker()
    ours, theirs = socket.socketpair()
    fds = [theirs.fileno()] + ([capture.fileno()] if capture is not None else [])
    proc: subprocess.Popen[bytes] | None = None
    try:
        proc = await asyncio.to_thread(_start, fds, settings)
        theirs.close()
        ours.setblocking(False)
        reader, writer = await asyncio.open_connection(sock=ours)
        try:
            await receive(reader, health, settings, metrics, totals, on_alert, on_census)
        except asyncio.IncompleteReadError:
            code = await asyncio.to_thread(_wait, proc, 2)
            raise CaptureError(f"capture worker exited (exit code {code})") from None
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
    finally:
        theirs.close()
        ours.close()
        if proc is not None:
            await asyncio.to_thread(_stop, proc)


async def receive(
    reader: asyncio.StreamReader,
    health: Health,
    settings: Settings,
    metrics: Metrics,
    totals: Totals,
    on_alert: Callable[[Alert], None] | None = None,
    on_census: Callable[[list[tuple[int, bool]]], None] | None = None,
) -> None:
    """Act on the worker's messages until it stops (IncompleteReadError) or fails.

    Raises CaptureError (``wire.WireError`` for bytes that are not a well-formed message):
    the connection is then broken, and ``run``'s caller restarts the worker.
    """
    while True:
        try:
            async with asyncio.timeout(SILENCE):
                message = await wire.read_message(reader)
        except TimeoutError:
            raise CaptureError(f"capture worker sent nothing for {SILENCE:g}s") from None
        match message:
            case wire.Failed(text):
                raise CaptureError(text)
            case wire.Started(_, pid, engine):
                log.info("capturing", interface=settings.interface, pid=pid, engine=engine)
            case Snapshot():
                metrics.lan.publish(totals.update(message))
                health.ok()
            case wire.Alerts(items) if on_alert is not None:
                for alert in items:
                    on_alert(alert)
            case wire.Census(items) if on_census is not None:
                on_census(items)


def _start(fds: list[int], settings: Settings) -> subprocess.Popen[bytes]:
    """A fresh interpreter that imports only the capture path (not the SNMP, HTTP and
    alerting stacks of the main process), its settings written to its standard input."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "sentinel.capture.worker", *map(str, fds)],
        stdin=subprocess.PIPE,
        pass_fds=fds,
    )
    assert proc.stdin is not None
    with contextlib.suppress(BrokenPipeError):  # died at start: the socket says so
        proc.stdin.write(pickle.dumps(settings))
        proc.stdin.close()
    return proc


def _wait(proc: subprocess.Popen[bytes], timeout: float) -> int | None:
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        return None


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        if _wait(proc, 3) is None:
            proc.kill()
            proc.wait(3)
