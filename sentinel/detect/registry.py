"""The detectors by stable id, in an explicit table (no import side effects)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sentinel.detect import (
    arp_spoof,
    blocklist,
    brute_force,
    dhcp_starvation,
    dns_bypass,
    dns_tunnel,
    flood,
    host_sweep,
    mac_flood,
    nd_spoof,
    new_device,
    port_scan,
    rogue_dhcp,
    rogue_dhcp6,
    rogue_ra,
    syn_flood,
)
from sentinel.detect.base import Common

if TYPE_CHECKING:
    from sentinel.config.detect import DetectConfig
    from sentinel.detect.base import Detector


def detector_classes() -> dict[str, type[Any]]:
    return {
        "port_scan": port_scan.PortScan,
        "host_sweep": host_sweep.HostSweep,
        "syn_flood": syn_flood.SynFlood,
        "flood": flood.Flood,
        "dhcp_starvation": dhcp_starvation.DhcpStarvation,
        "arp_spoof": arp_spoof.ArpSpoof,
        "rogue_dhcp": rogue_dhcp.RogueDhcp,
        "rogue_ra": rogue_ra.RogueRa,
        "rogue_dhcp6": rogue_dhcp6.RogueDhcp6,
        "nd_spoof": nd_spoof.NdSpoof,
        "dns_tunnel": dns_tunnel.DnsTunnel,
        "brute_force": brute_force.BruteForce,
        "mac_flood": mac_flood.MacFlood,
        "dns_bypass": dns_bypass.DnsBypass,
        "blocklist": blocklist.Blocklist,
        "new_device": new_device.NewDevice,
    }


def build(cfg: DetectConfig, networks: tuple[str, ...]) -> list[Detector]:
    """Every enabled detector, configured."""
    common = Common(cfg, networks, cfg.max_tracked)
    out = []
    for name, cls in detector_classes().items():
        settings = getattr(cfg, name)
        if settings.enabled:
            out.append(cls(settings, common))
    return out
