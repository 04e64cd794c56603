"""The capture worker's messages to the main process: a plain, typed encoding.

The worker parses attacker-controlled frames, so the main process trusts nothing it
sends: no pickle, nothing that can run code. A message is a 5-byte header (kind, body
length) and a body whose form the kind fixes:

    kind      body
    started   JSON object {"interface": str, "pid": int, "engine": str}
    error     UTF-8 text
    snapshot  JSON object with the fields of ``accounting.Snapshot``, every type checked
    alerts    JSON list of alerts (every ``model.Alert`` field)
    census    n x (8-byte hash, 1-byte locally-administered flag), little-endian

An unknown kind, a body longer than its kind allows, or a body that does not decode to
exactly that form raises ``WireError``: the main process treats the connection as broken
(the worker is stopped and restarted, and the restart is counted).
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from sentinel.capture.accounting import N_CELLS, Snapshot
from sentinel.errors import CaptureError
from sentinel.model import Alert, Endpoint, Severity

if TYPE_CHECKING:
    import asyncio

HEADER = struct.Struct("!BI")  # kind, body length
CENSUS_ENTRY = struct.Struct("<QB")


class Kind(IntEnum):
    STARTED = 1
    ERROR = 2
    SNAPSHOT = 3
    ALERTS = 4
    CENSUS = 5


# The longest body each kind may have (bytes). Census: census.MAX_PENDING entries.
MAX_BODY = {
    Kind.STARTED: 4 << 10,
    Kind.ERROR: 64 << 10,
    Kind.SNAPSHOT: 1 << 20,
    Kind.ALERTS: 16 << 20,
    Kind.CENSUS: 65536 * CENSUS_ENTRY.size,
}


class WireError(CaptureError):
    """The worker sent bytes that are not a well-formed message."""


@dataclass(frozen=True, slots=True)
class Started:
    interface: str
    pid: int
    engine: str


@dataclass(frozen=True, slots=True)
class Failed:
    """The worker could not capture (e.g. the interface is gone)."""

    text: str


@dataclass(frozen=True, slots=True)
class Alerts:
    items: list[Alert]


@dataclass(frozen=True, slots=True)
class Census:
    items: list[tuple[int, bool]]  # (device hash, locally administered)


Message = Started | Failed | Snapshot | Alerts | Census


def _json(obj: object) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def _frame(kind: Kind, body: bytes) -> bytes:
    if len(body) > MAX_BODY[kind]:
        raise ValueError(f"{kind.name.lower()} message of {len(body)} bytes is too long")
    return HEADER.pack(kind, len(body)) + body


def started(interface: str, pid: int, engine: str) -> bytes:
    return _frame(Kind.STARTED, _json({"interface": interface, "pid": pid, "engine": engine}))


def error(text: str) -> bytes:
    body = text.encode(errors="replace")[: MAX_BODY[Kind.ERROR]]
    return _frame(Kind.ERROR, body.decode(errors="ignore").encode())


def snapshot(s: Snapshot) -> bytes:
    return _frame(
        Kind.SNAPSHOT,
        _json(
            {
                "packets": s.packets,
                "bytes": s.bytes,
                "malformed": s.malformed,
                "active_macs": s.active_macs,
                "active_ips": s.active_ips,
                "device_table_full": s.device_table_full,
                "detector_frames": s.detector_frames,
                "detector_frames_dropped": s.detector_frames_dropped,
                "kernel_packets": s.kernel_packets,
                "kernel_drops": s.kernel_drops,
                "own_drops": s.own_drops,
                "detector_frames_aggregated": s.detector_frames_aggregated,
                "detections": [[d, sev, n] for (d, sev), n in s.detections.items()],
                "detector_tables": [[d, a, b] for d, (a, b) in s.detector_tables.items()],
            }
        ),
    )


def _alert_dict(a: Alert) -> dict[str, object]:
    return {
        "detector": a.detector,
        "severity": a.severity.value,
        "identifier": a.identifier,
        "summary": a.summary,
        "first_seen": a.first_seen,
        "last_seen": a.last_seen,
        "ip": a.source.ip,
        "mac": a.source.mac,
        "target": a.target,
        "counts": [[k, v] for k, v in a.counts],
        "description": a.description,
        "evidence": a.evidence,
        "resolved": a.resolved,
        "kind": a.kind,
        "incident": a.incident,
    }


def alerts(items: list[Alert]) -> bytes:
    return _frame(Kind.ALERTS, _json([_alert_dict(a) for a in items]))


def census(items: list[tuple[int, bool]]) -> bytes:
    pack = CENSUS_ENTRY.pack
    return _frame(Kind.CENSUS, b"".join(pack(h, 1 if local else 0) for h, local in items))


# -- decoding: everything checked --------------------------------------------------------


def _fail(kind: Kind, what: str) -> WireError:
    return WireError(f"capture worker sent a malformed {kind.name.lower()} message: {what}")


def _int(v: object, kind: Kind, name: str) -> int:
    if type(v) is not int or v < 0:
        raise _fail(kind, f"{name} is not a non-negative integer")
    return v


def _str(v: object, kind: Kind, name: str) -> str:
    if type(v) is not str:
        raise _fail(kind, f"{name} is not a string")
    return v


def _num(v: object, kind: Kind, name: str) -> float:
    if type(v) not in (int, float):
        raise _fail(kind, f"{name} is not a number")
    return float(v)  # type: ignore[arg-type]


def _obj(v: object, kind: Kind, keys: frozenset[str]) -> dict[str, Any]:
    if type(v) is not dict or set(v) != keys:
        raise _fail(kind, f"expected an object with exactly the keys {sorted(keys)}")
    return v


def _list(v: object, kind: Kind, name: str) -> list[Any]:
    if type(v) is not list:
        raise _fail(kind, f"{name} is not a list")
    return v


def _parse_json(kind: Kind, body: bytes) -> object:
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise _fail(kind, f"not JSON ({exc})") from None


_STARTED_KEYS = frozenset(("interface", "pid", "engine"))
_SNAPSHOT_KEYS = frozenset(
    (
        "packets",
        "bytes",
        "malformed",
        "active_macs",
        "active_ips",
        "device_table_full",
        "detector_frames",
        "detector_frames_dropped",
        "kernel_packets",
        "kernel_drops",
        "own_drops",
        "detector_frames_aggregated",
        "detections",
        "detector_tables",
    )
)
_ALERT_KEYS = frozenset(
    (
        "detector",
        "severity",
        "identifier",
        "summary",
        "first_seen",
        "last_seen",
        "ip",
        "mac",
        "target",
        "counts",
        "description",
        "evidence",
        "resolved",
        "kind",
        "incident",
    )
)
_SEVERITIES = {s.value: s for s in Severity}


def _decode_started(body: bytes) -> Started:
    k = Kind.STARTED
    d = _obj(_parse_json(k, body), k, _STARTED_KEYS)
    interface, engine = _str(d["interface"], k, "interface"), _str(d["engine"], k, "engine")
    return Started(interface, _int(d["pid"], k, "pid"), engine)


def _decode_snapshot(body: bytes) -> Snapshot:
    k = Kind.SNAPSHOT
    d = _obj(_parse_json(k, body), k, _SNAPSHOT_KEYS)
    cells: dict[str, list[int]] = {}
    for name in ("packets", "bytes"):
        values = _list(d[name], k, name)
        if len(values) != N_CELLS:
            raise _fail(k, f"{name} has {len(values)} cells, not {N_CELLS}")
        cells[name] = [_int(v, k, name) for v in values]
    malformed = d["malformed"]
    if type(malformed) is not dict:
        raise _fail(k, "malformed is not an object")
    detections: dict[tuple[str, str], int] = {}
    for row in _list(d["detections"], k, "detections"):
        row = _list(row, k, "detections")
        if len(row) != 3:
            raise _fail(k, "a detections row is not [detector, severity, count]")
        detections[(_str(row[0], k, "detector"), _str(row[1], k, "severity"))] = _int(
            row[2], k, "detections"
        )
    tables: dict[str, tuple[int, int]] = {}
    for row in _list(d["detector_tables"], k, "detector_tables"):
        row = _list(row, k, "detector_tables")
        if len(row) != 3:
            raise _fail(k, "a detector_tables row is not [detector, size, evicted]")
        tables[_str(row[0], k, "detector")] = (
            _int(row[1], k, "size"),
            _int(row[2], k, "evicted"),
        )
    return Snapshot(
        cells["packets"],
        cells["bytes"],
        {_str(r, k, "reason"): _int(n, k, "malformed") for r, n in malformed.items()},
        _int(d["active_macs"], k, "active_macs"),
        _int(d["active_ips"], k, "active_ips"),
        _int(d["device_table_full"], k, "device_table_full"),
        _int(d["detector_frames"], k, "detector_frames"),
        _int(d["detector_frames_dropped"], k, "detector_frames_dropped"),
        _int(d["kernel_packets"], k, "kernel_packets"),
        _int(d["kernel_drops"], k, "kernel_drops"),
        _int(d["own_drops"], k, "own_drops"),
        detections=detections,
        detector_frames_aggregated=_int(
            d["detector_frames_aggregated"], k, "detector_frames_aggregated"
        ),
        detector_tables=tables,
    )


def _decode_alert(v: object) -> Alert:
    k = Kind.ALERTS
    d = _obj(v, k, _ALERT_KEYS)
    sev = _SEVERITIES.get(d["severity"]) if type(d["severity"]) is str else None
    if sev is None:
        raise _fail(k, "severity is not info, warning or critical")
    counts = []
    for row in _list(d["counts"], k, "counts"):
        row = _list(row, k, "counts")
        if len(row) != 2:
            raise _fail(k, "a counts row is not [name, count]")
        counts.append((_str(row[0], k, "count name"), _int(row[1], k, "count")))
    resolved = d["resolved"]
    return Alert(
        detector=_str(d["detector"], k, "detector"),
        severity=sev,
        identifier=_str(d["identifier"], k, "identifier"),
        summary=_str(d["summary"], k, "summary"),
        first_seen=_num(d["first_seen"], k, "first_seen"),
        last_seen=_num(d["last_seen"], k, "last_seen"),
        source=Endpoint(ip=_str(d["ip"], k, "ip"), mac=_str(d["mac"], k, "mac")),
        target=_str(d["target"], k, "target"),
        counts=tuple(counts),
        description=_str(d["description"], k, "description"),
        evidence=_str(d["evidence"], k, "evidence"),
        resolved=None if resolved is None else _num(resolved, k, "resolved"),
        kind=_str(d["kind"], k, "kind"),
        incident=_str(d["incident"], k, "incident"),
    )


def _decode_census(body: bytes) -> list[tuple[int, bool]]:
    if len(body) % CENSUS_ENTRY.size:
        raise _fail(Kind.CENSUS, f"{len(body)} bytes is not a whole number of entries")
    out = []
    for h, flag in CENSUS_ENTRY.iter_unpack(body):
        if flag > 1:
            raise _fail(Kind.CENSUS, f"flag {flag} is not 0 or 1")
        out.append((h, flag == 1))
    return out


def decode(kind_byte: int, body: bytes) -> Message:
    """The message with header kind ``kind_byte`` and body ``body``; WireError if malformed."""
    try:
        kind = Kind(kind_byte)
    except ValueError:
        raise WireError(f"capture worker sent a message of unknown kind {kind_byte}") from None
    if len(body) > MAX_BODY[kind]:
        raise _fail(kind, f"{len(body)} bytes is longer than {MAX_BODY[kind]}")
    if kind is Kind.STARTED:
        return _decode_started(body)
    if kind is Kind.ERROR:
        try:
            return Failed(body.decode())
        except UnicodeDecodeError:
            raise _fail(kind, "not UTF-8") from None
    if kind is Kind.SNAPSHOT:
        return _decode_snapshot(body)
    if kind is Kind.ALERTS:
        items = _list(_parse_json(kind, body), kind, "alerts")
        return Alerts([_decode_alert(a) for a in items])
    return Census(_decode_census(body))


async def read_message(reader: asyncio.StreamReader) -> Message:
    """One message from the worker; WireError on anything malformed (the length is checked
    against the kind's limit before the body is read, so a bad header costs no memory)."""
    kind_byte, n = HEADER.unpack(await reader.readexactly(HEADER.size))
    if kind_byte not in Kind._value2member_map_:
        raise WireError(f"capture worker sent a message of unknown kind {kind_byte}")
    limit = MAX_BODY[Kind(kind_byte)]
    if n > limit:
        raise _fail(Kind(kind_byte), f"length {n} is longer than {limit}")
    return decode(kind_byte, await reader.readexactly(n))
