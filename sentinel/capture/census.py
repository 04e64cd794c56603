"""Devices for the site census from the LAN: source MACs of ARP, DHCP and IPv6 ND frames.

Those are the frames every device sends to take part in the network, so a device online
sends them within minutes. Only keyed hashes leave this module (``privacy.device_hash``
under the census key); the main process merges them with the switches' tables.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sentinel.privacy import census_key, device_hash

if TYPE_CHECKING:
    from sentinel.packet import Packet

MAX_PENDING = 65536  # hashes between two hand-overs; a MAC flood is cut here
ND_TYPES = frozenset((133, 134, 135, 136))  # router/neighbour solicitation, advertisement


class CensusTap:
    """Collects (hash, locally administered) of devices seen since the last ``take()``."""

    def __init__(self, site_key: bytes) -> None:
        self._key = census_key(site_key)
        self.pending: dict[int, bool] = {}
        self.dropped = 0

    def packet(self, p: Packet) -> None:
        mac = p.src_mac
        if len(mac) != 6 or mac[0] & 0x01 or not any(mac):
            return
        if not (
            p.ethertype == 0x0806
            or (p.proto == 17 and p.sport in (67, 68) and p.dport in (67, 68))
            or (p.ip_version == 6 and p.proto == 58 and p.icmp_type in ND_TYPES)
        ):
            return
        if len(self.pending) >= MAX_PENDING:
            self.dropped += 1
            return
        self.pending[device_hash(self._key, mac)] = bool(mac[0] & 0x02)

    def take(self) -> list[tuple[int, bool]]:
        out = list(self.pending.items())
        self.pending = {}
        return out
