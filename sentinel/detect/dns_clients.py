"""dns_tunnel's per-client test: all of one client's queries, whatever their domain.

dnscat2 sent straight to its server (``--dns server=IP``, no domain) asks for names
like ``dnscat.5e1f...`` whose every query is a "domain" of its own, and a tunnel can
rotate over several domains it owns: the per-domain tests never fill. So each client
is also judged over ``client_window`` (10 min) across all its queries:

- random-looking names: different names whose data part (the labels left of the
  registered domain; the whole name under an unknown top-level label) is at least
  ``data_length`` characters at ``entropy_threshold`` bits a character or more, at least
  ``encoded_names_threshold`` times;
- carrier types: TXT, CNAME, MX and rare types (``dns.rare_type``: NULL, KEY,
  private use, any type no everyday client asks for) queries, at least
  ``carrier_types_threshold`` of them and ``carrier_share`` percent of all its queries;
- new names a minute: different names per minute, summed over the window, at least
  ``distinct_names_threshold``;
- slowly, over ``slow_window`` (6 h): random-looking names under no known suffix or
  very long, at least ``slow_names_threshold`` (``dns_slow``): a finding of kind
  ``slow`` when nothing else is due.

A client that asks for ``relay_domains_threshold`` different registered domains
under known suffixes within the window, or for as many such domains as half its
different names, relays for others (a resolver forwarding the school's queries, a
proxy) and is not judged here. A tunnel that hides among as many ordinary lookups is
left to the per-domain tests; nor are configured resolvers and
hosts seen answering DNS (the caller checks those). Memory per client: at most
``client_window / 60`` minute buckets of at most ``DISTINCT_CAP`` name hashes, plus
``encoded_names_threshold`` and ``relay_domains_threshold`` hashes; the table of
clients is a ``Bounded`` of ``max_tracked``; ``dns_slow`` holds its own, smaller one.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from typing import TYPE_CHECKING

from sentinel.detect.base import Bounded, Finding
from sentinel.detect.dns import CNAME, MX, TXT, entropy, rare_type
from sentinel.detect.dns_slow import ADMIT, SlowNames
from sentinel.model import Severity

if TYPE_CHECKING:
    from sentinel.config.detect import DnsTunnel as Settings
    from sentinel.detect.dns import Name

__all__ = ["Clients", "entropy"]

MINUTE = 60.0
DISTINCT_CAP = 256  # different names remembered per client and minute
REPORT_EVERY = 60.0  # seconds between findings for one ongoing tunnel
CARRIERS = frozenset({TXT, CNAME, MX})  # and every rare type
# A client whose different names fall under different ordinary domains this often (one
# in two) looks up the world for others: a resolver before it is seen answering.
RELAY_SHARE = 2


def _limit(table: OrderedDict[int, float], key: int, ts: float, cap: int) -> None:
    """Remember ``key`` as seen at ``ts``; at most ``cap`` keys, the oldest go first."""
    if key in table:
        table.move_to_end(key)
    elif len(table) >= cap:
        table.popitem(last=False)
    table[key] = ts


class _Minute:
    __slots__ = ("carriers", "minute", "names", "queries")

    def __init__(self, minute: int) -> None:
        self.minute = minute
        self.queries = 0
        self.carriers = 0
        self.names: set[int] = set()


class _Client:
    __slots__ = (
        "carriers",
        "distinct",
        "domains",
        "encoded",
        "last_report",
        "last_seen",
        "mac",
        "minutes",
        "queries",
        "server",
        "shaped",
    )

    def __init__(self) -> None:
        self.minutes: deque[_Minute] = deque()
        # the sums over ``minutes``: whether a test can be due is known without summing
        self.queries = 0
        self.carriers = 0
        self.distinct = 0
        self.encoded: OrderedDict[int, float] = OrderedDict()  # name hash -> last asked
        self.domains: OrderedDict[int, float] = OrderedDict()  # known-suffix domains
        self.last_seen = 0.0
        self.last_report = float("-inf")
        self.mac = ""
        self.server = ""
        self.shaped = 0  # tunnel-shaped names seen, up to ``ADMIT``


class Clients:
    """Per-client windows; ``add()`` one question, get a finding when one is due."""

    def __init__(self, s: Settings, detector: str, cap: int) -> None:
        self.s = s
        self.detector = detector
        self.table: Bounded[str, _Client] = Bounded(cap)
        self.relays_seen = 0  # judgements withheld: the client relays for others
        self.slow = SlowNames(s.slow_window)

    def add(
        self, client: str, mac: str, server: str, name: str, facts: Name, qtype: int, ts: float
    ) -> Finding | None:
        """One question for ``name`` (``facts``: ``dns.facts(name)``)."""
        s = self.s
        c = self.table.get(client)
        if c is None:
            c = self.table.setdefault(client, value=_Client())
        c.last_seen, c.mac, c.server = ts, mac, server
        minute = int(ts // MINUTE)
        if not c.minutes or c.minutes[-1].minute != minute:
            c.minutes.append(_Minute(minute))
            oldest = minute - max(1, math.ceil(s.client_window / MINUTE))
            while c.minutes and c.minutes[0].minute <= oldest:
                gone = c.minutes.popleft()
                c.queries -= gone.queries
                c.carriers -= gone.carriers
                c.distinct -= len(gone.names)
        bucket = c.minutes[-1]
        bucket.queries += 1
        c.queries += 1
        if qtype in CARRIERS or rare_type(qtype):
            bucket.carriers += 1
            c.carriers += 1
        key = hash(name)
        if len(bucket.names) < DISTINCT_CAP and key not in bucket.names:
            bucket.names.add(key)
            c.distinct += 1
        if facts.known:
            _limit(c.domains, hash(facts.domain), ts, s.relay_domains_threshold)
        slow = 0
        if facts.data >= s.data_length and facts.entropy >= s.entropy_threshold:
            if not facts.known or facts.first_label > s.label_length or len(name) > s.name_length:
                # tunnel-shaped: counted over slow_window once the client asked ADMIT
                if c.shaped < ADMIT and key not in c.encoded:
                    c.shaped += 1
                if c.shaped >= ADMIT or client in self.slow.table:
                    slow = self.slow.add(client, name, ts)
            _limit(c.encoded, key, ts, s.encoded_names_threshold)
        if ts - c.last_report < REPORT_EVERY:
            return None
        if (
            len(c.encoded) < s.encoded_names_threshold
            and c.carriers < s.carrier_types_threshold
            and c.distinct < s.distinct_names_threshold
            and slow < s.slow_names_threshold
        ):
            return None  # no test can be due
        return self._judge(client, c, ts, slow)

    def _judge(self, client: str, c: _Client, ts: float, slow: int) -> Finding | None:
        s = self.s
        since = ts - s.client_window
        queries, carriers, distinct = c.queries, c.carriers, c.distinct
        # ``encoded`` holds at most its threshold's worth: count it only when it is full.
        encoded = len(c.encoded)
        if encoded >= s.encoded_names_threshold:
            encoded = sum(1 for t in c.encoded.values() if t >= since)
        kinds = []
        if encoded >= s.encoded_names_threshold:
            kinds.append(f"{encoded} random-looking names")
        if carriers >= s.carrier_types_threshold and carriers * 100 >= s.carrier_share * queries:
            kinds.append(f"{carriers} TXT/CNAME/MX/rare-type queries of {queries}")
        if distinct >= s.distinct_names_threshold:
            kinds.append(f"{distinct} different names (counted a minute at a time)")
        kind, window = "client", s.client_window
        if not kinds and slow >= s.slow_names_threshold:
            kind, window = "slow", s.slow_window
            kinds.append(f"{slow} random-looking names under no known suffix or very long")
        if not kinds:
            return None
        domains = sum(1 for t in c.domains.values() if t >= since)
        if domains >= s.relay_domains_threshold or domains * RELAY_SHARE >= distinct:
            self.relays_seen += 1
            c.last_report = ts  # judged again a minute later, not on every query
            return None
        c.last_report = ts
        return Finding(
            detector=self.detector,
            severity=Severity.WARNING,
            identifier=client,
            summary="{source} looks like it tunnels data over DNS to {target}: "
            + ", ".join(kinds)
            + f" within {window:g}s, whatever their domain",
            ts=ts,
            src_ip=client,
            src_mac=c.mac,
            target_name=c.server,
            kind=kind,
            counts={
                "queries": queries,
                "encoded_names": encoded,
                "carrier_types": carriers,
                "distinct_names": distinct,
                "known_domains": domains,
                "slow_names": slow,
            },
        )

    def reported(self, client: str, ts: float) -> None:
        """A per-domain finding named ``client`` at ``ts``: none from here for a minute."""
        c = self.table.get(client)
        if c is not None:
            c.last_report = ts

    def sweep(self, now: float) -> None:
        horizon = now - self.s.client_window
        for key, c in self.table.items():
            if c.last_seen < horizon:
                self.table.pop(key)
        self.slow.sweep(now)
