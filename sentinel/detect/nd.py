"""IPv6 neighbour discovery (RFC 4861) messages to the few fields detectors need.

``parse()`` takes the ICMPv6 body after type, code and checksum (``Packet.payload``) of
a router advertisement (134), neighbour solicitation (135) or advertisement (136) and
returns an ``Nd`` whose ``error`` is empty when the message made sense. Options are
read up to the first malformed one, or to the end of what was captured: the capture
filter may cut a long router advertisement, and its fixed part still counts.
"""

from __future__ import annotations

from dataclasses import dataclass

from sentinel.detect.base import ip_text, mac_text
from sentinel.packet import ND_NEIGHBOR_ADVERT, ND_NEIGHBOR_SOLICIT, ND_ROUTER_ADVERT

OPT_SOURCE_LL, OPT_TARGET_LL, OPT_PREFIX = 1, 2, 3
NA_ROUTER, NA_SOLICITED, NA_OVERRIDE = 0x80, 0x40, 0x20
RA_MANAGED, RA_OTHER = 0x80, 0x40  # "ask DHCPv6 for addresses", "for other settings"
MAX_OPTIONS = 16  # a real message carries a handful


@dataclass(frozen=True, slots=True)
class Nd:
    """One ND message; ``""`` where a field is absent."""

    kind: int = 0  # the ICMPv6 type
    router_lifetime: int = -1  # RA: seconds (0: "do not use me as default router")
    flags: int = 0  # NA: router, solicited, override (the first byte); RA: managed, other
    target: str = ""  # NS/NA: the address asked for or advertised
    source_mac: str = ""  # option 1 (source link-layer address)
    target_mac: str = ""  # option 2 (target link-layer address)
    prefixes: tuple[str, ...] = ()  # RA: option 3, "prefix/length"
    error: str = ""

    @property
    def override(self) -> bool:
        return bool(self.flags & NA_OVERRIDE)


def parse(kind: int, body: bytes) -> Nd:
    """Parse the body of ND message ``kind``; problems go to ``error``, never raised."""
    if kind == ND_ROUTER_ADVERT:
        fixed = 12
    elif kind in (ND_NEIGHBOR_SOLICIT, ND_NEIGHBOR_ADVERT):
        fixed = 20
    else:
        return Nd(kind=kind, error="not_nd")
    if len(body) < fixed:
        return Nd(kind=kind, error="truncated")
    lifetime, flags, target = -1, 0, ""
    if kind == ND_ROUTER_ADVERT:
        lifetime = int.from_bytes(body[2:4], "big")
        flags = body[1]
    else:
        flags = body[0] if kind == ND_NEIGHBOR_ADVERT else 0
        target = ip_text(body[4:20])
    macs = {OPT_SOURCE_LL: "", OPT_TARGET_LL: ""}
    prefixes: list[str] = []
    error = ""
    off = fixed
    for _ in range(MAX_OPTIONS):
        if off + 2 > len(body):
            break
        otype, olen = body[off], body[off + 1] * 8
        if olen == 0:
            error = "bad_option"  # RFC 4861 4.6: a zero length is invalid
            break
        value = body[off + 2 : off + olen]
        if off + olen > len(body):
            break  # cut by the capture: keep what came before
        if otype in macs and len(value) >= 6 and not macs[otype]:
            macs[otype] = mac_text(value[:6])
        elif otype == OPT_PREFIX and len(value) >= 30:
            prefixes.append(f"{ip_text(value[14:30])}/{value[0]}")
        off += olen
    return Nd(
        kind=kind,
        router_lifetime=lifetime,
        flags=flags,
        target=target,
        source_mac=macs[OPT_SOURCE_LL],
        target_mac=macs[OPT_TARGET_LL],
        prefixes=tuple(prefixes),
        error=error,
    )
