"""Memory held by 200 switch pollers (anonymous + shared PSS growth, two polls each).

Needs an snmpsim agent on 127.0.0.1:16161 serving the Cisco 3560 recording as community
"c3560" (57 interfaces), e.g. as bench/snmp.py starts one. Each poller gets its own
target in the SNMP engine, as 200 real switches would.

    python bench/snmp_memory.py
"""

import asyncio
import dataclasses
import gc

from sentinel.snmp.client import SnmpClient
from sentinel.snmp.once import resolved_from_flags
from sentinel.snmp.poller import SwitchPoller


def pss():
    d = {}
    with open("/proc/self/smaps_rollup") as fh:
        lines = fh.readlines()
    for line in lines:
        k, _, v = line.partition(":")
        if k in ("Pss_Anon", "Pss_Shmem"):
            d[k] = int(v.split()[0])
    return sum(d.values()) / 1024


async def main():
    client = SnmpClient()
    base = resolved_from_flags(
        "127.0.0.1",
        16161,
        name="x",
        version="2c",
        community="c3560",
        user="",
        level=None,
        auth_protocol=None,
        auth_passphrase=None,
        priv_protocol=None,
        priv_passphrase=None,
        context="",
        timeout=5,
        retries=2,
        max_repetitions=25,
        tier=None,
    )
    # warm the engine with one poller so one-time imports and caches are not counted
    w = SwitchPoller(dataclasses.replace(base, name="warm", port=16161), client)
    await w.poll()
    gc.collect()
    before = pss()
    sem = asyncio.Semaphore(8)
    # distinct targets: pysnmp keeps per-target state, as for 200 real switches
    pollers = [
        SwitchPoller(
            dataclasses.replace(base, name=f"sw{i:03d}", port=16161, timeout=5.0 + i * 1e-3),
            client,
            semaphore=sem,
        )
        for i in range(200)
    ]
    for _ in range(2):
        await asyncio.gather(*(p.poll() for p in pollers))
    gc.collect()
    after = pss()
    n = sum(len(p.counters) for p in pollers)
    print(
        f"interfaces={n} pss_growth={after - before:.1f} MiB "
        f"({(after - before) * 1024 / 200:.0f} KiB/switch)"
    )


asyncio.run(main())
