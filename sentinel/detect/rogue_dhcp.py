"""rogue_dhcp: DHCP OFFERs and ACKs from a server that should not be answering.

A rogue DHCP server (an attacker's laptop, a home router plugged in backwards) hands
clients its own router or DNS server: every lease it wins is a man in the middle. Only
server replies (OFFER, ACK) are judged; a server is named by its server identifier
(option 54), else by the packet's source address.

With ``servers`` configured, any other server is rogue, and that is the reliable
setup. One that is not listed but hands out an address on site, the site's router
(``routers``, else the pinned gateway) and, when ``dns_servers`` is set, the site's DNS
servers is an ordinary second server (a wireless controller, a phone system's box):
a warning to list it, not a critical rogue. Should it later hand out another router or
DNS server, it is critical from then on.

Without ``servers`` the detector has to tell the servers apart from DHCP packets alone,
in this order:

1. A non-relayed reply offering an address outside the site's networks is rogue (a
   home router's 192.168.x.y on a 10.x school LAN).
2. With the gateway pinned (``detect.gateway.ip``), a non-relayed reply naming any
   other router is rogue.
3. Without a pinned gateway, two servers handing out different routers are in
   conflict, and one of them is rogue:
   - if one appeared at least ``ESTABLISHED`` seconds before the other, the newcomer
     is rogue (a daemon that has watched the LAN for a while knows who was first);
   - otherwise (a capture starting mid-attack, or both seen in the same exchange) the
     server offering *itself* as router, while the other offers a different router,
     is rogue: a legitimate DHCP server that is not the router points clients at the
     router; an attacker points them at itself. A rogue that answers first, or wins
     the race for a lease, is still the one flagged;
   - if both or neither offer themselves, the one seen later is flagged.
4. Servers that sent an ACK during ``learn_period`` (counted from the first DHCP
   packet) and were not found rogue are learned; after the period, a server that was
   not learned is rogue.

A reply with ``giaddr`` set was relayed from another network and is spared rules 1
and 2 (its router is that network's), but only when the relay agent's part in it is
seen: with ``detect.gateway.mac`` pinned, when the gateway (the relay agent, a router)
sent it; without, when it comes from the address in giaddr (the agent delivering it
from its interface on the clients' network, which is what giaddr names) or goes to
that address's server port (the server's leg, seen on a mirror port). A laptop filling
in giaddr is judged as the server it is.

Independently, ``routers`` and ``dns_servers``, when configured, are checked in every
reply, even from an allowed server.

Trade-offs: a longer ``learn_period`` lets a rogue that agrees on the router (a DNS
hijacker) slip into the learned set if it shows up early; a shorter one flags a second
legitimate server that happened to stay quiet. Without the pinned gateway a legitimate
router-and-DHCP box (router = itself) and a rogue that also offers itself, seen at the
same moment, can only be told apart by order. Only DHCP packets are seen here, so
"which MAC forwards the off-site traffic" is not used; pin the gateway or list the
servers to remove the guesswork.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, ClassVar

from sentinel.detect import base
from sentinel.detect.base import Bounded, Finding, ip_text, mac_text
from sentinel.detect.dhcp import ACK, BOOTREPLY, OFFER, Dhcp, parse_packet
from sentinel.model import Severity

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sentinel.config.detect import RogueDhcp as Settings
    from sentinel.detect.base import Common
    from sentinel.packet import Packet

# Seconds by which one server must predate another for "first seen" to decide a conflict.
ESTABLISHED = 60.0
UNLISTED = "unlisted"  # a server missing from ``servers`` that hands out the site's settings
UNSET = ("", str(ipaddress.IPv4Address(0)))  # no address
SERVER_PORT = 67  # where a server answers a relay agent


class _Server:
    __slots__ = (
        "acks",
        "dns",
        "first_seen",
        "kind",
        "learned",
        "mac",
        "offers",
        "reason",
        "routers",
        "severity",
    )

    def __init__(self) -> None:
        self.first_seen = -1.0
        self.mac = ""
        self.routers: tuple[str, ...] = ()
        self.dns: tuple[str, ...] = ()
        self.offers = 0
        self.acks = 0
        self.learned = False
        self.kind = ""  # non-empty: found rogue (sticky, but UNLISTED may still escalate)
        self.reason = ""
        self.severity = Severity.CRITICAL

    def flag(self, kind: str, reason: str, severity: Severity = Severity.CRITICAL) -> None:
        self.kind, self.reason, self.severity = kind, reason, severity


class RogueDhcp:
    name: ClassVar[str] = "rogue_dhcp"
    wants: ClassVar[frozenset[str]] = frozenset({base.DHCP})

    def __init__(self, s: Settings, common: Common) -> None:
        self.s = s
        self.allowed = common.allowed(s)
        self.gateway = common.cfg.gateway.ip or ""
        self.gateway_mac = common.cfg.gateway.mac or ""
        self.configured = frozenset(s.servers)
        self.networks = [ipaddress.ip_network(n, strict=False) for n in common.networks]
        self.servers: Bounded[str, _Server] = Bounded(common.max_tracked)
        self.first_packet: float | None = None
        self.malformed = 0

    def observe(self, p: Packet) -> Iterable[Finding]:
        if self.first_packet is None:
            self.first_packet = p.ts
        m = parse_packet(p)
        if m.error:
            self.malformed += 1
            return ()
        if m.op != BOOTREPLY or m.message_type not in (OFFER, ACK):
            return ()
        src = ip_text(p.src) if p.src else ""
        server = m.server_id if m.server_id not in UNSET else src
        if server in UNSET:
            return ()
        mac = mac_text(p.src_mac)
        if self.allowed.source(server, mac) or self.allowed.source(src, mac):
            return ()
        s = self.servers.setdefault(server, _Server)
        if s.first_seen < 0:
            s.first_seen = p.ts
        s.mac = mac or s.mac
        s.routers = m.routers or s.routers
        s.dns = m.dns_servers or s.dns
        if m.message_type == OFFER:
            s.offers += 1
        else:
            s.acks += 1
        flagged: list[tuple[str, _Server]] = []
        if not s.kind or s.kind == UNLISTED:
            self._judge(server, s, m, p.ts, flagged, self._relayed(m, p, src, mac))
        if s.kind:
            flagged.append((server, s))
        elif m.message_type == ACK and p.ts < self.first_packet + self.s.learn_period:
            s.learned = True
        return [self._finding(name, srv, p.ts) for name, srv in flagged]

    def _relayed(self, m: Dhcp, p: Packet, src: str, mac: str) -> bool:
        """A reply the relay agent (a router) is seen taking part in: with the gateway's
        MAC pinned, sent by it; without, from the address giaddr names (the agent
        delivering it) or to that address's server port (the server answering it)."""
        if m.giaddr in UNSET:
            return False
        if self.gateway_mac:
            return mac == self.gateway_mac
        if src == m.giaddr:
            return True
        return p.dport == SERVER_PORT and bool(p.dst) and ip_text(p.dst) == m.giaddr

    def _judge(
        self,
        server: str,
        s: _Server,
        m: Dhcp,
        ts: float,
        flagged: list[tuple[str, _Server]],
        relayed: bool,
    ) -> None:
        if self.configured:
            if server not in self.configured:
                self._unlisted(s, m, relayed)
                return
        else:
            if (
                self.networks
                and not relayed
                and m.yiaddr not in UNSET
                and not self._on_site(m.yiaddr)
            ):
                s.flag("foreign_range", "hands out addresses outside the site's networks")
                return
            if self.gateway:
                if not relayed and m.routers and self.gateway not in m.routers:
                    s.flag("router", "hands out a router other than the site's gateway")
                    return
            elif s.routers:
                self._conflicts(server, s, flagged)
                if s.kind:
                    return
            learning = (
                self.first_packet is not None and ts < self.first_packet + self.s.learn_period
            )
            if not learning and not s.learned:
                s.flag("new_server", "a DHCP server that was not seen during the learning period")
                return
        if self.s.routers and m.routers and not set(m.routers) <= set(self.s.routers):
            s.flag("router", "hands out a router other than the configured ones")
        elif (
            self.s.dns_servers
            and m.dns_servers
            and not set(m.dns_servers) <= set(self.s.dns_servers)
        ):
            s.flag("dns", "hands out a DNS server other than the configured ones")

    def _unlisted(self, s: _Server, m: Dhcp, relayed: bool) -> None:
        """A server missing from ``servers``: a warning if all it hands out is the site's."""
        routers = self.s.routers or ((self.gateway,) if self.gateway else ())
        if self.networks and not relayed and m.yiaddr not in UNSET and not self._on_site(m.yiaddr):
            s.flag("foreign_range", "hands out addresses outside the site's networks")
        elif routers and m.routers and not set(m.routers) <= set(routers):
            s.flag("router", "not a configured DHCP server, and hands out another router")
        elif (
            self.s.dns_servers
            and m.dns_servers
            and not set(m.dns_servers) <= set(self.s.dns_servers)
        ):
            s.flag("dns", "not a configured DHCP server, and hands out another DNS server")
        elif routers and m.routers:
            s.flag(
                UNLISTED,
                "not one of the configured DHCP servers, though it hands out the site's "
                "router: list it in rogue_dhcp.servers if it belongs",
                Severity.WARNING,
            )
        else:
            s.flag("not_allowed", "not one of the configured DHCP servers")

    def _conflicts(self, server: str, s: _Server, flagged: list[tuple[str, _Server]]) -> None:
        """Compare with every other server handing out a different router."""
        mine = set(s.routers)
        for other, o in self.servers.items():
            if other == server or o.kind or not o.routers or mine & set(o.routers):
                continue
            s_self, o_self = server in s.routers, other in o.routers
            if abs(s.first_seen - o.first_seen) >= ESTABLISHED:
                newer = s if s.first_seen > o.first_seen else o
                kind, reason = (
                    "conflict",
                    "appeared while another server was handing out a different router",
                )
            elif s_self != o_self:
                newer = s if s_self else o
                kind, reason = (
                    "self_router",
                    "offers itself as router while another server offers a different one",
                )
            else:
                newer = s
                kind, reason = (
                    "conflict",
                    "hands out a different router than a server seen before it",
                )
            newer.flag(kind, reason)
            if newer is s:
                return
            flagged.append((other, o))

    def _on_site(self, ip: str) -> bool:
        addr = ipaddress.ip_address(ip)
        return any(addr in n for n in self.networks)

    def _finding(self, server: str, s: _Server, ts: float) -> Finding:
        router = next((r for r in s.routers if r != server), "")
        return Finding(
            detector=self.name,
            severity=s.severity,
            identifier=server,
            summary=f"{'Unlisted' if s.kind == UNLISTED else 'Rogue'} DHCP server {{source}}: "
            + s.reason,
            ts=ts,
            src_ip=server,
            src_mac=s.mac,
            target=router,
            kind=s.kind,
            counts={"offers": s.offers, "acks": s.acks},
            description=(
                "Its leases name the site's router {target}; a DHCP server no one listed is "
                "still worth knowing (a device's built-in server switched on by mistake)."
                if s.kind == UNLISTED
                else "Clients that take its lease use "
                + ("{target}" if router else "{source}")
                + " as their router: their traffic can be read and changed."
            ),
        )

    def tick(self, now: float) -> Iterable[Finding]:
        return ()

    def stats(self) -> dict[str, int]:
        return {
            "servers": len(self.servers),
            "evictions": self.servers.evictions,
            "malformed": self.malformed,
        }
