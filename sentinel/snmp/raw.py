"""SNMPv2c GET and GETBULK with the BER written out by hand: big tables at C-like cost.

pysnmp decodes each response through pyasn1, about 80 µs of CPU per varbind; a switch's
forwarding table of 2,000 MACs is 4,000 varbinds every poll. A community message is a
small, fixed structure (RFC 1905, RFC 3416), so this module encodes the request and
decodes the response itself, in a few µs per varbind. Only SNMPv2c: SNMPv1 (no GETBULK)
and SNMPv3 (USM authentication and privacy) stay with pysnmp in ``client.py``.

``RawClient`` has the same ``get``/``bulk`` interface, values and errors as
``SnmpClient``. A response that does not parse raises ``SnmpError``; a datagram that
answers no request of ours (another request id, another sender) is dropped and counted.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import socket
from typing import TYPE_CHECKING, Any

from sentinel.errors import SnmpError, SnmpTimeout, SnmpTooBig
from sentinel.snmp.client import OID, Special, address, malformed, timeout_hint

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sentinel.snmp.client import Credentials, Endpoint, SnmpClient, Value, VarBind

_GET, _BULK, _RESPONSE = 0xA0, 0xA5, 0xA2
_STATUS = {
    1: "tooBig",
    2: "noSuchName",
    3: "badValue",
    4: "readOnly",
    5: "genErr",
    6: "noAccess",
    16: "authorizationError",
}
_SPECIAL = {
    0x80: Special.NO_SUCH_OBJECT,
    0x81: Special.NO_SUCH_INSTANCE,
    0x82: Special.END_OF_MIB_VIEW,
}
_UNSIGNED = frozenset((0x41, 0x42, 0x43, 0x46, 0x47))  # Counter32, Gauge32, TimeTicks, Counter64


class Malformed(SnmpError):
    """The agent's response is not a well-formed SNMPv2c message."""


# -- encoding ------------------------------------------------------------------------------


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes((tag,)) + _length(len(body)) + body


def _integer(v: int) -> bytes:
    return _tlv(0x02, v.to_bytes(v.bit_length() // 8 + 1, "big", signed=True))


def encode_oid(oid: OID) -> bytes:
    if len(oid) < 2:
        oid = (*oid, 0, 0)[:2] if oid else (0, 0)
    out = bytearray()
    for arc in (oid[0] * 40 + oid[1], *oid[2:]):
        if arc < 0x80:
            out.append(arc)
            continue
        chunk = []
        while arc:
            chunk.append(arc & 0x7F)
            arc >>= 7
        out += bytes(c | 0x80 for c in reversed(chunk[1:])) + bytes((chunk[0],))
    return _tlv(0x06, bytes(out))


def encode_request(
    community: bytes, request_id: int, oids: Sequence[OID], bulk: int | None
) -> bytes:
    """A GET (``bulk`` None) or a GETBULK with non-repeaters 0 and max-repetitions ``bulk``."""
    varbinds = b"".join(_tlv(0x30, encode_oid(o) + b"\x05\x00") for o in oids)
    second, third = (0, bulk) if bulk is not None else (0, 0)
    pdu = _integer(request_id) + _integer(second) + _integer(third) + _tlv(0x30, varbinds)
    message = _integer(1) + _tlv(0x04, community) + _tlv(_BULK if bulk is not None else _GET, pdu)
    return _tlv(0x30, message)


# -- decoding ------------------------------------------------------------------------------


def _header(b: bytes, i: int, end: int) -> tuple[int, int, int]:
    """(tag, start of contents, end of contents) of the element at ``i``."""
    if i + 2 > end:
        raise Malformed("response truncated")
    tag, n = b[i], b[i + 1]
    i += 2
    if n & 0x80:
        k = n & 0x7F
        if k == 0 or k > 4 or i + k > end:
            raise Malformed("bad length in response")
        n = int.from_bytes(b[i : i + k], "big")
        i += k
    if i + n > end:
        raise Malformed("response truncated")
    return tag, i, i + n


def decode_oid(b: bytes, i: int, end: int) -> OID:
    arcs: list[int] = []
    v = 0
    for c in b[i:end]:
        v = (v << 7) | (c & 0x7F)
        if not c & 0x80:
            arcs.append(v)
            v = 0
    if not arcs or b[end - 1] & 0x80:
        raise Malformed("bad OID in response")
    first = arcs[0]
    head = (0, first) if first < 40 else (1, first - 40) if first < 80 else (2, first - 80)
    return (*head, *arcs[1:])


def _value(b: bytes, tag: int, i: int, end: int) -> Value:
    if tag == 0x02:
        return int.from_bytes(b[i:end], "big", signed=True)
    if tag in _UNSIGNED:
        return int.from_bytes(b[i:end], "big")
    if tag == 0x06:
        return decode_oid(b, i, end)
    special = _SPECIAL.get(tag)
    if special is not None:
        return special
    return b[i:end]  # OCTET STRING, IpAddress, Opaque, NULL


def decode_response(data: bytes) -> tuple[int, bytes, int, int, list[VarBind]]:
    """(request id, community, error status, error index, varbinds) of a Response-PDU."""
    end = len(data)
    tag, i, end = _header(data, 0, end)
    if tag != 0x30:
        raise Malformed("response is not a SEQUENCE")
    tag, s, e = _header(data, i, end)
    if tag != 0x02 or int.from_bytes(data[s:e], "big") != 1:
        raise Malformed("response is not SNMPv2c")
    tag, s, i = _header(data, e, end)
    if tag != 0x04:
        raise Malformed("response has no community")
    community = data[s:i]
    tag, i, end = _header(data, i, end)
    if tag != _RESPONSE:
        raise Malformed(f"not a Response-PDU (tag {tag:#x})")
    fields = []
    for _ in range(3):
        tag, s, i = _header(data, i, end)
        if tag != 0x02:
            raise Malformed("bad PDU header in response")
        fields.append(int.from_bytes(data[s:i], "big", signed=True))
    tag, i, end = _header(data, i, end)
    if tag != 0x30:
        raise Malformed("response has no varbind list")
    varbinds: list[VarBind] = []
    append = varbinds.append
    while i < end:
        tag, s, i = _header(data, i, end)
        if tag != 0x30:
            raise Malformed("bad varbind in response")
        tag, ns, ne = _header(data, s, i)
        if tag != 0x06:
            raise Malformed("varbind without a name")
        vtag, vs, ve = _header(data, ne, i)
        append((decode_oid(data, ns, ne), _value(data, vtag, vs, ve)))
    return fields[0], community, fields[1], fields[2], varbinds


# -- the client ----------------------------------------------------------------------------


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, client: RawClient) -> None:
        self.client = client

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.client._received(data, addr)

    def error_received(self, exc: Exception) -> None:  # ICMP unreachable: wait for timeout
        pass


class RawClient:
    """SNMPv2c requests by hand; every other version goes to the pysnmp client."""

    def __init__(self, fallback: SnmpClient) -> None:
        self.fallback = fallback
        self._transports: dict[int, asyncio.DatagramTransport] = {}
        self._pending: dict[int, tuple[asyncio.Future[bytes], tuple[str, int]]] = {}
        self._ids = itertools.count(random.randrange(1 << 20, 1 << 30))  # noqa: S311
        self._addresses: dict[tuple[str, int], tuple[int, tuple[str, int]]] = {}
        self.stray = 0  # datagrams that answered no request of ours
        self.undecodable: dict[tuple[str, int], int] = {}  # per agent we poll: bounded

    async def get(self, ep: Endpoint, creds: Credentials, oids: Sequence[OID]) -> list[VarBind]:
        if creds.version != "2c":
            return await self.fallback.get(ep, creds, oids)
        return await self._request(ep, creds, oids, None)

    async def bulk(
        self, ep: Endpoint, creds: Credentials, oids: Sequence[OID], max_repetitions: int
    ) -> list[VarBind]:
        if creds.version != "2c":
            return await self.fallback.bulk(ep, creds, oids, max_repetitions)
        return await self._request(ep, creds, oids, max_repetitions)

    async def _address(self, ep: Endpoint) -> tuple[int, tuple[str, int]]:
        key = (ep.host, ep.port)
        found = self._addresses.get(key)
        if found is None:
            loop = asyncio.get_running_loop()
            try:
                infos = await asyncio.wait_for(
                    loop.getaddrinfo(ep.host, ep.port, type=socket.SOCK_DGRAM), ep.timeout + 5
                )
            except (OSError, TimeoutError) as exc:
                raise SnmpError(f"cannot resolve {ep.host}: {exc}") from None
            family, _, _, _, sockaddr = infos[0]
            new = (int(family), (str(sockaddr[0]), int(sockaddr[1])))
            if len(self._addresses) > 4096:
                self._addresses.clear()
                self.undecodable.clear()
            self._addresses[key] = new
            self.undecodable.setdefault(new[1], 0)
            return new
        return found

    async def _transport(self, family: int) -> asyncio.DatagramTransport:
        t = self._transports.get(family)
        if t is None or t.is_closing():
            loop = asyncio.get_running_loop()
            local = ("::", 0) if family == socket.AF_INET6 else ("0.0.0.0", 0)  # noqa: S104
            t, _ = await loop.create_datagram_endpoint(
                lambda: _Protocol(self), local_addr=local, family=family
            )
            other = self._transports.get(family)
            if other is not None and not other.is_closing():
                t.close()  # concurrent first requests: one socket, not one each
                return other
            self._transports[family] = t
        return t

    def _received(self, data: bytes, addr: Any) -> None:
        try:
            request_id = decode_response(data)[0]
        except SnmpError:
            self.stray += 1
            peer = address(addr)
            if peer in self.undecodable:
                self.undecodable[peer] += 1
            return
        waiting = self._pending.get(request_id)
        if waiting is None or (addr[0], addr[1]) != waiting[1] or waiting[0].done():
            self.stray += 1
            return
        waiting[0].set_result(data)

    async def _request(
        self, ep: Endpoint, creds: Credentials, oids: Sequence[OID], bulk: int | None
    ) -> list[VarBind]:
        family, addr = await self._address(ep)
        transport = await self._transport(family)
        request_id = next(self._ids) & 0x7FFFFFFF
        community = creds.community.encode()
        message = encode_request(community, request_id, oids, bulk)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = (future, addr)
        undecodable = self.undecodable.get(addr, 0)
        try:
            for _ in range(ep.retries + 1):
                transport.sendto(message, addr)
                try:
                    data = await asyncio.wait_for(asyncio.shield(future), ep.timeout)
                    break
                except TimeoutError:
                    continue
            else:
                bad = self.undecodable.get(addr, 0) - undecodable
                if bad > 0:
                    raise malformed(bad)
                raise SnmpTimeout("timeout: no response" + timeout_hint("2c"))
        finally:
            self._pending.pop(request_id, None)
            if not future.done():
                future.cancel()
        _, _, status, index, varbinds = decode_response(data)
        if status:
            if status == 1:
                raise SnmpTooBig("response too big (tooBig)")
            name = _STATUS.get(status, str(status))
            raise SnmpError(f"agent answered {name} (error index {index})", status=name)
        return varbinds

    def close(self) -> None:
        for t in self._transports.values():
            t.close()
        self._transports.clear()
