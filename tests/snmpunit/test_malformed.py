"""An agent answering undecodable datagrams fails as kind "malformed", not "timeout",
in both clients, and only the request to that agent does."""

from __future__ import annotations

import asyncio

import pytest

from sentinel.errors import SnmpMalformed, SnmpTimeout
from sentinel.snmp.client import Credentials, Endpoint, SnmpClient
from sentinel.snmp.raw import RawClient
from tests.snmpunit.agent import Behaviour, serve, switch_table

pytestmark = pytest.mark.timeout(30)
SYS_UPTIME = (1, 3, 6, 1, 2, 1, 1, 3, 0)
CREDS = Credentials(version="2c", community="public")


@pytest.mark.parametrize("raw", [False, True], ids=["pysnmp", "raw"])
async def test_garbage_is_malformed_silence_a_timeout_good_unaffected(raw: bool) -> None:
    """Three agents polled at once: the garbling one raises SnmpMalformed (kind
    malformed) naming how many answers did not decode, the silent one a plain timeout,
    and the good one answers."""
    table = switch_table()
    async with (
        serve(table) as (good, _, _),
        serve(table, Behaviour(garble=True)) as (garbled, gb, _),
        serve(table, Behaviour(silent=True)) as (silent, _, _),
    ):
        pysnmp = SnmpClient()
        client = RawClient(pysnmp) if raw else pysnmp
        try:

            def ep(port: int) -> Endpoint:
                return Endpoint("127.0.0.1", port, timeout=0.4, retries=1)

            ok, bad, quiet = await asyncio.gather(
                client.get(ep(good), CREDS, [SYS_UPTIME]),
                client.get(ep(garbled), CREDS, [SYS_UPTIME]),
                client.get(ep(silent), CREDS, [SYS_UPTIME]),
                return_exceptions=True,
            )
            assert ok == [(SYS_UPTIME, 100_000)]
            assert isinstance(bad, SnmpMalformed), bad
            assert bad.kind == "malformed"
            assert "2 answers that are not SNMP" in str(bad)
            assert len(gb.requests) == 2  # the request and its retry, each answered
            assert isinstance(quiet, SnmpTimeout), quiet
            assert not isinstance(quiet, SnmpMalformed)
            assert quiet.kind == "timeout"
            # Mended: the same agent answers again and nothing is left over.
            gb.garble = False
            assert await client.get(ep(garbled), CREDS, [SYS_UPTIME]) == [(SYS_UPTIME, 100_000)]
        finally:
            if isinstance(client, RawClient):
                client.close()
            pysnmp.close()
            await asyncio.sleep(0.05)  # the closed sockets are released on the loop
