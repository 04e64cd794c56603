"""Metric names follow the scheme, and interface tiers export what they promise."""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry

from sentinel.metrics import Metrics
from sentinel.model import InterfaceSample, Role, Tier


def _sample(tier: Tier, ifindex: int) -> InterfaceSample:
    return InterfaceSample(
        "sw1",
        ifindex,
        f"Gi1/0/{ifindex}",
        "GigabitEthernet",
        "room 12",
        Role.ACCESS,
        tier,
        rx_bytes=100,
        tx_bytes=200,
        rx_packets=1,
        tx_packets=2,
        rx_errors=0,
        tx_errors=0,
        rx_discards=0,
        tx_discards=0,
        oper_up=True,
        admin_up=True,
        speed_bytes=125e6,
    )


def test_names_follow_the_scheme() -> None:
    """Every family is sentinel_* or process/python, counters end in _total, units are base."""
    m = Metrics(CollectorRegistry())
    m.interfaces.publish("sw1", [_sample(Tier.FULL, 1)])
    for family in m.registry.collect():
        assert re.match(r"^(sentinel|process|python)_[a-z0-9_]+$", family.name), family.name
        for s in family.samples:
            if family.type == "counter" and not s.name.endswith("_created"):
                assert s.name.endswith("_total"), s.name
        assert not re.search(r"_(ms|milliseconds|kb|mb|bits)(_|$)", family.name)


def test_lean_tier_exports_bytes_up_and_info_only() -> None:
    """Access ports on the lean tier: bytes, up and info; no packets, errors or speed."""
    m = Metrics(CollectorRegistry(), process=False)
    m.interfaces.publish("sw1", [_sample(Tier.LEAN, 1), _sample(Tier.FULL, 2)])
    r = m.registry
    lean = {"switch": "sw1", "ifindex": "1", "ifname": "Gi1/0/1"}
    full = {"switch": "sw1", "ifindex": "2", "ifname": "Gi1/0/2"}
    assert r.get_sample_value("sentinel_interface_receive_bytes_total", lean) == 100
    assert r.get_sample_value("sentinel_interface_up", lean) == 1
    assert r.get_sample_value("sentinel_interface_receive_packets_total", lean) is None
    assert r.get_sample_value("sentinel_interface_speed_bytes", lean) is None
    assert r.get_sample_value("sentinel_interface_receive_packets_total", full) == 1
    assert r.get_sample_value("sentinel_interface_speed_bytes", full) == 125e6
    info = {**lean, "ifdescr": "GigabitEthernet", "ifalias": "room 12", "role": "access"}
    assert r.get_sample_value("sentinel_interface_info", info) == 1


def test_forget_drops_a_switch() -> None:
    """A switch removed from the config disappears from /metrics."""
    m = Metrics(CollectorRegistry(), process=False)
    m.interfaces.publish("sw1", [_sample(Tier.FULL, 1)])
    m.interfaces.forget("sw1")
    assert b"sw1" not in m.render(None)[0]
