"""Sentinel's probes across a path with known delay, jitter and loss, beside iputils ping.

The path is tests/probes/impair.py: a user-space forwarder between two namespaces (the
kernel has no netem). Each test imposes an impairment, runs sentinel's ICMP probe and
``ping`` on the same path at the same time, and checks both against what was imposed:
round trips within 1 ms or 10 % (whichever is larger), loss within four binomial
standard deviations of the imposed rate.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sentinel.probemetrics import jitter, median
from tests.conftest import needs_netns, require_tools
from tests.probes.impair import SERVER_IP, SERVER_IP6, Impairment, impaired_path
from tests.probes.netns import probe_in, probes_in
from tests.probes.servers import dnsmasq, stop

pytestmark = [needs_netns, pytest.mark.netns, pytest.mark.timeout(120)]

_REPLY = re.compile(r"icmp_seq=(\d+) .*time=([\d.]+) ms")
_SUMMARY = re.compile(r"(\d+) packets transmitted, (\d+) received")


@dataclass
class Ping:
    sent: int
    rtts: list[float]  # seconds, one per reply in the order the requests were sent

    @property
    def loss(self) -> float:
        return 1 - len(self.rtts) / self.sent


def start_ping(ns: str, ip: str, count: int, interval: float) -> subprocess.Popen[str]:
    require_tools("ping", package="iputils-ping")
    argv = ["ip", "netns", "exec", ns, "ping", "-n", "-c", str(count), "-i", str(interval)]
    return subprocess.Popen(
        [*argv, "-W", "1", ip], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish_ping(proc: subprocess.Popen[str]) -> Ping:
    out, err = proc.communicate(timeout=60)
    m = _SUMMARY.search(out)
    assert m, f"ping said: {out[-500:]} {err[-500:]}"
    replies = sorted((int(seq), float(ms) / 1000) for seq, ms in _REPLY.findall(out))
    rtts = [rtt for _, rtt in replies]  # ping prints them as they arrive: jitter reorders
    assert len(rtts) == int(m[2])
    return Ping(int(m[1]), rtts)


def close(measured: float, expected: float) -> bool:
    """Within 1 ms or 10 % of ``expected``, whichever is larger."""
    return abs(measured - expected) <= max(0.001, 0.1 * expected)


def side_by_side(ns: str, ip: str, count: int, spacing: float) -> tuple[dict[str, Any], Ping]:
    """Sentinel's ICMP round and ping, each ``count`` echo requests, at the same time."""
    ping = start_ping(ns, ip, count, spacing)
    ours = probe_in(ns, "icmp", ip, pings=count, spacing=spacing, timeout=1.0)
    return ours, finish_ping(ping)


@pytest.mark.parametrize(
    ("one_way", "spread", "distribution", "ip"),
    [
        (0.020, 0.0, "uniform", SERVER_IP),
        (0.020, 0.0, "uniform", SERVER_IP6),
        (0.020, 0.008, "uniform", SERVER_IP),
        (0.015, 0.004, "normal", SERVER_IP),
    ],
    ids=["fixed", "fixed-ipv6", "uniform-jitter", "normal-jitter"],
)
def test_rtt_matches_imposed_delay_and_ping(
    one_way: float, spread: float, distribution: str, ip: str
) -> None:
    """The median round trip is the imposed one (both directions delayed by ``one_way``,
    symmetric jitter leaves the median alone) and ping's, within 1 ms or 10 %; with
    jitter, sentinel's jitter figure matches the same figure computed from ping's replies
    and the one the distribution predicts."""
    imp = Impairment(delay=one_way, jitter=spread, distribution=distribution, seed=3)
    with impaired_path(imp, Impairment(**{**imp.__dict__, "seed": 4}), seconds=40) as path:
        ours, ping = side_by_side(path.client, ip, 200, 0.01)
        counts = path.stop()
    imposed = 2 * one_way
    rtts = tuple(ours["rtts"])
    got, theirs = median(rtts), median(ping.rtts)
    print(
        f"imposed {imposed * 1e3:.2f} ms  sentinel median {got * 1e3:.2f} ms  "
        f"ping median {theirs * 1e3:.2f} ms  sentinel jitter {jitter(rtts) * 1e3:.2f} ms  "
        f"ping jitter {jitter(tuple(ping.rtts)) * 1e3:.2f} ms  frames {counts}",
        file=sys.stderr,
    )
    assert ours["success"], ours
    assert len(rtts) == 200  # nothing lost on a lossless path
    assert len(ping.rtts) == 200
    assert counts["forward"].dropped == counts["back"].dropped == 0
    assert close(got, imposed), (got, imposed)
    assert close(got, theirs), (got, theirs)
    if not spread:
        # A fixed delay stays fixed: 95 % of round trips within 1 ms of the fastest (the
        # rest may meet a busy CPU on a shared machine).
        assert sorted(rtts)[int(0.95 * len(rtts))] - min(rtts) < 0.001
        return
    # Each round trip is the sum of two independent holds; consecutive ones are
    # independent, so E|RTT1 - RTT2| = sigma_diff * sqrt(2/pi) for the normal case and
    # 14/15 * spread (the difference of two sums of two uniforms) for the uniform one.
    if distribution == "normal":
        predicted = math.sqrt(4 * spread**2) * math.sqrt(2 / math.pi)
    else:
        predicted = 14 / 15 * spread
    # From 199 consecutive differences the figure's standard error is about 6 % (the
    # spread of |X| over its mean is 0.76 for a normal X): 20 % is over three of them.
    assert abs(jitter(rtts) - predicted) <= 0.2 * predicted, (jitter(rtts), predicted)
    # ping draws its own holds from the same distribution: two estimates, each with that
    # error, differ by up to about 0.35 x predicted (four of the difference's errors).
    theirs_jitter = jitter(tuple(ping.rtts))
    assert abs(jitter(rtts) - theirs_jitter) <= 0.35 * predicted, (jitter(rtts), theirs_jitter)


@pytest.mark.parametrize(("up", "down"), [(0.2, 0.0), (0.1, 0.1)], ids=["one-way", "both-ways"])
def test_loss_matches_imposed_rate_and_ping(up: float, down: float) -> None:
    """Loss imposed on echo requests (and replies) is what sentinel and ping both see, within
    four binomial standard deviations; what both lost together is what the forwarder
    dropped."""
    n = 1000
    with impaired_path(
        Impairment(delay=0.002, loss=up, seed=11),
        Impairment(delay=0.002, loss=down, seed=12),
        seconds=40,
    ) as path:
        ours, ping = side_by_side(path.client, SERVER_IP, n, 0.005)
        counts = path.stop()
    expected = 1 - (1 - up) * (1 - down)
    sigma = math.sqrt(expected * (1 - expected) / n)
    loss = 1 - len(ours["rtts"]) / ours["sent"]
    print(
        f"imposed loss {expected:.3f} (4 sigma {4 * sigma:.3f})  sentinel {loss:.3f}  "
        f"ping {ping.loss:.3f}  frames {counts}",
        file=sys.stderr,
    )
    assert ours["sent"] == n
    assert ping.sent == n
    assert abs(loss - expected) <= 4 * sigma, (loss, expected)
    assert abs(ping.loss - expected) <= 4 * sigma, (ping.loss, expected)
    lost = round(loss * n) + (ping.sent - len(ping.rtts))
    dropped = counts["forward"].dropped + counts["back"].dropped
    # A request dropped on the way out and a reply dropped on the way back are both one
    # lost echo; the few other frames (IPv6 router solicitations) may be dropped too.
    assert lost <= dropped <= lost + 5, (lost, dropped)


def test_dns_tcp_http_connect_phases_are_one_round_trip() -> None:
    """Across a 40 ms path, a TCP handshake (tcp and http probes) and a DNS query over UDP
    each take one round trip, and an HTTP request one more, within 1 ms or 10 %: the
    median of five rounds in one process (the first round of a fresh process, and of a
    fresh server, also times their warm-up)."""
    require_tools("dnsmasq", package="dnsmasq-base")
    rtt = 0.040
    with (
        impaired_path(Impairment(delay=rtt / 2), Impairment(delay=rtt / 2), seconds=50) as path,
        dnsmasq(host=SERVER_IP, port=53, netns=path.server) as dns_port,
        tempfile.TemporaryDirectory() as docroot,
    ):
        (Path(docroot) / "index.html").write_text("hello school\n")
        web = subprocess.Popen(  # a plain web server on the far side
            ["ip", "netns", "exec", path.server, sys.executable, "-m", "http.server",
             "--bind", SERVER_IP, "--directory", docroot, "8080"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        try:
            dns = probes_in(path.client, "dns", f"{SERVER_IP}:{dns_port}", 5)
            tcp = probes_in(path.client, "tcp", f"{SERVER_IP}:{dns_port}", 5)
            for _ in range(50):  # the web server starts in the background
                if probe_in(path.client, "tcp", f"{SERVER_IP}:8080")["success"]:
                    break
            http = probes_in(path.client, "http", f"http://{SERVER_IP}:8080/", 5)
        finally:
            stop(web)
    for rounds in (dns, tcp, http):
        assert all(r["success"] for r in rounds), rounds
    assert {(r["rcode"], r["answers"]) for r in dns} == {(0, 1)}
    assert {r["status"] for r in http} == {200}
    measured = {
        "dns request": median([r["phases"]["request"] for r in dns]),
        "tcp connect": median([r["phases"]["connect"] for r in tcp]),
        "http connect": median([r["phases"]["connect"] for r in http]),
        "http processing": median([r["phases"]["processing"] for r in http]),
    }
    print(
        f"imposed {rtt * 1e3:.1f} ms  "
        + "  ".join(f"{k} {v * 1e3:.2f} ms" for k, v in measured.items()),
        file=sys.stderr,
    )
    for phase, took in measured.items():
        assert close(took, rtt), (phase, took)
