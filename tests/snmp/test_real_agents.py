"""``sentinel poll`` against real recorded switches equals what net-snmp reads from them."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest

from tests.snmp import agents
from tests.snmp.agents import IF_TABLE, IFX_TABLE, hex_bytes
from tests.snmp.conftest import poll, series

if TYPE_CHECKING:
    from tests.snmp.conftest import Key

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

# Recordings that even snmpbulkwalk cannot walk, by community, with the reason; they are
# left out of the parameters below (never skipped, which would hide them).  None so
# far: every recording with IF-MIB data walks cleanly over the columns below (zte-zrx10
# has OIDs out of order, but in ifRcvAddressTable, which no poller here reads).
EXCLUDED: dict[str, str] = {}

# Table columns a poll uses (sub-identifier under ifTable / ifXTable).
IF_COLS = {
    "descr": 2,
    "speed": 5,
    "admin": 7,
    "oper": 8,
    "in_octets": 10,
    "in_ucast": 11,
    "in_nucast": 12,
    "in_discards": 13,
    "in_errors": 14,
    "out_octets": 16,
    "out_ucast": 17,
    "out_nucast": 18,
    "out_discards": 19,
    "out_errors": 20,
}
IFX_COLS = {
    "name": 1,
    "hc_in_octets": 6,
    "hc_in_ucast": 7,
    "hc_in_mcast": 8,
    "hc_in_bcast": 9,
    "hc_out_octets": 10,
    "hc_out_ucast": 11,
    "hc_out_mcast": 12,
    "hc_out_bcast": 13,
    "high_speed": 15,
    "alias": 18,
}
COLUMNS = {
    **{k: f"{IF_TABLE}.{n}" for k, n in IF_COLS.items()},
    **{k: f"{IFX_TABLE}.{n}" for k, n in IFX_COLS.items()},
}
COUNTERS = (
    "receive_bytes",
    "transmit_bytes",
    "receive_packets",
    "transmit_packets",
    "receive_errors",
    "transmit_errors",
    "receive_discards",
    "transmit_discards",
)
GAUGES = ("up", "admin_up", "speed_bytes")

Table = dict[str, dict[int, agents.Value]]


def walk(target: str, community: str) -> Table:
    """Every column in COLUMNS, walked by snmpbulkwalk: {column: {ifIndex: value}}."""
    auth = agents.v2c_args(community)
    got = agents.bulkwalk_many(target, COLUMNS.values(), auth)
    return {k: agents.column(got, oid) for k, oid in COLUMNS.items()}


def num(t: Table, col: str, i: int) -> int | None:
    v = t[col].get(i)
    return v if isinstance(v, int) else None


def total(t: Table, i: int, *cols: str) -> int | None:
    """Sum of the columns; None when the first is missing, 0 for a missing other one."""
    first = num(t, cols[0], i)
    if first is None:
        return None
    return first + sum(num(t, c, i) or 0 for c in cols[1:])


def expected(t: Table) -> dict[int, dict[str, int | None]]:
    """What each exported series should read per ifIndex, from one walk (None: absent)."""
    out: dict[int, dict[str, int | None]] = {}
    for i in sorted(set(t["in_octets"]) | set(t["hc_in_octets"])):
        hc = num(t, "hc_in_ucast", i) is not None
        hco = num(t, "hc_out_ucast", i) is not None
        high = num(t, "high_speed", i)
        speed = num(t, "speed", i)
        if high:
            speed_bytes: int | None = high * 1_000_000 // 8
        elif speed and speed != 4294967295:
            speed_bytes = speed // 8
        else:
            speed_bytes = None
        oper, admin = num(t, "oper", i), num(t, "admin", i)
        out[i] = {
            "receive_bytes": num(t, "hc_in_octets", i)
            if i in t["hc_in_octets"]
            else num(t, "in_octets", i),
            "transmit_bytes": num(t, "hc_out_octets", i)
            if i in t["hc_out_octets"]
            else num(t, "out_octets", i),
            "receive_packets": total(t, i, "hc_in_ucast", "hc_in_mcast", "hc_in_bcast")
            if hc
            else total(t, i, "in_ucast", "in_nucast"),
            "transmit_packets": total(t, i, "hc_out_ucast", "hc_out_mcast", "hc_out_bcast")
            if hco
            else total(t, i, "out_ucast", "out_nucast"),
            "receive_errors": num(t, "in_errors", i),
            "transmit_errors": num(t, "out_errors", i),
            "receive_discards": num(t, "in_discards", i),
            "transmit_discards": num(t, "out_discards", i),
            "up": None if oper is None else int(oper == 1),
            "admin_up": None if admin is None else int(admin == 1),
            "speed_bytes": speed_bytes,
        }
    return out


def exported(got: dict[Key, float], switch: str) -> dict[int, dict[str, float]]:
    """The per-interface series of one poll: {ifIndex: {short name: value}}."""
    out: dict[int, dict[str, float]] = {}
    for (name, labels), value in got.items():
        lab = dict(labels)
        if "ifindex" not in lab or not name.startswith("sentinel_interface_"):
            continue
        assert lab["switch"] == switch
        short = name.removeprefix("sentinel_interface_").removesuffix("_total")
        out.setdefault(int(lab["ifindex"]), {})[short] = value
    return out


def info_labels(got: dict[Key, float]) -> dict[int, dict[str, str]]:
    return {
        int(dict(labels)["ifindex"]): dict(labels)
        for (name, labels), _ in got.items()
        if name == "sentinel_interface_info"
    }


def text(v: agents.Value | None) -> str | None:
    """A DisplayString as read; hex-printed UTF-8 without its trailing NULs; else None."""
    raw = hex_bytes(v) if v is not None else None
    if raw is not None:
        try:
            s = raw.decode().rstrip("\x00")
        except UnicodeDecodeError:
            return None
        return s if s.isprintable() else None
    return v if isinstance(v, str) else None


def same_text(label: str, value: str) -> bool:
    """Label equals the string read, up to trailing blanks and NULs (padding some agents add)."""
    return label.rstrip(" \x00") == value.rstrip(" \x00")


def test_served_recordings_are_the_listed_ones(simulator: agents.Simulator) -> None:
    """The simulator serves exactly the recordings the parameters below name: those of
    snmpsim-data with an ifInOctets or ifHCInOctets row (update if_mib_recordings.txt when
    snmpsim-data changes)."""
    assert sorted(r.community for r in simulator.recordings) == sorted(agents.IF_MIB_RECORDINGS)
    everything = {agents.stem(p) for p in agents.recording_files()}
    assert set(agents.IF_MIB_RECORDINGS) < everything


@pytest.mark.parametrize("community", [c for c in agents.IF_MIB_RECORDINGS if c not in EXCLUDED])
def test_poll_equals_snmpbulkwalk(simulator: agents.Simulator, community: str) -> None:
    """Every exported value of one recorded device equals snmpbulkwalk's reading."""
    rec = {r.community: r for r in simulator.recordings}[community]
    target = simulator.target
    # Static recordings read the same every time; for one with variation modules in
    # its tables, values must lie between a walk before and a walk after the poll.
    before = walk(target, community) if rec.dynamic else None
    name = f"rec-{community}"
    started = time.time()
    r = poll(target, "-v", "2c", "-c", community, "--tier", "full", "--name", name)
    polled_at = time.time()
    assert r.returncode == 0, r.stderr
    after = walk(target, community)
    uptime = agents.bulkwalk(target, agents.SYS_UPTIME, agents.v2c_args(community))
    got = series(r.stdout)

    want_after = expected(after)
    want_before = expected(before) if before is not None else want_after
    have = exported(got, name)
    assert set(have) == set(want_after), "exported ifIndexes != those with an octet counter"
    mismatches: list[tuple[int, str, float | None, object]] = []
    for i, want in want_after.items():
        for key, hi in want.items():
            lo = want_before[i][key]
            value = have[i].get(key)
            if hi is None or lo is None:
                if value is not None:
                    mismatches.append((i, key, value, "absent"))
            elif value is None or not (float(min(lo, hi)) <= value <= float(max(lo, hi))):
                mismatches.append((i, key, value, (lo, hi) if lo != hi else hi))
    assert mismatches == [], f"{len(mismatches)} differences, first ones: {mismatches[:10]}"

    info = info_labels(got)
    assert set(info) == set(want_after)
    for i, lab in info.items():
        descr, alias = text(after["descr"].get(i)), text(after["alias"].get(i))
        ifname = text(after["name"].get(i)) or descr
        if descr is not None:
            assert same_text(lab["ifdescr"], descr), (i, lab, descr)
        if ifname:  # with ifName and ifDescr both empty the label's fallback is free
            assert same_text(lab["ifname"], ifname), (i, lab, ifname)
        if i not in after["alias"]:
            assert lab["ifalias"] == "", (i, lab)
        elif alias is not None:
            assert same_text(lab["ifalias"], alias), (i, lab, alias)
        assert lab["role"], (i, lab)
        assert got[("sentinel_interface_info", tuple(sorted(lab.items())))] == 1

    switch = (("switch", name),)
    assert got[("sentinel_switch_up", switch)] == 1
    assert got[("sentinel_snmp_poll_duration_seconds", switch)] > 0
    ticks = uptime[agents.SYS_UPTIME]
    assert isinstance(ticks, int)
    boot = got[("sentinel_switch_boot_time_seconds", switch)]
    # sysUpTime of a recording is mostly frozen, so the boot time moves with the clock:
    # it lies between the poll's start and end minus the uptime (ticking ones: the same).
    assert started - ticks / 100 - 3 <= boot <= polled_at - ticks / 100 + 3
    last = got[("sentinel_snmp_last_success_timestamp_seconds", switch)]
    assert polled_at - 300 < last <= polled_at + 1
