"""Which ICMP socket runs, and why: ping_group_range decides, raw (CAP_NET_RAW) otherwise."""

from __future__ import annotations

import json

import pytest

from tests.conftest import needs_netns
from tests.probes.netns import namespaces, python_in, sh

pytestmark = [needs_netns, pytest.mark.timeout(60)]

PROBE = """
import asyncio, json, socket
from sentinel.config.probes import IcmpSettings, ProbeTarget
from sentinel.probes.icmp import Pingers
from sentinel.probes.run import probe
async def main():
    out = {}
    for mode in ("auto", "datagram", "raw"):
        p = Pingers(mode)
        r = await probe(ProbeTarget("lo", "icmp", "127.0.0.1"),
                        IcmpSettings(pings=5, spacing=0.01, timeout=1), p)
        r6 = await probe(ProbeTarget("lo6", "icmp", "::1"),
                         IcmpSettings(pings=3, spacing=0.01, timeout=1), p)
        kind = p._open[socket.AF_INET].describe() if socket.AF_INET in p._open else ""
        out[mode] = [r.success, len(r.rtts), r.reason, r.detail, kind, r6.success]
        p.close()
    print(json.dumps(out))
asyncio.run(main())
"""


def test_datagram_socket_when_the_group_range_allows_it() -> None:
    """With the range open, auto picks the datagram socket and says the range allows it."""
    with namespaces("icmp") as (ns,):
        sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.ping_group_range=0 2147483647")
        out = json.loads(python_in(ns, PROBE))
    assert out["auto"][:2] == [True, 5]
    assert out["auto"][4].startswith("datagram socket: net.ipv4.ping_group_range allows")
    assert out["auto"][5] is True  # IPv6 through the same range
    assert out["datagram"][:2] == [True, 5]
    assert out["raw"][:2] == [True, 5]
    assert out["raw"][4].startswith("raw socket")


def test_raw_socket_when_the_group_range_excludes_us() -> None:
    """With the range closed, auto falls back to raw and names the range; forcing datagram
    fails the probe with reason ``permission`` and the same explanation."""
    with namespaces("icmp") as (ns,):
        sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.ping_group_range=1 0")
        out = json.loads(python_in(ns, PROBE))
    assert out["auto"][:2] == [True, 5]
    assert "outside net.ipv4.ping_group_range 1 0" in out["auto"][4]
    assert out["auto"][4].startswith("raw socket")
    assert out["datagram"][0] is False
    assert out["datagram"][2] == "permission"
    assert "ping_group_range" in out["datagram"][3]
