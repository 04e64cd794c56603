"""dhcp_starvation: DISCOVERs and REQUESTs for more client MACs than a school has.

Starvation tools (dhcpstarv, yersinia, scapy scripts) ask for a lease for each of
thousands of invented MACs until the pool is empty, then a rogue server answers the
real clients. DHCPv6 is starved the same way (thc-ipv6's flood_dhcpc6: SOLICITs and
REQUESTs, each with a new client DUID, from one MAC or from random ones): a DHCPv6
client is its DUID. Three signals:

- ``forged``: one Ethernet sender asks for ``forged_threshold`` different clients
  within ``window``. A client is its client identifier (option 61) when it sends one,
  as servers key their leases on it, else its ``chaddr``: a tool that keeps its own MAC
  everywhere and invents identifiers takes a lease each time. A client asks for
  itself; a relay agent sets ``giaddr`` and is not counted, but only from an address
  and, with ``detect.gateway.mac`` pinned, from the gateway (a request from 0.0.0.0, or
  a laptop's, that fills in giaddr is no relay). Critical: no ordinary device does this.
- ``paced``: the same, ``slow_threshold`` client MACs within ``slow_window``: a tool
  that waits for each lease before asking for the next (dhcpstarv against a server
  that pings each address first, a lease every 3 s). A warning: a Wi-Fi repeater that
  rewrites its clients' source MACs also speaks for several, though rarely this fast.
- ``many``: ``clients_threshold`` distinct client MACs in all within ``window``, each
  from its own Ethernet address (tools that forge the frame's source too). A warning: a
  whole school reconnecting after a Wi-Fi outage is loud as well, though not this loud.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from sentinel.detect import base
from sentinel.detect.base import Bounded, Finding, ip_text, mac_text
from sentinel.detect.dhcp import BOOTREQUEST, DISCOVER, REQUEST, parse_packet
from sentinel.detect.dhcp6 import REQUEST as REQUEST6
from sentinel.detect.dhcp6 import SOLICIT, duid_mac
from sentinel.detect.dhcp6 import parse as parse6
from sentinel.model import Severity

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sentinel.config.detect import DhcpStarvation as Settings
    from sentinel.detect.base import Common
    from sentinel.packet import Packet

MAX_CLIENTS = 8192  # per sender and in all: far above any threshold
REPORT_EVERY = 60.0
UNSPECIFIED = "0.0.0.0"  # noqa: S104  (a client without an address yet)
DHCP6_SERVER_PORT = 547


class _Sender:
    __slots__ = ("clients", "ip", "paced", "reported")

    def __init__(self) -> None:
        self.clients: dict[str, float] = {}  # chaddr -> last request
        self.ip = ""
        self.reported = float("-inf")
        self.paced = float("-inf")  # when the paced warning was last reported


class DhcpStarvation:
    name: ClassVar[str] = "dhcp_starvation"
    wants: ClassVar[frozenset[str]] = frozenset({base.DHCP, base.DHCP6})

    def __init__(self, s: Settings, common: Common) -> None:
        self.s = s
        self.allowed = common.allowed(s)
        self.senders: Bounded[str, _Sender] = Bounded(common.max_tracked)
        self.clients: dict[str, float] = {}  # every chaddr asked for, last time
        self.reported = float("-inf")
        self.dirty = False
        self.gateway_mac = common.cfg.gateway.mac or ""

    def observe(self, p: Packet) -> Iterable[Finding]:
        if p.dport == DHCP6_SERVER_PORT:
            return self._dhcp6(p)
        if p.dport != 67:
            return ()
        d = parse_packet(p)
        if d.error or d.op != BOOTREQUEST or d.message_type not in (DISCOVER, REQUEST):
            return ()
        if not d.chaddr:
            return ()
        mac = mac_text(p.src_mac)
        src = ip_text(p.src)
        if self._relayed(d.giaddr, src, mac):
            return ()  # the relay speaks for many clients by design
        if self.allowed.source(src, mac) or self.allowed.mac(d.chaddr):
            return ()
        # The server keys its leases on the client identifier when there is one: a new
        # identifier is a new lease, whatever chaddr says.
        self._asked(d.client_id or d.chaddr, mac, src, p.ts)
        return ()

    def _dhcp6(self, p: Packet) -> Iterable[Finding]:
        """A DHCPv6 SOLICIT or REQUEST: the client is its DUID (option 1), which the
        server keys its leases on; a DUID holding the sender's own MAC is the sender.
        Relay agents send RELAY-FORW, never counted."""
        m = parse6(p.payload)
        if m.error or m.message_type not in (SOLICIT, REQUEST6) or not m.client_duid:
            return ()
        mac = mac_text(p.src_mac)
        src = ip_text(p.src)
        if self.allowed.source(src, mac):
            return ()
        own = duid_mac(m.client_duid)
        if own and self.allowed.mac(mac_text(own)):
            return ()
        client = mac_text(own) if own == p.src_mac else "duid:" + m.client_duid.hex()
        self._asked(client, mac, "", p.ts)  # its link-local address names no one
        return ()

    def _asked(self, client: str, mac: str, src: str, ts: float) -> None:
        """``mac`` (from ``src``) asked for a lease for ``client``."""
        if client != mac:
            s = self.senders.setdefault(mac, _Sender)
            if len(s.clients) < MAX_CLIENTS or client in s.clients:
                s.clients[client] = ts
            if src not in ("", UNSPECIFIED):
                s.ip = src
        if len(self.clients) < MAX_CLIENTS or client in self.clients:
            self.clients[client] = ts
        self.dirty = True

    def _relayed(self, giaddr: str, src: str, mac: str) -> bool:
        """A relay agent's request: giaddr set, sent from an address (a client before its
        lease has none) and, with the gateway's MAC pinned, by the gateway (relays are
        routers), so a laptop cannot pass for one by filling in giaddr."""
        if giaddr in ("", UNSPECIFIED) or src in ("", UNSPECIFIED):
            return False
        return not self.gateway_mac or mac == self.gateway_mac

    def tick(self, now: float) -> Iterable[Finding]:
        horizon = now - self.s.window
        slow_horizon = now - max(self.s.slow_window, self.s.window)
        out = []
        for mac, s in self.senders.items():
            if s.clients and min(s.clients.values()) < slow_horizon:  # rebuilt when one expired
                s.clients = {c: t for c, t in s.clients.items() if t >= slow_horizon}
            if not s.clients:
                self.senders.pop(mac)
                continue
            n = sum(1 for t in s.clients.values() if t >= horizon)
            slow = len(s.clients)
            if n >= self.s.forged_threshold and now - s.reported >= REPORT_EVERY:
                s.reported = now
                out.append(self._forged(mac, s, now, n, self.s.window, Severity.CRITICAL))
            elif (
                slow >= self.s.slow_threshold
                and now - s.reported >= REPORT_EVERY
                and now - s.paced >= REPORT_EVERY
                # paced: spread over more than ``window``. A burst still inside it is
                # judged as forged first (an alert keeps the severity it started with).
                and min(s.clients.values()) < horizon
            ):
                s.paced = now
                out.append(self._forged(mac, s, now, slow, self.s.slow_window, Severity.WARNING))
        if self.dirty:
            self.dirty = False
            if self.clients and min(self.clients.values()) < horizon:
                self.clients = {c: t for c, t in self.clients.items() if t >= horizon}
            n = len(self.clients)
            if n >= self.s.clients_threshold and not out and now - self.reported >= REPORT_EVERY:
                self.reported = now
                out.append(
                    Finding(
                        detector=self.name,
                        severity=Severity.WARNING,
                        identifier="lan",
                        summary=f"DHCP starvation: leases asked for {n} distinct client "
                        f"MACs in {self.s.window:g}s",
                        ts=now,
                        kind="many",
                        counts={"clients": n},
                    )
                )
        return out

    def _forged(
        self, mac: str, s: _Sender, now: float, n: int, window: float, severity: Severity
    ) -> Finding:
        return Finding(
            detector=self.name,
            severity=severity,
            identifier=mac,
            summary=f"DHCP starvation: {{source}} asked for leases for {n} "
            f"other clients (client MACs or identifiers) in {window:g}s",
            ts=now,
            src_ip=s.ip,
            src_mac=mac,
            kind="forged" if severity is Severity.CRITICAL else "paced",
            counts={"clients": n},
            description=""
            if severity is Severity.CRITICAL
            else "One lease at a time, as a starvation tool does against a server that "
            "checks each address first; a Wi-Fi repeater rewriting its clients' source "
            "MACs also asks for several.",
        )

    def stats(self) -> dict[str, int]:
        return {"senders": len(self.senders), "evictions": self.senders.evictions}
