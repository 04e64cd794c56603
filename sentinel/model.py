"""Frozen value types shared by every layer."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """What an interface is for: uplinks get the full metric tier, access ports the lean one."""

    UPLINK = "uplink"
    ACCESS = "access"


class Tier(StrEnum):
    """How many series an interface exports (DESIGN.md §4)."""

    FULL = "full"  # bytes, packets, errors, discards, up, admin_up, speed, info
    LEAN = "lean"  # bytes, up, info


@dataclass(frozen=True, slots=True)
class InterfaceSample:
    """One interface of one switch (or of the gateway box itself, ``switch="local"``) at one time.

    Counters are raw, monotonic totals as the device reports them; ``None`` means the device
    does not have that counter.
    """

    switch: str
    ifindex: int
    ifname: str
    ifdescr: str
    ifalias: str
    role: Role
    tier: Tier
    rx_bytes: int
    tx_bytes: int
    rx_packets: int | None = None
    tx_packets: int | None = None
    rx_errors: int | None = None
    tx_errors: int | None = None
    rx_discards: int | None = None
    tx_discards: int | None = None
    oper_up: bool = False
    admin_up: bool = False
    speed_bytes: float | None = None  # bytes per second; None when unknown (virtual links)


@dataclass(frozen=True, slots=True)
class SwitchHealth:
    """How polling one switch is going: what ``sentinel_switch_*``/``sentinel_snmp_*`` show."""

    switch: str
    up: bool
    last_duration: float | None = None  # seconds, last poll (good or bad)
    last_success: float | None = None  # unix time
    boot_time: float | None = None  # unix time, from sysUpTime
    errors: tuple[tuple[str, int], ...] = ()  # (kind, count) since start
    requests: int = 0
    varbinds: int = 0
    discontinuities: int = 0  # intervals dropped instead of exported as a spike
