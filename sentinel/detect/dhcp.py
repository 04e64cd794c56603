"""DHCP (BOOTP) messages to the few fields detectors need: never raises.

``parse()`` takes the UDP payload of a DHCP packet and returns a ``Dhcp`` whose
``error`` is empty when the message made sense, or a reason (``truncated``,
``bad_magic``, ``bad_option``) when it did not. Options are read up to the first
malformed one; option overload (52) and long options split over several instances are
not needed for detection and are not handled. The client identifier (option 61) is
what a server keys its leases on when a client sends one (dnsmasq, ISC, Windows), so
``client_id`` names the client a lease is for as much as ``chaddr`` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sentinel.detect.base import ip_text, mac_text

if TYPE_CHECKING:
    from sentinel.packet import Packet

BOOTREQUEST, BOOTREPLY = 1, 2
DISCOVER, OFFER, REQUEST, DECLINE, ACK, NAK, RELEASE, INFORM = 1, 2, 3, 4, 5, 6, 7, 8
MAGIC = b"\x63\x82\x53\x63"
FIXED = 236  # the BOOTP header before the magic cookie
MAX_LIST = 16  # addresses kept per list option
MAX_CLIENT_ID = 32  # bytes of a client identifier kept (RFC 4361's are 15 to 23)


@dataclass(frozen=True, slots=True)
class Dhcp:
    """One DHCP message; addresses in text form, ``""`` or ``()`` when absent."""

    op: int = 0
    xid: int = 0
    ciaddr: str = ""
    yiaddr: str = ""
    siaddr: str = ""
    giaddr: str = ""
    chaddr: str = ""  # the client's MAC (when htype is Ethernet)
    message_type: int = 0  # option 53
    server_id: str = ""  # option 54
    routers: tuple[str, ...] = ()  # option 3
    dns_servers: tuple[str, ...] = ()  # option 6
    lease_time: int = -1  # option 51, seconds
    client_id: str = ""  # option 61: a hardware type 1 with a MAC as that MAC, else hex
    error: str = ""


def _client_id(value: bytes) -> str:
    """Option 61 as a key: type 1 (Ethernet) and six bytes is the MAC, anything else
    (RFC 4361's IAID and DUID, a name) its type and bytes in hex, ``id:01ab...``."""
    if len(value) == 7 and value[0] == 1:
        return mac_text(value[1:])
    return "id:" + value.hex()


def _addresses(value: bytes) -> tuple[str, ...]:
    return tuple(ip_text(value[i : i + 4]) for i in range(0, min(len(value), 4 * MAX_LIST) - 3, 4))


_LAST: list[tuple[bytes, int, Dhcp]] = []  # the last frame parse_packet read, and its message


def parse_packet(p: Packet) -> Dhcp:
    """``parse(p.payload)``, once per packet however many detectors ask (the frame is
    kept with its message, so the identity test cannot meet another frame)."""
    last = _LAST[0] if _LAST else None
    if last is not None and last[0] is p.frame and last[1] == p.payload_offset:
        return last[2]
    m = parse(p.payload)
    _LAST[:] = [(p.frame, p.payload_offset, m)]
    return m


def parse(data: bytes) -> Dhcp:
    """Parse a BOOTP/DHCP payload; problems are reported in ``error``, never raised."""
    if len(data) < FIXED:
        return Dhcp(error="truncated")
    op, htype, hlen = data[0], data[1], data[2]
    xid = int.from_bytes(data[4:8], "big")
    ciaddr, yiaddr, siaddr, giaddr = (ip_text(data[o : o + 4]) for o in (12, 16, 20, 24))
    chaddr = mac_text(data[28:34]) if htype == 1 and hlen == 6 else ""
    if len(data) < FIXED + 4:
        return Dhcp(op, xid, ciaddr, yiaddr, siaddr, giaddr, chaddr, error="truncated")
    if data[FIXED : FIXED + 4] != MAGIC:
        return Dhcp(op, xid, ciaddr, yiaddr, siaddr, giaddr, chaddr, error="bad_magic")
    message_type, server_id, lease_time, client_id = 0, "", -1, ""
    routers: tuple[str, ...] = ()
    dns_servers: tuple[str, ...] = ()
    error = ""
    off, end = FIXED + 4, len(data)
    while off < end:
        code = data[off]
        if code == 255:  # end
            break
        if code == 0:  # pad
            off += 1
            continue
        if off + 2 > end or off + 2 + data[off + 1] > end:
            error = "bad_option"
            break
        value = data[off + 2 : off + 2 + data[off + 1]]
        off += 2 + len(value)
        if code == 53 and len(value) == 1 and not message_type:
            message_type = value[0]
        elif code == 54 and len(value) == 4 and not server_id:
            server_id = ip_text(value)
        elif code == 3 and len(value) >= 4 and not routers:
            routers = _addresses(value)
        elif code == 6 and len(value) >= 4 and not dns_servers:
            dns_servers = _addresses(value)
        elif code == 51 and len(value) == 4 and lease_time < 0:
            lease_time = int.from_bytes(value, "big")
        elif code == 61 and value and not client_id:
            client_id = _client_id(value[:MAX_CLIENT_ID])
    return Dhcp(  # made once (dataclasses.replace costs more than the parse)
        op,
        xid,
        ciaddr,
        yiaddr,
        siaddr,
        giaddr,
        chaddr,
        message_type=message_type,
        server_id=server_id,
        routers=routers,
        dns_servers=dns_servers,
        lease_time=lease_time,
        client_id=client_id,
        error=error,
    )
