"""The built-in default, made to show each capability on the box it runs on.

``sentinel run`` without a config file samples this box's interfaces, and also:

- polls an SNMP agent on this box (127.0.0.1:161) as switch ``localhost`` when one
  answers, with the community ``deploy/install.sh --demo`` sets up or ``public``;
- captures on the LAN side (an up interface without the default route; on a box with a
  single interface, that one) when this process holds CAP_NET_RAW, so detection runs.

Alerts go to the event log (the journal). A config file replaces all of this.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from sentinel import logsetup
from sentinel.config import Config, default_config
from sentinel.config.capture import CaptureConfig
from sentinel.config.secret import Secret, SecretSource
from sentinel.config.snmp import SnmpAuth, SnmpConfig, Switch
from sentinel.errors import SnmpError
from sentinel.local import default_route_interfaces
from sentinel.snmp.client import Credentials, Endpoint, SnmpClient
from sentinel.snmp.ifmib import SYS_UPTIME

log = logsetup.get(__name__)
DEMO_COMMUNITY = "sentinel-local"  # what deploy/install.sh --demo configures in snmpd
COMMUNITIES = (DEMO_COMMUNITY, "public")


def builtin_config(*, capture: bool, root: Path = Path("/")) -> Config:
    """The default config plus what this box offers (see the module docstring)."""
    cfg = default_config()
    community = asyncio.run(local_agent())
    if community is not None:
        auth = SnmpAuth(community=Secret(community, SecretSource("inline", "")))
        cfg = dataclasses.replace(
            cfg,
            snmp=SnmpConfig(
                auths={"local": auth},  # type: ignore[arg-type]
                switches=(
                    Switch(
                        name="localhost",
                        address=("127.0.0.1", 161),
                        auth="local",
                        interval=30.0,
                        timeout=1.0,
                        retries=1,
                    ),
                ),
            ),
        )
    if capture:
        lan = lan_interface(root)
        if lan is not None:
            cfg = dataclasses.replace(cfg, capture=CaptureConfig(interface=lan))
    return cfg


async def local_agent() -> str | None:
    """The community an SNMP agent on 127.0.0.1 answers to, if any (half a second each)."""
    client = SnmpClient()
    try:
        for community in COMMUNITIES:
            try:
                await client.get(
                    Endpoint("127.0.0.1", 161, 0.5, 0),
                    Credentials(community=community),
                    [SYS_UPTIME],
                )
            except SnmpError:
                continue
            return community
        return None
    finally:
        client.close()


def lan_interface(root: Path = Path("/")) -> str | None:
    """The LAN side of this box: an up, non-loopback interface without the default route."""
    uplinks = default_route_interfaces(root)
    candidates = []
    try:
        names = sorted(p.name for p in (root / "sys/class/net").iterdir())
    except OSError:
        return None
    for name in names:
        base = root / "sys/class/net" / name
        try:
            up = (base / "operstate").read_text().strip() == "up"
            ether = (base / "type").read_text().strip() == "1"  # ARPHRD_ETHER
        except OSError:
            continue
        if up and ether and name != "lo":
            candidates.append(name)
    lan = [n for n in candidates if n not in uplinks]
    if lan:
        return lan[0]
    return candidates[0] if len(candidates) == 1 else None
