"""The poller against a scripted agent: faults end in a correct partial result or a clear error."""

from __future__ import annotations

import dataclasses
import re

import pytest
from pysnmp.proto import rfc1902

from sentinel.errors import SnmpError, SnmpTimeout
from sentinel.model import Role, Tier
from sentinel.snmp.client import SnmpClient
from sentinel.snmp.once import resolved_from_flags
from sentinel.snmp.poller import SwitchPoller
from tests.snmpunit.agent import IF, IFX, Behaviour, serve, switch_table

pytestmark = pytest.mark.timeout(30)


def config(port: int, **changes: object):  # type: ignore[no-untyped-def]
    cfg = resolved_from_flags(
        "127.0.0.1",
        port,
        name="sw",
        version="2c",
        community="public",
        user="",
        level=None,
        auth_protocol=None,
        auth_passphrase=None,
        priv_protocol=None,
        priv_passphrase=None,
        context="",
        timeout=0.3,
        retries=0,
        max_repetitions=25,
        tier=None,
    )
    return dataclasses.replace(cfg, **changes)


async def test_well_behaved_agent() -> None:
    """Values, labels, roles and tiers come out as the agent has them."""
    async with serve(switch_table(5)) as (port, _b, _):
        client = SnmpClient()
        try:
            samples = await SwitchPoller(config(port), client).poll()
        finally:
            client.close()
    assert [s.ifindex for s in samples] == [1, 2, 3, 4, 5]
    s1, s2 = samples[0], samples[1]
    assert (s1.ifname, s1.ifalias, s1.role, s1.tier) == (
        "ge1",
        "uplink to core",
        Role.UPLINK,
        Tier.FULL,
    )
    assert (s2.role, s2.tier) == (Role.ACCESS, Tier.LEAN)
    assert s1.rx_bytes == 10**10 + 1
    assert s2.tx_bytes == 2 * 10**10 + 2
    assert s1.oper_up
    assert not s2.oper_up
    assert s1.speed_bytes == 125e6
    assert s2.rx_packets is None  # lean tier


async def test_agent_without_ifxtable_uses_32bit_counters() -> None:
    """No HC counters (noSuchObject): the 32-bit ones are exported, names fall back to ifDescr."""
    async with serve(switch_table(3, hc=False)) as (port, _, _):
        client = SnmpClient()
        try:
            samples = await SwitchPoller(config(port), client).poll()
        finally:
            client.close()
    assert [(s.ifname, s.rx_bytes, s.tx_bytes) for s in samples] == [
        ("port 1", 1000, 2000),
        ("port 2", 2000, 4000),
        ("port 3", 3000, 6000),
    ]
    assert samples[0].speed_bytes == 125e6  # from ifSpeed


async def test_empty_interface_table() -> None:
    """An agent with no interfaces: a successful poll of nothing."""
    table = dict(switch_table(0).items())
    async with serve(table) as (port, _, _):
        client = SnmpClient()
        try:
            poller = SwitchPoller(config(port), client)
            assert await poller.poll() == []
            assert poller.up
        finally:
            client.close()


async def test_agent_failing_on_large_max_repetitions_is_retried_smaller() -> None:
    """Responses to max-repetitions > 5 are dropped: the walk shrinks and completes."""
    async with serve(switch_table(8), Behaviour(drop_bulk_above=5)) as (port, _b, _):
        client = SnmpClient()
        try:
            poller = SwitchPoller(config(port, timeout=0.2), client)
            samples = await poller.poll()
        finally:
            client.close()
    assert len(samples) == 8
    assert poller.max_repetitions <= 5
    assert any("max-repetitions lowered" in n for n in poller.notes)


async def test_too_big_halves_max_repetitions() -> None:
    """tooBig: max-repetitions is halved until the response fits."""
    async with serve(switch_table(8), Behaviour(too_big_above=40)) as (port, _, _):
        client = SnmpClient()
        try:
            poller = SwitchPoller(config(port), client)
            samples = await poller.poll()
        finally:
            client.close()
    assert len(samples) == 8
    assert any("tooBig" in n for n in poller.notes)


async def test_gen_err_on_large_bulk_halves_max_repetitions() -> None:
    """genErr to a large GETBULK (net-snmp's answer): smaller requests complete the walk."""
    async with serve(switch_table(8), Behaviour(gen_err_above=40)) as (port, _, _):
        client = SnmpClient()
        try:
            poller = SwitchPoller(config(port), client)
            samples = await poller.poll()
        finally:
            client.close()
    assert len(samples) == 8
    assert any("genErr" in n for n in poller.notes)


async def test_non_increasing_oids_stop_the_column() -> None:
    """An agent repeating an OID in ifXTable: no hang, the column stops, a note says why."""
    stuck = (*IFX, 6, 3)
    async with serve(switch_table(5), Behaviour(repeat_oid=stuck)) as (port, _, _):
        client = SnmpClient()
        try:
            poller = SwitchPoller(config(port), client)
            samples = await poller.poll()
        finally:
            client.close()
    assert any("not increasing" in n for n in poller.notes)
    assert {s.ifindex for s in samples} >= {1, 2}


async def test_runaway_table_is_capped() -> None:
    """A column that never ends stops at the row cap with a note instead of looping forever."""
    async with serve(switch_table(3), Behaviour(runaway_column=(*IF, 8))) as (port, _, _):
        client = SnmpClient()
        try:
            poller = SwitchPoller(config(port), client, max_rows=300)
            await poller.poll()
        finally:
            client.close()
    assert any("over 300 rows" in n for n in poller.notes)


async def test_silent_agent_is_a_timeout() -> None:
    """No answer: SnmpTimeout, the switch is down, the error is counted by kind."""
    async with serve(switch_table(2), Behaviour(silent=True)) as (port, _, _):
        client = SnmpClient()
        try:
            poller = SwitchPoller(config(port, timeout=0.2), client)
            with pytest.raises(SnmpTimeout, match="community"):
                await poller.poll()
        finally:
            client.close()
    h = poller.health()
    assert not h.up
    assert dict(h.errors) == {"timeout": 1}


async def test_reboot_between_polls_gives_no_spike() -> None:
    """sysUpTime going back with counters restarted: totals keep growing, never jump."""
    table = switch_table(2, uptime=10_000_000)
    async with serve(table) as (port, _, set_table):
        client = SnmpClient()
        try:
            poller = SwitchPoller(config(port), client)
            first = {s.ifindex: s.rx_bytes for s in await poller.poll()}
            rebooted = switch_table(2, uptime=3000)
            for i in (1, 2):
                rebooted[(*IFX, 6, i)] = rfc1902.Counter64(5000)
            set_table(rebooted)
            second = {s.ifindex: s.rx_bytes for s in await poller.poll()}
        finally:
            client.close()
    assert second == {i: first[i] + 5000 for i in (1, 2)}


async def test_interface_filter_and_uplink_patterns() -> None:
    """include/exclude by name and uplinks by pattern decide what is exported and how."""
    from sentinel.config.snmp import InterfaceFilter

    async with serve(switch_table(5)) as (port, _, _):
        client = SnmpClient()
        try:
            cfg = config(
                port,
                interfaces=InterfaceFilter(
                    include=(re.compile(r"ge[1-4]"),), exclude=(re.compile("ge2"),)
                ),
                uplinks=(re.compile("ge4"),),
            )
            samples = await SwitchPoller(cfg, client).poll()
        finally:
            client.close()
    assert [(s.ifname, s.role.value) for s in samples] == [
        ("ge1", "access"),
        ("ge3", "access"),
        ("ge4", "uplink"),
    ]


async def test_unreachable_host_name_is_a_clear_error() -> None:
    """A host name that does not resolve gives SnmpError naming it."""
    client = SnmpClient()
    try:
        cfg = dataclasses.replace(config(161), host="no-such-switch.invalid")
        with pytest.raises(SnmpError, match=r"no-such-switch\.invalid"):
            await SwitchPoller(cfg, client).poll()
    finally:
        client.close()


async def test_interface_descriptions_can_be_withheld() -> None:
    """export_alias=False exports ifAlias empty, while uplink patterns still use it."""
    async with serve(switch_table(2)) as (port, _, _):
        client = SnmpClient()
        try:
            samples = await SwitchPoller(config(port, export_alias=False), client).poll()
        finally:
            client.close()
    assert [(s.ifalias, s.role.value) for s in samples] == [("", "uplink"), ("", "access")]
