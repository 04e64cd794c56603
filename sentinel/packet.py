"""The decoded packet: what capture hands to detection, below both.

``capture/decode.py`` fills a ``Packet`` from a frame; the detectors read it. Neither
imports the other: this module and the protocol numbers it names are all they share.
"""

from __future__ import annotations

from dataclasses import dataclass

# Link types (pcap LINKTYPE_*)
LINK_ETHERNET = 1
LINK_RAW = 101
LINK_LINUX_SLL = 113
LINK_LINUX_SLL2 = 276
LINK_IPV4 = 228
LINK_IPV6 = 229
LINKTYPES = (LINK_ETHERNET, LINK_RAW, LINK_LINUX_SLL, LINK_LINUX_SLL2, LINK_IPV4, LINK_IPV6, 12)

ETH_IPV4 = 0x0800
ETH_ARP = 0x0806
ETH_IPV6 = 0x86DD
ETH_VLAN = (0x8100, 0x88A8, 0x9100)

PROTO_ICMP = 1
PROTO_TCP = 6
PROTO_UDP = 17
PROTO_ICMPV6 = 58
IPV6_EXTENSIONS = (0, 43, 44, 51, 60, 135, 139, 140)  # hop-by-hop, routing, fragment, AH, ...

TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK, TCP_URG = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20

# ICMP errors that carry the header of the packet they answer
ICMP_UNREACHABLE, ICMP_TIME_EXCEEDED = 3, 11
ICMPV6_UNREACHABLE, ICMPV6_TIME_EXCEEDED = 1, 3
# Neighbour discovery (ICMPv6)
ND_ROUTER_SOLICIT, ND_ROUTER_ADVERT, ND_NEIGHBOR_SOLICIT, ND_NEIGHBOR_ADVERT = 133, 134, 135, 136
ND_REDIRECT = 137


@dataclass(slots=True)
class Packet:
    """What one frame says; fields that do not apply keep their defaults."""

    ts: float = 0.0
    wirelen: int = 0
    error: str = ""  # non-empty: why the frame could not be decoded (counted, not raised)
    src_mac: bytes = b""
    dst_mac: bytes = b""
    vlan: int = -1
    ethertype: int = 0
    # ARP
    arp_op: int = 0
    arp_sha: bytes = b""
    arp_spa: bytes = b""
    arp_tha: bytes = b""
    arp_tpa: bytes = b""
    # IP
    ip_version: int = 0
    src: bytes = b""  # 4 or 16 bytes
    dst: bytes = b""
    proto: int = -1
    ttl: int = 0
    fragment: bool = False  # a non-first fragment: no transport header here
    # transport
    sport: int = 0
    dport: int = 0
    tcp_flags: int = 0
    tcp_seq: int = 0
    tcp_window: int = -1  # a kernel's reset carries 0; -1: not TCP
    icmp_type: int = -1
    icmp_code: int = -1
    # ICMP errors (unreachable, time exceeded): the header of the packet they answer
    inner_src: bytes = b""
    inner_dst: bytes = b""
    inner_proto: int = -1
    inner_sport: int = 0
    inner_dport: int = 0
    payload_offset: int = 0  # into the frame: the application payload (DNS, DHCP)
    payload_length: int = 0
    frame: bytes = b""  # the frame itself, for payload parsers and evidence
    linktype: int = LINK_ETHERNET  # of the frame (evidence files keep it)

    @property
    def payload(self) -> bytes:
        return self.frame[self.payload_offset : self.payload_offset + self.payload_length]
