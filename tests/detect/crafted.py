"""Helpers for detector tests: crafted packets, a detector's findings after a run."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sentinel.capture.decode import decode
from sentinel.config.detect import DetectConfig
from sentinel.detect.base import Common

if TYPE_CHECKING:
    from collections.abc import Iterable

    from scapy.packet import Packet as ScapyPacket

    from sentinel.detect.base import Finding
    from sentinel.packet import Packet

NETS = ("10.77.0.0/24",)


def pkt(scapy: ScapyPacket, ts: float) -> Packet:
    p = decode(bytes(scapy), ts=ts)
    assert not p.error, p.error
    return p


def make(
    cls: type[Any], settings: Any = None, cfg: DetectConfig | None = None, max_tracked: int = 20000
) -> Any:
    cfg = cfg or DetectConfig()
    settings = settings if settings is not None else getattr(cfg, cls.name)
    return cls(settings, Common(cfg, NETS, max_tracked))


def run(detector: Any, packets: Iterable[Packet], until: float | None = None) -> list[Finding]:
    """Feed packets in order with a tick every second of packet time, then tick to ``until``."""
    out: list[Finding] = []
    next_tick = None
    last = 0.0
    for p in packets:
        if next_tick is None:
            next_tick = p.ts + 1
        while p.ts >= next_tick:
            out += detector.tick(next_tick)
            next_tick += 1
        out += detector.observe(p)
        last = p.ts
    end = until if until is not None else last + 1
    t = next_tick if next_tick is not None else end
    while t <= end:
        out += detector.tick(t)
        t += 1
    return out


def settings(cls: type[Any], **changes: Any) -> Any:
    return replace(getattr(DetectConfig(), cls.name), **changes)
