"""The ``snmp`` section: credentials once by name, defaults once, then the switches."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Annotated, Literal

from sentinel.config.secret import Secret
from sentinel.config.validate import Check, Duration, Pattern, check_host

AuthProtocol = Literal["MD5", "SHA", "SHA-224", "SHA-256", "SHA-384", "SHA-512"]
PrivProtocol = Literal["DES", "AES", "AES-128", "AES-192", "AES-256", "AES-192-C", "AES-256-C"]
TierName = Literal["full", "lean"]


# Port descriptions that name an uplink in most schools' conventions.
DEFAULT_UPLINK_ALIAS = r"(?i).*\b(uplink|trunk|core|wan|backbone)\b.*"
IFTYPE_LAG = 161  # ieee8023adLag: port-channels are uplinks


def _address(text: str) -> tuple[str, int]:
    m = re.fullmatch(
        r"\[(?P<v6>[0-9A-Fa-f:.]+)\](?::(?P<p1>\d+))?|(?P<host>[^:\[\]]+)(?::(?P<p2>\d+))?", text
    )
    if m is None:
        if text.count(":") > 1:  # bare IPv6 literal without a port
            return check_host(text), 161
        raise ValueError("must be HOST or HOST:PORT (IPv6 as [ADDR]:PORT)")
    host = m["v6"] or m["host"]
    port = int(m["p1"] or m["p2"] or 161)
    if not 0 < port < 65536:
        raise ValueError(f"port {port} is out of range 1-65535")
    return check_host(host), port


def _version(value: object) -> str:
    text = str(value)
    if isinstance(value, bool) or text not in ("1", "2c", "3"):
        raise ValueError("must be one of: 1, 2c, 3")
    return text


def _passphrase(secret: Secret) -> list[tuple[str, str]]:
    if len(secret.reveal()) < 8:
        return [("passphrase", "must be at least 8 characters (RFC 3414)")]
    return []


@dataclass(frozen=True, slots=True)
class AuthKey:
    """SNMPv3 authentication: protocol and passphrase."""

    protocol: AuthProtocol
    passphrase: Secret

    def validate(self) -> list[tuple[str, str]]:
        return _passphrase(self.passphrase)


@dataclass(frozen=True, slots=True)
class PrivKey:
    """SNMPv3 privacy (encryption): protocol and passphrase."""

    protocol: PrivProtocol
    passphrase: Secret

    def validate(self) -> list[tuple[str, str]]:
        return _passphrase(self.passphrase)


@dataclass(frozen=True, slots=True)
class SnmpAuth:
    """Credentials for SNMP v1/v2c (community) or v3 (user, auth, priv, context)."""

    version: Annotated[str, Check(_version, source=object)] = "2c"
    community: Secret | None = None
    user: str = ""
    auth: AuthKey | None = None
    priv: PrivKey | None = None
    context: str = ""

    def validate(self) -> list[tuple[str, str]]:
        issues = []
        if self.version == "3":
            if not self.user:
                issues.append(("user", "is required for SNMP version 3"))
            if self.priv is not None and self.auth is None:
                issues.append(("priv", "needs auth too (authPriv)"))
            if self.community is not None:
                issues.append(("community", "is not used by SNMP version 3"))
        else:
            issues.extend(
                (key, f"is only used by SNMP version 3, not {self.version}")
                for key in ("user", "auth", "priv")
                if getattr(self, key)
            )
        return issues


@dataclass(frozen=True, slots=True)
class InterfaceFilter:
    """Which interfaces of a switch are exported. Default: every one with octet counters."""

    include: tuple[Pattern, ...] = ()  # ifName full-match patterns; empty: all
    exclude: tuple[Pattern, ...] = ()
    types: tuple[int, ...] = ()  # ifType numbers (6 ethernetCsmacd, 161 LAG); empty: all
    only_admin_up: bool = False
    only_oper_up: bool = False


@dataclass(frozen=True, slots=True)
class Tiers:
    """Which metric tier each role exports (docs/ARCHITECTURE.md, Metrics)."""

    uplink: TierName = "full"
    access: TierName = "lean"


@dataclass(frozen=True, slots=True)
class PollSettings:
    """Settings a switch takes from ``snmp.defaults`` unless it sets its own."""

    auth: str | None = None
    interval: Annotated[float, Duration(min=5, max=3600)] | None = None
    timeout: Annotated[float, Duration(min=0.1, max=60)] | None = None
    retries: int | None = None
    max_repetitions: int | None = None
    label_refresh: Annotated[float, Duration(min=60, max=86400)] | None = None
    interfaces: InterfaceFilter | None = None
    uplinks: tuple[Pattern, ...] | None = None
    tiers: Tiers | None = None


@dataclass(frozen=True, slots=True)
class Switch(PollSettings):
    """One switch. ``address`` is HOST or HOST:PORT."""

    name: str = ""
    address: Annotated[tuple[str, int], Check(_address, source=str)] = ("", 161)

    def validate(self) -> list[tuple[str, str]]:
        issues = []
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,62}", self.name):
            issues.append(("name", "must be 1-63 letters, digits, '.', '_', ':' or '-'"))
        if not self.address[0]:
            issues.append(("address", "required key is missing"))
        return issues


@dataclass(frozen=True, slots=True)
class Resolved:
    """A switch with every default applied: what the poller runs on."""

    name: str
    host: str
    port: int
    auth: SnmpAuth
    interval: float
    timeout: float
    retries: int
    max_repetitions: int
    label_refresh: float
    interfaces: InterfaceFilter
    uplinks: tuple[re.Pattern[str], ...]
    tiers: Tiers
    export_alias: bool = True  # privacy.interface_descriptions


@dataclass(frozen=True, slots=True)
class SnmpConfig:
    """The ``snmp`` section."""

    defaults: PollSettings = field(default_factory=PollSettings)
    auths: MappingProxyType[str, SnmpAuth] = field(default_factory=lambda: MappingProxyType({}))
    switches: tuple[Switch, ...] = ()
    max_in_flight: int = 8
    discover: bool = False  # poll switch neighbours not listed here with the defaults

    def validate(self) -> list[tuple[str, str]]:
        issues: list[tuple[str, str]] = []
        if not 1 <= self.max_in_flight <= 256:
            issues.append(("max_in_flight", "must be between 1 and 256"))
        names = set()
        for i, sw in enumerate(self.switches):
            at = f"switches[{i}]"
            if sw.name in names:
                issues.append((f"{at}.name", f"switch name {sw.name!r} is used twice"))
            names.add(sw.name)
            auth = sw.auth or self.defaults.auth
            if auth is not None and auth not in self.auths:
                where = f"{at}.auth" if sw.auth else "defaults.auth"
                issues.append((where, f"no auth named {auth!r} in snmp.auths"))
            r = self.resolve(sw)
            if r.timeout * (r.retries + 1) >= r.interval:
                budget = r.timeout * (r.retries + 1)
                issues.append(
                    (
                        at,
                        f"timeout x (retries + 1) = {budget:g}s must be shorter than "
                        f"interval {r.interval:g}s",
                    )
                )
            if not 0 <= r.retries <= 10:
                issues.append((f"{at}.retries", "must be between 0 and 10"))
            if not 1 <= r.max_repetitions <= 200:
                issues.append((f"{at}.max_repetitions", "must be between 1 and 200"))
        return issues

    def resolve(self, sw: Switch) -> Resolved:
        d = self.defaults

        def pick(name: str, default: object) -> object:
            value = getattr(sw, name)
            if value is None:
                value = getattr(d, name)
            return default if value is None else value

        auth_name = sw.auth or d.auth
        auth = self.auths.get(auth_name, SnmpAuth()) if auth_name else SnmpAuth()
        return Resolved(
            name=sw.name,
            host=sw.address[0],
            port=sw.address[1],
            auth=auth,
            interval=float(pick("interval", 60.0)),  # type: ignore[arg-type]
            timeout=float(pick("timeout", 2.0)),  # type: ignore[arg-type]
            retries=int(pick("retries", 2)),  # type: ignore[call-overload]
            max_repetitions=int(pick("max_repetitions", 25)),  # type: ignore[call-overload]
            label_refresh=float(pick("label_refresh", 900.0)),  # type: ignore[arg-type]
            interfaces=pick("interfaces", InterfaceFilter()),  # type: ignore[arg-type]
            uplinks=pick("uplinks", (re.compile(DEFAULT_UPLINK_ALIAS),)),  # type: ignore[arg-type]
            tiers=pick("tiers", Tiers()),  # type: ignore[arg-type]
        )
