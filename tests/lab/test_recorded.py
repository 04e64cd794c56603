"""`sentinel analyze` on the project's own lab captures (tests/data/lab): the expected detectors.

Each capture was recorded with tcpdump on the lab gateway's LAN interface while one real
tool ran (``scripts/record-lab-captures`` re-records them, as root). Its JSON names the
detectors it must raise (none for the baseline and the other benign captures), where
stated their severity, the attacker and the exact command.
No root needed here.
"""

from __future__ import annotations

import copy
import json
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import DATA
from tests.helpers import analyze

if TYPE_CHECKING:
    from pathlib import Path

LAB = DATA / "lab"

# Known detector gaps, scenario -> reason: the test is marked xfail (strict) until the
# detector is fixed, so a fix turns the mark into a failure, a reminder to drop it.
MISSES: dict[str, str] = {}
OTHER_SOURCES: dict[str, str] = {}
# Found, with the attacker named, but beside a second alert of another detector.
EXTRA: dict[str, str] = {}


def truths() -> list[dict[str, object]]:
    return [json.loads(p.read_text()) for p in sorted(LAB.glob("*.json"))]


def ids(truth: dict[str, object]) -> str:
    return str(truth["scenario"])


def config(truth: dict[str, object], state: Path) -> Path:
    """What the gateway box would be configured with: the lab's gateway, DHCP server (for
    DHCPv6 too), DNS."""
    lab = truth["lab"]
    cfg = state / "sentinel.yaml"
    cfg.write_text(
        json.dumps(
            {
                "detect": {
                    "gateway": lab["gateway"],  # type: ignore[index]
                    "rogue_dhcp": {
                        "servers": lab["dhcp_servers"],  # type: ignore[index]
                        "routers": [lab["gateway"]["ip"]],  # type: ignore[index]
                    },
                    "dns_bypass": {"resolvers": lab["resolvers"]},  # type: ignore[index]
                    # the school's server is the one that may answer DHCPv6
                    "rogue_dhcp6": {"server_macs": [lab["server"]["mac"]]},  # type: ignore[index]
                }
            }
        )
    )
    return cfg


# A capture's alerts, by scenario: `sentinel analyze` replays a file the same way every
# time, so the tests that each judge one side of them share one run.
_ALERTS: dict[str, list[dict[str, Any]]] = {}


def alerts(truth: dict[str, object], state: Path) -> list[dict[str, Any]]:
    """The alerts of one recorded capture, with the lab's config, sources in clear."""
    name = str(truth["scenario"])
    if name not in _ALERTS:
        _ALERTS[name] = analyze(
            LAB / str(truth["pcap"]), state, "--config", str(config(truth, state)), "--reveal"
        )
    return copy.deepcopy(_ALERTS[name])


def marked(truth: dict[str, object], reasons: dict[str, str]) -> object:
    name = str(truth["scenario"])
    if name in reasons:
        return pytest.param(truth, marks=pytest.mark.xfail(reason=reasons[name]), id=name)
    return pytest.param(truth, id=name)


def test_captures_are_present_and_small() -> None:
    found = truths()
    assert {t["scenario"] for t in found} >= {
        "baseline",
        "syn_scan",
        "ping_sweep",
        "syn_flood",
        "arp_spoof",
        "rogue_dhcp",
        "dns_tunnel",
        "brute_force",
        "mac_flood",
    }
    for t in found:
        assert (LAB / str(t["pcap"])).exists()
        assert {"scenario", "expected_detectors", "attacker", "command", "description"} <= set(t)
    assert sum(p.stat().st_size for p in LAB.iterdir()) < 10 << 20


@pytest.mark.parametrize("truth", [marked(t, {**MISSES, **EXTRA}) for t in truths()])
def test_expected_detectors_exactly(truth: dict[str, object], tmp_path: Path) -> None:
    """Each capture raises exactly its expected detector ids (none for the baseline)."""
    found = alerts(truth, tmp_path)
    assert {a["detector"] for a in found} == set(truth["expected_detectors"]), found  # type: ignore[arg-type]
    # "expected_severity": {detector: severity} states how urgent its alerts must be
    for detector, severity in dict(truth.get("expected_severity", {})).items():  # type: ignore[call-overload]
        assert {a["severity"] for a in found if a["detector"] == detector} == {severity}, found


@pytest.mark.parametrize(
    "truth", [marked(t, MISSES) for t in truths() if t.get("attacker_is_source")]
)
def test_attacker_is_the_source(truth: dict[str, object], tmp_path: Path) -> None:
    """The recorded attacker (IP or MAC) is the source of an alert."""
    found = alerts(truth, tmp_path)
    atk = truth["attacker"]
    sources = {a["source"]["ip"] for a in found} | {a["source"]["mac"] for a in found}  # type: ignore[index]
    assert sources & {atk["ip"], atk["mac"], atk.get("ip6")}, found  # type: ignore[union-attr,index]


@pytest.mark.parametrize(
    "truth",
    [
        marked(t, {**MISSES, **OTHER_SOURCES, **EXTRA})
        for t in truths()
        if t.get("attacker_is_source")
    ],
)
def test_no_one_but_the_attacker_is_named(truth: dict[str, object], tmp_path: Path) -> None:
    """No bystander (server, resolver, student) is the source of an alert."""
    found = alerts(truth, tmp_path)
    atk = truth["attacker"]
    assert found
    for a in found:
        src = a["source"]
        assert src["ip"] in ("", atk["ip"], atk.get("ip6")), a  # type: ignore[union-attr,index]
        assert src["mac"] in ("", atk["mac"]), a  # type: ignore[index]


@pytest.mark.parametrize(
    "truth", [t for t in truths() if (t.get("notes") or {}).get("one_incident")], ids=ids
)
def test_one_source_is_one_incident(truth: dict[str, object], tmp_path: Path) -> None:
    """Every alert about the attacker names the same incident: its first alert."""
    found = alerts(truth, tmp_path)
    assert len({a["detector"] for a in found}) >= 2, found
    incidents = {a["incident"] for a in found}
    assert len(incidents) == 1, found
    lead = next(a for a in found if a["incident"] == f"{a['detector']}:{a['identifier']}")
    assert lead["first_seen"] == min(a["first_seen"] for a in found)


@pytest.mark.parametrize(
    "truth", [t for t in truths() if (t.get("notes") or {}).get("senders")], ids=ids
)
def test_each_host_of_a_distributed_flood_is_named(
    truth: dict[str, object], tmp_path: Path
) -> None:
    """A flood from several LAN hosts at once names each of them, and no one else."""
    found = alerts(truth, tmp_path)
    senders = set(truth["notes"]["senders"])  # type: ignore[index]
    assert {a["source"]["ip"] for a in found} == senders, found


@pytest.mark.parametrize(
    "truth", [t for t in truths() if (t.get("notes") or {}).get("expected_kind")], ids=ids
)
def test_expected_kind(truth: dict[str, object], tmp_path: Path) -> None:
    """The notes' "expected_kind" ({detector: kind}) is the kind of all its alerts."""
    found = alerts(truth, tmp_path)
    for detector, kind in truth["notes"]["expected_kind"].items():  # type: ignore[index]
        assert {a["kind"] for a in found if a["detector"] == detector} == {kind}, found


# Guessing on a login port is found by its connections first; the servers' replies must
# find it alone too (the same server on another port would show nothing else).
ON_LOGIN_PORTS = ["ftp_guess", "postgres_guess", "mariadb_guess", "telnet_guess", "vnc_guess"]


@pytest.mark.parametrize("name", ON_LOGIN_PORTS)
def test_refused_logins_alone_find_the_guesser(name: str, tmp_path: Path) -> None:
    """With no login ports configured, only the refusals in the replies are left."""
    truth = json.loads((LAB / f"{name}.json").read_text())
    cfg = config(truth, tmp_path)
    body = json.loads(cfg.read_text())
    body["detect"]["brute_force"] = {"ports": []}
    cfg.write_text(json.dumps(body))
    found = analyze(LAB / str(truth["pcap"]), tmp_path, "--config", str(cfg), "--reveal")
    assert [a["detector"] for a in found] == ["brute_force"], found
    assert found[0]["source"]["ip"] == truth["attacker"]["ip"]
    assert "refused logins" in found[0]["summary"], found


def test_slow_udp_data_scan_fills_no_second() -> None:
    """udp_data_scan_slow (nmap -T2, a probe with data every 0.4 s, the server's port
    unreachables dropped by its firewall): nothing answers and no second holds the
    capture's floor of ports, so only its pairs of the site's hosts over seconds
    (``UdpSpread``) see the scan, which the tests above find by the attacker, vertical."""
    from scapy.layers.inet import ICMP, IP, UDP
    from scapy.utils import rdpcap

    from sentinel.capture.accounting import UDP_PROBE_FLOOR

    truth = json.loads((LAB / "udp_data_scan_slow.json").read_text())
    atk, srv = truth["attacker"]["ip"], truth["lab"]["server"]["ip"]  # type: ignore[index]
    ports: dict[int, set[int]] = {}
    for p in rdpcap(str(LAB / str(truth["pcap"]))):
        if IP in p and p[IP].src == srv and p[IP].dst == atk:
            assert ICMP not in p, p.summary()  # no unreachable
            assert UDP not in p, p.summary()  # nor any other answer
        if UDP in p and p[IP].src == atk and p[IP].dst == srv and len(p[UDP].payload):
            ports.setdefault(int(p.time), set()).add(p[UDP].dport)
    assert len(set().union(*ports.values())) == 40
    assert max(len(s) for s in ports.values()) < UDP_PROBE_FLOOR
