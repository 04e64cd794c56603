"""A small scripted SNMP v2c agent on loopback that misbehaves on purpose.

Real agents have these faults (non-increasing OIDs, dropped large responses, tooBig,
missing ifXTable, runaway tables); snmpsim cannot produce them because it serves sorted,
well-formed data. This one speaks real SNMP over UDP through pysnmp's protocol codec.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pyasn1.codec.ber import decoder, encoder
from pysnmp.proto import api, rfc1902, rfc1905

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

v2c = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
OID = tuple[int, ...]

IF = (1, 3, 6, 1, 2, 1, 2, 2, 1)
IFX = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)


def switch_table(ports: int = 5, *, hc: bool = True, uptime: int = 100_000) -> dict[OID, object]:
    """A small switch: sysUpTime, ifNumber, ifTable and (optionally) ifXTable."""
    t: dict[OID, object] = {
        (1, 3, 6, 1, 2, 1, 1, 3, 0): rfc1902.TimeTicks(uptime),
        (1, 3, 6, 1, 2, 1, 2, 1, 0): rfc1902.Integer32(ports),
    }
    for i in range(1, ports + 1):
        t[(*IF, 1, i)] = rfc1902.Integer32(i)
        t[(*IF, 2, i)] = rfc1902.OctetString(f"port {i}")
        t[(*IF, 3, i)] = rfc1902.Integer32(6)
        t[(*IF, 5, i)] = rfc1902.Gauge32(1_000_000_000)
        t[(*IF, 7, i)] = rfc1902.Integer32(1)
        t[(*IF, 8, i)] = rfc1902.Integer32(1 if i % 2 else 2)
        t[(*IF, 10, i)] = rfc1902.Counter32(1000 * i)
        t[(*IF, 16, i)] = rfc1902.Counter32(2000 * i)
        if hc:
            t[(*IFX, 1, i)] = rfc1902.OctetString(f"ge{i}")
            t[(*IFX, 6, i)] = rfc1902.Counter64(10**10 + i)
            t[(*IFX, 10, i)] = rfc1902.Counter64(2 * 10**10 + i)
            t[(*IFX, 15, i)] = rfc1902.Gauge32(1000)
            t[(*IFX, 18, i)] = rfc1902.OctetString("uplink to core" if i == 1 else "")
    return t


@dataclass
class Behaviour:
    """Faults to inject; the defaults make a well-behaved agent."""

    drop_bulk_above: int | None = None  # no answer when max-repetitions exceeds this
    too_big_above: int | None = None  # tooBig when requested varbinds exceed this
    gen_err_above: int | None = None  # genErr instead (net-snmp does this)
    repeat_oid: OID | None = None  # GETBULK past this OID answers with this OID again
    runaway_column: OID | None = None  # this column never ends (rows generated forever)
    silent: bool = False
    garble: bool = False  # every answer cut in half (BER that does not decode)
    requests: list[tuple[str, int, int]] = field(default_factory=list)  # (kind, n, max-rep)


class Agent(asyncio.DatagramProtocol):
    def __init__(self, table: dict[OID, object], behaviour: Behaviour, community: str) -> None:
        self.table = table
        self.keys = sorted(table)
        self.b = behaviour
        self.community = community
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def _next(self, oid: OID) -> tuple[OID, object]:
        col = self.b.runaway_column
        if col is not None and oid[: len(col)] == col:
            n = oid[len(col)] + 1 if len(oid) > len(col) else 1
            return (*col, n), rfc1902.Counter64(n)
        if self.b.repeat_oid is not None and oid >= self.b.repeat_oid:
            return self.b.repeat_oid, rfc1902.Counter64(1)
        i = bisect.bisect_right(self.keys, oid)
        if i >= len(self.keys):
            return oid, rfc1905.endOfMibView
        key = self.keys[i]
        return key, self.table[key]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:  # type: ignore[override]
        if self.b.silent:
            return
        msg, _ = decoder.decode(data, asn1Spec=v2c.Message())
        if str(v2c.apiMessage.get_community(msg)) != self.community:
            return  # like real agents: a wrong community gets no answer
        pdu = v2c.apiMessage.get_pdu(msg)
        rsp = v2c.apiMessage.get_response(msg)
        rsp_pdu = v2c.apiMessage.get_pdu(rsp)
        oids = [tuple(o) for o, _ in v2c.apiPDU.get_varbinds(pdu)]
        out: list[tuple[OID, object]] = []
        if pdu.isSameTypeWith(v2c.GetBulkRequestPDU()):
            rep = int(v2c.apiBulkPDU.get_max_repetitions(pdu))
            self.b.requests.append(("bulk", len(oids), rep))
            if self.b.drop_bulk_above is not None and rep > self.b.drop_bulk_above:
                return
            limits = ((self.b.too_big_above, 1), (self.b.gen_err_above, 5))
            status = next((s for lim, s in limits if lim is not None and rep * len(oids) > lim), 0)
            if status:
                v2c.apiPDU.set_error_status(rsp_pdu, status)
                v2c.apiPDU.set_varbinds(rsp_pdu, [(o, v2c.null) for o in oids])
                self._send(rsp, addr)
                return
            cur = list(oids)
            for _ in range(rep):
                row = [self._next(o) for o in cur]
                out.extend(row)
                cur = [o for o, _ in row]
        else:
            self.b.requests.append(("get", len(oids), 0))
            for o in oids:
                value = self.table.get(o)
                out.append((o, value if value is not None else rfc1905.noSuchInstance))
        v2c.apiPDU.set_varbinds(rsp_pdu, [(rfc1902.ObjectName(o), v) for o, v in out])
        self._send(rsp, addr)

    def _send(self, rsp: object, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        data = encoder.encode(rsp)
        self.transport.sendto(data[: len(data) // 2] if self.b.garble else data, addr)


@contextlib.asynccontextmanager
async def serve(
    table: dict[OID, object],
    behaviour: Behaviour | None = None,
    community: str = "public",
) -> AsyncIterator[tuple[int, Behaviour, Callable[[dict[OID, object]], None]]]:
    """Run the agent on 127.0.0.1:<free port>; yields (port, behaviour, set_table)."""
    b = behaviour or Behaviour()
    loop = asyncio.get_running_loop()
    agent = Agent(table, b, community)
    transport, _ = await loop.create_datagram_endpoint(lambda: agent, local_addr=("127.0.0.1", 0))

    def set_table(new: dict[OID, object]) -> None:
        agent.table = new
        agent.keys = sorted(new)

    try:
        yield transport.get_extra_info("sockname")[1], b, set_table
    finally:
        transport.close()
