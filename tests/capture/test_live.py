"""Live capture in network namespaces: counts equal what was sent, with and without root."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import ARP, Ether
from scapy.utils import wrpcap

from tests.conftest import needs_netns, needs_tools, require_tools
from tests.helpers import free_port, sample, total

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [
    needs_netns,
    needs_tools("tcpreplay", package="tcpreplay"),
    pytest.mark.timeout(90),
]

A_MAC, B_MAC = "02:00:00:00:0a:01", "02:00:00:00:0b:02"


def sh(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def tmp_path() -> Iterator[Path]:
    """A directory the unprivileged daemon can read (pytest's own is private to root)."""
    d = Path(tempfile.mkdtemp(prefix="sentinel-capture-"))
    d.chmod(0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def lan() -> Iterator[tuple[str, str]]:
    """Namespace A (sentinel, interface lan0) and B (traffic source, peer0)."""
    tag = str(os.getpid() % 100000)
    a, b = f"sncap-a-{tag}", f"sncap-b-{tag}"
    try:
        for ns in (a, b):
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh(
            "ip",
            "-n",
            a,
            "link",
            "add",
            "lan0",
            "type",
            "veth",
            "peer",
            "name",
            "peer0",
            "netns",
            b,
        )
        for ns, dev, mac in ((a, "lan0", A_MAC), (b, "peer0", B_MAC)):
            sh("ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv6.conf.{dev}.disable_ipv6=1")
            sh("ip", "-n", ns, "link", "set", dev, "address", mac)
            sh("ip", "-n", ns, "link", "set", dev, "up")
        yield a, b
    finally:
        for ns in (a, b):
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)


def traffic(path: Path) -> tuple[int, int]:
    """A small school mix: (packets, bytes on the wire)."""
    frames = [
        Ether(src=B_MAC, dst="02:00:00:00:00:99")
        / IP(src="10.30.0.5", dst="198.51.100.7")
        / TCP(sport=40000 + i, dport=443, flags="A")
        / (b"x" * 800)
        for i in range(300)
    ]
    frames += [
        Ether(src=B_MAC, dst=A_MAC)
        / IP(src="10.30.0.5", dst="10.30.0.1")
        / UDP(sport=5000 + i, dport=53)
        / (b"q" * 40)
        for i in range(100)
    ]
    frames += [
        Ether(src=B_MAC, dst="ff:ff:ff:ff:ff:ff")
        / ARP(psrc="10.30.0.5", pdst=f"10.30.0.{i + 10}", hwsrc=B_MAC)
        for i in range(50)
    ]
    wrpcap(str(path), frames)
    return len(frames), sum(len(bytes(f)) for f in frames)  # veth does not pad to 60


def run_daemon(ns: str, cfg: Path, user: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            ns,
            *user,
            sys.executable,
            "-m",
            "sentinel",
            "run",
            "--config",
            str(cfg),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def scrape(ns: str, port: int) -> str:
    code = (
        "import urllib.request,sys;sys.stdout.write(urllib.request.urlopen("
        f"'http://127.0.0.1:{port}/metrics',timeout=5).read().decode())"
    )
    return sh("ip", "netns", "exec", ns, sys.executable, "-c", code)


def config(tmp_path: Path, port: int) -> Path:
    state = tmp_path / "state"
    state.mkdir(exist_ok=True)
    os.chmod(state, 0o777)  # noqa: S103 (the unprivileged daemon writes its state here)
    cfg = tmp_path / "s.yaml"
    cfg.write_text(
        f"listen: 127.0.0.1:{port}\nstate_dir: {state}\nlocal: {{enabled: false}}\n"
        "capture: {interface: lan0, networks: [10.30.0.0/16], ring_size_mb: 8}\n"
    )
    cfg.chmod(0o644)
    return cfg


def wait_metric(ns: str, port: int, name: str, want: float, **labels: str) -> str:
    deadline = time.monotonic() + 20
    body = ""
    while time.monotonic() < deadline:
        try:
            body = scrape(ns, port)
        except subprocess.CalledProcessError:
            time.sleep(0.3)
            continue
        if sample(body, name, **labels) == want:
            return body
        time.sleep(0.3)
    raise AssertionError(f"{name}{labels} never reached {want}:\n{body[-3000:]}")


def totals(body: str) -> tuple[float, float]:
    return total(body, "sentinel_lan_packets_total"), total(body, "sentinel_lan_bytes_total")


@pytest.mark.parametrize("as_user", [False, True], ids=["root", "nobody-with-cap-net-raw"])
def test_live_capture_counts_what_was_sent(
    lan: tuple[str, str], tmp_path: Path, as_user: bool
) -> None:
    """Every replayed frame is counted once, by direction and protocol, bytes exact."""
    if as_user:
        require_tools("setpriv", package="util-linux")
    a, b = lan
    port = free_port()
    pcap = tmp_path / "mix.pcap"
    n, size = traffic(pcap)
    pcap.chmod(0o644)
    user = (
        [
            "setpriv",
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            "--inh-caps=+net_raw",
            "--ambient-caps=+net_raw",
        ]
        if as_user
        else []
    )
    d = run_daemon(a, config(tmp_path, port), user)
    try:
        # The first snapshot comes from a worker whose ring is open: now nothing is missed.
        wait_metric(a, port, "sentinel_lan_kernel_drops_total", 0.0)
        sh("ip", "netns", "exec", b, "tcpreplay", "-q", "-i", "peer0", "--pps=5000", str(pcap))
        body = wait_metric(a, port, "sentinel_lan_kernel_packets_total", float(n))
        time.sleep(1.2)  # one more snapshot after the last packet
        body = scrape(a, port)
        assert totals(body) == (n, size)
        assert (
            sample(
                body, "sentinel_lan_packets_total", direction="out", family="ipv4", protocol="tcp"
            )
            == 300
        )
        assert (
            sample(
                body,
                "sentinel_lan_packets_total",
                direction="internal",
                family="ipv4",
                protocol="udp",
            )
            == 100
        )
        assert (
            sample(
                body,
                "sentinel_lan_packets_total",
                direction="internal",
                family="arp",
                protocol="other",
            )
            == 50
        )
        assert sample(body, "sentinel_lan_kernel_drops_total") == 0
        assert sample(body, "sentinel_lan_active_devices", kind="mac") == 1
        assert sample(body, "sentinel_lan_active_devices", kind="ip") == 1
        # DNS + ARP, and the first frame of the one MAC never seen before (mac_flood input)
        assert sample(body, "sentinel_lan_detector_packets_total") == 151
    finally:
        d.terminate()
        out, _ = d.communicate(timeout=20)
    assert d.returncode == 0, out


NET_RAW = 1 << 13
AS_NOBODY_WITH_NET_RAW = [
    "setpriv",
    "--reuid=nobody",
    "--regid=nogroup",
    "--clear-groups",
    "--inh-caps=-all,+net_raw",
    "--ambient-caps=-all,+net_raw",
    "--bounding-set=-all,+net_raw",
]


def caps(pid: int) -> dict[str, int]:
    """Capability sets of every thread of ``pid`` ORed together: CapEff, CapPrm, ..."""
    out: dict[str, int] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        for line in (task / "status").read_text().splitlines():
            if line.startswith("Cap"):
                name, value = line.split(":", 1)
                out[name] = out.get(name, 0) | int(value, 16)
    return out


def worker_of(pid: int) -> int:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                cmd = Path(f"/proc/{child}/cmdline").read_bytes()
                if b"sentinel.capture.worker" in cmd:
                    return int(child)
        time.sleep(0.2)
    raise AssertionError("no capture worker")


@pytest.mark.parametrize("ping_group", ["0 2147483647", "1 0"], ids=["ping-allowed", "no-ping"])
def test_cap_net_raw_is_given_up_once_the_capture_socket_is_made(
    lan: tuple[str, str], tmp_path: Path, ping_group: str
) -> None:
    """As nobody with only CAP_NET_RAW (the unit's setup): the daemon makes the packet
    socket, then no thread of it nor its worker holds the capability, and a worker
    started after the first is killed captures everything on the same socket. Where the
    kernel refuses unprivileged ICMP sockets the capability is kept for ICMP probes, and
    the log says so."""
    require_tools("setpriv", package="util-linux")
    a, b = lan
    sh("ip", "netns", "exec", a, "sysctl", "-qw", f"net.ipv4.ping_group_range={ping_group}")
    port = free_port()
    pcap = tmp_path / "mix.pcap"
    n, size = traffic(pcap)
    pcap.chmod(0o644)
    d = run_daemon(a, config(tmp_path, port), AS_NOBODY_WITH_NET_RAW)
    try:
        wait_metric(a, port, "sentinel_lan_kernel_drops_total", 0.0)
        main, first = caps(d.pid), caps(worker_of(d.pid))
        if ping_group == "1 0":
            assert main["CapEff"] & NET_RAW
            assert main["CapPrm"] & NET_RAW
            return
        for sets in (main, first):
            for name in ("CapEff", "CapPrm", "CapInh", "CapAmb"):
                assert not sets[name] & NET_RAW, (name, sets)
        sh("ip", "netns", "exec", b, "tcpreplay", "-q", "-i", "peer0", "--pps=5000", str(pcap))
        wait_metric(a, port, "sentinel_lan_kernel_packets_total", float(n))
        os.kill(worker_of(d.pid), signal.SIGKILL)
        wait_metric(a, port, "sentinel_task_restarts_total", 1.0, task="capture")
        body = wait_metric(a, port, "sentinel_task_up", 1.0, task="capture")
        again = worker_of(d.pid)
        assert not caps(again)["CapEff"] & NET_RAW
        time.sleep(1.2)  # the new worker's ring is bound
        sh("ip", "netns", "exec", b, "tcpreplay", "-q", "-i", "peer0", "--pps=5000", str(pcap))
        body = wait_metric(a, port, "sentinel_lan_kernel_packets_total", float(2 * n))
        time.sleep(1.2)
        body = scrape(a, port)
        assert totals(body) == (2 * n, 2 * size)
    finally:
        d.terminate()
        out, _ = d.communicate(timeout=20)
    assert d.returncode == 0, out
    if ping_group == "1 0":
        assert "ping_group_range excludes this group" in out, out
    else:
        assert "state=dropped" in out, out


def test_without_cap_net_raw_capture_is_down_and_polling_goes_on(
    lan: tuple[str, str], tmp_path: Path
) -> None:
    """No CAP_NET_RAW: a clear error, capture down in sentinel_task_up, the daemon serves on."""
    require_tools("setpriv", package="util-linux")
    a, _ = lan
    port = free_port()
    d = run_daemon(
        a,
        config(tmp_path, port),
        [
            "setpriv",
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
        ],
    )
    try:
        body = wait_metric(a, port, "sentinel_task_up", 0.0, task="capture")
        assert sample(body, "sentinel_build_info") == 1.0
    finally:
        d.terminate()
        out, _ = d.communicate(timeout=20)
    assert "capture needs CAP_NET_RAW" in out
    assert out.count("task failed, restarting with backoff") == 1, out


def test_missing_interface_is_a_clear_error(lan: tuple[str, str], tmp_path: Path) -> None:
    """A capture interface that does not exist is named in the log."""
    a, _ = lan
    port = free_port()
    cfg = config(tmp_path, port)
    cfg.write_text(cfg.read_text().replace("interface: lan0", "interface: nosuch0"))
    d = run_daemon(a, cfg, [])
    try:
        wait_metric(a, port, "sentinel_task_up", 0.0, task="capture")
    finally:
        d.terminate()
        out, _ = d.communicate(timeout=20)
    assert "no network interface named 'nosuch0'" in out


RECEIVER = """
import json, sys, time
from sentinel.capture.ring import Ring, walk_block
ring = Ring("lan0", header_snaplen=256, block_timeout_ms=10)
seen = []
print("ready", flush=True)
deadline = time.monotonic() + 20
while len(seen) < {n} and time.monotonic() < deadline:
    ring.read(lambda v, b, s: walk_block(v, b, s, lambda f, w, t: seen.append((len(f), w))), 100)
print(json.dumps(seen), flush=True)
"""


def test_kernel_filter_keeps_headers_only(lan: tuple[str, str], tmp_path: Path) -> None:
    """The BPF program on a real socket: the kernel copies headers of bulk frames and
    whole DNS/DHCP/ARP frames, exactly as ``bpf.run`` says, with the true wire length."""
    import json

    from sentinel.capture import bpf
    from tests.capture.test_bpf import frames

    a, b = lan
    skip = ("tag", "qinq", "jumbo")  # the veth untags VLANs and drops frames over its MTU
    sent = [bytes(f) for name, (f, _) in frames().items() if not any(s in name for s in skip)]
    pcap = tmp_path / "snap.pcap"
    wrpcap(str(pcap), [Ether(f) for f in sent])
    code = RECEIVER.format(n=len(sent))
    proc = subprocess.Popen(
        ["ip", "netns", "exec", a, sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.stdout is not None
    try:
        assert proc.stdout.readline().strip() == "ready"
        sh("ip", "netns", "exec", b, "tcpreplay", "-q", "-i", "peer0", "--pps=200", str(pcap))
        out, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
    seen = json.loads(out.strip().splitlines()[-1])
    prog = bpf.program(65535, 256)
    want = [[bpf.run(prog, f), len(f)] for f in sent]
    assert seen == want
    assert sum(1 for got, wire in seen if got < wire) >= 6  # bulk frames were cut
