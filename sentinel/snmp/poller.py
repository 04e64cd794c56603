"""Poll one switch: cached labels, only the exported columns, counters that never spike."""

from __future__ import annotations

import asyncio
import sys
import time
import unicodedata
from array import array
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sentinel.config.snmp import IFTYPE_LAG, Resolved, SnmpAuth
from sentinel.errors import SnmpError
from sentinel.model import InterfaceSample, Role, SwitchHealth, Tier
from sentinel.snmp import ifmib
from sentinel.snmp.client import OID, Credentials, Endpoint, SnmpClient, Special, Value
from sentinel.snmp.counters import Interval, advance, interval
from sentinel.snmp.walk import walk

if TYPE_CHECKING:
    import re
    from collections.abc import Callable, Sequence

GET_BATCH = 40  # OIDs per GET request for the full-tier counters
TEXT_MAX = 128  # characters kept of an agent's string (ifDescr, ifName, ifAlias)
ELLIPSIS = "…"
# Control, format (U+202E and friends), surrogate, private and unassigned characters,
# and the line and paragraph separators (U+2028, U+2029) that split a line elsewhere.
_DROP = frozenset(("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"))
UNSET = (1 << 64) - 1  # marks a counter slot the agent has not reported


@dataclass(frozen=True, slots=True)
class Labels:
    """What rarely changes about an interface; refreshed on a slow timer or on change."""

    ifname: str
    ifdescr: str
    ifalias: str
    iftype: int
    speed_bytes: float | None


def credentials(auth: SnmpAuth) -> Credentials:
    if auth.version == "3":
        return Credentials(
            version="3",
            user=auth.user,
            auth_protocol=auth.auth.protocol if auth.auth else None,
            auth_passphrase=auth.auth.passphrase.reveal() if auth.auth else "",
            priv_protocol=auth.priv.protocol if auth.priv else None,
            priv_passphrase=auth.priv.passphrase.reveal() if auth.priv else "",
            context=auth.context,
        )
    community = auth.community.reveal() if auth.community else "public"
    return Credentials(version=auth.version, community=community, context=auth.context)


def clean_text(raw: bytes, limit: int = TEXT_MAX) -> str:
    """An agent's string fit for a label value and a log line: whoever can set an ifAlias
    (or plug in a device that names itself) chooses these bytes.

    UTF-8 (invalid bytes replaced), each control or format character a space (a newline
    would forge a log line, U+202E make a name read backwards), no blanks or NULs at the
    ends (padding some agents add), at most ``limit`` characters (longer ones end in an
    ellipsis). Spaces inside are kept as the agent has them ("RMON Port  1").
    """
    text = raw[: limit * 4].decode("utf-8", "replace")  # bound the work first
    if not text.isprintable():
        text = "".join(" " if unicodedata.category(c) in _DROP else c for c in text)
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def _text(value: Value | None) -> str:
    if isinstance(value, bytes):
        # Interned: 200 switches of one model share "GigabitEthernet0/1" once.
        return sys.intern(clean_text(value))
    return ""


def _int(value: Value | None) -> int | None:
    return value if isinstance(value, int) else None


def _speed(high: Value | None, low: Value | None) -> float | None:
    h, s = _int(high), _int(low)
    if h:
        return h * 1e6 / 8
    if s and s != ifmib.SPEED_UNKNOWN_32:
        return s / 8
    return None


def port_role(ifname: str, ifalias: str, iftype: int, uplinks: Sequence[re.Pattern[str]]) -> Role:
    """A LAG, or a port whose name or description matches an uplink pattern, is an uplink."""
    if iftype == IFTYPE_LAG:
        return Role.UPLINK
    for p in uplinks:
        if p.fullmatch(ifname) or (ifalias and p.fullmatch(ifalias)):
            return Role.UPLINK
    return Role.ACCESS


class SwitchPoller:
    """State of one switch between polls; ``poll()`` returns one snapshot of its interfaces."""

    def __init__(
        self,
        cfg: Resolved,
        client: SnmpClient,
        *,
        semaphore: asyncio.Semaphore | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        max_rows: int = 20000,
    ) -> None:
        self.cfg = cfg
        self.max_rows = max_rows
        self.client = client
        self.ep = Endpoint(cfg.host, cfg.port, cfg.timeout, cfg.retries)
        self.creds = credentials(cfg.auth)
        self.semaphore = semaphore or asyncio.Semaphore(1)
        self.clock = clock
        self.wall = wall
        self.labels: dict[int, Labels] = {}
        self.labels_at: float | None = None
        self.counters: dict[int, array[int]] = {}
        self.counters_template = array("Q", [UNSET]) * (2 * len(ifmib.COUNTERS))
        self.oper: dict[int, int] = {}
        self.if_number: int | None = None
        self.prev_ticks: int | None = None
        self.prev_at: float | None = None
        self.max_repetitions = cfg.max_repetitions
        self.without_hc: set[int] | None = None  # interfaces with only 32-bit octet counters
        self.track_discontinuity = False
        self.changed = False
        self.discontinuity_times: dict[int, int | None] = {}
        self.row_counts: dict[OID, int] = {}  # rows per column last time: trims walks
        # health
        self.up = False
        self.errors: dict[str, int] = {}
        self.last_duration: float | None = None
        self.last_success: float | None = None
        self.boot_time: float | None = None
        self.requests = 0
        self.varbinds = 0
        self.discontinuities = 0
        self.notes: list[str] = []
        self.events: list[str] = []  # what changed on the agent in the last poll, to log
        self.unlabelled: set[int] = set()  # counter rows the label walk had no names for

    def health(self) -> SwitchHealth:
        return SwitchHealth(
            self.cfg.name,
            self.up,
            self.last_duration,
            self.last_success,
            self.boot_time,
            tuple(sorted(self.errors.items())),
            self.requests,
            self.varbinds,
            self.discontinuities,
        )

    def failed(self, exc: SnmpError, duration: float) -> None:
        self.up = False
        self.last_duration = duration
        self.errors[exc.kind] = self.errors.get(exc.kind, 0) + 1

    # -- requests, each under the shared in-flight bound ---------------------------------

    async def _get(self, oids: Sequence[OID]) -> list[tuple[OID, Value]]:
        async with self.semaphore:
            vbs = await self.client.get(self.ep, self.creds, oids)
        self.requests += 1
        self.varbinds += len(vbs)
        return vbs

    async def _walk(self, columns: Sequence[OID]) -> dict[OID, dict[OID, Value]]:
        async with self.semaphore:
            w = await walk(
                self.client,
                self.ep,
                self.creds,
                columns,
                self.max_repetitions,
                expected=self.row_counts,
                max_rows=self.max_rows,
            )
        self.row_counts.update((c, len(rows)) for c, rows in w.columns.items())
        self.requests += w.requests
        self.varbinds += w.varbinds
        self.max_repetitions = w.max_repetitions
        self.notes.extend(w.notes)
        return w.columns

    # -- one poll ------------------------------------------------------------------------

    async def poll(self) -> list[InterfaceSample]:
        start = self.clock()
        self.notes = []
        self.events = []
        try:
            samples = await self._poll(start)
        except SnmpError as exc:
            self.failed(exc, self.clock() - start)
            raise
        self.up = True
        self.last_duration = self.clock() - start
        self.last_success = self.wall()
        return samples

    async def _poll(self, now: float) -> list[InterfaceSample]:
        scalars = dict(await self._get([ifmib.SYS_UPTIME, ifmib.IF_NUMBER]))
        ticks = _int(scalars.get(ifmib.SYS_UPTIME))
        if ticks is None:
            raise SnmpError("agent has no sysUpTime")
        if_number = _int(scalars.get(ifmib.IF_NUMBER))
        local = now - self.prev_at if self.prev_at is not None else 0.0
        iv = interval(self.prev_ticks, ticks, local)
        if iv.rebooted:
            self.events.append(
                f"agent restarted (sysUpTime {ticks / 100:.0f}s): counters continue from its zero"
            )
        self.boot_time = self.wall() - ticks / 100.0
        refresh = (
            not self.labels
            or iv.rebooted
            or if_number != self.if_number
            or self.changed
            or self.labels_at is None
            or now - self.labels_at >= self.cfg.label_refresh
        )
        disc_rows: dict[OID, Value] = {}
        if refresh:
            cols = [*list(ifmib.LABEL_COLUMNS), ifmib.IF_COUNTER_DISCONTINUITY]
            table = await self._walk(cols)
            self._set_labels(table)
            disc_rows = table[ifmib.IF_COUNTER_DISCONTINUITY]
            self.track_discontinuity = any(_int(v) for v in disc_rows.values())
            self.labels_at = now
        columns = [ifmib.IF_OPER_STATUS, ifmib.IF_HC_IN_OCTETS, ifmib.IF_HC_OUT_OCTETS]
        # 32-bit octet counters: walked until we know which interfaces lack HC counters,
        # then fetched with GET for just those (VLANs, Null0 and old ports, typically).
        if self.without_hc is None:
            columns += [ifmib.IF_IN_OCTETS, ifmib.IF_OUT_OCTETS]
        f = self.cfg.interfaces
        if f.only_admin_up:
            columns.append(ifmib.IF_ADMIN_STATUS)
        if self.track_discontinuity and not refresh:
            columns.append(ifmib.IF_COUNTER_DISCONTINUITY)
        table = await self._walk(columns)
        if ifmib.IF_COUNTER_DISCONTINUITY in table:
            disc_rows = table[ifmib.IF_COUNTER_DISCONTINUITY]
        hc_in = table[ifmib.IF_HC_IN_OCTETS]
        with_hc = {i[0] for i in hc_in if len(i) == 1}
        if self.without_hc is None:
            lo_in = table[ifmib.IF_IN_OCTETS]
        else:
            lo_cols = (ifmib.IF_IN_OCTETS, ifmib.IF_OUT_OCTETS)
            walked = {i[0] for i in table[ifmib.IF_OPER_STATUS] if len(i) == 1}
            want = sorted((set(self.labels) | set(self.oper) | walked) - with_hc)
            lo = await self._get_columns(lo_cols, want)
            table.update(lo)
            lo_in = lo[ifmib.IF_IN_OCTETS]
        with_octets = with_hc | {i[0] for i in lo_in if len(i) == 1}
        unknown = with_octets - set(self.labels) - self.unlabelled
        if unknown and self.labels and not refresh:
            # Renumbered (stack member added, firmware upgrade) or new ports: their names
            # now, not one poll later under bare ifIndex numbers.
            vanished = set(self.counters) - with_octets
            if vanished:
                self.events.append(
                    f"ifIndex numbering changed: {len(unknown)} new, {len(vanished)} gone"
                )
            cols = [*list(ifmib.LABEL_COLUMNS), ifmib.IF_COUNTER_DISCONTINUITY]
            labels_table = await self._walk(cols)
            self._set_labels(labels_table)
            self.unlabelled = unknown - set(self.labels)  # rows without names: not again
            disc_rows = labels_table[ifmib.IF_COUNTER_DISCONTINUITY]
            self.track_discontinuity = any(_int(v) for v in disc_rows.values())
            self.labels_at = now
        self.without_hc = with_octets - with_hc
        oper = {i[0]: v for i, v in table[ifmib.IF_OPER_STATUS].items() if isinstance(v, int)}
        self.changed = bool(self.oper) and oper != self.oper
        self.oper = oper
        admin_rows = table.get(ifmib.IF_ADMIN_STATUS, {})
        selected = self._select(with_octets, oper, admin_rows)
        roles = {i: self._role(i) for i in selected}
        tiers = {i: Tier(getattr(self.cfg.tiers, roles[i].value)) for i in selected}
        full = [i for i in selected if tiers[i] is Tier.FULL]
        extra = await self._full_columns(full, len(with_octets))
        rows: dict[int, dict[OID, Value]] = {i: {} for i in selected}
        for col, col_rows in (*table.items(), *extra.items()):
            for idx, value in col_rows.items():
                if len(idx) == 1 and idx[0] in rows and not isinstance(value, Special):
                    rows[idx[0]][col] = value
        # ifCounterDiscontinuityTime moved: that interface's counters were reset or re-based.
        disc_prev = self.discontinuity_times
        disc_now = {i[0]: _int(v) for i, v in disc_rows.items() if len(i) == 1}
        if disc_rows:
            self.discontinuity_times = disc_now
        moved = {i for i, t in disc_now.items() if i in disc_prev and disc_prev[i] != t}
        samples = [
            self._sample(i, rows[i], roles[i], tiers[i], iv, disc=i in moved)
            for i in sorted(selected)
        ]
        for gone in set(self.counters) - selected:
            del self.counters[gone]
        self.prev_ticks, self.prev_at, self.if_number = ticks, now, if_number
        return samples

    def _set_labels(self, table: dict[OID, dict[OID, Value]]) -> None:
        indexes = {i[0] for col in ifmib.LABEL_COLUMNS for i in table[col] if len(i) == 1}
        labels = {}
        for i in indexes:
            key = (i,)
            descr = _text(table[ifmib.IF_DESCR].get(key))
            name = _text(table[ifmib.IF_NAME].get(key)) or descr or str(i)
            labels[i] = Labels(
                ifname=name,
                ifdescr=descr,
                ifalias=_text(table[ifmib.IF_ALIAS].get(key)),
                iftype=_int(table[ifmib.IF_TYPE].get(key)) or 0,
                speed_bytes=_speed(
                    table[ifmib.IF_HIGH_SPEED].get(key), table[ifmib.IF_SPEED].get(key)
                ),
            )
        self.labels = labels

    def _label(self, i: int) -> Labels:
        found = self.labels.get(i)
        return found if found is not None else Labels(str(i), "", "", 0, None)

    def _select(
        self, with_octets: set[int], oper: dict[int, int], admin: dict[OID, Value]
    ) -> set[int]:
        f = self.cfg.interfaces
        out = set()
        for i in with_octets:
            lab = self._label(i)
            if f.include and not any(p.fullmatch(lab.ifname) for p in f.include):
                continue
            if any(p.fullmatch(lab.ifname) for p in f.exclude):
                continue
            if f.types and lab.iftype not in f.types:
                continue
            if f.only_oper_up and oper.get(i) != 1:
                continue
            if f.only_admin_up and admin.get((i,)) != 1:
                continue
            out.add(i)
        return out

    def _role(self, i: int) -> Role:
        lab = self._label(i)
        return port_role(lab.ifname, lab.ifalias, lab.iftype, self.cfg.uplinks)

    async def _full_columns(self, full: list[int], total: int) -> dict[OID, dict[OID, Value]]:
        """Counters of the full tier: GET for a few interfaces, walk when most are full."""
        if not full:
            return {}
        if len(full) * 3 > total:
            return await self._walk(ifmib.FULL_COLUMNS)
        # 32-bit packet counters only where the HC ones are missing, as for the octets.
        out = await self._get_columns(ifmib.FULL_COLUMNS_HC, full)
        lo = [i for i in full if i in (self.without_hc or ())]
        if lo:
            out.update(await self._get_columns(ifmib.PACKETS_32, lo))
        return out

    async def _get_columns(
        self, columns: Sequence[OID], indexes: Sequence[int]
    ) -> dict[OID, dict[OID, Value]]:
        """Some columns for a few rows, by GET in batches; missing cells are left out."""
        out: dict[OID, dict[OID, Value]] = {c: {} for c in columns}
        oids = [(*c, i) for i in indexes for c in columns]
        for k in range(0, len(oids), GET_BATCH):
            for oid, value in await self._get(oids[k : k + GET_BATCH]):
                col, idx = oid[:-1], oid[-1:]
                if col in out and not isinstance(value, Special):
                    out[col][idx] = value
        return out

    def _sample(
        self,
        i: int,
        row: dict[OID, Value],
        role: Role,
        tier: Tier,
        iv: Interval,
        *,
        disc: bool,
    ) -> InterfaceSample:
        lab = self._label(i)
        state = self.counters.get(i)
        first = state is None
        # Lean interfaces keep only the octet counter slots: most of a school's ports.
        slots = len(ifmib.COUNTERS) if tier is Tier.FULL else ifmib.OCTET_SLOTS
        if state is None:
            state = self.counters[i] = array("Q", self.counters_template[: 2 * slots])
        elif len(state) < 2 * slots:  # became full tier (a reload)
            state.extend(self.counters_template[len(state) :])
        max_bytes = lab.speed_bytes
        for col, value in row.items():
            slot = ifmib.SLOT.get(col)
            if slot is None or slot >= slots or not isinstance(value, int) or value < 0:
                continue
            raw = value & UNSET
            prev_raw, total = state[2 * slot], state[2 * slot + 1]
            if first or prev_raw == UNSET:
                total = raw
            else:
                # Packets can't outnumber bytes / 64 (the minimum Ethernet frame).
                rate = max_bytes if slot < 4 else (max_bytes / 64 if max_bytes else None)
                total, dropped = advance(
                    prev_raw,
                    total,
                    raw,
                    wide=ifmib.WIDE[slot],
                    iv=iv,
                    max_rate=rate,
                    discontinuity=disc,
                )
                self.discontinuities += dropped
            state[2 * slot], state[2 * slot + 1] = raw, min(total, UNSET - 1)

        pick, counter = _pick, _total
        full = tier is Tier.FULL
        admin = row.get(ifmib.IF_ADMIN_STATUS)
        return InterfaceSample(
            switch=self.cfg.name,
            ifindex=i,
            ifname=lab.ifname,
            ifdescr=lab.ifdescr,
            ifalias=lab.ifalias if self.cfg.export_alias else "",
            role=role,
            tier=tier,
            rx_bytes=pick(state, ifmib.RX_BYTES) or 0,
            tx_bytes=pick(state, ifmib.TX_BYTES) or 0,
            rx_packets=pick(state, ifmib.RX_PACKETS) if full else None,
            tx_packets=pick(state, ifmib.TX_PACKETS) if full else None,
            rx_errors=counter(state, ifmib.IF_IN_ERRORS) if full else None,
            tx_errors=counter(state, ifmib.IF_OUT_ERRORS) if full else None,
            rx_discards=counter(state, ifmib.IF_IN_DISCARDS) if full else None,
            tx_discards=counter(state, ifmib.IF_OUT_DISCARDS) if full else None,
            oper_up=self.oper.get(i) == 1,
            admin_up=admin == 1,
            speed_bytes=lab.speed_bytes,
        )


def _total(state: array[int], col: OID) -> int | None:
    """The exported total of one counter column, or None when the agent has none."""
    i = 2 * ifmib.SLOT[col] + 1
    if i >= len(state) or state[i] == UNSET:
        return None
    return state[i]


def _pick(state: array[int], groups: tuple[tuple[OID, ...], ...]) -> int | None:
    """The first group (HC before 32-bit) whose leading column the agent has, summed."""
    for cols in groups:
        if _total(state, cols[0]) is not None:
            return sum(v for c in cols if (v := _total(state, c)) is not None)
    return None
