"""SNMPv3 polls against snmpsim's USM users, and the failure messages of ``sentinel poll``."""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING

import pytest

from tests.snmp import agents
from tests.snmp.agents import (
    V3_DEFAULT_RECORDING,
    V3_SHA256_AES256,
    V3_SHA_AES,
    V3_SHA_AES256_BLUMENTHAL,
    V3_SHA_AES256_REEDER,
    V3User,
)
from tests.snmp.conftest import poll, series

if TYPE_CHECKING:
    from tests.snmp.conftest import Key

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

QUICK = ("-t", "1", "-r", "0")
# Series that change from one poll to the next whatever the data.
VOLATILE = (
    "sentinel_snmp_poll_duration_seconds",
    "sentinel_switch_boot_time_seconds",
    "sentinel_snmp_last_success_timestamp_seconds",
)


def stable(got: dict[Key, float]) -> dict[Key, float]:
    return {k: v for k, v in got.items() if k[0] not in VOLATILE}


def polled(target: str, *args: str) -> dict[Key, float]:
    r = poll(target, *args, "--tier", "full", "--name", "sw")
    assert r.returncode == 0, r.stderr
    return series(r.stdout)


def v2c(target: str, community: str) -> dict[Key, float]:
    return polled(target, "-v", "2c", "-c", community)


def with_(user: V3User, **change: str) -> list[str]:
    """The user's net-snmp arguments with some options replaced: with_(u, A="wrong")."""
    args = user.netsnmp_args()
    for flag, value in change.items():
        args[args.index(f"-{flag}") + 1] = value
    return args


def failure(target: str, *args: str) -> str:
    """Poll that must fail: exit 1 with a one-line message on stderr, returned lowercased."""
    r = poll(target, *args, *QUICK, timeout=60)
    assert r.returncode == 1, (r.returncode, r.stdout[:200], r.stderr)
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0].lower()


@pytest.mark.parametrize("user", [V3_SHA_AES, V3_SHA256_AES256], ids=lambda u: u.name)
def test_authpriv_equals_v2c(simulator: agents.Simulator, user: V3User) -> None:
    """authPriv (SHA/AES-128, SHA-256/AES-256) reads the same series as v2c of that data."""
    got = polled(simulator.target, *user.netsnmp_args())
    assert stable(got) == stable(v2c(simulator.target, V3_DEFAULT_RECORDING))
    assert got[("sentinel_switch_up", (("switch", "sw"),))] == 1


def test_context_name_selects_data(simulator: agents.Simulator) -> None:
    """-n CONTEXT reads the recording of that name, equal to its v2c reading."""
    community = "cisco-c3750"
    got = polled(simulator.target, *V3_SHA_AES.netsnmp_args(), "-n", community)
    assert stable(got) == stable(v2c(simulator.target, community))
    assert stable(got) != stable(v2c(simulator.target, V3_DEFAULT_RECORDING))


def netsnmp_ok(target: str, args: list[str]) -> bool:
    r = subprocess.run(
        ["snmpget", *args, *QUICK, "-On", target, agents.SYS_UPTIME],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    return r.returncode == 0


@pytest.mark.parametrize("priv", ["AES-256", "AES-256-C"])
def test_aes256_flavours_match_netsnmp(simulator: agents.Simulator, priv: str) -> None:
    """With SHA-1, -x AES-256 / AES-256-C pair with the same agent key variant as net-snmp."""
    users = (V3_SHA_AES256_REEDER, V3_SHA_AES256_BLUMENTHAL)
    ours = {u.name: poll(simulator.target, *with_(u, x=priv), *QUICK).returncode for u in users}
    theirs = {u.name: netsnmp_ok(simulator.target, with_(u, x=priv)) for u in users}
    assert sum(theirs.values()) == 1, theirs  # exactly one variant decrypts
    assert {k: v == 0 for k, v in ours.items()} == theirs


def test_unknown_user(simulator: agents.Simulator) -> None:
    """A user the agent does not know: exit 1, "unknown user"."""
    assert "unknown user" in failure(simulator.target, *with_(V3_SHA_AES, u="nobody-here"))


def test_wrong_auth_passphrase(simulator: agents.Simulator) -> None:
    """A wrong auth passphrase: exit 1, "wrong auth"."""
    msg = failure(simulator.target, *with_(V3_SHA_AES, A="not-the-auth-key"))
    assert "wrong auth" in msg


def test_wrong_priv_passphrase(simulator: agents.Simulator) -> None:
    """A wrong priv passphrase: exit 1, "wrong priv" or "decrypt"."""
    msg = failure(simulator.target, *with_(V3_SHA_AES, X="not-the-priv-key"))
    assert "wrong priv" in msg or "decrypt" in msg


def test_wrong_community(simulator: agents.Simulator) -> None:
    """A wrong v2c community (the agent stays silent): exit 1, "timeout" and a community hint."""
    msg = failure(simulator.target, "-v", "2c", "-c", "no-such-community")
    assert "timeout" in msg
    assert "community" in msg


def test_no_agent() -> None:
    """Nothing listening on the port: exit 1, "timeout"."""
    msg = failure(f"{agents.HOST}:{agents.free_udp_port()}", "-v", "2c", "-c", "public")
    assert "timeout" in msg
