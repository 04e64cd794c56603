"""Neighbour rows from hostile or odd agents: bounded, clean, never a crash."""

from __future__ import annotations

import pytest

from sentinel.l2 import lldp, mibs


def test_clean_strips_control_and_bounds_length() -> None:
    assert lldp.clean(b"core\x00sw\n1\x1b[31m") == "core sw 1 [31m"
    assert lldp.clean("a" * 500) == "a" * lldp.LABEL_MAX
    assert lldp.clean(b"\xff\xfeap") == "\ufffd\ufffdap"
    assert lldp.clean(42) == ""


@pytest.mark.parametrize(
    "text",
    ["00:11:22:33:44:55", "00-11-22-33-44-55", "0011.2233.4455", "001122334455", "SEP001122334455"],
)
def test_mac_looking_names(text: str) -> None:
    assert lldp.is_mac(text)


@pytest.mark.parametrize("text", ["core-sw1", "ap-gym", "Gi1/0/1", "00:11:22"])
def test_not_mac_names(text: str) -> None:
    assert not lldp.is_mac(text)


@pytest.mark.parametrize(
    ("enabled", "supported", "kind"),
    [
        (b"\x20\x00", b"", "bridge"),
        (b"\x24\x00", b"", "telephone"),  # bridge + telephone: an IP phone with a PC port
        (b"\x30\x00", b"", "wlan-access-point"),
        (b"\x28\x00", b"", "bridge"),  # bridge + router: a layer-3 switch
        (b"\x08", b"", "router"),
        (b"\x01", b"", "station"),
        (b"\x00\x00", b"\x20\x00", "bridge"),  # nothing enabled: the supported ones
        (b"", b"", "other"),
        (7, None, "other"),
    ],
)
def test_kind_from_capabilities(enabled: object, supported: object, kind: str) -> None:
    assert lldp.lldp_kind(enabled, supported) == kind


def test_hostile_rows_do_not_crash() -> None:
    """Wrong index lengths, wrong types, absent columns: skipped or counted, never raised."""
    c = mibs
    table = {
        c.LLDP_REM_SYS_NAME: {(1, 2, 3): b"x" * 10_000, (1, 2): b"short index", (9,): 5},
        c.LLDP_REM_PORT_ID: {(1, 2, 3): 17},
        c.LLDP_REM_CAP_ENABLED: {(1, 2, 3): b"\x20\x00\xff\xff\xff"},
        c.LLDP_REM_CHASSIS_ID: {(1, 2, 3): b"\x00\x11\x22\x33\x44\x55"},
        c.LLDP_REM_CHASSIS_SUBTYPE: {(1, 2, 3): 4},
    }
    addr = {(1, 2, 3, 1, 4, 10, 0, 0, 300): 2, (1, 2, 3, 1, 9): 2, (): 1}
    (r,) = lldp.lldp_remotes(table, addr)
    assert len(r.name) == lldp.LABEL_MAX
    assert r.kind == "bridge"
    assert r.address == "10.0.0.44"  # sub-identifiers reduced to octets
    assert r.port == ""
    assert r.named  # a bridge by name; no port id is no identifier either
    cdp = {
        c.CDP_DEVICE_ID: {(3, 1): b"SEP001122334455", (3,): b"x"},
        c.CDP_CAPABILITIES: {(3, 1): b"\x00"},
    }
    (phone,) = lldp.cdp_remotes(cdp)
    assert phone.mac_like
    assert not phone.named
