"""rogue_dhcp6: DHCPv6 ADVERTISE, REPLY and RECONFIGURE messages from a server that
should not be answering.

Windows asks for an IPv6 configuration with DHCPv6 (SOLICIT to ff02::1:2) even on a LAN
without IPv6, and prefers what it gets: mitm6, the best-known attack on Windows
networks, answers every SOLICIT with a link-local address and itself as the laptop's
DNS server, and from then on answers the laptop's name lookups (WPAD, the domain
controller) with its own address. thc-ipv6's fake_dhcps6 does the same with a prefix of
its choosing. This is rogue_dhcp's twin for IPv6 (rogue_ra judges router
advertisements). Only server messages sent to port 546 are judged (from 547, or from
any port: fake_dhcps6 answers from an ephemeral one, and clients take it); a server is
named by the source address and MAC of its messages, which for a relayed
reply is the relay agent (a router) delivering it.

1. A server handing out a link-local address (IA_NA or IA_TA, fe80::/10) is rogue,
   whatever is listed: an address a server assigns must be routable (RFC 8415), and no
   DHCPv6 server does so; mitm6 does (kind ``link_local``).
2. With ``server_macs`` or ``server_addresses`` listed, any other server is rogue
   (``not_allowed``). The pinned gateway (``detect.gateway.mac``: a router serving or
   relaying DHCPv6) is the site's in any case, and never judged by rules 2 and 4.
3. With ``dns_servers`` listed, a server handing out another DNS server is rogue, even
   a listed one (``dns``).
4. Nothing listed: a server that replies during ``learn_period`` (counted from the first
   DHCPv6 message seen) is learned, unless, while another server hands out different
   DNS servers, it hands out itself (``self_dns``: a legitimate server that is not the
   resolver points clients at the resolver; an attacker points them at itself, and is
   flagged even when it answered first, unless it was seen ``ESTABLISHED`` seconds
   before the other: then it is the site's router-and-resolver box). After
   the period, a server that was not learned is rogue (``new_server``).

Rogue findings are critical. Tables: at most ``MAX_SERVERS`` servers (evicting the
oldest), a few hundred bytes each.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, ClassVar

from sentinel.detect import base
from sentinel.detect.base import Bounded, Finding, ip_text, mac_text
from sentinel.detect.dhcp6 import ADVERTISE, REPLY, SERVER_MESSAGES, parse
from sentinel.model import Severity

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sentinel.config.detect import RogueDhcp6 as Settings
    from sentinel.detect.base import Common
    from sentinel.packet import Packet

CLIENT_PORT = 546  # what clients listen on; servers answer from 547, or any port
MAX_SERVERS = 256
ESTABLISHED = 60.0  # seconds by which one server must predate another to be the site's
LINK_LOCAL = ipaddress.ip_network("fe80::/10")


class _Server:
    __slots__ = ("advertises", "dns", "first_seen", "kind", "learned", "mac", "reason", "replies")

    def __init__(self) -> None:
        self.first_seen = -1.0
        self.mac = ""
        self.dns: tuple[str, ...] = ()
        self.advertises = 0
        self.replies = 0
        self.learned = False
        self.kind = ""  # non-empty: found rogue (sticky)
        self.reason = ""

    def flag(self, kind: str, reason: str) -> None:
        self.kind, self.reason = kind, reason


class RogueDhcp6:
    name: ClassVar[str] = "rogue_dhcp6"
    wants: ClassVar[frozenset[str]] = frozenset({base.DHCP6})

    def __init__(self, s: Settings, common: Common) -> None:
        self.s = s
        self.allowed = common.allowed(s)
        macs = set(s.server_macs)
        if common.cfg.gateway.mac:
            macs.add(common.cfg.gateway.mac)
        self.listed_macs = frozenset(macs)
        self.listed_addresses = frozenset(s.server_addresses)
        self.listed = bool(s.server_macs or s.server_addresses)
        self.dns_servers = frozenset(s.dns_servers)
        self.servers: Bounded[str, _Server] = Bounded(MAX_SERVERS)
        self.first_message: float | None = None
        self.malformed = 0

    def observe(self, p: Packet) -> Iterable[Finding]:
        if p.ip_version != 6:
            return ()
        if self.first_message is None:
            self.first_message = p.ts
        if p.dport != CLIENT_PORT:
            return ()  # a client's message, or a relay agent's leg (to port 547)
        m = parse(p.payload)
        if m.error:
            self.malformed += 1
            return ()
        if m.message_type not in SERVER_MESSAGES:
            return ()
        server, mac = ip_text(p.src), mac_text(p.src_mac)
        if self.allowed.source(server, mac):
            return ()
        s = self.servers.setdefault(server, _Server)
        if s.first_seen < 0:
            s.first_seen = p.ts
        s.mac = mac or s.mac
        s.dns = m.dns_servers or s.dns
        if m.message_type == ADVERTISE:
            s.advertises += 1
        elif m.message_type == REPLY:
            s.replies += 1
        if s.kind:
            return [self._finding(server, s, p.ts)]
        flagged: list[tuple[str, _Server]] = []
        if self._judge(server, s, m.addresses, p.ts, flagged):
            flagged.append((server, s))
        elif m.message_type == REPLY and self._learning(p.ts):
            s.learned = True
        return [self._finding(name, srv, p.ts) for name, srv in flagged]

    def _learning(self, ts: float) -> bool:
        return self.first_message is not None and ts < self.first_message + self.s.learn_period

    def _judge(
        self,
        server: str,
        s: _Server,
        addresses: tuple[str, ...],
        ts: float,
        flagged: list[tuple[str, _Server]],
    ) -> bool:
        """Whether ``s`` is found rogue by this message (others it unmasks: ``flagged``)."""
        if any(ipaddress.ip_address(a) in LINK_LOCAL for a in addresses):
            s.flag("link_local", "hands out link-local addresses, which no DHCPv6 server does")
        elif self.dns_servers and s.dns and not set(s.dns) <= self.dns_servers:
            s.flag("dns", "hands out a DNS server other than the configured ones")
        elif s.mac in self.listed_macs or server in self.listed_addresses:
            return False  # a listed server, or the pinned gateway
        elif self.listed:
            s.flag("not_allowed", "not one of the configured DHCPv6 servers")
        else:
            self._self_dns(server, s, flagged)
            if not s.kind and not s.learned and not self._learning(ts):
                s.flag("new_server", "a DHCPv6 server not seen during the learning period")
        return bool(s.kind)

    def _self_dns(self, server: str, s: _Server, flagged: list[tuple[str, _Server]]) -> None:
        """Two servers handing out different DNS servers: the one that hands out itself,
        when the other does not, is the rogue, unless it was seen ``ESTABLISHED``
        seconds before the other."""
        mine = set(s.dns)
        if not mine:
            return
        for other, o in self.servers.items():
            if other == server or o.kind or not o.dns or mine & set(o.dns):
                continue
            s_self, o_self = server in mine, other in o.dns
            if s_self == o_self:
                continue
            rogue, name = (s, server) if s_self else (o, other)
            if (s if rogue is o else o).first_seen - rogue.first_seen >= ESTABLISHED:
                continue  # it served long before the other appeared: the site's
            rogue.flag("self_dns", "hands out itself as DNS server while another server does not")
            if rogue is s:
                return
            flagged.append((name, o))

    def _finding(self, server: str, s: _Server, ts: float) -> Finding:
        dns = next((d for d in s.dns if d != server), "")
        return Finding(
            detector=self.name,
            severity=Severity.CRITICAL,
            identifier=server,
            summary="Rogue DHCPv6 server {source}: " + s.reason,
            ts=ts,
            src_ip=server,
            src_mac=s.mac,
            target=dns,
            kind=s.kind,
            counts={"advertises": s.advertises, "replies": s.replies},
            description="Clients that take its configuration ask "
            + ("{target}" if dns else "{source}")
            + " for every name they look up: it can send them anywhere (Windows prefers "
            "IPv6 DNS even on an IPv4 LAN).",
        )

    def tick(self, now: float) -> Iterable[Finding]:
        return ()

    def stats(self) -> dict[str, int]:
        return {
            "servers": len(self.servers),
            "evictions": self.servers.evictions,
            "malformed": self.malformed,
        }
