"""brute_force: password guessing against login services (ssh, rdp, smb, ..., web logins).

Two ways. On the login ports, connections are counted, not failed logins: hydra makes
several guesses per connection (41 guesses over 9 connections in the school lab), so
counting failures per connection, as Zeek does, misses it, and encrypted protocols hide
them anyway. Three rules per (source, service): ``short_threshold`` connections within
``short_window``, ``long_threshold`` within ``long_window`` (slow guessers), or
``bursts`` bursts of ``burst_threshold`` parallel starts within ``burst_window``
(guessers run parallel sessions; a person opening three sessions by hand does not).

On any port, the servers' plain-text replies (``logins``): ``failures_threshold``
refused logins (HTTP 401, FTP 530, SMTP 535, POP3/IMAP refusals, Redis WRONGPASS,
telnet, VNC, MySQL 1045, PostgreSQL 28P01) from one server to one client within
``failures_window`` (critical), or ``failures_long_threshold`` within
``failures_long_window`` (a warning: a slow guesser keeping one session, or one task
waiting between guesses, stays under the minute's bar; a device retrying a stale
password every minute reaches it too), or ``form_threshold`` POSTs to one login form
answered alike (same status, same redirect, about the same length: the "wrong password"
page). The alert's identifier is the same (client, server, port) either way, so one
attack is one alert.

Spraying (a few passwords against many servers, so that no server sees many) is counted
per (client, login port) over every server: ``failures_threshold`` refused logins from
``spray_servers`` servers or more within ``failures_window`` is critical, as one server's
would be; ``short_threshold`` connections to ``spray_servers`` servers or more within
``short_window`` is a warning (an admin's tool fanning out over the servers' ssh makes
the same connections; the refusals are what proves guessing). Its identifier is
(client, ``*``, port).

A connection that moved ``TRANSFER_BYTES`` or more in either direction (its FIN's or
RST's sequence number against its SYN's) was a file transfer, not a guess, and stops
counting once it ends: a backup job copying one archive after another over scp is no
brute force. A guessing session never moves that much (hydra's ssh sessions: 2 to 5
kB). Trade-off: parallel transfers starting together still make a burst, and a
sequence of small transfers (an rsync that finds nothing new) still counts; list such a
backup host in ``allow``.
"""

from __future__ import annotations

import contextlib
from array import array
from collections import deque
from typing import TYPE_CHECKING, ClassVar

from sentinel.detect import base
from sentinel.detect.base import Bounded, Finding, ip_text, mac_text
from sentinel.detect.logins import http_answer, login_post, refusal
from sentinel.model import Severity

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sentinel.config.detect import BruteForce as Settings
    from sentinel.detect.base import Common
    from sentinel.detect.logins import Answer
    from sentinel.packet import Packet

TRANSFER_BYTES = 64 * 1024  # hydra's ssh sessions move 2-5 kB each way, an scp of a file more
SEQ = 1 << 32

SERVICES = {
    21: "ftp",
    22: "ssh",
    23: "telnet",
    139: "smb",
    445: "smb",
    389: "ldap",
    1433: "mssql",
    3306: "mysql",
    3389: "rdp",
    5432: "postgres",
    5900: "vnc",
    5985: "winrm",
}


class _Service:
    __slots__ = ("bursts", "mac", "open", "ports", "starts")

    def __init__(self) -> None:
        self.starts: list[float] = []
        self.ports: set[int] = set()  # source ports: SYN retransmissions are not new tries
        self.bursts: list[float] = []
        self.mac = ""
        # client port -> [start, client's ISN, server's ISN or -1]: transfers are uncounted
        self.open: dict[int, list[float]] = {}


class _Group:
    """POSTs to one form answered alike: the same status and redirect, a similar length."""

    __slots__ = ("length", "location", "status", "times")

    def __init__(self, answer: Answer) -> None:
        self.status, self.length, self.location = answer.status, answer.length, answer.location
        self.times: list[float] = []

    def matches(self, a: Answer) -> bool:
        near = abs(a.length - self.length) <= max(16, self.length // 10)
        return a.status == self.status and a.location == self.location and near


class _Replies:
    """What one server answered one client on one port."""

    __slots__ = ("failures", "forms", "last", "mac", "service")

    def __init__(self) -> None:
        # times of the last refused logins, as many as the larger threshold (8 bytes each:
        # 20,000 pairs at the cap keep 30 for about 6 MB)
        self.failures = array("d")
        self.forms: dict[str, list[_Group]] = {}  # form path -> its answers, alike
        self.service = ""
        self.mac = ""
        self.last = 0.0


GROUPS_PER_FORM, FORMS_PER_PAIR = 4, 8
SPRAY_KEPT = 4096  # (time, server) entries kept per (client, port): bounded under a flood


class BruteForce:
    name: ClassVar[str] = "brute_force"
    wants: ClassVar[frozenset[str]] = frozenset({base.TCP_CONTROL, base.LOGIN})

    def __init__(self, s: Settings, common: Common) -> None:
        self.s = s
        self.allowed = common.allowed(s)
        self.ports = frozenset(s.ports)
        self.table: Bounded[tuple[str, str, int], _Service] = Bounded(common.max_tracked)
        # (client, server, server port) -> replies; (client, client port, server, server
        # port) -> the login form a POST went to, until its answer
        self.replies: Bounded[tuple[str, str, int], _Replies] = Bounded(common.max_tracked)
        self.kept = max(s.failures_threshold, s.failures_long_threshold)
        self.replies_for = max(s.failures_window, s.failures_long_window)  # kept while quiet
        self.posts: Bounded[tuple[str, int, str, int], tuple[str, float]] = Bounded(
            common.max_tracked
        )
        # (client, server port) -> (time, server) of connections and of refused logins,
        # over every server: spraying
        self.spread: Bounded[tuple[str, int], deque[tuple[float, str]]] = Bounded(
            common.max_tracked
        )
        self.refused: Bounded[tuple[str, int], deque[tuple[float, str]]] = Bounded(
            common.max_tracked
        )

    def observe(self, p: Packet) -> Iterable[Finding]:
        if p.tcp_flags & 0x12 != 0x02:
            found: list[Finding] = []
            if p.tcp_flags & 0x07 and (p.dport in self.ports or p.sport in self.ports):
                found = self._progress(p)  # SYN-ACK, FIN, RST: a session's progress
            if p.payload_length >= 4:
                found += self._reply(p)
            return found
        if p.dport not in self.ports:
            return ()
        src, mac = ip_text(p.src), mac_text(p.src_mac)
        if self.allowed.source(src, mac):
            return ()
        key = (src, ip_text(p.dst), p.dport)
        svc = self.table.setdefault(key, _Service)
        svc.mac = mac
        if p.sport in svc.ports:
            return ()
        if len(svc.ports) > 4096:
            svc.ports.clear()
            svc.open.clear()
        svc.ports.add(p.sport)
        svc.open[p.sport] = [p.ts, p.tcp_seq, -1.0]
        svc.starts = [t for t in svc.starts if p.ts - t < self.s.long_window]
        svc.starts.append(p.ts)
        recent = [t for t in svc.starts if p.ts - t < self.s.burst_window]
        if len(recent) == self.s.burst_threshold:
            svc.bursts = [t for t in svc.bursts if p.ts - t < self.s.short_window]
            svc.bursts.append(p.ts)
        return self._judge(key, svc, p.ts)

    def _spray(
        self,
        table: Bounded[tuple[str, int], deque[tuple[float, str]]],
        key: tuple[str, str, int],
        mac: str,
        now: float,
        window: float,
        threshold: int,
        service: str,
    ) -> list[Finding]:
        """One more session the server accepted and one side closed (``service`` "": a
        sweep's unanswered or reset SYNs are no login) or refused login (its service)
        from the client of ``key`` to its server: spraying when they reach ``threshold``
        within ``window`` over ``spray_servers`` servers or more."""
        client, server, port = key
        seen = table.get((client, port))
        if seen is None:
            seen = table.setdefault((client, port), value=deque(maxlen=SPRAY_KEPT))
        while seen and now - seen[0][0] >= window:  # in time order: the oldest go first
            seen.popleft()
        seen.append((now, server))
        if len(seen) < threshold:
            return []
        servers = len({e[1] for e in seen})
        if servers < self.s.spray_servers:
            return []
        refusals = bool(service)
        label = service or SERVICES.get(port, f"port {port}")
        label = {"http_auth": "HTTP authentication", "form": "a web login form"}.get(label, label)
        what = "refused logins" if refusals else "connections"
        return [
            Finding(
                detector=self.name,
                severity=Severity.CRITICAL if refusals else Severity.WARNING,
                identifier=f"{client}|*|{port}",
                summary=f"{{source}} is spraying password guesses on {label} (port {port}) "
                f"of {servers} servers: {len(seen)} {what} in {window:g}s",
                ts=now,
                src_ip=client,
                src_mac=mac,
                target_name=f"{servers} servers",
                kind=service or SERVICES.get(port, f"port {port}"),
                counts={"failures" if refusals else "connections": len(seen), "servers": servers},
                description=f"spray={what.split()[-1]}",
            )
        ]

    def _reply(self, p: Packet) -> list[Finding]:
        """A segment that starts like a refused login, a login form's POST or an answer."""
        payload = p.payload
        if payload.startswith(b"POST "):
            post = login_post(payload)
            if post is not None:
                flow = (ip_text(p.src), p.sport, ip_text(p.dst), p.dport)
                if not self.allowed.source(flow[0], mac_text(p.src_mac)):
                    self.posts.put(flow, (post.path, p.ts))
            return []
        client, mac = ip_text(p.dst), mac_text(p.dst_mac)  # replies go to the client
        service = refusal(payload)
        form = ""
        answer = None
        if not service:
            pending = self.posts.pop((client, p.dport, ip_text(p.src), p.sport))
            answer = http_answer(payload) if pending else None
            if pending is None or answer is None or p.ts - pending[1] > self.s.failures_window:
                return []
            form = pending[0]
        if self.allowed.source(client, mac):
            return []
        key = (client, ip_text(p.src), p.sport)
        r = self.replies.setdefault(key, _Replies)
        r.mac, r.last = mac, p.ts
        window = self.s.failures_window
        if service:
            r.service = service
            r.failures.append(p.ts)
            if len(r.failures) > self.kept:
                del r.failures[0]
            spray = self._spray(
                self.refused, key, mac, p.ts, window, self.s.failures_threshold, service
            )
            return self._refused(key, r, p.ts) + spray
        assert answer is not None
        groups = r.forms.get(form)
        if groups is None:
            if len(r.forms) >= FORMS_PER_PAIR:
                r.forms.pop(next(iter(r.forms)))
            groups = r.forms[form] = []
        group = next((g for g in groups if g.matches(answer)), None)
        if group is None:
            if len(groups) >= GROUPS_PER_FORM:
                groups.pop(0)
            group = _Group(answer)
            groups.append(group)
        group.times = [t for t in group.times if p.ts - t < window]
        group.times.append(p.ts)
        if len(group.times) < self.s.form_threshold:
            return []
        rule = (
            f"{len(group.times)} logins on the form POST {form} in {window:g}s answered alike "
            f"({group.status}, {group.location or f'{group.length} bytes'})"
        )
        return [self._found(key, r.mac, p.ts, "form", rule, len(group.times))]

    def _refused(self, key: tuple[str, str, int], r: _Replies, now: float) -> list[Finding]:
        """One more refused login in ``r``: ``failures_threshold`` within the minute's
        window is critical, ``failures_long_threshold`` within the long one a warning."""
        window, long_window = self.s.failures_window, self.s.failures_long_window
        recent = sum(1 for t in r.failures if now - t < window)
        if recent >= self.s.failures_threshold:
            rule = f"{recent} refused logins in {window:g}s"
            return [self._found(key, r.mac, now, r.service, rule, recent)]
        slow = sum(1 for t in r.failures if now - t < long_window)
        if slow < self.s.failures_long_threshold:
            return []
        rule = f"{slow} refused logins in {long_window:g}s, {recent} in the last {window:g}s"
        return [self._found(key, r.mac, now, r.service, rule, slow, Severity.WARNING)]

    def _found(
        self,
        key: tuple[str, str, int],
        mac: str,
        now: float,
        kind: str,
        rule: str,
        n: int,
        severity: Severity = Severity.CRITICAL,
    ) -> Finding:
        label = {"http_auth": "HTTP authentication", "form": "a web login form"}.get(kind, kind)
        slowly = " slowly" if severity is Severity.WARNING else ""
        return Finding(
            detector=self.name,
            severity=severity,
            identifier=f"{key[0]}|{key[1]}|{key[2]}",
            summary=f"{{source}} is guessing passwords{slowly} on {label} (port {key[2]}) of "
            f"{{target}}: {rule}",
            ts=now,
            src_ip=key[0],
            src_mac=mac,
            target=key[1],
            kind=kind,
            counts={"failures": n},
        )

    def _progress(self, p: Packet) -> list[Finding]:
        """The server's ISN from its SYN-ACK; an accepted session's first FIN counts for
        spraying; at a FIN or RST, a transfer is uncounted."""
        to_server = p.dport in self.ports
        client, server = (p.src, p.dst) if to_server else (p.dst, p.src)
        cport, port = (p.sport, p.dport) if to_server else (p.dport, p.sport)
        svc = self.table.get((ip_text(client), ip_text(server), port))
        conn = svc.open.get(cport) if svc is not None else None
        if svc is None or conn is None:
            return []
        if p.tcp_flags & 0x12 == 0x12:
            if not to_server:
                conn[2] = p.tcp_seq
            return []
        found: list[Finding] = []
        if p.tcp_flags & 0x01 and conn[2] >= 0 and len(conn) == 3:
            # A session that was accepted and is closed with a FIN: a login's, where a SYN
            # scan resets the server's SYN-ACK at once
            conn.append(p.ts)
            key = (ip_text(client), ip_text(server), port)
            window, threshold = self.s.short_window, self.s.short_threshold
            found = self._spray(self.spread, key, svc.mac, p.ts, window, threshold, "")
        isn = conn[1] if to_server else conn[2]
        if isn < 0 or (p.tcp_seq - int(isn) - 1) % SEQ < TRANSFER_BYTES:
            return found
        del svc.open[cport]
        with contextlib.suppress(ValueError):
            svc.starts.remove(conn[0])
        return found

    def _judge(self, key: tuple[str, str, int], svc: _Service, now: float) -> list[Finding]:
        short = sum(1 for t in svc.starts if now - t < self.s.short_window)
        rule = ""
        if short >= self.s.short_threshold:
            rule = f"{short} connections in {self.s.short_window:g}s"
        elif len(svc.starts) >= self.s.long_threshold:
            rule = f"{len(svc.starts)} connections in {self.s.long_window:g}s"
        elif len(svc.bursts) >= self.s.bursts:
            rule = f"{len(svc.bursts)} bursts of parallel sessions"
        if not rule:
            return []
        service = SERVICES.get(key[2], f"port {key[2]}")
        return [
            Finding(
                detector=self.name,
                severity=Severity.CRITICAL,
                identifier=f"{key[0]}|{key[1]}|{key[2]}",
                summary=f"{{source}} is guessing passwords on {service} of {{target}}: {rule}",
                ts=now,
                src_ip=key[0],
                src_mac=svc.mac,
                target=key[1],
                kind=service,
                counts={"connections": len(svc.starts), "bursts": len(svc.bursts)},
            )
        ]

    def tick(self, now: float) -> Iterable[Finding]:
        for key, svc in self.table.items():
            if svc.starts and now - svc.starts[-1] > self.s.long_window:
                self.table.pop(key)
        window = self.s.failures_window
        for rkey, r in self.replies.items():
            if now - r.last > self.replies_for:
                self.replies.pop(rkey)
        for pkey, (_, ts) in self.posts.items():
            if now - ts > window:
                self.posts.pop(pkey)
        for table, span in ((self.spread, self.s.short_window), (self.refused, window)):
            for skey, seen in table.items():
                if not seen or now - seen[-1][0] > span:
                    table.pop(skey)
        return ()

    def stats(self) -> dict[str, int]:
        return {
            "services": len(self.table),
            "replies": len(self.replies),
            "posts": len(self.posts),
            "sprays": len(self.spread) + len(self.refused),
            "evictions": self.table.evictions
            + self.replies.evictions
            + self.posts.evictions
            + self.spread.evictions
            + self.refused.evictions,
        }
