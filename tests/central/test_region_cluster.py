"""The region's cluster entry point: a real vmauth with the config make_vmauth_config.py makes.

Debian packages vmauth, vmagent and victoria-metrics but not vminsert, vmselect or
vmstorage, so two single-node VictoriaMetrics stand in for them, serving the cluster's
URL paths (-http.pathPrefix=/insert/0/prometheus and /select/0/prometheus). A real
vmagent writes with a school's credentials through vmauth; Grafana's credentials query
through it at the single node's URL shape.
"""

from __future__ import annotations

import base64
import contextlib
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from tests import inventories
from tests.conftest import ROOT, require_tools
from tests.helpers import free_port

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

CLUSTER = ROOT / "deploy" / "region" / "cluster"
pytestmark = pytest.mark.timeout(90)


def request(
    url: str, auth: tuple[str, str] | None = None, data: bytes | None = None
) -> tuple[int, str]:
    req = urllib.request.Request(url, data=data)  # noqa: S310 (loopback)
    if auth:
        req.add_header(
            "Authorization", "Basic " + base64.b64encode(":".join(auth).encode()).decode()
        )
    try:
        with urllib.request.urlopen(req, timeout=10) as r:  # noqa: S310 (loopback)
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def wait(predicate: Any, what: str, timeout: float = 20) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with contextlib.suppress(OSError):
            if predicate():
                return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    try:
        yield started
    finally:
        for p in started[::-1]:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)


def generate(tmp: Path, insert: str, select: str) -> tuple[Path, dict[str, str]]:
    if not (tmp / "inventory.yml").exists():
        inventories.write(
            tmp / "inventory.yml", [("school-a", ["a@a.example"]), ("school-b", ["b@b.example"])]
        )
    (tmp / "readers.csv").write_text("name,password\ngrafana,grafana-pw\n")
    out = tmp / "vmauth.yml"
    subprocess.run(
        [
            sys.executable, str(CLUSTER / "make_vmauth_config.py"), str(tmp / "inventory.yml"),
            str(tmp / "passwords.csv"), str(out), "--insert", insert, "--select", select,
            "--readers", str(tmp / "readers.csv"),
        ],
        check=True, capture_output=True,
    )  # fmt: skip
    rows = (tmp / "passwords.csv").read_text().splitlines()[1:]
    return out, dict(line.split(",", 1) for line in rows)


def test_passwords_are_kept_and_new_schools_get_one(tmp_path: Path) -> None:
    """A second run keeps every school's password; the files are readable by root only."""
    config, first = generate(tmp_path, "http://i:8480", "http://s:8481")
    assert set(first) == {"school-a", "school-b"}
    assert len(set(first.values())) == 2
    inventories.write(
        tmp_path / "inventory.yml",
        [("school-a", ["a@a.example"]), ("school-b", ["b@b.example"]), ("school-c", ["c@c"])],
    )
    _, second = generate(tmp_path, "http://i:8480", "http://s:8481")
    assert {k: second[k] for k in first} == first
    assert "school-c" in second
    assert (tmp_path / "passwords.csv").stat().st_mode & 0o077 == 0
    assert config.stat().st_mode & 0o077 == 0
    users = yaml.safe_load(config.read_text())["users"]
    (a,) = [u for u in users if u["username"] == "school-a"]
    assert a["url_map"] == [
        {
            "src_paths": ["/api/v1/write"],
            "url_prefix": ["http://i:8480/insert/0/prometheus/?extra_label=site=school-a"],
        }
    ]


def test_vmauth_routes_schools_to_vminsert_and_grafana_to_vmselect(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    """A school's vmagent writes through vmauth (its site forced by extra_label); Grafana
    reads through the same base URL; a school cannot query and a wrong password is refused."""
    require_tools("vmauth", "vmagent", "victoria-metrics", package="victoria-metrics")
    ports = {k: free_port() for k in ("insert", "select", "auth", "agent")}
    for role in ("insert", "select"):
        procs.append(  # noqa: PERF401
            subprocess.Popen(
                [
                    "victoria-metrics",
                    f"-storageDataPath={tmp_path / role}",
                    f"-httpListenAddr=127.0.0.1:{ports[role]}",
                    f"-http.pathPrefix=/{role}/0/prometheus",
                    "-search.latencyOffset=0s",
                    "-loggerLevel=ERROR",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    insert = f"http://127.0.0.1:{ports['insert']}"
    select = f"http://127.0.0.1:{ports['select']}"
    config, passwords = generate(tmp_path, insert, select)
    log = (tmp_path / "vmauth.log").open("wb")
    procs.append(
        subprocess.Popen(
            ["vmauth", f"-auth.config={config}", f"-httpListenAddr=127.0.0.1:{ports['auth']}"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    )
    log.close()
    base = f"http://127.0.0.1:{ports['auth']}"
    for url in (f"{insert}/insert/0/prometheus/health", f"{select}/select/0/prometheus/health"):
        wait(lambda url=url: request(url)[0] == 200, url)
    wait(
        lambda: "Loaded information about 3 users" in (tmp_path / "vmauth.log").read_text(),
        "vmauth",
    )

    # school-a's edge agent, remote-writing through vmauth; it claims to be school-b.
    secret = tmp_path / "school-a.pw"
    secret.write_text(passwords["school-a"])
    procs.append(
        subprocess.Popen(
            [
                "vmagent",
                f"-httpListenAddr=127.0.0.1:{ports['agent']}",
                f"-remoteWrite.url={base}/api/v1/write",
                "-remoteWrite.basicAuth.username=school-a",
                f"-remoteWrite.basicAuth.passwordFile={secret}",
                f"-remoteWrite.tmpDataPath={tmp_path / 'queue'}",
                "-remoteWrite.flushInterval=200ms",
                "-loggerLevel=ERROR",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    )
    agent = f"http://127.0.0.1:{ports['agent']}"
    wait(lambda: request(agent + "/health")[0] == 200, "vmagent")
    body = b'sentinel_build_info{site="school-b",region="r1",version="1.0"} 1\n'
    assert request(agent + "/api/v1/import/prometheus", data=body)[0] == 204

    def stored() -> str:
        request(f"{insert}/insert/0/prometheus/internal/force_flush")
        q = urllib.parse.urlencode({"query": "sentinel_build_info"})
        return request(f"{insert}/insert/0/prometheus/api/v1/query?{q}")[1]

    wait(lambda: "sentinel_build_info" in stored(), "the sample at vminsert")
    assert '"site":"school-a"' in stored()
    assert "school-b" not in stored()

    # Grafana (and vmalert) query at <base>/api/v1/query; vmauth adds /select/0/prometheus.
    request(
        f"{select}/select/0/prometheus/api/v1/import/prometheus", data=b'up{site="school-a"} 1\n'
    )
    request(f"{select}/select/0/prometheus/internal/force_flush")
    grafana = ("grafana", "grafana-pw")
    q = urllib.parse.urlencode({"query": "up"})
    wait(
        lambda: '"school-a"' in request(f"{base}/api/v1/query?{q}", grafana)[1],
        "a query via vmauth",
    )
    code, _ = request(f"{base}/api/v1/query_range?{q}&start=0&end=1&step=1", grafana)
    assert code == 200
    # A school's credentials only write; wrong credentials get nothing.
    assert request(f"{base}/api/v1/query?{q}", ("school-a", passwords["school-a"]))[0] >= 400
    assert request(f"{base}/api/v1/write", ("school-a", "wrong"), b"x")[0] >= 400
    assert request(f"{base}/api/v1/query?{q}")[0] >= 400


def test_cluster_units_name_replication_factor_two() -> None:
    """vminsert writes every sample to two vmstorage nodes; vmselect deduplicates them."""
    insert = (CLUSTER / "vminsert.service").read_text()
    select = (CLUSTER / "vmselect.service").read_text()
    assert "-replicationFactor=2" in insert
    assert "-replicationFactor=2" in select
    assert "-dedup.minScrapeInterval=1ms" in select
    for unit in ("vminsert", "vmselect", "vmstorage", "vmauth"):
        text = (CLUSTER / f"{unit}.service").read_text()
        for line in ("DynamicUser=yes", "NoNewPrivileges=yes", "ProtectSystem=strict"):
            assert line in text, (unit, line)
