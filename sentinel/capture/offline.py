"""``sentinel analyze``: pcap files through the same pipeline as live capture."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sentinel.capture.decode import LINK_ETHERNET, decode
from sentinel.capture.pcapfile import Region, scan
from sentinel.capture.pipeline import Pipeline, Settings, make_engine

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from pathlib import Path

    from sentinel.model import Alert

DRAIN_EVERY = 512


def analyze(files: Sequence[Path], settings: Settings) -> Iterator[Alert]:
    """Alerts of every file, in the order they became due; time is packet time."""
    engine = make_engine(settings)
    pipeline = Pipeline(settings, engine)
    assert engine is not None
    frame = pipeline.frame
    n = 0
    for path in files:
        for item in scan(path):
            if isinstance(item, Region):
                yield from _region(pipeline, item)
                continue
            ts, linktype, data, wirelen = item
            if linktype == LINK_ETHERNET:
                frame(data, wirelen, ts)
                n += 1
                if n % DRAIN_EVERY == 0:
                    yield from pipeline.drain()
            else:  # no Ethernet header: no accounting, every packet to the detectors
                p = decode(data, linktype, ts, wirelen)
                if not p.error:
                    yield from engine.packet(p)
    yield from pipeline.drain()
    yield from engine.finish()


def _region(pipeline: Pipeline, r: Region) -> Iterator[Alert]:
    """A classic pcap file: the accounting walks it a batch per call."""
    if r.linktype != LINK_ETHERNET:
        engine = pipeline.engine
        assert engine is not None
        for ts, linktype, data, wirelen in r.records():
            p = decode(data, linktype, ts, wirelen)
            if not p.error:
                yield from engine.packet(p)
        return
    for _ in r.batches(pipeline.pcap, DRAIN_EVERY):
        yield from pipeline.drain()
