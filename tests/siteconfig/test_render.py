"""init-config's choices from crafted box facts, and the lease and resolver formats it reads."""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING

import pytest
import yaml

from sentinel.config import parse_config
from sentinel.siteconfig import (
    Facts,
    Options,
    PlanError,
    SwitchOption,
    discover,
    generate,
)
from sentinel.siteconfig.discover import Interface, Lease

if TYPE_CHECKING:
    from pathlib import Path

WAN = Interface("enp1s0", 2, "52:54:00:00:00:01", True, True, "198.51.100.0/24", "198.51.100.7")
LAN = Interface("enp2s0", 3, "52:54:00:00:00:02", True, True, "10.20.0.0/24", "10.20.0.2")
MIRROR = Interface("enp3s0", 4, "52:54:00:00:00:03", True, True)


def facts(**kw: object) -> Facts:
    base: dict[str, object] = {
        "interfaces": (Interface("lo", 1, "", True, False), WAN, LAN, MIRROR),
        "uplinks": frozenset({"enp1s0"}),
    }
    base.update(kw)
    return Facts(**base)  # type: ignore[arg-type]


def config(f: Facts, **kw: object) -> dict[str, object]:
    text, _ = generate(f, Options(site="bs-de-linde-gent", **kw), "test")  # type: ignore[arg-type]
    doc = yaml.safe_load(text)
    assert isinstance(doc, dict)
    return doc


def test_lan_is_the_addressed_interface_without_the_default_route() -> None:
    """The LAN is enp2s0: up, Ethernet, an IPv4 address, not the uplink; enp3s0 is named."""
    text, p = generate(facts(), Options(site="s1"), "test")
    doc = yaml.safe_load(text)
    assert doc["capture"] == {"interface": "enp2s0"}
    assert "# other candidate interfaces: enp3s0" in text
    assert p.gateway_ip is None
    assert "# gateway: {ip: 10.20.0.1" in text  # left for the admin, commented
    assert "snmp" not in doc
    assert "alerting" not in doc


def test_lease_gives_gateway_dhcp_and_dns() -> None:
    """A lease on the LAN pins its router, server and resolvers; ARP gives the router's MAC."""
    lease = Lease("enp2s0", "10.20.0.1", ("10.20.0.1",), ("10.20.0.10", "10.20.0.11"), "x")
    doc = config(facts(leases=(lease,), neighbours={"10.20.0.1": ("00:11:22:33:44:55", "enp2s0")}))
    detect = doc["detect"]
    assert isinstance(detect, dict)
    assert detect["gateway"] == {"ip": "10.20.0.1", "mac": "00:11:22:33:44:55"}
    assert detect["rogue_dhcp"] == {
        "servers": ["10.20.0.1"],
        "routers": ["10.20.0.1"],
        "dns_servers": ["10.20.0.10", "10.20.0.11"],
    }
    assert detect["dns_bypass"] == {"resolvers": ["10.20.0.10", "10.20.0.11"]}


def test_a_box_that_routes_and_serves_the_lan_is_its_gateway() -> None:
    """ip_forward on, dnsmasq on ports 67 and 53: the box's own LAN address and MAC."""
    doc = config(facts(ip_forward=True, listening_udp=frozenset({53, 67})))
    assert doc["detect"] == {
        "gateway": {"ip": "10.20.0.2", "mac": "52:54:00:00:00:02"},
        "rogue_dhcp": {"servers": ["10.20.0.2"]},
        "dns_bypass": {"resolvers": ["10.20.0.2"]},
    }


def test_switch_flags_and_local_snmpd() -> None:
    """--switch with v3 names its credentials; a local agent is polled as localhost."""
    sw = SwitchOption("10.20.0.2:1161", name="core", version="3", user="mon")
    text, p = generate(facts(snmp_community="sentinel-local"), Options("s1", switch=sw), "t")
    assert p.credentials() == ("sentinel_site-key", "sentinel_snmp-auth", "sentinel_snmp-priv")
    doc = yaml.safe_load(text)
    assert doc["snmp"]["switches"] == [
        {
            "name": "localhost",
            "address": "127.0.0.1",
            "auth": "local",
            "interval": "30s",
            "timeout": "1s",
            "retries": 1,
        },
        {"name": "core", "address": "10.20.0.2:1161", "auth": "school"},
    ]
    assert doc["snmp"]["auths"]["school"]["auth"] == {
        "protocol": "SHA-256",
        "passphrase": {"credential": "sentinel_snmp-auth"},
    }
    v2 = SwitchOption("10.20.0.3", credential="sentinel_wing-community")
    doc = config(facts(), switch=v2)
    assert doc["snmp"]["auths"] == {
        "school": {"version": "2c", "community": {"credential": "sentinel_wing-community"}}
    }


def test_named_lan_must_exist_and_no_lan_is_said() -> None:
    with pytest.raises(PlanError, match="no interface 'eth9' on this box"):
        generate(facts(), Options("s1", lan="eth9"), "t")
    text, p = generate(facts(interfaces=(WAN,)), Options("s1"), "t")
    assert p.lan is None
    assert "capture" not in yaml.safe_load(text)
    assert "# No LAN interface was found" in text


def test_every_commented_block_is_valid_when_uncommented(tmp_path: Path) -> None:
    """Uncommenting the snmp and alerting examples gives a valid config (given credentials)."""
    text, _ = generate(facts(), Options("s1"), "t")
    lines = text.splitlines()
    start = lines.index("# snmp:")
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith("#"))
    block = [line[2:] for line in lines[start:end]]
    start = lines.index("# alerting:")
    block += [line[2:] for line in lines[start:]]
    for name in ("site-key", "snmp-auth", "snmp-priv", "alertmanager-password",
                 "smtp-password", "webhook-secret"):  # fmt: skip
        (tmp_path / f"sentinel_{name}").write_text("a-long-enough-secret-value\n")
    body = "\n".join(line for line in lines if not line.startswith("#")) + "\n"
    cfg = parse_config(
        body + "\n".join(block) + "\n", environ={"CREDENTIALS_DIRECTORY": str(tmp_path)}
    )
    assert [s.name for s in cfg.snmp.switches] == ["core", "wing-b"]
    assert cfg.alerting.webhook is not None


def test_lease_formats_and_resolved_stub(tmp_path: Path) -> None:
    """dhclient, systemd-networkd and NetworkManager leases; resolv.conf behind the stub."""
    for name, index in (("enp2s0", 3), ("enp3s0", 4)):
        d = tmp_path / "sys/class/net" / name
        d.mkdir(parents=True)
        for key, value in (("ifindex", str(index)), ("address", f"52:54:00:00:00:0{index}"),
                           ("operstate", "up"), ("type", "1"), ("flags", "0x1003")):  # fmt: skip
            (d / key).write_text(value + "\n")
    dhcp = tmp_path / "var/lib/dhcp"
    dhcp.mkdir(parents=True)
    (dhcp / "dhclient.enp2s0.leases").write_text(
        'lease {\n  interface "enp2s0";\n  fixed-address 10.20.0.50;\n'
        "  option routers 10.20.0.9;\n  option dhcp-server-identifier 10.20.0.9;\n}\n"
        'lease {\n  interface "enp2s0";\n  fixed-address 10.20.0.51;\n'
        "  option routers 10.20.0.1;\n  option domain-name-servers 10.20.0.10, 10.20.0.11;\n"
        "  option dhcp-server-identifier 10.20.0.1;\n}\n"
    )
    networkd = tmp_path / "run/systemd/netif/leases"
    networkd.mkdir(parents=True)
    (networkd / "4").write_text(
        "# This is private data. Do not parse.\nADDRESS=10.30.0.7\nROUTER=10.30.0.1\n"
        "SERVER_ADDRESS=10.30.0.2\nDNS=10.30.0.2 10.30.0.3\n"
    )
    nm = tmp_path / "var/lib/NetworkManager"
    nm.mkdir(parents=True)
    (nm / "internal-1f3e0c1a-2b4d-4e6f-8a9b-0c1d2e3f4a5b-wlp4s0.lease").write_text(
        "ADDRESS=10.40.0.9\nROUTER=10.40.0.1\nSERVER_ADDRESS=10.40.0.1\nDNS=10.40.0.1\n"
    )
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/resolv.conf").write_text("nameserver 127.0.0.53\noptions edns0\n")
    (tmp_path / "run/systemd/resolve").mkdir(parents=True)
    (tmp_path / "run/systemd/resolve/resolv.conf").write_text(
        "nameserver 10.20.0.10\nnameserver fe80::1%enp2s0\n"
    )
    f = discover(tmp_path)
    assert [i.name for i in f.interfaces] == ["enp2s0", "enp3s0"]
    assert f.lease("enp2s0") == Lease(
        "enp2s0", "10.20.0.1", ("10.20.0.1",), ("10.20.0.10", "10.20.0.11"),
        str(dhcp / "dhclient.enp2s0.leases"),
    )  # fmt: skip
    assert f.lease("enp3s0") == Lease(
        "enp3s0", "10.30.0.2", ("10.30.0.1",), ("10.30.0.2", "10.30.0.3"), str(networkd / "4")
    )
    wl = f.lease("wlp4s0")
    assert wl is not None
    assert wl.server == "10.40.0.1"
    assert f.resolvers == ("10.20.0.10", "fe80::1")


def test_init_config_cli_refuses_an_absent_interface() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "sentinel", "init-config", "--no-snmp-probe", "--lan", "nope0"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "sentinel init-config: no interface 'nope0' on this box" in proc.stderr
