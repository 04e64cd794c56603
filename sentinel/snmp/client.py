"""The only module that imports pysnmp: GET and GETBULK with numeric OIDs and plain values.

pysnmp's high-level API resolves every varbind through its MIB machinery, even with
``lookupMib=False``; that doubles the CPU per varbind. Here requests go straight to the
command generators with raw ``(ObjectName, Null)`` pairs, and responses are turned into
``(tuple[int, ...], int | bytes | Special)`` pairs without building any MIB objects.
"""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from pyasn1.type import univ
from pysnmp.entity.rfc3413 import cmdgen
from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    SnmpEngine,
    Udp6TransportTarget,
    UdpTransportTarget,
    UsmUserData,
)
from pysnmp.hlapi.v3arch.asyncio import auth as hlauth
from pysnmp.hlapi.v3arch.asyncio.lcd import CommandGeneratorLcdConfigurator
from pysnmp.proto import errind, rfc1905
from pysnmp.proto.rfc1902 import ObjectName

from sentinel.errors import SnmpAuthError, SnmpError, SnmpMalformed, SnmpTimeout, SnmpTooBig

if TYPE_CHECKING:
    from collections.abc import Sequence

OID = tuple[int, ...]
Address = tuple[str, int]


class Special(Enum):
    """SNMPv2 exception values in a response varbind."""

    NO_SUCH_OBJECT = "noSuchObject"
    NO_SUCH_INSTANCE = "noSuchInstance"
    END_OF_MIB_VIEW = "endOfMibView"


Value = int | bytes | OID | Special
VarBind = tuple[OID, Value]

AUTH_PROTOCOLS = {
    "MD5": hlauth.USM_AUTH_HMAC96_MD5,
    "SHA": hlauth.USM_AUTH_HMAC96_SHA,
    "SHA-224": hlauth.USM_AUTH_HMAC128_SHA224,
    "SHA-256": hlauth.USM_AUTH_HMAC192_SHA256,
    "SHA-384": hlauth.USM_AUTH_HMAC256_SHA384,
    "SHA-512": hlauth.USM_AUTH_HMAC384_SHA512,
}
# net-snmp's names: AES-192/AES-256 are the Blumenthal key extension (draft-blumenthal-aes-usm),
# AES-192-C/AES-256-C the Reeder one that Cisco uses.
PRIV_PROTOCOLS = {
    "DES": hlauth.USM_PRIV_CBC56_DES,
    "AES": hlauth.USM_PRIV_CFB128_AES,
    "AES-128": hlauth.USM_PRIV_CFB128_AES,
    "AES-192": hlauth.USM_PRIV_CFB192_AES_BLUMENTHAL,
    "AES-256": hlauth.USM_PRIV_CFB256_AES_BLUMENTHAL,
    "AES-192-C": hlauth.USM_PRIV_CFB192_AES,
    "AES-256-C": hlauth.USM_PRIV_CFB256_AES,
}


@dataclass(frozen=True, slots=True)
class Credentials:
    """How to talk to one agent. ``version`` is ``1``, ``2c`` or ``3``."""

    version: str = "2c"
    community: str = "public"
    user: str = ""
    auth_protocol: str | None = None
    auth_passphrase: str = ""
    priv_protocol: str | None = None
    priv_passphrase: str = ""
    context: str = ""

    def __repr__(self) -> str:  # passphrases and communities never reach a log
        return f"Credentials(version={self.version!r}, user={self.user!r})"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where an agent is, and how patient to be with it."""

    host: str
    port: int = 161
    timeout: float = 2.0
    retries: int = 2


_ERRORS: dict[type[Any], tuple[type[SnmpError], str]] = {
    errind.RequestTimedOut: (SnmpTimeout, "timeout: no response"),
    errind.UnknownUserName: (SnmpAuthError, "unknown user"),
    errind.WrongDigest: (SnmpAuthError, "wrong auth passphrase or auth protocol"),
    errind.AuthenticationFailure: (SnmpAuthError, "wrong auth passphrase or auth protocol"),
    errind.AuthenticationError: (SnmpAuthError, "wrong auth passphrase or auth protocol"),
    errind.DecryptionError: (
        SnmpAuthError,
        "wrong priv passphrase or priv protocol (cannot decrypt)",
    ),
    errind.NotInTimeWindow: (SnmpAuthError, "not in time window (agent's engine boots/time)"),
    errind.UnsupportedSecurityLevel: (SnmpAuthError, "security level not supported for this user"),
    errind.UnknownSecurityName: (SnmpAuthError, "unknown security name"),
    errind.UnknownEngineID: (SnmpAuthError, "engine ID discovery failed"),
    errind.UnsupportedAuthProtocol: (SnmpAuthError, "auth protocol not supported"),
    errind.UnsupportedPrivProtocol: (SnmpAuthError, "priv protocol not supported"),
}
_STATUS = {
    1: "tooBig",
    2: "noSuchName",
    3: "badValue",
    4: "readOnly",
    5: "genErr",
    6: "noAccess",
    16: "authorizationError",
}


def timeout_hint(version: str) -> str:
    """What an unanswered community request most likely means, and what to try."""
    if version == "2c":
        # An SNMPv1-only agent (old switches, UPS cards) drops v2c requests unanswered.
        return (
            " (wrong community, or an agent that speaks only SNMPv1? agents ignore a "
            "request with a wrong community or an SNMP version they lack: try version 1)"
        )
    return " (wrong community? agents ignore requests with a wrong community)"


def _error(indication: Any, creds: Credentials) -> SnmpError:
    for cls, (exc, text) in _ERRORS.items():
        if isinstance(indication, cls):
            if exc is SnmpTimeout and creds.version != "3":
                text += timeout_hint(creds.version)
            return exc(text)
    return SnmpError(str(indication))


def malformed(count: int) -> SnmpMalformed:
    """The error of a request that timed out after ``count`` undecodable answers."""
    return SnmpMalformed(
        f"timeout: {count} answers that are not SNMP (random bytes, BER cut short or "
        "lengths that lie) and no valid one"
    )


def address(addr: Any) -> Address:
    """A UDP peer as ``(host, port)``, whatever the transport added (IPv6 flow, scope)."""
    return str(addr[0]), int(addr[1])


def _value(v: Any) -> Value:
    if isinstance(v, univ.Integer):  # Counter32/64, Gauge32, TimeTicks, Integer32, Unsigned32
        return int(v)
    # The exception values are Nulls, and pyasn1's Null is an OctetString: test them first.
    if isinstance(v, rfc1905.NoSuchObject):
        return Special.NO_SUCH_OBJECT
    if isinstance(v, rfc1905.NoSuchInstance):
        return Special.NO_SUCH_INSTANCE
    if isinstance(v, rfc1905.EndOfMibView):
        return Special.END_OF_MIB_VIEW
    if isinstance(v, univ.OctetString):  # OctetString, IpAddress, Opaque
        return bytes(v)
    if isinstance(v, univ.ObjectIdentifier):
        return tuple(v)
    return bytes(str(v), "utf-8", "replace")


_NULL = univ.Null("")


class SnmpClient:
    """One SNMP engine for every switch; requests run concurrently on the event loop."""

    def __init__(self) -> None:
        self._engine = SnmpEngine()
        self._lcd = CommandGeneratorLcdConfigurator()
        self._targets: dict[tuple[Endpoint, Credentials], tuple[str, Address]] = {}
        self._get = cmdgen.GetCommandGenerator()
        self._bulk = cmdgen.BulkCommandGeneratorSingleRun()
        # Undecodable datagrams per agent address (only agents we poll: bounded).
        self.undecodable: dict[Address, int] = {}
        self._watch_decoding()

    def _watch_decoding(self) -> None:
        """Count, per sender, the datagrams pysnmp drops as undecodable.

        pysnmp drops a datagram it cannot decode after adding one to the engine's own
        SNMPv2-MIB ``snmpInASNParseErrs`` (BER that does not parse) or
        ``snmpInBadVersions``; the request then just times out. Those counters are the
        engine's, for all agents, so the dispatcher's receive step is wrapped to see
        which sender's datagram moved them.
        """
        mib = self._engine.get_mib_builder()
        parse_errs, bad_versions = mib.import_symbols(
            "__SNMPv2-MIB", "snmpInASNParseErrs", "snmpInBadVersions"
        )
        dispatcher = self._engine.message_dispatcher
        receive = dispatcher.receive_message
        counts = self.undecodable

        def watched(engine: Any, domain: Any, addr: Any, message: Any) -> Any:
            before = int(parse_errs.syntax) + int(bad_versions.syntax)
            try:
                return receive(engine, domain, addr, message)
            finally:
                if int(parse_errs.syntax) + int(bad_versions.syntax) != before:
                    key = address(addr)
                    if key in counts:
                        counts[key] += 1

        dispatcher.receive_message = watched

    async def _target(self, ep: Endpoint, creds: Credentials) -> tuple[str, Address]:
        key = (ep, creds)
        found = self._targets.get(key)
        if found is not None:
            return found
        try:
            is_v6 = ipaddress.ip_address(ep.host).version == 6
        except ValueError:
            is_v6 = False
        transport_cls = Udp6TransportTarget if is_v6 else UdpTransportTarget
        try:
            transport = await transport_cls.create(
                (ep.host, ep.port), timeout=ep.timeout, retries=ep.retries
            )
        except Exception as exc:  # pysnmp wraps resolver errors in its own types
            raise SnmpError(f"cannot resolve {ep.host}: {exc}") from None
        if creds.version == "3":
            auth: Any = UsmUserData(
                creds.user,
                authKey=creds.auth_passphrase or None,
                privKey=creds.priv_passphrase or None,
                authProtocol=AUTH_PROTOCOLS[creds.auth_protocol]
                if creds.auth_protocol
                else hlauth.USM_AUTH_NONE,
                privProtocol=PRIV_PROTOCOLS[creds.priv_protocol]
                if creds.priv_protocol
                else hlauth.USM_PRIV_NONE,
            )
        else:
            auth = CommunityData(creds.community, mpModel=0 if creds.version == "1" else 1)
        names: tuple[str, str] = self._lcd.configure(self._engine, auth, transport, creds.context)
        if len(self._targets) > 4096:  # bounded: reconfigured switches leave old entries
            self._targets.clear()
            self.undecodable.clear()
        peer = address(transport.transport_address)
        self.undecodable.setdefault(peer, 0)
        self._targets[key] = found = (names[0], peer)
        return found

    async def get(self, ep: Endpoint, creds: Credentials, oids: Sequence[OID]) -> list[VarBind]:
        """GET ``oids``; missing ones come back as ``Special`` values."""
        return await self._request(ep, creds, oids, bulk=None)

    async def bulk(
        self, ep: Endpoint, creds: Credentials, oids: Sequence[OID], max_repetitions: int
    ) -> list[VarBind]:
        """One GETBULK: up to ``max_repetitions`` successors of each of ``oids``, wire order."""
        return await self._request(ep, creds, oids, bulk=max_repetitions)

    async def _request(
        self, ep: Endpoint, creds: Credentials, oids: Sequence[OID], bulk: int | None
    ) -> list[VarBind]:
        addr_name, peer = await self._target(ep, creds)
        undecodable = self.undecodable.get(peer, 0)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[Any, int, int, Any]] = loop.create_future()

        def done(
            _engine: Any, _handle: Any, indication: Any, status: Any, index: Any, vbs: Any, _c: Any
        ) -> None:
            if not future.done():
                future.set_result((indication, int(status or 0), int(index or 0), vbs))

        varbinds = [(ObjectName(oid), _NULL) for oid in oids]
        context = creds.context.encode()
        if bulk is None:
            self._get.send_varbinds(self._engine, addr_name, None, context, varbinds, done)
        else:
            self._bulk.send_varbinds(
                self._engine, addr_name, None, context, 0, bulk, varbinds, done
            )
        # pysnmp times out on its own; this deadline is the backstop if it never calls back.
        deadline = ep.timeout * (ep.retries + 1) + 5
        stuck = False
        try:
            async with asyncio.timeout(deadline):
                indication, status, index, vbs = await future
        except TimeoutError:
            stuck = True
        if stuck or isinstance(indication, errind.RequestTimedOut):
            bad = self.undecodable.get(peer, 0) - undecodable
            if bad > 0:
                raise malformed(bad)
        if stuck:
            raise SnmpTimeout("timeout: no callback from the SNMP engine")
        if indication:
            raise _error(indication, creds)
        if status:
            name = _STATUS.get(status, str(status))
            if status == 1:
                raise SnmpTooBig("response too big (tooBig)")
            raise SnmpError(f"agent answered {name} (error index {index})", status=name)
        return [(tuple(name), _value(value)) for name, value in vbs]

    def close(self) -> None:
        dispatcher = self._engine.transport_dispatcher
        if dispatcher is not None:
            dispatcher.close_dispatcher()
