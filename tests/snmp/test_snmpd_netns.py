"""``sentinel poll`` of net-snmp's snmpd equals the kernel's counters of a veth with traffic."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import pytest

from tests.conftest import needs_netns, needs_tools
from tests.snmp.agents import free_udp_port
from tests.snmp.conftest import series

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = [
    pytest.mark.netns,
    pytest.mark.slow,
    needs_netns,
    needs_tools("snmpd", package="snmpd"),
]

PAYLOAD = 1000
COUNT = 300
# Ethernet (14) + IPv4 (20) + UDP (8) headers around each payload; veth counts no FCS.
FRAME = PAYLOAD + 14 + 20 + 8
DEV_A, DEV_B = "snmp0", "peer0"
MAC_A, MAC_B = "02:00:00:00:05:01", "02:00:00:00:05:02"
IP_A, IP_B = "10.98.0.1", "10.98.0.2"
COMMUNITY = "sentinel-test"
IN_NS = ("ip", "netns", "exec")
IF_OUT_OCTETS = "1.3.6.1.2.1.2.2.1.16"  # Counter32
IF_HC_OUT_OCTETS = "1.3.6.1.2.1.31.1.1.1.10"  # Counter64: not in SNMPv1
GET_ARGS = ("-v2c", "-c", COMMUNITY, "-t", "0.5", "-r", "0")
RECEIVER = (
    "import socket,time;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);"
    f"s.bind(('{IP_B}',9999));s.setsockopt(socket.SOL_SOCKET,socket.SO_RCVBUF,1<<22);"
    "time.sleep(60)"
)


def sh(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True, timeout=30).stdout


@pytest.fixture
def namespaces() -> Iterator[tuple[str, str]]:
    """Two fresh namespaces joined by a veth pair, no IPv6, static neighbours."""
    tag = f"{os.getpid() % 100000}-{time.monotonic_ns() % 100000}"
    a, b = f"sntl-snmp-a-{tag}", f"sntl-snmp-b-{tag}"
    try:
        for ns in (a, b):
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", a, "link", "add", DEV_A, "type", "veth", "peer", "name", DEV_B, "netns", b)
        for ns, dev, addr, mac in ((a, DEV_A, IP_A, MAC_A), (b, DEV_B, IP_B, MAC_B)):
            # No IPv6 (no router solicitations or MLD reports): only our frames cross.
            sh("ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv6.conf.{dev}.disable_ipv6=1")
            sh("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
            sh("ip", "-n", ns, "link", "set", dev, "address", mac)
        # Static neighbours: no ARP on the wire either.
        sh("ip", "-n", a, "neigh", "add", IP_B, "lladdr", MAC_B, "dev", DEV_A, "nud", "permanent")
        sh("ip", "-n", b, "neigh", "add", IP_A, "lladdr", MAC_A, "dev", DEV_B, "nud", "permanent")
        for ns, dev in ((a, DEV_A), (b, DEV_B)):
            sh("ip", "-n", ns, "link", "set", dev, "up")
        yield a, b
    finally:
        for ns in (a, b):
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)


def kernel_tx_bytes(ns: str) -> int:
    return int(sh("ip", "netns", "exec", ns, "cat", f"/sys/class/net/{DEV_A}/statistics/tx_bytes"))


# An agent that speaks SNMPv1 only (VACM: the community maps to a v1 group alone), as
# old switches and UPSes do; it ignores an SNMPv2c request as if the community were wrong.
V1_ONLY = (
    f"com2sec readonly 127.0.0.1 {COMMUNITY}\n"
    "group v1only v1 readonly\n"
    "view all included .1\n"
    'access v1only "" v1 noauth exact all none none\n'
)


def start_snmpd(ns: str, tmp: Path, port: int, access: str = "") -> subprocess.Popen[bytes]:
    conf = tmp / "snmpd.conf"
    persist = tmp / "persist"
    persist.mkdir()
    conf.write_text(
        f"agentAddress udp:127.0.0.1:{port}\n"
        + (access or f"rocommunity {COMMUNITY} 127.0.0.1\n")
        + "sysLocation test\nsysContact test\n"
    )
    env = dict(os.environ, SNMP_PERSISTENT_DIR=str(persist), SNMPCONFPATH=str(tmp))
    argv = ["ip", "netns", "exec", ns, "snmpd", "-f", "-Lo", "-C", "-c", str(conf)]
    argv += ["-p", str(tmp / "snmpd.pid")]
    with (tmp / "snmpd.log").open("wb") as log:
        return subprocess.Popen(
            argv, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )


def run_poll(ns: str, port: int, version: str = "2c") -> subprocess.CompletedProcess[str]:
    argv = [*IN_NS, ns, sys.executable, "-m", "sentinel", "poll", f"127.0.0.1:{port}"]
    argv += ["-v", version, "-c", COMMUNITY, "-t", "1", "-r", "1"]
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)


def poll_in(
    ns: str, port: int, version: str = "2c"
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = run_poll(ns, port, version)
    assert r.returncode == 0, r.stderr
    return series(r.stdout)


def wait_answering(ns: str, port: int, snmpd: subprocess.Popen[bytes], log: Path, v: str) -> None:
    """Until snmpd answers a GET of sysUpTime (with SNMP version ``v``)."""
    deadline = time.monotonic() + 15
    get = ("-v", v, "-c", COMMUNITY, "-t", "0.5", "-r", "0")
    while True:
        probe = subprocess.run(
            [*IN_NS, ns, "snmpget", *get, f"127.0.0.1:{port}", "1.3.6.1.2.1.1.3.0"],
            capture_output=True,
            check=False,
            timeout=30,
        )
        if probe.returncode == 0:
            return
        assert snmpd.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "snmpd not answering"
        time.sleep(0.3)


def send_datagrams(ns: str) -> int:
    """COUNT datagrams of PAYLOAD bytes from ``ns`` to the peer; the bytes on the wire."""
    send = (
        "import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);"
        f"[s.sendto(b'x'*{PAYLOAD},('{IP_B}',9999)) for _ in range({COUNT})]"
    )
    sh("ip", "netns", "exec", ns, sys.executable, "-c", send)
    return COUNT * FRAME


def stop(*procs: subprocess.Popen[bytes]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)


def tx_of(got: dict[tuple[str, tuple[tuple[str, str], ...]], float], dev: str) -> float | None:
    for (name, labels), value in got.items():
        if name == "sentinel_interface_transmit_bytes_total" and dict(labels)["ifname"] == dev:
            return value
    return None


@pytest.mark.timeout(90)
def test_snmpd_veth_tx_bytes_equal_kernel(namespaces: tuple[str, str], tmp_path: Path) -> None:
    """300 UDP datagrams of 1000 bytes: the veth's polled tx bytes equal the kernel and truth."""
    a, b = namespaces
    port = free_udp_port()
    snmpd = start_snmpd(a, tmp_path, port)
    receiver = subprocess.Popen(
        [*IN_NS, b, sys.executable, "-c", RECEIVER],
    )
    try:
        deadline = time.monotonic() + 15
        while True:  # snmpd answering before any traffic is sent
            probe = subprocess.run(
                [*IN_NS, a, "snmpget", *GET_ARGS, f"127.0.0.1:{port}", "1.3.6.1.2.1.1.3.0"],
                capture_output=True,
                check=False,
                timeout=30,
            )
            if probe.returncode == 0:
                break
            assert snmpd.poll() is None, (tmp_path / "snmpd.log").read_text()
            assert time.monotonic() < deadline, "snmpd not answering"
            time.sleep(0.3)
        assert kernel_tx_bytes(a) == 0
        send = (
            "import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);"
            f"[s.sendto(b'x'*{PAYLOAD},('{IP_B}',9999)) for _ in range({COUNT})]"
        )
        sh("ip", "netns", "exec", a, sys.executable, "-c", send)
        truth = COUNT * FRAME
        kernel = kernel_tx_bytes(a)
        assert kernel == truth
        # snmpd caches its interface table for a few seconds: poll until it catches up.
        deadline = time.monotonic() + 15
        got = poll_in(a, port)
        while tx_of(got, DEV_A) != kernel and time.monotonic() < deadline:
            time.sleep(0.5)
            got = poll_in(a, port)
        assert tx_of(got, DEV_A) == kernel == truth
        assert kernel_tx_bytes(a) == kernel  # nothing else crossed meanwhile
        up = [v for (n, lab), v in got.items() if n == "sentinel_interface_up"]
        assert up
        assert ("sentinel_switch_up", (("switch", f"127.0.0.1:{port}"),)) in got
    finally:
        receiver.terminate()
        snmpd.terminate()
        for p in (receiver, snmpd):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)


@pytest.mark.timeout(90)
def test_snmpv1_agent_polled_with_32_bit_counters(
    namespaces: tuple[str, str], tmp_path: Path
) -> None:
    """net-snmp's snmpd speaking SNMPv1 only: v1 has no Counter64, so no ifHCOutOctets;
    `sentinel poll -v 1` reads ifOutOctets instead and the veth's bytes equal the kernel's.
    Asked with SNMPv2c, the agent stays silent and the error says to try version 1."""
    a, b = namespaces
    port = free_udp_port()
    snmpd = start_snmpd(a, tmp_path, port, V1_ONLY)
    receiver = subprocess.Popen([*IN_NS, b, sys.executable, "-c", RECEIVER])
    try:
        wait_answering(a, port, snmpd, tmp_path / "snmpd.log", "1")
        walk = [*IN_NS, a, "snmpwalk", "-v1", "-c", COMMUNITY, "-On", f"127.0.0.1:{port}"]
        hc = subprocess.run([*walk, IF_HC_OUT_OCTETS], capture_output=True, text=True, timeout=30)
        low = subprocess.run([*walk, IF_OUT_OCTETS], capture_output=True, text=True, timeout=30)
        assert f".{IF_OUT_OCTETS}." in low.stdout, low.stdout + low.stderr
        assert f".{IF_HC_OUT_OCTETS}." not in hc.stdout, "a v1 agent served a Counter64"
        truth = send_datagrams(a)
        kernel = kernel_tx_bytes(a)
        assert kernel == truth
        deadline = time.monotonic() + 15
        got = poll_in(a, port, "1")
        while tx_of(got, DEV_A) != kernel and time.monotonic() < deadline:
            time.sleep(0.5)
            got = poll_in(a, port, "1")
        assert tx_of(got, DEV_A) == kernel == truth
        assert got[("sentinel_switch_up", (("switch", f"127.0.0.1:{port}"),))] == 1

        v2c = run_poll(a, port, "2c")
        assert v2c.returncode != 0
        assert "timeout" in v2c.stderr
        assert "version 1" in v2c.stderr, v2c.stderr
    finally:
        stop(receiver, snmpd)
