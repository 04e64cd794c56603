"""``sentinel probe`` against real servers on loopback: the figures, the exit status, one line."""

from __future__ import annotations

import re
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from tests.helpers import free_port
from tests.probes.servers import dnsmasq, make_cert, web_server
from tests.probes.test_endpoint import Silent

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.timeout(60)


def sentinel_probe(*args: str) -> tuple[int, str, str]:
    r = subprocess.run(
        [sys.executable, "-m", "sentinel", "probe", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return r.returncode, r.stdout, r.stderr


def rows(out: str) -> dict[str, str]:
    """Row name -> value (the first column after the name)."""
    table: dict[str, str] = {}
    for line in out.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 2:
            table[parts[0]] = parts[1]
    return table


def failed(code: int, out: str, err: str, reason: str) -> str:
    """A failure: exit 1, nothing on stdout, one line on stderr naming ``reason``."""
    assert code == 1, (code, out, err)
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("sentinel probe: "), err
    assert f": {reason}: " in lines[0], err
    return lines[0]


def test_http_and_https(tmp_path: Path) -> None:
    cert = make_cert(tmp_path, "portal", days=10)
    with web_server() as plain, web_server(cert=cert) as tls:
        code, out, err = sentinel_probe(f"{plain}/redirect")
        assert code == 0, err
        assert out.startswith(f"http {plain}/redirect (127.0.0.1, IPv4)\n"), out
        t = rows(out)
        assert t["success"] == "1"
        assert t["http_status_code"] == "200"
        assert t["http_redirects"] == "2"
        assert t["http_final_url"] == f"{plain}/ok"
        assert t["http_uncompressed_body_length"] == str(len(b"hello school\n"))
        assert t["http_version"] == "1.1"
        phases = [f"duration_seconds{{phase={p}}}" for p in PHASES_HTTP]
        assert all(p in t for p in phases), out
        assert float(t["duration_seconds{phase=tls}"]) == 0
        assert "tls_version_info{version=TLS" not in out

        code, out, err = sentinel_probe("-k", f"{tls}/ok")
        assert code == 0, err
        t = rows(out)
        assert t["http_status_code"] == "200"
        assert float(t["duration_seconds{phase=tls}"]) > 0
        assert "tls_version_info{version=TLS 1.3}" in out
        assert abs(float(t["tls_cert_expiry_timestamp_seconds"]) - cert.not_after) <= 1
        assert re.search(r"in (9\.9|10\.0) days", out), out

        # Verified by default: a self-signed certificate fails, with the reason tls.
        line = failed(*sentinel_probe(f"{tls}/ok"), "tls")
        assert line.endswith("certificate verify failed: self-signed certificate"), line
        line = failed(*sentinel_probe(f"{plain}/error"), "http_status")
        assert line.endswith("HTTP status 500"), line
        # -c: rounds, each printed; the module comes from the scheme.
        code, out, err = sentinel_probe("-c", "2", "-i", "0.05", f"{plain}/ok")
        assert code == 0, err
        assert out.count("http_status_code") == 2


PHASES_HTTP = ("resolve", "connect", "tls", "processing", "transfer")


def test_dns(tmp_path: Path) -> None:
    with dnsmasq() as port:
        code, out, err = sentinel_probe("-m", "dns", f"127.0.0.1:{port}")
        assert code == 0, err
        t = rows(out)
        assert t["dns_rcode"] == "0"
        assert "NOERROR" in out
        assert t["dns_answer_rrs"] == "1"
        assert float(t["duration_seconds{phase=request}"]) > 0
        # Too big for UDP: asked again over TCP, still one answer.
        code, out, err = sentinel_probe(
            "-m",
            "dns",
            f"127.0.0.1:{port}",
            "--query-name",
            "big.example.com",
            "--query-type",
            "TXT",
        )
        assert code == 0, err
        assert rows(out)["dns_answer_rrs"] == "1"
        # A configured target by name, with the config's query.
        cfg = tmp_path / "sentinel.yaml"
        cfg.write_text(
            "probes:\n  dns: {query_name: example.org}\n  targets:\n"
            f'    - {{name: resolver, module: dns, address: "127.0.0.1:{port}"}}\n'
        )
        code, out, err = sentinel_probe("--config", str(cfg), "resolver")
        assert code == 0, err
        assert out.startswith(f"dns 127.0.0.1:{port} "), out
        assert rows(out)["dns_answer_rrs"] == "1"
        # A name the resolver does not serve: dnsmasq without upstreams says REFUSED.
        line = failed(
            *sentinel_probe("-m", "dns", f"127.0.0.1:{port}", "--query-name", "a.test"), "dns_rcode"
        )
        assert line.endswith("rcode REFUSED"), line
    failed(*sentinel_probe("-m", "dns", "-t", "1", f"127.0.0.1:{port}"), "refused")


def test_tcp_and_icmp() -> None:
    silent = Silent()
    try:
        code, out, err = sentinel_probe(f"127.0.0.1:{silent.port}")  # host:port is tcp
        assert code == 0, err
        assert out.startswith(f"tcp 127.0.0.1:{silent.port} (127.0.0.1, IPv4)\n"), out
        assert float(rows(out)["duration_seconds{phase=connect}"]) > 0
        # An HTTP server that never answers: the deadline (-t) ends it.
        failed(*sentinel_probe("-t", "0.5", f"http://127.0.0.1:{silent.port}/"), "timeout")
    finally:
        silent.close()
    failed(*sentinel_probe(f"127.0.0.1:{free_port()}"), "refused")

    code, out, err = sentinel_probe("-c", "4", "-i", "0.05", "127.0.0.1")  # a host is icmp
    assert code == 0, err
    assert out.startswith("icmp 127.0.0.1 (127.0.0.1, IPv4): 4 echo requests, 4 replies\n")
    t = rows(out)
    assert t["icmp_loss_ratio"] == "0"
    lo, mid, hi = (
        float(t[f"icmp_round_rtt_seconds{{stat={s}}}"]) for s in ("min", "median", "max")
    )
    assert 0 < lo <= mid <= hi < 0.05
    assert float(t["icmp_jitter_seconds"]) <= hi - lo
    assert t["icmp_reply_hop_limit"] == "64"
    code, out, err = sentinel_probe("-6", "-c", "1", "::1")
    assert code == 0, err
    assert "(::1, IPv6): 1 echo requests, 1 replies" in out


def test_what_is_wrong_in_one_line() -> None:
    line = failed(*sentinel_probe("no..such.host"), "resolve")
    assert line.startswith("sentinel probe: icmp no..such.host: resolve: cannot resolve"), line
    failed(*sentinel_probe("http://no..such.host/"), "resolve")
    for args, lines, start in (
        (["-m", "tcp", "127.0.0.1"], 1, "sentinel probe: 127.0.0.1: must be HOST:PORT"),
        (["http://"], 1, "sentinel probe: http://: must be an http:// or https:// URL"),
        (["--config", "/nonexistent/s.yaml", "x"], 1, "/nonexistent/s.yaml: cannot read"),
        (["-c", "0", "127.0.0.1"], None, "sentinel probe: error: argument -c"),  # after usage
    ):
        code, out, err = sentinel_probe(*args)
        assert code == 2, (args, code, err)
        assert out == ""
        if lines is not None:
            assert len(err.splitlines()) == lines, err
        assert err.splitlines()[-1].startswith(start), err
