"""dns_bypass: clients resolving names with a resolver other than the school's.

The school's resolvers filter (child protection, malware domains) and log; a student
who points a laptop at 8.8.8.8 or a DNS-over-TLS service skips both. Counted per client
within ``window`` (10 min): DNS queries over UDP to port 53, TCP connection attempts
(SYN) to port 53 and to 853 (DNS over TLS), to any address not in ``resolvers``. At
``threshold`` (10) the client is reported, with the resolver it used most.

Off while ``resolvers`` is empty (there is nothing to compare with). The resolvers
themselves (forwarding upstream) and, when the site's networks are known, sources
outside them are not counted. Multicast DNS (port 5353) is local name discovery, not a
bypass. DNS over HTTPS looks like any HTTPS and is not seen here.

A lower threshold catches a single manual lookup (``nslookup x 8.8.8.8``) and flags
devices with a hard-coded fallback resolver (some IoT, some consoles); a higher one
only reports devices that resolve everything elsewhere.
"""

from __future__ import annotations

import ipaddress
from collections import deque
from typing import TYPE_CHECKING, ClassVar

from sentinel.detect import base
from sentinel.detect.base import Bounded, Finding, ip_text, mac_text
from sentinel.detect.dns import parse
from sentinel.model import Severity

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sentinel.config.detect import DnsBypass as Settings
    from sentinel.detect.base import Common
    from sentinel.packet import Packet

SYN, ACK = 0x02, 0x10
REPORT_EVERY = 60.0  # seconds between findings for one client that keeps going
SWEEP_EVERY = 60.0
MAX_RESOLVERS_PER_CLIENT = 32


class _Client:
    __slots__ = ("last_report", "mac", "resolvers", "times")

    def __init__(self, threshold: int) -> None:
        self.times: deque[float] = deque(maxlen=max(1, threshold))
        self.resolvers: dict[str, int] = {}
        self.mac = ""
        self.last_report = float("-inf")


class DnsBypass:
    name: ClassVar[str] = "dns_bypass"
    wants: ClassVar[frozenset[str]] = frozenset({base.DNS, base.TCP_CONTROL})
    reads_resolver_answers: ClassVar[bool] = False  # queries only

    def __init__(self, s: Settings, common: Common) -> None:
        self.s = s
        self.allowed = common.allowed(s)
        self.resolvers = frozenset(s.resolvers)
        self.networks = [ipaddress.ip_network(n, strict=False) for n in common.networks]
        self.clients: Bounded[str, _Client] = Bounded(common.max_tracked)
        self.next_sweep: float | None = None

    def observe(self, p: Packet) -> Iterable[Finding]:
        if not self.resolvers:
            return ()
        if p.proto == 17:
            if p.dport != 53:
                return ()
            m = parse(p.payload)
            if (m.error and not m.questions) or m.qr:
                return ()
            protocol = "dns"
        elif p.proto == 6:
            if p.dport not in (53, 853) or p.tcp_flags & (SYN | ACK) != SYN:
                return ()
            protocol = "dns_tcp" if p.dport == 53 else "dot"
        else:
            return ()
        dst = ip_text(p.dst)
        if dst in self.resolvers:
            return ()
        client, mac = ip_text(p.src), mac_text(p.src_mac)
        if client in self.resolvers or self.allowed.source(client, mac):
            return ()
        if self.networks and not self._on_site(client):
            return ()
        c = self.clients.get(client)
        if c is None:
            c = self.clients.setdefault(client, value=_Client(self.s.threshold))
        c.times.append(p.ts)
        c.mac = mac
        if dst in c.resolvers or len(c.resolvers) < MAX_RESOLVERS_PER_CLIENT:
            c.resolvers[dst] = c.resolvers.get(dst, 0) + 1
        if p.ts - c.last_report < REPORT_EVERY:
            return ()
        recent = sum(1 for t in c.times if t >= p.ts - self.s.window)
        if recent < self.s.threshold:
            return ()
        c.last_report = p.ts
        resolver = max(c.resolvers, key=lambda r: c.resolvers[r])
        on_site = self._on_site(resolver)
        return [
            Finding(
                detector=self.name,
                severity=Severity.WARNING,
                identifier=client,
                summary=f"{{source}} bypasses the school's DNS: {recent} queries to {{target}}"
                + (" over TLS" if protocol == "dot" else "")
                + f" within {self.s.window:g}s",
                ts=p.ts,
                src_ip=client,
                src_mac=mac,
                # A public resolver is named in clear; a device on the LAN is pseudonymised.
                target=resolver if on_site else "",
                target_name="" if on_site else resolver,
                kind=protocol,
                counts={"queries": recent, "resolvers": len(c.resolvers)},
            )
        ]

    def _on_site(self, ip: str) -> bool:
        addr = ipaddress.ip_address(ip)
        return any(addr in n for n in self.networks)

    def tick(self, now: float) -> Iterable[Finding]:
        if self.next_sweep is None:
            self.next_sweep = now + SWEEP_EVERY
        elif now >= self.next_sweep:
            self.next_sweep = now + SWEEP_EVERY
            for key, c in self.clients.items():
                if not c.times or c.times[-1] < now - self.s.window:
                    self.clients.pop(key)
        return ()

    def stats(self) -> dict[str, int]:
        return {"clients": len(self.clients), "evictions": self.clients.evictions}
