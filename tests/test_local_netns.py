"""Local interface counters equal the kernel's for a veth pair carrying known traffic."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from tests.conftest import needs_netns
from tests.helpers import free_port, sample

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = [needs_netns]

PAYLOAD = 1000
COUNT = 500
# Ethernet (14) + IPv4 (20) + UDP (8) headers around each payload; veth counts no FCS.
FRAME = PAYLOAD + 14 + 20 + 8


def sh(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


@dataclass
class Pair:
    a: str  # namespace running sentinel, holding interface "lan0"
    b: str  # the peer namespace, holding "peer0"


@pytest.fixture
def pair() -> Iterator[Pair]:
    tag = f"{os.getpid() % 100000}"
    p = Pair(f"sntl-a-{tag}", f"sntl-b-{tag}")
    try:
        for ns in (p.a, p.b):
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh(
            "ip",
            "-n",
            p.a,
            "link",
            "add",
            "lan0",
            "type",
            "veth",
            "peer",
            "name",
            "peer0",
            "netns",
            p.b,
        )
        for ns, dev, addr in ((p.a, "lan0", "10.99.0.1/24"), (p.b, "peer0", "10.99.0.2/24")):
            # No IPv6 (no router solicitations or MLD reports): only our frames cross.
            sh("ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv6.conf.{dev}.disable_ipv6=1")
            sh("ip", "-n", ns, "addr", "add", addr, "dev", dev)
            sh(
                "ip",
                "-n",
                ns,
                "link",
                "set",
                dev,
                "address",
                "02:00:00:00:00:01" if dev == "lan0" else "02:00:00:00:00:02",
            )
        # Static neighbours: no ARP on the wire either.
        sh(
            "ip",
            "-n",
            p.a,
            "neigh",
            "add",
            "10.99.0.2",
            "lladdr",
            "02:00:00:00:00:02",
            "dev",
            "lan0",
            "nud",
            "permanent",
        )
        sh(
            "ip",
            "-n",
            p.b,
            "neigh",
            "add",
            "10.99.0.1",
            "lladdr",
            "02:00:00:00:00:01",
            "dev",
            "peer0",
            "nud",
            "permanent",
        )
        for ns, dev in ((p.a, "lan0"), (p.b, "peer0")):
            sh("ip", "-n", ns, "link", "set", dev, "up")
        yield p
    finally:
        for ns in (p.a, p.b):
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)


def kernel(ns: str, dev: str, counter: str) -> int:
    return int(sh("ip", "netns", "exec", ns, "cat", f"/sys/class/net/{dev}/statistics/{counter}"))


def scrape(ns: str, port: int) -> str:
    code = (
        "import urllib.request,sys;"
        f"sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:{port}/metrics',"
        "timeout=5).read().decode())"
    )
    return sh("ip", "netns", "exec", ns, sys.executable, "-c", code)


@pytest.mark.timeout(60)
def test_veth_counters_match_kernel(pair: Pair, tmp_path: Path) -> None:
    """500 UDP datagrams of 1000 bytes: exported counters equal the kernel's and the truth."""
    port = free_port()
    cfg = tmp_path / "s.yaml"
    cfg.write_text(
        f"listen: 127.0.0.1:{port}\nstate_dir: {tmp_path / 'state'}\n"
        "local: {interval: 1s, include: [lan0], uplinks: [lan0]}\n"
    )
    receiver = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            pair.b,
            sys.executable,
            "-c",
            "import socket,time;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);"
            "s.bind(('10.99.0.2',9999));s.setsockopt(socket.SOL_SOCKET,socket.SO_RCVBUF,1<<22);"
            "time.sleep(60)",
        ],
    )
    daemon = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            pair.a,
            sys.executable,
            "-m",
            "sentinel",
            "run",
            "--config",
            str(cfg),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.5)  # receiver bound before the first datagram
        send = (
            "import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);"
            f"[s.sendto(b'x'*{PAYLOAD},('10.99.0.2',9999)) for _ in range({COUNT})]"
        )
        sh("ip", "netns", "exec", pair.a, sys.executable, "-c", send)
        truth = {"tx_bytes": COUNT * FRAME, "tx_packets": COUNT, "rx_bytes": 0, "rx_packets": 0}
        names = {
            "tx_bytes": "sentinel_interface_transmit_bytes_total",
            "tx_packets": "sentinel_interface_transmit_packets_total",
            "rx_bytes": "sentinel_interface_receive_bytes_total",
            "rx_packets": "sentinel_interface_receive_packets_total",
        }
        assert {k: kernel(pair.a, "lan0", k) for k in truth} == truth
        deadline = time.monotonic() + 20
        got: dict[str, float | None] = {}
        while time.monotonic() < deadline:
            try:
                body = scrape(pair.a, port)
            except subprocess.CalledProcessError:
                time.sleep(0.3)
                continue
            got = {k: sample(body, n, switch="local", ifname="lan0") for k, n in names.items()}
            if got == {k: float(v) for k, v in truth.items()}:
                break
            time.sleep(0.3)
        assert got == {k: float(v) for k, v in truth.items()}
        assert sample(body, "sentinel_interface_up", switch="local", ifname="lan0") == 1.0
        assert (
            sample(body, "sentinel_interface_info", switch="local", ifname="lan0", role="uplink")
            == 1.0
        )
        ifindex = int(sh("ip", "netns", "exec", pair.a, "cat", "/sys/class/net/lan0/ifindex"))
        assert f'ifindex="{ifindex}"' in body
    finally:
        daemon.terminate()
        receiver.terminate()
        assert daemon.wait(15) == 0
        receiver.wait(5)
