"""``sentinel poll``: a switch definition from net-snmp style flags."""

from __future__ import annotations

import re

from sentinel.config.secret import Secret, SecretSource
from sentinel.config.snmp import (
    DEFAULT_UPLINK_ALIAS,
    AuthKey,
    InterfaceFilter,
    PrivKey,
    Resolved,
    SnmpAuth,
    Tiers,
)


def resolved_from_flags(
    host: str,
    port: int,
    *,
    name: str,
    version: str,
    community: str,
    user: str,
    level: str | None,
    auth_protocol: str | None,
    auth_passphrase: str | None,
    priv_protocol: str | None,
    priv_passphrase: str | None,
    context: str,
    timeout: float,
    retries: int,
    max_repetitions: int,
    tier: str | None,
) -> Resolved:
    """A switch definition from net-snmp style flags."""
    inline = SecretSource("inline", "")
    auth_key = priv_key = None
    if version == "3":
        level = level or (
            "authPriv" if priv_passphrase else "authNoPriv" if auth_passphrase else "noAuthNoPriv"
        )
        if level in ("authNoPriv", "authPriv"):
            if not auth_passphrase:
                raise ValueError(f"-l {level} needs -A PASSPHRASE")
            auth_key = AuthKey(auth_protocol or "MD5", Secret(auth_passphrase, inline))  # type: ignore[arg-type]
        if level == "authPriv":
            if not priv_passphrase:
                raise ValueError("-l authPriv needs -X PASSPHRASE")
            priv_key = PrivKey(priv_protocol or "DES", Secret(priv_passphrase, inline))  # type: ignore[arg-type]
        if not user:
            raise ValueError("SNMP version 3 needs -u USER")
    auth = SnmpAuth(
        version=version,
        community=Secret(community, inline) if version != "3" else None,
        user=user,
        auth=auth_key,
        priv=priv_key,
        context=context,
    )
    return Resolved(
        name=name,
        host=host,
        port=port,
        auth=auth,
        interval=60.0,
        timeout=timeout,
        retries=retries,
        max_repetitions=max_repetitions,
        label_refresh=900.0,
        interfaces=InterfaceFilter(),
        uplinks=(re.compile(DEFAULT_UPLINK_ALIAS),),
        tiers=Tiers(uplink="full", access="full" if tier == "full" else "lean"),
    )
