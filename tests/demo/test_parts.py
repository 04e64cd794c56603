"""The demo's parts on their own: the served recordings, the region's Alertmanager config,
the replayer's pacing. No root needed."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from sentinel.demo import replay, switches
from sentinel.demo.region import alertmanager_config, checkout, grafana_files, load_plain
from tests.conftest import require_tools

IFX = "1.3.6.1.2.1.31.1.1.1"
IF = "1.3.6.1.2.1.2.2.1"
CORE = switches.SWITCHES[0]


def records(path: Path) -> dict[str, tuple[str, str]]:
    out = {}
    for line in path.read_text().splitlines():
        oid, tag, value = line.split("|", 2)
        out[oid] = (tag, value)
    return out


def test_recordings_move_only_the_counters_of_ports_that_were_up(tmp_path: Path) -> None:
    switches.write_recordings(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"{s.name}.snmprec" for s in switches.SWITCHES
    )
    core = records(tmp_path / "demo-core.snmprec")
    # Gi0/49 (ifIndex 10149) was up in the recording, Gi0/1 (10101) was down.
    assert core[f"{IF}.8.10149"] == ("2", "1")
    assert core[f"{IF}.8.10101"] == ("2", "2")
    tag, spec = core[f"{IFX}.6.10149"]
    assert tag == "70:waves"
    settings = dict(kv.split("=") for kv in spec.split(","))
    assert float(settings["rate"]) > 0.25 * 125e6  # an uplink: a fair share of 1 Gbit/s
    assert 0 < float(settings["depth"]) < 1
    assert core[f"{IFX}.6.10101"][0] == "70"  # down: as recorded
    tag32, spec32 = core[f"{IF}.10.10149"]
    assert tag32 == "65:waves"
    assert "wrap=4294967295" in spec32
    assert core["1.3.6.1.2.1.1.3.0"][0] == "67:waves"
    # Everything else as recorded, in the recording's order, ending past the subtrees.
    assert core["1.3.6.1.2.1.1.5.0"] == ("4", "DUMSYS-04")
    oids = list(core)
    assert not oids[-1].startswith(("1.3.6.1.2.1.31.", "1.3.6.1.2.1.2."))


def test_saturated_uplink_runs_near_its_speed() -> None:
    gym = next(s for s in switches.SWITCHES if s.saturated)
    speed = 100e6 / 8
    assert switches.octet_rate(gym, gym.saturated[0], "8", speed) > 0.9 * speed
    assert switches.octet_rate(gym, "3", "3", speed) < 0.05 * speed


def test_waves_module_counts_up_and_wraps() -> None:
    ctx: dict[str, object] = {"moduleContext": {}}
    path = switches.VARIATION / "waves.py"
    exec(compile(path.read_text(), str(path), "exec"), ctx)  # noqa: S102 (as snmpsim loads it)
    variate = ctx["variate"]
    flags = {"setFlag": False, "nextFlag": True, "exactMatch": True}
    ctx["recordContext"] = {}
    # 30,000 below the wrap at a million a second: it wraps 30 ms after loading.
    spec = f"rate=1000000,initial={2**32 - 1 - 30000},period=60,depth=0,wrap=4294967295"
    values = []
    for _ in range(3):
        values.append(variate("oid", "65", spec, **flags)[2])  # type: ignore[operator]
        time.sleep(0.05)
    assert 2**32 - 1 - 30000 <= values[0] < 2**32
    assert values[-1] < values[0]  # wrapped past 2**32 - 1 back to small values
    ctx["recordContext"] = {}
    grows = [
        variate("oid", "70", "rate=1000,initial=5,period=1,depth=0.9", **flags)[2]  # type: ignore[operator]
        for _ in range(50)
    ]
    assert grows == sorted(grows)


def test_alertmanager_config_keeps_the_routing_and_mails_nobody(tmp_path: Path) -> None:
    root = checkout()
    source = load_plain(root / "deploy" / "alertmanager" / "alertmanager.yml")
    config = alertmanager_config(source, "http://127.0.0.1:9/notify")
    assert config["route"] == source["route"]
    assert config["inhibit_rules"] == source["inhibit_rules"]
    assert not any(k.startswith("smtp_") for k in config.get("global", {}))
    assert [r["name"] for r in config["receivers"]] == [r["name"] for r in source["receivers"]]
    for r in config["receivers"]:
        assert set(r) == {"name", "webhook_configs"}
        assert r["webhook_configs"][0]["url"] == f"http://127.0.0.1:9/notify/{r['name']}"
    require_tools("amtool", package="prometheus-alertmanager")
    (tmp_path / "templates").mkdir()
    for tmpl in (root / "deploy" / "alertmanager" / "templates").glob("*.tmpl"):
        (tmp_path / "templates" / tmpl.name).write_text(tmpl.read_text())
    path = tmp_path / "alertmanager.yml"
    path.write_text(json.dumps(config))
    check = subprocess.run(
        ["amtool", "check-config", str(path)], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
    routes = subprocess.run(
        ["amtool", "config", "routes", "test", f"--config.file={path}", "site=demo-school",
         "severity=critical"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert routes.stdout.split() == ["school-admin,regional-it"], routes.stdout


@pytest.mark.timeout(30)
def test_replayer_keeps_the_recorded_pace(tmp_path: Path) -> None:
    """Frames leave with their recorded spacing (a 1 s gap stays about 1 s)."""
    from scapy.all import Ether, wrpcap  # type: ignore[import-untyped]

    frames = [Ether(dst="02:00:00:00:00:02", src="02:00:00:00:00:01") for _ in range(3)]
    for f, t in zip(frames, (100.0, 100.2, 101.2), strict=True):
        f.time = t
    pcap = tmp_path / "three.pcap"
    wrpcap(str(pcap), frames)
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    stamps: list[float] = []

    def read() -> None:
        b.settimeout(5)
        for _ in range(3):
            b.recv(2048)
            stamps.append(time.monotonic())

    reader = threading.Thread(target=read)
    reader.start()
    assert replay.play(a, pcap, threading.Event()) == 3
    reader.join(10)
    a.close()
    b.close()
    assert len(stamps) == 3
    assert 0.1 < stamps[1] - stamps[0] < 0.5
    assert 0.8 < stamps[2] - stamps[1] < 1.5


def test_grafana_gets_the_provisioning_pointed_at_the_demo_store(tmp_path: Path) -> None:
    """What a Grafana would be started with (Grafana itself is not installable here)."""
    root = checkout()
    ini = grafana_files(root, tmp_path / "grafana", "http://127.0.0.1:18428", 13000)
    text = ini.read_text()
    expected = (
        "http_addr = 127.0.0.1",
        "http_port = 13000",
        "check_for_updates = false",
        "reporting_enabled = false",
        "[auth.anonymous]\nenabled = true\norg_role = Viewer",
    )
    for line in expected:
        assert line in text
    prov = tmp_path / "grafana" / "provisioning"
    ds = json.loads((prov / "datasources" / "sentinel.yaml").read_text())
    (vm,) = ds["datasources"]
    assert vm["url"] == "http://127.0.0.1:18428"
    assert vm["uid"] == "sentinel-vm"  # what the dashboards' datasource variable defaults to
    boards = json.loads((prov / "dashboards" / "sentinel.yaml").read_text())
    path = Path(boards["providers"][0]["options"]["path"])
    assert sorted(p.name for p in path.glob("*.json")) == sorted(
        p.name for p in (root / "grafana" / "dashboards").glob("*.json")
    )
