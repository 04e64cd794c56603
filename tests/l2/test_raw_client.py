"""The hand-written SNMPv2c codec: same answers as pysnmp, hostile datagrams survived."""

from __future__ import annotations

import asyncio
import socket
from typing import TYPE_CHECKING

import pytest

from sentinel.errors import SnmpError, SnmpTimeout, SnmpTooBig
from sentinel.snmp.client import Credentials, Endpoint, SnmpClient
from sentinel.snmp.raw import (
    Malformed,
    RawClient,
    decode_oid,
    decode_response,
    encode_oid,
    encode_request,
)

if TYPE_CHECKING:
    from tests.snmp import agents


@pytest.mark.parametrize(
    "oid",
    [(1, 3, 6, 1, 2, 1, 1, 3, 0), (1, 0, 8802, 1, 1, 2), (2, 999, 1), (0, 0), (1, 3, 2**32 - 1)],
)
def test_oid_round_trip(oid: tuple[int, ...]) -> None:
    data = encode_oid(oid)
    assert data[0] == 0x06
    assert decode_oid(data, 2, len(data)) == oid


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x30",
        b"\x30\x84\xff\xff\xff\xff",
        b"\x30\x03\x02\x01\x00",
        b"\x04\x00",
        b"\x30\x80" * 20,
    ],
)
def test_hostile_responses_raise_malformed(data: bytes) -> None:
    with pytest.raises(Malformed):
        decode_response(data)


def test_truncated_real_response_raises_malformed() -> None:
    """Every prefix of a valid response is rejected, never mis-read."""
    body = encode_request(b"public", 7, [(1, 3, 6, 1, 2, 1, 1, 3, 0)], None)
    response = bytearray(body)
    response[response.index(0xA0)] = 0xA2  # the same layout as a Response-PDU
    assert decode_response(bytes(response))[0] == 7
    for n in range(len(response) - 1):
        with pytest.raises(Malformed):
            decode_response(bytes(response[:n]))


@pytest.mark.parametrize("community", ["aruba-2930f-48p", "cisco-c9200-48p"])
async def test_same_varbinds_as_pysnmp(l2sim: agents.Simulator, community: str) -> None:
    """GETBULK over FDB, LLDP and PoE columns and a GET: values and types equal pysnmp's."""
    host, port = l2sim.target.split(":")
    ep, creds = Endpoint(host, int(port), 2.0, 1), Credentials("2c", community)
    pysnmp = SnmpClient()
    raw = RawClient(pysnmp)
    try:
        columns = [
            (1, 3, 6, 1, 2, 1, 17, 7, 1, 2, 2, 1, 2),
            (1, 0, 8802, 1, 1, 2, 1, 4, 1, 1, 9),
            (1, 3, 6, 1, 2, 1, 105, 1, 3, 1, 1, 2),
            (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6),
            (1, 3, 6, 1, 2, 1, 1, 2),
        ]
        for rep in (1, 25, 60):
            assert await raw.bulk(ep, creds, columns, rep) == await pysnmp.bulk(
                ep, creds, columns, rep
            )
        scalars = [
            (1, 3, 6, 1, 2, 1, 1, 3, 0),
            (1, 3, 6, 1, 2, 1, 1, 5, 0),
            (1, 3, 6, 1, 2, 1, 1, 9, 0),
        ]
        assert await raw.get(ep, creds, scalars) == await pysnmp.get(ep, creds, scalars)
        bad = Credentials("2c", "no-such-community")
        with pytest.raises(SnmpTimeout):
            await raw.get(Endpoint(host, int(port), 0.2, 1), bad, scalars)
    finally:
        raw.close()
        pysnmp.close()


class _Agent(asyncio.DatagramProtocol):
    """Answers each request with junk, a stranger's reply, then what ``reply`` makes."""

    def __init__(self, reply: object) -> None:
        self.reply = reply
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        request_id = int.from_bytes(data[data.index(0xA5) + 4 : data.index(0xA5) + 8], "big")
        self.transport.sendto(b"\x30\x05garbage", addr)
        self.transport.sendto(self._response(request_id + 1, 0), addr)  # not ours
        self.transport.sendto(self._response(request_id, self.reply), addr)  # type: ignore[arg-type]

    @staticmethod
    def _response(request_id: int, status: int) -> bytes:
        body = encode_request(b"c", request_id, [(1, 3, 6, 1, 2, 1, 1, 3, 0)], 0)
        out = bytearray(body)
        pdu = out.index(0xA5)
        out[pdu] = 0xA2
        # error-status is the INTEGER after the request id: non-repeaters in the request.
        status_at = pdu + 2 + 6 + 2
        out[status_at] = status
        return bytes(out)


@pytest.mark.parametrize(("status", "error"), [(1, SnmpTooBig), (5, SnmpError)])
async def test_junk_and_strangers_are_dropped_and_errors_mapped(status: int, error: type) -> None:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: _Agent(status), local_addr=("127.0.0.1", 0), family=socket.AF_INET
    )
    port = transport.get_extra_info("sockname")[1]
    pysnmp = SnmpClient()
    raw = RawClient(pysnmp)
    try:
        with pytest.raises(error) as info:
            await raw.bulk(
                Endpoint("127.0.0.1", port, 1.0, 0), Credentials("2c", "c"), [(1, 3)], 0x10000
            )
        assert raw.stray == 2
        if status == 5:
            assert info.value.status == "genErr"
    finally:
        raw.close()
        pysnmp.close()
        transport.close()
