"""Real LLDP: lldpd in namespaces, LLDP-MIB through net-snmp's snmpd over AgentX.

The test builds a school's topology, three switches and an access point with known
links, plus a laptop that runs an LLDP agent; ``sentinel poll`` of each switch's snmpd
must report exactly the neighbours that were built, the laptop only as a count.

    sw1:p2 ── sw2:p1        sw2:p2 ── ap1:eth0 (wlan access point)
    sw1:p3 ── sw3:p1        sw3:p2 ── laptop:eth0 (station; its port id is its MAC)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.conftest import needs_netns, require_tools
from tests.helpers import free_port as free_tcp_port
from tests.snmp.agents import free_udp_port
from tests.snmp.conftest import series

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [
    pytest.mark.netns,
    pytest.mark.timeout(120),
    needs_netns,
]

COMMUNITY = "sentinel-l2"
LINKS: tuple[tuple[str, str, str, str], ...] = (
    ("sw1", "p2", "sw2", "p1"),
    ("sw1", "p3", "sw3", "p1"),
    ("sw2", "p2", "ap1", "eth0"),
)
LINKS += (("sw3", "p2", "laptop", "eth0"),)
# Node -> (LLDP capabilities enabled, port id subtype).
NODES = {
    "sw1": ("bridge", "ifname"),
    "sw2": ("bridge", "ifname"),
    "sw3": ("bridge", "ifname"),
    "ap1": ("wlan", "ifname"),
    "laptop": ("station", "macaddress"),
}
SWITCHES = ("sw1", "sw2", "sw3")
EXPECTED = {
    "sw1": {("p2", "sw2", "p1", "bridge"), ("p3", "sw3", "p1", "bridge")},
    "sw2": {("p1", "sw1", "p2", "bridge"), ("p2", "ap1", "eth0", "wlan-access-point")},
    "sw3": {("p1", "sw1", "p3", "bridge")},
}
STATIONS = {"sw1": {}, "sw2": {}, "sw3": {"p2": 1}}
SW1_ADDR, SW2_ADDR = "10.199.12.1", "10.199.12.2"  # only inside the test's namespaces


def sh(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True, timeout=30).stdout


class Lab:
    def __init__(self) -> None:
        # lldpcli is setuid _lldpd and lldpd's AgentX client runs as _lldpd: every directory
        # up to their sockets must be searchable by that user (pytest's tmp_path is 0700).
        self.tmp = Path(tempfile.mkdtemp(prefix="sentinel-l2-"))
        self.tmp.chmod(0o755)
        self.tag = f"{os.getpid() % 10000}{time.monotonic_ns() % 1000}"
        self.ns = {n: f"sntl-l2-{n}-{self.tag}" for n in NODES}
        self.procs: list[subprocess.Popen[bytes]] = []
        self.ports: dict[str, int] = {}

    def build(self) -> None:
        for ns in self.ns.values():
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        for k, (a, da, b, db) in enumerate(LINKS):
            tmp_a, tmp_b = f"l2a{k}{self.tag}"[:15], f"l2b{k}{self.tag}"[:15]
            sh("ip", "link", "add", tmp_a, "netns", self.ns[a], "type", "veth", "peer", "name",
               tmp_b, "netns", self.ns[b])  # fmt: skip
            sh("ip", "-n", self.ns[a], "link", "set", tmp_a, "name", da)
            sh("ip", "-n", self.ns[b], "link", "set", tmp_b, "name", db)
            for ns, dev in ((self.ns[a], da), (self.ns[b], db)):
                sh(
                    "ip",
                    "netns",
                    "exec",
                    ns,
                    "sysctl",
                    "-qw",
                    f"net.ipv6.conf.{dev}.disable_ipv6=1",
                )
                sh("ip", "-n", ns, "link", "set", dev, "up")
        # sw2 is reachable from sw1 over their link: the address it announces by LLDP.
        sh("ip", "-n", self.ns["sw1"], "addr", "add", f"{SW1_ADDR}/30", "dev", "p2")
        sh("ip", "-n", self.ns["sw2"], "addr", "add", f"{SW2_ADDR}/30", "dev", "p1")

    def start(self) -> None:
        for node in SWITCHES:
            self.ports[node] = port = free_udp_port()
            d = self.tmp / node
            (d / "persist").mkdir(parents=True)
            d.chmod(0o755)
            conf = d / "snmpd.conf"
            extra = f",udp:{SW2_ADDR}:161" if node == "sw2" else ""
            conf.write_text(
                f"agentAddress udp:127.0.0.1:{port}{extra}\n"
                f"rocommunity {COMMUNITY} 127.0.0.1\n"
                f"rocommunity {COMMUNITY} {SW1_ADDR}\n"
                f"master agentx\nagentXSocket {d / 'agentx.sock'}\n"
                "agentXPerms 0777 0777\n"
            )
            env = dict(os.environ, SNMP_PERSISTENT_DIR=str(d / "persist"), SNMPCONFPATH=str(d))
            self._spawn(
                [
                    "ip",
                    "netns",
                    "exec",
                    self.ns[node],
                    "snmpd",
                    "-f",
                    "-Lo",
                    "-C",
                    "-c",
                    str(conf),
                    "-p",
                    str(d / "snmpd.pid"),
                ],
                d / "snmpd.log",
                env,
            )
        for node in SWITCHES:
            self._wait(lambda n=node: (self.tmp / n / "agentx.sock").exists(), "agentx " + node)
        for node, (caps, subtype) in NODES.items():
            d = self.tmp / node
            d.mkdir(mode=0o755, exist_ok=True)
            sock = d / "lldpd.sock"
            ifaces = ",".join(
                sorted({x for a, da, b, db in LINKS for n, x in ((a, da), (b, db)) if n == node})
            )
            argv = ["ip", "netns", "exec", self.ns[node], "lldpd", "-d", "-u", str(sock)]
            argv += ["-I", ifaces, "-L", "/nonexistent", "-O", "/dev/null"]
            if node in SWITCHES:
                argv += ["-x", "-X", str(d / "agentx.sock")]
            self._spawn(argv, d / "lldpd.log")
            self._wait(sock.exists, f"lldpd {node}")
            for cmd in (
                ["configure", "system", "hostname", node],
                ["configure", "system", "capabilities", "enabled", caps],
                ["configure", "lldp", "portidsubtype", subtype],
                ["configure", "lldp", "tx-interval", "1"],
                ["resume"],  # started without the host's lldpd.conf (-L): paused until now
            ):
                self._lldpcli(sock, cmd)

    def _lldpcli(self, sock: Path, cmd: list[str]) -> None:
        """lldpcli, retried while the daemon behind a fresh socket is still starting."""
        deadline = time.monotonic() + 15
        while True:
            r = subprocess.run(
                ["lldpcli", "-u", str(sock), *cmd], capture_output=True, text=True, timeout=30
            )
            if r.returncode == 0:
                return
            assert time.monotonic() < deadline, f"lldpcli {cmd}: {r.stderr}"
            time.sleep(0.2)

    def _spawn(self, argv: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        with log.open("wb") as f:
            self.procs.append(
                subprocess.Popen(
                    argv, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT, env=env
                )
            )

    def _wait(self, ok: object, what: str) -> None:
        deadline = time.monotonic() + 15
        while not ok():  # type: ignore[operator]
            assert time.monotonic() < deadline, f"{what} did not start"
            time.sleep(0.1)

    def poll(self, node: str, *extra: str) -> subprocess.CompletedProcess[str]:
        argv = ["ip", "netns", "exec", self.ns[node], sys.executable, "-m", "sentinel", "poll"]
        argv += [
            f"127.0.0.1:{self.ports[node]}",
            "-c",
            COMMUNITY,
            "--name",
            node,
            "-t",
            "1",
            *extra,
        ]
        return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)

    def close(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)
        for ns in self.ns.values():
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)
        shutil.rmtree(self.tmp, ignore_errors=True)


@pytest.fixture
def lab() -> Iterator[Lab]:
    require_tools("lldpd", "lldpcli", package="lldpd")
    require_tools("snmpd", package="snmpd")
    require_tools("ip", package="iproute2")
    lab = Lab()
    try:
        lab.build()
        lab.start()
        yield lab
    finally:
        lab.close()


def neighbours(text: str) -> tuple[set[tuple[str, str, str, str]], dict[str, float]]:
    got = series(text)
    info = {
        (d["ifname"], d["neighbor_name"], d["neighbor_port"], d["neighbor_kind"])
        for (name, labels), _ in got.items()
        if name == "sentinel_lldp_neighbor_info"
        for d in [dict(labels)]
    }
    stations = {
        dict(labels)["ifname"]: v
        for (name, labels), v in got.items()
        if name == "sentinel_lldp_stations"
    }
    return info, stations


def test_neighbour_table_equals_the_built_topology(lab: Lab) -> None:
    """Each switch reports exactly its built neighbours; the laptop is counted, not named."""
    got: dict[str, tuple[set[tuple[str, str, str, str]], dict[str, float]]] = {}
    deadline = time.monotonic() + 40
    for node in SWITCHES:
        while True:
            r = lab.poll(node)
            assert r.returncode == 0, r.stderr
            got[node] = neighbours(r.stdout)
            if got[node] == (EXPECTED[node], STATIONS[node]) or time.monotonic() > deadline:
                break
            time.sleep(1)
    for node in SWITCHES:
        assert got[node] == (EXPECTED[node], STATIONS[node]), node
    raw = lab.poll("sw3", "--walk-l2")
    assert raw.returncode == 0, raw.stderr
    rows = raw.stdout.split("# fdb:")[0].splitlines()[1:]
    assert len(rows) == 2
    assert any("\tlaptop\t-\tstation\t" in row and row.endswith("counted") for row in rows), rows


def metrics_in(ns: str, port: int) -> str:
    fetch = f"import urllib.request;print(urllib.request.urlopen('http://127.0.0.1:{port}/metrics',timeout=5).read().decode())"
    r = subprocess.run(
        ["ip", "netns", "exec", ns, sys.executable, "-c", fetch],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    return r.stdout if r.returncode == 0 else ""


def test_discover_polls_an_unconfigured_switch_with_the_defaults(lab: Lab) -> None:
    """Only sw1 is configured: sw2 (announcing its address) is polled; sw3 is reported."""
    port = free_tcp_port()
    cfg = lab.tmp / "sentinel.yaml"
    cfg.write_text(
        f"""
site: l2-discover
listen: 127.0.0.1:{port}
state_dir: {lab.tmp / "state"}
local: {{enabled: false}}
snmp:
  discover: true
  auths: {{v2: {{version: "2c", community: {COMMUNITY}}}}}
  defaults: {{auth: v2, interval: 5s, timeout: 1s, retries: 1}}
  switches:
    - {{name: sw1, address: "127.0.0.1:{lab.ports["sw1"]}"}}
"""
    )
    log = lab.tmp / "daemon.log"
    argv = ["ip", "netns", "exec", lab.ns["sw1"], sys.executable, "-m", "sentinel", "run"]
    with log.open("wb") as f:
        daemon = subprocess.Popen([*argv, "--config", str(cfg)], stdout=f, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        got: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        while time.monotonic() < deadline:
            text = metrics_in(lab.ns["sw1"], port)
            got = series(text) if text else {}
            if got.get(("sentinel_switch_up", (("switch", "sw2"),))) == 1 and any(
                n == "sentinel_lldp_neighbor_info" and ("switch", "sw2") in labels
                for n, labels in got
            ):
                break
            time.sleep(1)
        out = log.read_text()
        assert got.get(("sentinel_switch_up", (("switch", "sw2"),))) == 1, out
        sw2 = {
            (d["ifname"], d["neighbor_name"], d["neighbor_port"], d["neighbor_kind"])
            for (n, labels), _ in got.items()
            if n == "sentinel_lldp_neighbor_info" and ("switch", "sw2") in labels
            for d in [dict(labels)]
        }
        assert sw2 == EXPECTED["sw2"]
        assert got[("sentinel_lldp_unconfigured_switches", ())] == 2  # sw2 and sw3
        assert "polling discovered switch" in out
        assert out.count("switch neighbour not configured") == 2, out
        assert "sw3" not in {dict(labels).get("switch") for _, labels in got}
    finally:
        daemon.terminate()
        try:
            daemon.wait(timeout=20)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait(timeout=10)
