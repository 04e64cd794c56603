"""``sentinel analyze``: capture files through the same pipeline as live capture.

Several files form one timeline, ordered by packet time whatever their order on the
command line (a merge, as mergecap does). A damaged file is analysed up to the damage and
reported; the other files are still analysed. A link type the decoder does not know is
an error naming it (a warning per interface when the file has others it knows).
"""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sentinel.capture.decode import LINK_ETHERNET, decode
from sentinel.capture.pcapfile import Capture, Interface, PcapError, Region, linktype_name
from sentinel.capture.pipeline import Pipeline, Settings, make_engine
from sentinel.packet import LINKTYPES

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from pathlib import Path
    from typing import BinaryIO

    from sentinel.capture.pcapfile import Record
    from sentinel.detect.engine import Engine
    from sentinel.model import Alert

DRAIN_EVERY = 512
DECODED = "Ethernet, Linux cooked (SLL, SLL2), raw IPv4/IPv6"


@dataclass
class FileReport:
    """What happened to one input file."""

    name: str
    packets: int = 0  # packets analysed
    bytes: int = 0  # how far into the file (exact for pcap regions, else close)
    size: int = 0  # bytes, 0 when unknown (a stream)
    linktypes: list[int] = field(default_factory=list)  # one per interface
    skipped: dict[int, int] = field(default_factory=dict)  # link type -> packets not decoded
    problem: PcapError | None = None
    done: bool = False

    @property
    def damaged(self) -> bool:
        """Cut off or damaged after a readable start (analysed up to the damage)."""
        return self.problem is not None and self.problem.offset >= 0 and self.readable

    @property
    def readable(self) -> bool:
        return bool(self.linktypes)

    @property
    def failed(self) -> bool:
        """Nothing of the file could be analysed."""
        return (self.problem is not None and not self.damaged) or self.undecodable

    @property
    def undecodable(self) -> bool:
        return bool(self.linktypes) and not any(lt in LINKTYPES for lt in self.linktypes)

    def status(self) -> str:
        if self.problem is not None:
            p = self.problem
            return f"{p.what} at offset {p.offset}" if p.offset >= 0 else p.what
        if self.undecodable:
            return "link type not decoded"
        return "ok"


class Analysis:
    """One ``sentinel analyze`` run: alerts out, a report per file, warnings to ``warn``."""

    def __init__(
        self,
        files: Sequence[str | Path],
        settings: Settings,
        warn: Callable[[str], None] = lambda _m: None,
        progress: Callable[[Analysis], None] | None = None,
        stdin: BinaryIO | None = None,
    ) -> None:
        self.files = [str(f) for f in files]
        self.reports = [FileReport(f) for f in self.files]
        self.settings = settings
        self.warn = warn
        self.on_progress = progress or (lambda _a: None)
        self.stdin = stdin
        engine = make_engine(settings)
        assert engine is not None
        self.engine: Engine = engine
        self.pipeline = Pipeline(settings, engine)
        self.alerts: dict[str, int] = {}  # detector -> alerts raised
        self.started = time.monotonic()
        self._n = 0

    @property
    def packets(self) -> int:
        return sum(r.packets for r in self.reports)

    def run(self) -> Iterator[Alert]:
        """Alerts of every file, in the order they became due; time is packet time."""
        self.started = time.monotonic()
        for alert in self._alerts():
            if alert.resolved is None:
                self.alerts[alert.detector] = self.alerts.get(alert.detector, 0) + 1
            yield alert

    def _alerts(self) -> Iterator[Alert]:
        if len(self.files) == 1:
            yield from self._single(self.reports[0])
        else:
            streams = [self._records(r) for r in self.reports]
            yield from self._timeline(heapq.merge(*streams, key=lambda rec: rec[0]))
        yield from self.pipeline.drain(final=True)
        yield from self.engine.finish()

    # -- one file: a classic pcap is walked a region at a time by the accounting ----------

    def _single(self, report: FileReport) -> Iterator[Alert]:
        cap = self._open(report)
        try:
            for item in cap.items():
                if isinstance(item, Region) and item.linktype == LINK_ETHERNET:
                    for n, off in item.progress(self.pipeline.pcap, DRAIN_EVERY):
                        report.packets += n
                        report.bytes = off
                        self.on_progress(self)
                        yield from self.pipeline.drain()
                elif isinstance(item, Region):
                    yield from self._timeline(self._counted(report, item.records()))
                else:
                    yield from self._timeline(self._counted(report, iter((item,))))
        except PcapError as exc:
            report.problem = exc
        self._finish(report, cap)

    # -- several files: one timeline --------------------------------------------------------

    def _records(self, report: FileReport) -> Iterator[Record]:
        """One file's packets with a decodable link type; damage ends it, reported."""
        cap = self._open(report)
        try:
            for item in cap.items():
                records = item.records() if isinstance(item, Region) else iter((item,))
                yield from self._counted(report, records)
        except PcapError as exc:
            report.problem = exc
        self._finish(report, cap)

    def _counted(self, report: FileReport, records: Iterator[Record]) -> Iterator[Record]:
        for rec in records:
            lt = rec[1]
            if lt not in LINKTYPES:
                report.skipped[lt] = report.skipped.get(lt, 0) + 1
                continue
            report.packets += 1
            report.bytes += 16 + len(rec[2])
            yield rec

    def _timeline(self, records: Iterator[Record]) -> Iterator[Alert]:
        pipeline, engine = self.pipeline, self.engine
        frame = pipeline.frame
        for ts, linktype, data, wirelen in records:
            if linktype == LINK_ETHERNET:
                frame(data, wirelen, ts)
            else:  # no Ethernet header: no accounting, the packet to the detectors
                yield from pipeline.drain()  # after the Ethernet frames before it
                p = decode(data, linktype, ts, wirelen)
                if p.error:
                    key = f"decode_{p.error}"
                    pipeline.decode_errors[key] = pipeline.decode_errors.get(key, 0) + 1
                else:
                    yield from engine.packet(p)
            self._n += 1
            if self._n % DRAIN_EVERY == 0:
                self.on_progress(self)
                yield from pipeline.drain()

    # -- files opened and closed ------------------------------------------------------------

    def _open(self, report: FileReport) -> Capture:
        def interface(i: Interface) -> None:
            report.linktypes.append(i.linktype)

        cap = Capture(report.name, on_interface=interface, stdin=self.stdin)
        return cap

    def _finish(self, report: FileReport, cap: Capture) -> None:
        report.done = True
        report.size = cap.size
        if cap.size and report.problem is None:
            report.bytes = cap.size
        if report.problem is not None:
            self.warn(str(report.problem))
        if report.undecodable:
            kinds = ", ".join(linktype_name(lt) for lt in dict.fromkeys(report.linktypes))
            self.warn(
                f"{report.name}: link type {kinds} is not decoded by sentinel "
                f"(it decodes {DECODED})"
            )
            return
        for index, lt in enumerate(report.linktypes):
            if lt not in LINKTYPES:
                self.warn(
                    f"{report.name}: interface {index} has link type {linktype_name(lt)}, "
                    f"not decoded by sentinel: its {report.skipped.get(lt, 0)} packets skipped"
                )


def analyze(files: Sequence[Path], settings: Settings) -> Iterator[Alert]:
    """Alerts of every file, in the order they became due; time is packet time. Damage
    and link types not decoded are only reported by ``Analysis``."""
    return Analysis(files, settings).run()
