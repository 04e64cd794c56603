"""The same packet pipeline for live capture and pcap files: accounting, then the deep
decoder on the frames detectors want."""

from __future__ import annotations

from dataclasses import dataclass, field

from sentinel.capture.accounting import Accounting, Snapshot
from sentinel.capture.decode import LINK_ETHERNET, Packet, decode


@dataclass(slots=True)
class Settings:
    """What the worker needs (plain values: it crosses a process boundary)."""

    interface: str | None = None
    networks: tuple[str, ...] = ()
    ring_size_mb: int = 32
    snaplen: int = 65535
    promiscuous: bool = True
    device_window: float = 300.0
    max_devices: int = 65536
    snapshot_interval: float = 1.0
    extra: dict[str, object] = field(default_factory=dict)


class Pipeline:
    """Frames in; counters and decoded detector packets out."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.accounting = Accounting(
            settings.networks, device_cap=settings.max_devices, window=settings.device_window
        )
        self.frame = self.accounting.frame  # the hot path, bound once
        self.decoded = 0
        self.kernel_packets = 0  # live capture: what the kernel saw and dropped
        self.kernel_drops = 0

    def drain(self) -> list[Packet]:
        """Decode the frames the detectors want; undecodable ones are counted by reason."""
        out = []
        malformed = self.accounting.malformed
        for ts, wirelen, raw in self.accounting.detector_batch():
            p = decode(raw, LINK_ETHERNET, ts, wirelen)
            if p.error:
                key = f"decode_{p.error}"
                malformed[key] = malformed.get(key, 0) + 1
                continue
            out.append(p)
        self.decoded += len(out)
        return out

    def snapshot(self, own_drops: int = 0) -> Snapshot:
        snap = self.accounting.snapshot()
        snap.kernel_packets, snap.kernel_drops = self.kernel_packets, self.kernel_drops
        snap.own_drops = self.accounting.detector_frames_dropped + own_drops
        return snap
