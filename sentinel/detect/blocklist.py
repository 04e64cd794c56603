"""blocklist: clients contacting addresses, networks or domains on a local list.

The lists are plain files (``files``): one address, network (CIDR) or domain per line,
``#`` starts a comment; hosts-file lines (``0.0.0.0 bad.example``) are read as their
domain. A domain covers its subdomains. Files are checked every ``check_interval``
seconds of packet time and re-read when their modification time or size changed; a
missing or unreadable file is logged once (and again only after it was readable) and
contributes nothing until it is back.

Matched: TCP connection attempts (SYN) and ICMP echo requests to a listed address,
and DNS queries for a listed name or any name under it. Answers are not needed: the
query already says which client wanted the name. UDP flows other than DNS (QUIC to a
listed address) are not checked, to keep this detector off the per-packet path; the
DNS query that preceded them is. A shorter ``check_interval`` picks up list updates
sooner at the cost of a few ``stat`` calls.

Each (client, entry) pair is reported at most once a minute (the engine suppresses
repeats further); the pair table is capped by ``max_tracked`` and the lists by
``MAX_ENTRIES``.
"""

from __future__ import annotations

import ipaddress
import os
import re
from typing import TYPE_CHECKING, ClassVar

from sentinel import logsetup
from sentinel.detect import base
from sentinel.detect.base import Bounded, Finding, ip_text, mac_text
from sentinel.detect.dns import parse
from sentinel.model import Severity

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from sentinel.config.detect import Blocklist as Settings
    from sentinel.detect.base import Common
    from sentinel.packet import Packet

log = logsetup.get(__name__)

SYN, ACK = 0x02, 0x10
ECHO_REQUESTS = frozenset({(4, 8), (6, 128)})  # (IP version, ICMP type)
REPORT_EVERY = 60.0
MAX_ENTRIES = 2_000_000
_DOMAIN = re.compile(r"[a-z0-9_]([a-z0-9_.-]*[a-z0-9])?")
_SINKS = frozenset({"0.0.0.0", "127.0.0.1", "::", "::1"})  # hosts-file targets  # noqa: S104


class _List:
    """The entries of one file."""

    __slots__ = ("domains", "nets", "signature")

    def __init__(self) -> None:
        self.signature: tuple[int, int] | None = None  # (mtime_ns, size)
        self.domains: set[str] = set()
        self.nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []


class Blocklist:
    name: ClassVar[str] = "blocklist"
    wants: ClassVar[frozenset[str]] = frozenset({base.TCP_CONTROL, base.ICMP, base.DNS})
    reads_resolver_answers: ClassVar[bool] = False  # queries only

    def __init__(self, s: Settings, common: Common) -> None:
        self.s = s
        self.allowed = common.allowed(s)
        self.lists: dict[Path, _List] = {f: _List() for f in s.files}
        self.failed: set[Path] = set()  # logged as missing/unreadable, not yet back
        self.domains: frozenset[str] = frozenset()
        # (IP version, prefix length) -> network numbers shifted right to the prefix
        self.prefixes: dict[tuple[int, int], set[int]] = {}
        self.entries = 0
        self.reported: Bounded[tuple[str, str], float] = Bounded(common.max_tracked)
        self.next_check: float | None = None
        self.refresh()

    # -- the lists ---------------------------------------------------------------------

    def refresh(self) -> bool:
        """Re-read the files that changed; true when the entries changed."""
        changed = False
        for path, lst in self.lists.items():
            try:
                st = os.stat(path)
                signature = (st.st_mtime_ns, st.st_size)
                if signature == lst.signature:
                    continue
                with open(path, encoding="utf-8", errors="replace") as fh:
                    text = fh.read()
            except OSError as e:
                if path not in self.failed:
                    self.failed.add(path)
                    log.warning("blocklist file not readable", file=str(path), error=e)
                if lst.signature is not None or lst.domains or lst.nets:
                    self.lists[path] = _List()
                    changed = True
                continue
            if path in self.failed:
                self.failed.discard(path)
            self.lists[path] = self._parse(path, text, signature)
            changed = True
        if changed:
            self._merge()
        return changed

    def _parse(self, path: Path, text: str, signature: tuple[int, int]) -> _List:
        lst = _List()
        lst.signature = signature
        bad = 0
        for raw in text.splitlines():
            words = raw.split("#", 1)[0].split()
            if not words:
                continue
            entry = words[1] if len(words) == 2 and words[0] in _SINKS else words[0]
            if len(words) > 2 or (len(words) == 2 and words[0] not in _SINKS):
                bad += 1
                continue
            try:
                lst.nets.append(ipaddress.ip_network(entry, strict=False))
                continue
            except ValueError:
                pass
            domain = entry.lower().rstrip(".").removeprefix("*.")
            if _DOMAIN.fullmatch(domain) and "." in domain:
                lst.domains.add(domain)
            else:
                bad += 1
        log.info(
            "blocklist loaded",
            file=str(path),
            domains=len(lst.domains),
            networks=len(lst.nets),
            invalid_lines=bad,
        )
        return lst

    def _merge(self) -> None:
        domains: set[str] = set()
        prefixes: dict[tuple[int, int], set[int]] = {}
        count = 0
        for lst in self.lists.values():
            for d in lst.domains:
                if count >= MAX_ENTRIES:
                    break
                if d not in domains:
                    domains.add(d)
                    count += 1
            for n in lst.nets:
                if count >= MAX_ENTRIES:
                    break
                bits = n.max_prefixlen - n.prefixlen
                prefixes.setdefault((n.version, n.prefixlen), set()).add(
                    int(n.network_address) >> bits
                )
                count += 1
        if count >= MAX_ENTRIES:
            log.warning("blocklist too long, entries ignored", kept=MAX_ENTRIES)
        self.domains = frozenset(domains)
        self.prefixes = prefixes
        self.entries = count

    def _address(self, raw: bytes) -> str:
        """The listed network ``raw`` falls in, as text; ``""`` when not listed."""
        version = 4 if len(raw) == 4 else 6
        value = int.from_bytes(raw, "big")
        width = 32 if version == 4 else 128
        for (v, plen), nets in self.prefixes.items():
            if v == version and value >> (width - plen) in nets:
                if plen == width:
                    return ip_text(raw)
                net = ipaddress.ip_network((value >> (width - plen) << (width - plen), plen))
                return str(net) if version == 6 else str(ipaddress.IPv4Network(net))
        return ""

    def _domain(self, name: str) -> str:
        """The listed domain ``name`` is or is under; ``""`` when not listed."""
        if not self.domains:
            return ""
        labels = name.split(".")
        for i in range(len(labels) - 1):
            candidate = ".".join(labels[i:])
            if candidate in self.domains:
                return candidate
        return ""

    # -- the packets -------------------------------------------------------------------

    def observe(self, p: Packet) -> Iterable[Finding]:
        if not self.entries:
            return ()
        entry, what = "", ""
        if p.proto == 6 and p.tcp_flags & (SYN | ACK) == SYN and self.prefixes:
            entry, what = self._address(p.dst), "connection to"
        elif (p.ip_version, p.icmp_type) in ECHO_REQUESTS and self.prefixes:
            entry, what = self._address(p.dst), "ping to"
        if not entry and p.dport == 53 and p.proto in (6, 17) and self.domains and p.payload:
            m = parse(p.payload, tcp=p.proto == 6)
            if not m.qr:
                for q in m.questions:
                    entry = self._domain(q.name)
                    if entry and not self.allowed.domain(q.name):
                        what = "DNS query for"
                        break
                    entry = ""
        if not entry:
            return ()
        client, mac = ip_text(p.src), mac_text(p.src_mac)
        if self.allowed.source(client, mac):
            return ()
        last = self.reported.get((client, entry))
        if last is not None and p.ts - last < REPORT_EVERY:
            return ()
        self.reported.pop((client, entry))
        self.reported.setdefault((client, entry), value=p.ts)
        return [
            Finding(
                detector=self.name,
                severity=Severity.CRITICAL,
                identifier=f"{client}|{entry}",
                summary=f"{{source}} {what} {{target}}, which is on the blocklist",
                ts=p.ts,
                src_ip=client,
                src_mac=mac,
                target_name=entry,
                kind="domain" if what == "DNS query for" else "address",
                counts={"entries": self.entries},
            )
        ]

    def tick(self, now: float) -> Iterable[Finding]:
        if self.next_check is None:
            self.next_check = now + self.s.check_interval
        elif now >= self.next_check:
            self.next_check = now + self.s.check_interval
            self.refresh()
        return ()

    def stats(self) -> dict[str, int]:
        return {
            "entries": self.entries,
            "files_unreadable": len(self.failed),
            "reported": len(self.reported),
            "evictions": self.reported.evictions,
        }
