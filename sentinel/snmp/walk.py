"""Walk several table columns at once with GETBULK, surviving buggy agents.

One request carries every unfinished column; each column stops at its own end. The
agent's faults end in a partial result and a note, never a hang:

- an OID that does not increase stops that column (the agent would loop forever);
- noSuchObject/noSuchInstance/endOfMibView end a column;
- tooBig or genErr halves max-repetitions (net-snmp answers genErr to a GETBULK whose
  response would be too large); a timeout after the agent answered a GET shrinks it
  (some agents drop large responses) before giving up;
- more rows than ``max_rows`` stops the column (an oversized or looping table).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sentinel.errors import SnmpError, SnmpTimeout, SnmpTooBig
from sentinel.snmp.client import OID, Credentials, Endpoint, SnmpClient, Special, Value

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from sentinel.snmp.raw import RawClient

MAX_VARBINDS_PER_REQUEST = 250  # keeps responses well under a 64 KiB UDP datagram


@dataclass(slots=True)
class Walk:
    """Rows of each column by index, plus what went wrong along the way."""

    columns: dict[OID, dict[OID, Value]]
    notes: list[str] = field(default_factory=list)
    requests: int = 0
    varbinds: int = 0
    max_repetitions: int = 25  # what finally worked: the poller keeps it for next time


async def walk(
    client: SnmpClient | RawClient,
    ep: Endpoint,
    creds: Credentials,
    columns: Sequence[OID],
    max_repetitions: int,
    *,
    max_rows: int = 20000,
    expected: Mapping[OID, int] | None = None,
) -> Walk:
    """Walk ``columns``; ``expected`` (rows per column last time) trims the last request.

    Without it the last GETBULK asks for a full block of max-repetitions rows and most of
    them fall past the column's end: wasted work on both sides.
    """
    result = Walk({c: {} for c in columns}, max_repetitions=max_repetitions)
    last = {c: c for c in columns}  # column -> last OID seen
    pending = list(columns)
    rep = max_repetitions
    while pending:
        per_request = max(1, MAX_VARBINDS_PER_REQUEST // max(rep, 1))
        batch = pending[:per_request]
        ask = rep
        if expected and all(c in expected for c in batch):
            # One row past the expected end confirms the end (or finds new rows).
            left = max(expected[c] - len(result.columns[c]) + 1 for c in batch)
            ask = max(1, min(rep, left))
        try:
            vbs = await client.bulk(ep, creds, [last[c] for c in batch], ask)
        except SnmpTooBig:
            if rep == 1:
                raise
            rep = max(1, rep // 2)
            result.notes.append(f"tooBig: max-repetitions lowered to {rep}")
            continue
        except SnmpTimeout:
            if rep <= 5:
                raise
            rep = max(1, rep // 4)
            result.notes.append(f"timeout on GETBULK: max-repetitions lowered to {rep}")
            continue
        except SnmpError as exc:
            # Some agents (net-snmp among them) answer genErr rather than tooBig when a
            # GETBULK response would be too large.
            if exc.status != "genErr" or rep == 1:
                raise
            rep = max(1, rep // 2)
            result.notes.append(f"genErr on GETBULK: max-repetitions lowered to {rep}")
            continue
        result.requests += 1
        result.varbinds += len(vbs)
        if not vbs:
            raise SnmpError("agent sent an empty GETBULK response")
        done: set[OID] = set()
        n = len(batch)
        for i, (oid, value) in enumerate(vbs):
            col = batch[i % n]
            if col in done:
                continue
            if value is Special.END_OF_MIB_VIEW or oid[: len(col)] != col:
                done.add(col)
                continue
            if oid <= last[col]:
                result.notes.append(f"OID not increasing in column {_dotted(col)}: stopped")
                done.add(col)
                continue
            last[col] = oid
            if isinstance(value, Special):  # noSuchObject/Instance inside a table: skip row
                continue
            rows = result.columns[col]
            rows[oid[len(col) :]] = value
            if len(rows) >= max_rows:
                result.notes.append(f"column {_dotted(col)} has over {max_rows} rows: stopped")
                done.add(col)
        # A column that got no varbind at all in this response (truncated) stays pending.
        pending = [c for c in pending if c not in done]
    result.max_repetitions = rep
    return result


def _dotted(oid: OID) -> str:
    return ".".join(map(str, oid))
