"""A simulated school switch for the central pipeline tests: counters that move.

Run as ``python -m tests.central.switchsim PORT [PORTS] [UPLINKS]``: serves SNMP v2c
(community ``public``) on 127.0.0.1:PORT through the scripted agent of tests/snmpunit,
with octet, packet, error and discard counters growing every second, the first UPLINKS
ports described as uplinks, and one access port down. Stops on SIGTERM or after an hour.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys

from pysnmp.proto import rfc1902

from tests.snmpunit.agent import IF, IFX, Agent, Behaviour, switch_table

LIFETIME = 3600.0  # seconds: a forgotten simulator does not live for ever


def table(ports: int, uplinks: int, t: int) -> dict[tuple[int, ...], object]:
    """The switch's MIB after ``t`` seconds."""
    tab = switch_table(ports)
    for i in range(1, ports + 1):
        uplink = i <= uplinks
        # Uplinks run at ~60-95 % of 1 Gbit/s, access ports at a few Mbit/s.
        rate = (75_000_000 + 20_000_000 * (i % 2)) * (1 if uplink else 0) + 300_000 * i
        tab[(*IFX, 6, i)] = rfc1902.Counter64(10**10 + rate * t)
        tab[(*IFX, 10, i)] = rfc1902.Counter64(2 * 10**10 + rate // 2 * t)
        tab[(*IF, 10, i)] = rfc1902.Counter32((1000 * i + rate * t) % 2**32)
        tab[(*IF, 16, i)] = rfc1902.Counter32((2000 * i + rate // 2 * t) % 2**32)
        tab[(*IFX, 7, i)] = rfc1902.Counter64(rate // 800 * t)
        tab[(*IFX, 11, i)] = rfc1902.Counter64(rate // 1600 * t)
        tab[(*IF, 11, i)] = rfc1902.Counter32(rate // 800 * t % 2**32)
        tab[(*IF, 17, i)] = rfc1902.Counter32(rate // 1600 * t % 2**32)
        tab[(*IF, 13, i)] = rfc1902.Counter32(3 * t)
        tab[(*IF, 14, i)] = rfc1902.Counter32(2 * t)
        tab[(*IF, 19, i)] = rfc1902.Counter32(t)
        tab[(*IF, 20, i)] = rfc1902.Counter32(t // 2)
        tab[(*IF, 7, i)] = rfc1902.Integer32(1)
        tab[(*IF, 8, i)] = rfc1902.Integer32(2 if i == uplinks + 1 else 1)
        tab[(*IFX, 18, i)] = rfc1902.OctetString(
            f"uplink to core {i}" if uplink else f"classroom {i}"
        )
    tab[(1, 3, 6, 1, 2, 1, 1, 3, 0)] = rfc1902.TimeTicks(100_000 + 100 * t)
    tab.update(layer2(ports))
    return tab


def layer2(ports: int) -> dict[tuple[int, ...], object]:
    """Neighbours (LLDP), learned MACs (Q-BRIDGE) and PoE, for the layer-2 panels.

    Port 1 (an uplink) leads to the switch ``core-2``, port 10 to the access point ``ap-1``
    with 12 devices behind it on VLAN 10, ports 12-19 have one device each on VLAN 20;
    the first 8 ports deliver PoE from a 370 W PSE.
    """
    rem = (1, 0, 8802, 1, 1, 2, 1, 4, 1, 1)
    tab: dict[tuple[int, ...], object] = {}
    for k, (port, name, port_id, caps) in enumerate(
        ((1, "core-2", "ge24", b"\x20\x00"), (10, "ap-1", "eth0", b"\x10\x00")), start=1
    ):
        idx = (0, port, k)
        tab[(*rem, 6, *idx)] = rfc1902.Integer32(5)
        tab[(*rem, 7, *idx)] = rfc1902.OctetString(port_id)
        tab[(*rem, 9, *idx)] = rfc1902.OctetString(name)
        tab[(*rem, 12, *idx)] = rfc1902.OctetString(caps)
    fdb = (1, 3, 6, 1, 2, 1, 17, 7, 1, 2, 2, 1)
    macs = [(1, 10, (0, 0x16, 0x3E, 1, 0, n)) for n in range(10)]
    macs += [(10, 10, (2, 0x16, 0x3E, 2, 0, n)) for n in range(12)]
    macs += [(p, 20, (0, 0x16, 0x3E, 3, 0, p)) for p in range(12, min(20, ports + 1))]
    for port, vlan, mac in macs:
        tab[(*fdb, 2, vlan, *mac)] = rfc1902.Integer32(port)
        tab[(*fdb, 3, vlan, *mac)] = rfc1902.Integer32(3)
    peth = (1, 3, 6, 1, 2, 1, 105, 1, 1, 1)
    for port in range(1, min(8, ports) + 1):
        tab[(*peth, 3, 1, port)] = rfc1902.Integer32(1)
        tab[(*peth, 6, 1, port)] = rfc1902.Integer32(3 if port <= 4 else 2)
        tab[(*peth, 10, 1, port)] = rfc1902.Integer32(5 if port == 10 else 3)
    main = (1, 3, 6, 1, 2, 1, 105, 1, 3, 1, 1)
    tab[(*main, 2, 1)] = rfc1902.Gauge32(370)
    tab[(*main, 3, 1)] = rfc1902.Integer32(1)
    tab[(*main, 4, 1)] = rfc1902.Gauge32(120)
    tab[(*main, 5, 1)] = rfc1902.Integer32(80)
    return tab


async def main(port: int, ports: int, uplinks: int) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    agent = Agent(table(ports, uplinks, 0), Behaviour(), "public")
    transport, _ = await loop.create_datagram_endpoint(
        lambda: agent, local_addr=("127.0.0.1", port)
    )
    try:
        print("ready", flush=True)
        start = loop.time()
        while not stop.is_set() and loop.time() - start < LIFETIME:
            agent.table = table(ports, uplinks, int(loop.time() - start))
            agent.keys = sorted(agent.table)
            agent.b.requests.clear()  # the request log would grow for ever
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
    finally:
        transport.close()


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    asyncio.run(main(args[0], *(args[1:] or [52, 4])[:2]))
