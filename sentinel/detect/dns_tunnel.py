"""dns_tunnel: a client carrying data in DNS queries (iodine, dnscat2, DNSExfiltrator).

Tunnels encode data in the names they ask for, under one domain the attacker runs, and
often use record types that carry much in the answer. Per client and registered domain
(``dns.registered_domain``), within ``window`` (1 h):

- long names: a first label longer than ``label_length`` (48) or a name longer than
  ``name_length`` (90), at least ``long_names_threshold`` (20) times. Host names are
  short; base32 chunks fill labels to 63.
- unique names: at least ``unique_names_threshold`` (150) different names. Browsing
  asks a few names per site; a tunnel never asks the same one twice.
- odd types: TXT or rare-type queries (``dns.rare_type``: NULL, KEY, private use
  65280-65534, any type no everyday client asks for), at least
  ``odd_types_threshold`` (50) times. TXT has normal uses (SPF, verification) but not
  dozens an hour from one laptop.
- not DNS: datagrams to port 53 that are no DNS query (unparseable, a response, an
  opcode no client uses), at least ``not_dns_threshold`` (20) to one server. iodine
  logs in over DNS, then sends its raw UDP mode straight to its server's port 53
  (unless run with ``-r``); a VPN on port 53 steps around a firewall the same way.

A name asked again counts once in the first three tests: a client's retries and a
program polling one TXT record carry no new data.

Domains on the allow-list (by default CDNs with generated host names and antivirus
services that look files up over DNS) never count; nor do reverse lookups (``.arpa``)
and multicast DNS. Lower thresholds catch slow exfiltration of a few kilobytes and
flag more telemetry-heavy software; higher ones need a bigger transfer. Bytes per
domain are not measured (one query of 250 bytes carries ~150 bytes of data, so the
long-name count is the same signal).

Each client is also judged over all its queries, whatever their domain
(``dns_clients``: random-looking names, TXT/CNAME/MX/rare-type carriers, new names a minute,
within ``client_window``): a finding of kind ``client``; and over ``slow_window``
(``dns_slow``: random-looking names under no known suffix or very long, for tunnels
too slow for every other test): a finding of kind ``slow``. Resolvers are never judged as
the source: those configured in ``dns_bypass.resolvers``, hosts seen answering three
clients, or answering a query another host sent them (the same pair and id on the
wire: a forged answer does not count), and queries sent from port 53 (a forwarder's
fixed source port).

Memory: one entry per (client, domain) seen within the window, capped by
``max_tracked``; per entry at most the thresholds' worth of timestamps and name hashes;
per client, see ``dns_clients``.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from typing import TYPE_CHECKING, ClassVar

from sentinel.detect import base
from sentinel.detect.base import Bounded, Finding, ip_text, mac_text
from sentinel.detect.dns import TXT, facts, parse, parse_datagram, rare_type
from sentinel.detect.dns_clients import Clients
from sentinel.model import Severity

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sentinel.config.detect import DnsTunnel as Settings
    from sentinel.detect.base import Common
    from sentinel.detect.dns import Name
    from sentinel.packet import Packet

REPORT_EVERY = 60.0  # seconds between findings for one ongoing tunnel (keeps it active)
SWEEP_EVERY = 60.0  # seconds between expiry sweeps
# Opcodes no DNS client sends (0 query, 1 inverse, 2 status, 4 notify, 5 update and 6
# stateful operations are DNS): a datagram to port 53 with one of them is something else.
NOT_DNS = frozenset({3, *range(7, 16)})
ALLOWED_NAMES_CAP = 16384  # names whose allow-list answer is remembered
QUIET_MACS = 4  # MACs one resolver's answers may arrive from (a pair of routers)


class _Pair:
    __slots__ = ("last_report", "last_seen", "long", "mac", "names", "odd")

    def __init__(self) -> None:
        # Made on the first long name or odd type: most clients never ask one.
        self.long: deque[float] | None = None
        self.odd: deque[float] | None = None
        self.names: OrderedDict[int, float] = OrderedDict()  # name hash -> last asked
        self.last_seen = 0.0
        self.last_report = float("-inf")
        self.mac = ""


class _Raw:
    __slots__ = ("last_report", "times")

    def __init__(self, threshold: int) -> None:
        self.times: deque[float] = deque(maxlen=max(1, threshold))
        self.last_report = float("-inf")


def _within(times: Iterable[float], since: float) -> int:
    return sum(1 for t in times if t >= since)


class DnsTunnel:
    name: ClassVar[str] = "dns_tunnel"
    wants: ClassVar[frozenset[str]] = frozenset({base.DNS})
    reads_resolver_answers: ClassVar[bool] = False  # ``_answer`` stops at a resolver

    def __init__(self, s: Settings, common: Common) -> None:
        self.s = s
        self.allowed = common.allowed(s)
        self.allowed_names: dict[str, bool] = {}
        self.pairs: Bounded[tuple[str, str], _Pair] = Bounded(common.max_tracked)
        self.next_sweep: float | None = None
        self.malformed = 0
        # The school's resolvers forward every client's queries, tunnels included: they
        # are not the source. Configured ones, and hosts seen answering several clients.
        self.resolvers = set(common.cfg.dns_bypass.resolvers)
        self.answered: Bounded[str, set[str]] = Bounded(1024)
        # Any host that answered a query another host sent it serves DNS: not judged as a
        # client. Only answers to a query seen on the wire count (same pair, same id), so
        # a tunnel cannot make itself a resolver with one forged response.
        self.asked: Bounded[tuple[str, str], int] = Bounded(4096)  # (client, server) -> id
        self.answerers: Bounded[str, float] = Bounded(1024)
        self.clients = Clients(s, self.name, common.max_tracked)
        self.raw: Bounded[tuple[str, str], _Raw] = Bounded(common.max_tracked)
        # Each resolver's address and the MACs its answers arrive from (wire bytes): the
        # capture side need not hand those answers over (``quiet_answers``).
        self.quiet: dict[bytes, set[bytes]] = {}
        self.quiet_version = 0  # changes whenever ``quiet`` does

    def observe(self, p: Packet) -> Iterable[Finding]:
        if p.proto not in (6, 17):
            return ()
        if p.sport == 53:
            self._answer(p)
            return ()
        if p.dport != 53:
            return ()
        data = p.payload
        if not data:
            return ()
        client, mac = ip_text(p.src), mac_text(p.src_mac)
        if client in self.resolvers or client in self.answerers:
            return ()
        if self.allowed.source(client, mac):
            return ()
        if p.proto == 17:
            ident, m = parse_datagram(data)
        else:
            m = parse(data, tcp=True)
            ident = m.id
        server = ip_text(p.dst)
        broken = bool(m.error) and not m.questions
        if broken:
            self.malformed += 1
        if p.proto == 17 and (broken or m.qr or m.opcode in NOT_DNS):
            # TCP segments may continue a message; a datagram is one message or none
            return self._not_dns(client, mac, server, p.ts)
        if m.qr or m.opcode != 0 or broken:
            return ()
        out = []
        self.asked.put((client, server), ident)
        for q in m.questions:
            if not q.name:
                continue
            name = facts(q.name)
            if name.local or self._allowed_domain(q.name):
                continue
            found = self._question(client, mac, q.name, name, q.qtype, p.ts)
            f = self.clients.add(client, mac, server, q.name, name, q.qtype, p.ts)
            if found is not None:
                self.clients.reported(client, p.ts)  # one finding says it
            elif f is not None:
                found = f
            if found is not None:
                out.append(found)
        return out

    def _not_dns(self, client: str, mac: str, server: str, ts: float) -> list[Finding]:
        """A datagram to port 53 that is no DNS query: iodine's raw UDP mode, a VPN on
        the DNS port. ``not_dns_threshold`` of them to one server within ``window``."""
        t = self.raw.get((client, server))
        if t is None:
            t = self.raw.setdefault((client, server), value=_Raw(self.s.not_dns_threshold))
        t.times.append(ts)
        if ts - t.last_report < REPORT_EVERY or len(t.times) < self.s.not_dns_threshold:
            return []
        n = _within(t.times, ts - self.s.window)
        if n < self.s.not_dns_threshold:
            return []
        t.last_report = ts
        self.clients.reported(client, ts)
        return [
            Finding(
                detector=self.name,
                severity=Severity.WARNING,
                identifier=client,
                summary=f"{{source}} sends {n} datagrams to port 53 of {{target}} that are "
                f"not DNS queries within {self.s.window:g}s: a tunnel or VPN on the DNS port",
                ts=ts,
                src_ip=client,
                src_mac=mac,
                target=server,
                kind="not_dns",
                counts={"not_dns": n},
            )
        ]

    def _answer(self, p: Packet) -> None:
        """A DNS response: its sender resolves for the LAN once it answers three clients."""
        data = p.payload
        flags = 2 if p.proto == 6 else 0  # TCP: after the 2-byte length
        if len(data) < flags + 4 or not data[flags + 2] & 0x80:  # QR bit: a response
            return
        server = ip_text(p.src)
        if server in self.resolvers:
            self._quiet(p.src, p.src_mac)
            return
        client = ip_text(p.dst)
        ident = int.from_bytes(data[flags : flags + 2], "big")
        if client != server and self.asked.get((client, server)) == ident:
            self.answerers.put(server, p.ts)
        clients = self.answered.setdefault(server, set)
        if len(clients) < 3:
            clients.add(client)
        if len(clients) >= 3 and len(self.resolvers) < 256:
            self.resolvers.add(server)
            self.answered.pop(server)
            self._quiet(p.src, p.src_mac)

    def _quiet(self, server: bytes, mac: bytes) -> None:
        macs = self.quiet.get(server)
        if macs is None:
            macs = self.quiet[server] = set()
        if mac and mac not in macs and len(macs) < QUIET_MACS:
            macs.add(mac)
            self.quiet_version += 1

    def quiet_answers(self) -> set[tuple[bytes, bytes]]:
        """(address, MAC) of each resolver, as its answers arrive: they tell this
        detector nothing more (at most 256 resolvers, ``QUIET_MACS`` MACs each)."""
        return {(ip, mac) for ip, macs in self.quiet.items() for mac in macs}

    def _allowed_domain(self, name: str) -> bool:
        """``allowed.domain(name)``, remembered per name (emptied when full)."""
        hit = self.allowed_names.get(name)
        if hit is None:
            hit = self.allowed.domain(name)
            if len(self.allowed_names) >= ALLOWED_NAMES_CAP:
                self.allowed_names.clear()
            self.allowed_names[name] = hit
        return hit

    def _question(
        self, client: str, mac: str, name: str, info: Name, qtype: int, ts: float
    ) -> Finding | None:
        domain = info.domain
        pair = self.pairs.get((client, domain))
        if pair is None:
            pair = self.pairs.setdefault((client, domain), value=_Pair())
        pair.last_seen, pair.mac = ts, mac
        key = hash(name)
        names = pair.names
        # A name asked again (a retry, a program polling one TXT record) carries no new
        # data: only the first asking counts as a long name or an odd type.
        if key in names:
            names.move_to_end(key)
        else:
            s = self.s
            if info.first_label > s.label_length or len(name) > s.name_length:
                if pair.long is None:
                    pair.long = deque(maxlen=max(1, s.long_names_threshold))
                pair.long.append(ts)
            if qtype == TXT or rare_type(qtype):  # carriers of data in the answers
                if pair.odd is None:
                    pair.odd = deque(maxlen=max(1, s.odd_types_threshold))
                pair.odd.append(ts)
            if len(names) >= max(1, s.unique_names_threshold):
                names.popitem(last=False)
        names[key] = ts
        return self._judge(client, domain, pair, ts)

    def _judge(self, client: str, domain: str, pair: _Pair, ts: float) -> Finding | None:
        if ts - pair.last_report < REPORT_EVERY:
            return None
        s = self.s
        # Each table holds at most its threshold's worth: below it, nothing can be due.
        if (
            len(pair.names) < s.unique_names_threshold
            and (pair.long is None or len(pair.long) < s.long_names_threshold)
            and (pair.odd is None or len(pair.odd) < s.odd_types_threshold)
        ):
            return None
        since = ts - s.window
        long = _within(pair.long or (), since)
        odd = _within(pair.odd or (), since)
        unique = _within(pair.names.values(), since)
        kinds = []
        if long >= s.long_names_threshold:
            kinds.append(("long_names", f"{long} very long names"))
        if unique >= s.unique_names_threshold:
            kinds.append(("unique_names", f"{unique} different names"))
        if odd >= s.odd_types_threshold:
            kinds.append(("odd_types", f"{odd} TXT/rare-type queries"))
        if not kinds:
            return None
        pair.last_report = ts
        return Finding(
            detector=self.name,
            severity=Severity.WARNING,
            identifier=client,
            summary="{source} looks like it tunnels data over DNS under {target}: "
            + ", ".join(text for _, text in kinds)
            + f" within {s.window:g}s",
            ts=ts,
            src_ip=client,
            src_mac=pair.mac,
            target_name=domain,
            kind=kinds[0][0],
            counts={"long_names": long, "unique_names": unique, "odd_types": odd},
        )

    def tick(self, now: float) -> Iterable[Finding]:
        if self.next_sweep is None:
            self.next_sweep = now + SWEEP_EVERY
        elif now >= self.next_sweep:
            self.next_sweep = now + SWEEP_EVERY
            horizon = now - self.s.window
            for key, pair in self.pairs.items():
                if pair.last_seen < horizon:
                    self.pairs.pop(key)
            for raw_key, raw in self.raw.items():
                if raw.times[-1] < horizon:
                    self.raw.pop(raw_key)
            self.clients.sweep(now)
        return ()

    def stats(self) -> dict[str, int]:
        return {
            "pairs": len(self.pairs),
            "clients": len(self.clients.table),
            "slow_clients": len(self.clients.slow.table),
            "evictions": self.pairs.evictions
            + self.clients.table.evictions
            + self.clients.slow.table.evictions,
            "malformed": self.malformed,
        }
