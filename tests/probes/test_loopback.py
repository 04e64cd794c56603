"""Every probe against real servers on loopback: HTTP(S) with a test-made certificate, dnsmasq,
TCP listeners and ICMP echo on 127.0.0.1 and ::1."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import TYPE_CHECKING

import pytest

from sentinel.config.probes import (
    DnsSettings,
    HttpSettings,
    IcmpSettings,
    ProbeTarget,
    TcpSettings,
)
from sentinel.metrics import Metrics
from sentinel.probes import dns
from sentinel.probes.icmp import Pingers
from sentinel.probes.run import probe
from tests.helpers import free_port
from tests.probes.servers import dnsmasq, make_cert, web_server

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from sentinel.model import ProbeResult

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def pingers() -> AsyncIterator[Pingers]:
    p = Pingers()
    yield p
    p.close()


async def run(module: str, address: str, settings: object, pingers: Pingers) -> ProbeResult:
    return await probe(ProbeTarget("t", module, address), settings, pingers)  # type: ignore[arg-type]


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


async def test_http_phases_status_and_redirects(pingers: Pingers) -> None:
    """Two redirects are followed; the final URL, status, body and every phase are reported."""
    with web_server() as base:
        r = await run("http", f"{base}/redirect", HttpSettings(), pingers)
    assert r.success, r.detail
    assert r.status == 200
    assert r.redirects == 2
    assert r.final_url == f"{base}/ok"
    assert r.body_length == len(b"hello school\n") == r.content_length
    assert r.http_version == 1.1
    assert [p for p, _ in r.phases] == ["resolve", "connect", "tls", "processing", "transfer"]
    assert r.phase("tls") == 0.0
    assert r.phase("connect") > 0
    assert r.phase("processing") > 0
    assert r.tls_version == ""
    assert r.cert_expiry is None
    assert r.ip == "127.0.0.1"
    assert r.ip_protocol == 4


async def test_http_processing_phase_holds_the_server_time(pingers: Pingers) -> None:
    """A server that thinks for 300 ms shows it in ``processing``, not in the other phases."""
    with web_server() as base:
        r = await run("http", f"{base}/slow", HttpSettings(), pingers)
    assert r.success
    assert 0.3 <= r.phase("processing") < 1.0
    assert r.phase("connect") < 0.1
    assert r.phase("transfer") < 0.1


async def test_http_failures_have_reasons(pingers: Pingers) -> None:
    """Status 500, a body past the cap, a refused port and a deadline: each its own reason."""
    with web_server() as base:
        bad = await run("http", f"{base}/error", HttpSettings(), pingers)
        big = await run("http", f"{base}/big", HttpSettings(body_limit=1024 * 1024), pingers)
        ok_big = await run("http", f"{base}/big", HttpSettings(body_limit=4 * 1024 * 1024), pingers)
        chunked = await run("http", f"{base}/chunked", HttpSettings(), pingers)
        slow = await run("http", f"{base}/slow", HttpSettings(timeout=0.1), pingers)
    refused = await run("http", f"http://127.0.0.1:{free_port()}/", HttpSettings(), pingers)
    assert (bad.success, bad.reason, bad.status) == (False, "http_status", 500)
    assert (big.success, big.reason) == (False, "body_too_large")
    assert ok_big.success
    assert ok_big.body_length == 2 * 1024 * 1024
    assert chunked.success
    assert chunked.body_length == 8
    assert (slow.success, slow.reason) == (False, "timeout")
    assert slow.duration < 0.5
    assert (refused.success, refused.reason) == (False, "refused")


async def test_https_tls_version_and_certificate_expiry(tmp_path: Path, pingers: Pingers) -> None:
    """TLS phase and version, and the certificate's notAfter (one expires in 3 days)."""
    cert = make_cert(tmp_path, "soon", days=3)
    with web_server(cert=cert) as base:
        strict = await run("http", f"{base}/ok", HttpSettings(), pingers)
        r = await run("http", f"{base}/ok", HttpSettings(verify_tls=False), pingers)
    assert (strict.success, strict.reason) == (False, "tls")  # self-signed: not trusted
    assert r.success, r.detail
    assert r.tls_version in ("TLS 1.2", "TLS 1.3")
    assert r.phase("tls") > 0
    assert r.cert_expiry == pytest.approx(cert.not_after, abs=1)
    assert r.cert_expiry - time.time() < 3 * 86400 + 5


async def test_dns_through_dnsmasq(pingers: Pingers) -> None:
    """rcode and answers from dnsmasq; NXDOMAIN is a failure; a big answer falls back to TCP."""
    with dnsmasq() as port:
        ok = await run("dns", f"127.0.0.1:{port}", DnsSettings(), pingers)
        nx = await run("dns", f"127.0.0.1:{port}", DnsSettings(query_name="nope.test"), pingers)
        big = await run(
            "dns",
            f"127.0.0.1:{port}",
            DnsSettings(query_name="big.example.com", query_type="TXT"),
            pingers,
        )
        tcp = await run("dns", f"127.0.0.1:{port}", DnsSettings(transport="tcp"), pingers)
        phases: dict[str, float] = {}
        _, used = await dns.query(
            "127.0.0.1", port, socket.AF_INET, "big.example.com", "TXT", "udp", phases
        )
        _, small = await dns.query("127.0.0.1", port, socket.AF_INET, "example.com", "A", "udp", {})
    assert (used, small) == ("tcp", "udp")  # truncated over UDP, asked again over TCP
    assert ok.success
    assert ok.rcode == 0
    assert ok.answers == 1
    assert [p for p, _ in ok.phases] == ["resolve", "connect", "request"]
    assert (nx.success, nx.reason) == (False, "dns_rcode")
    assert nx.rcode in (3, 5)  # NXDOMAIN (or REFUSED: dnsmasq with no upstream)
    assert big.success, big.detail
    assert big.answers == 1
    assert tcp.success
    assert tcp.answers == 1


async def test_dns_silent_resolver_times_out(pingers: Pingers) -> None:
    """A UDP port that swallows queries: reason timeout within the deadline."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        port = sink.getsockname()[1]
        r = await run("dns", f"127.0.0.1:{port}", DnsSettings(timeout=0.3), pingers)
    assert (r.success, r.reason) == (False, "timeout")
    closed = await run("dns", f"127.0.0.1:{port}", DnsSettings(timeout=1), pingers)
    assert (closed.success, closed.reason) == (False, "refused")  # ICMP port unreachable


async def test_tcp_connect() -> None:
    """Connect time to a listener; a closed port is ``refused``."""
    p = Pingers()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        ok = await run("tcp", f"127.0.0.1:{port}", TcpSettings(), p)
    closed = await run("tcp", f"127.0.0.1:{free_port()}", TcpSettings(), p)
    assert ok.success
    assert 0 < ok.phase("connect") < 0.1
    assert (closed.success, closed.reason) == (False, "refused")


async def test_icmp_loopback_ipv4_and_ipv6(pingers: Pingers) -> None:
    """A burst to 127.0.0.1 and ::1: every echo answered, sub-millisecond, hop limit 64."""
    s = IcmpSettings(pings=10, spacing=0.01, timeout=1)
    r4 = await run("icmp", "127.0.0.1", s, pingers)
    assert r4.success, r4.detail
    assert (r4.sent, len(r4.rtts), r4.loss_ratio) == (10, 10, 0.0)
    assert all(0 < x < 0.01 for x in r4.rtts)
    assert r4.hop_limit == 64
    assert r4.duration >= 9 * 0.01
    if not has_ipv6_loopback():
        pytest.skip("no IPv6 loopback here")
    r6 = await run("icmp", "::1", s, pingers)
    assert r6.success
    assert len(r6.rtts) == 10
    assert r6.ip_protocol == 6


async def test_concurrent_bursts_share_one_socket(pingers: Pingers) -> None:
    """Bursts to several targets at once each get exactly their own replies."""
    s = IcmpSettings(pings=20, spacing=0.005, timeout=1)
    results = await asyncio.gather(*(run("icmp", f"127.0.0.{i}", s, pingers) for i in range(1, 6)))
    assert [len(r.rtts) for r in results] == [20] * 5
    assert len(pingers._open) == 1


async def test_metrics_from_results(tmp_path: Path, pingers: Pingers) -> None:
    """Published results appear under sentinel's names; a forgotten target disappears."""
    metrics = Metrics(process=False)
    s = IcmpSettings(pings=5, spacing=0.01, timeout=1)
    metrics.probes.publish(await probe(ProbeTarget("lo", "icmp", "127.0.0.1"), s, pingers))
    cert = make_cert(tmp_path, "c", days=10)
    with web_server(cert=cert) as base:
        t = ProbeTarget("portal", "http", f"{base}/error")
        metrics.probes.publish(await probe(t, HttpSettings(verify_tls=False), pingers))
    text = metrics.render(None)[0].decode()
    from tests.helpers import sample

    assert sample(text, "sentinel_probe_success", probe="icmp", target="lo") == 1
    assert sample(text, "sentinel_probe_icmp_loss_ratio", target="lo") == 0
    assert sample(text, "sentinel_probe_icmp_rtt_seconds_count", target="lo") == 5
    assert sample(text, "sentinel_probe_icmp_round_rtt_seconds", target="lo", stat="median")
    assert sample(text, "sentinel_probe_success", probe="http", target="portal") == 0
    assert sample(text, "sentinel_probe_http_status_code", target="portal") == 500
    assert (
        sample(
            text,
            "sentinel_probe_failures_total",
            probe="http",
            target="portal",
            reason="http_status",
        )
        == 1
    )
    assert sample(
        text, "sentinel_probe_tls_cert_expiry_timestamp_seconds", target="portal"
    ) == pytest.approx(cert.not_after)
    assert (
        sample(
            text,
            "sentinel_probe_duration_seconds_count",
            probe="http",
            target="portal",
            phase="tls",
        )
        == 1
    )
    metrics.probes.forget("portal", "http")
    text = metrics.render(None)[0].decode()
    assert 'target="portal"' not in text
