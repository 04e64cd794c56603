"""SNMP polling cost: sentinel's SwitchPoller next to prometheus-snmp-exporter, in one run.

    .venv/bin/python bench/snmp.py [--switches 50] [--rounds 5] [--quick]

Simulated switches: the Cisco Catalyst 3560 recording from the ``snmpsim-data`` package
(57 ifIndexes: 48 + 4 GigabitEthernet ports, 4 SVIs, Null0), served by snmpsim on
127.0.0.1 as one SNMPv2c community per switch (``sw000``, ``sw001``, ...), spread over
two simulator processes so both cores serve. Both pollers use max-repetitions 25,
timeout 10 s and 3 retries.

- exporter: Debian's prometheus-snmp-exporter (0.21) with an ``if_mib`` module written
  here (walk interfaces + ifXTable, every column a metric, ifAlias/ifDescr/ifName
  lookups, like upstream's). 0.21 has no ``auth`` URL parameter (the community lives
  in the module), so each switch gets a module ``if_mib_swNNN``: the same walk and
  metrics (YAML aliases) with its own community. Scraped like Prometheus would, 10 at
  a time; CPU = the exporter's utime + stime from /proc/PID/stat.
- sentinel: one SnmpClient and one SwitchPoller per switch, an asyncio.Semaphore(8),
  in a spawned child process; CPU = time.process_time() around the rounds.
- naive pysnmp 7 ``bulk_walk_cmd`` of the same two subtrees, for context.
- memory of the pollers in two more children (tracemalloc; Pss_Anon).

Results: bench/results/snmp-<date>.{md,json}; see bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import bz2
import concurrent.futures as cf
import contextlib
import dataclasses
import gc
import json
import multiprocessing
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import urllib.error
import urllib.request
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RECORDING = "data/network/switch/cisco-c3560.snmprec.bz2"
# What a poll of IF-MIB touches, plus SNMPv2-MIB system; the rest of the recording's 35k
# OIDs only slows snmpsim's start (it indexes every file).
KEEP_PREFIXES = ("1.3.6.1.2.1.1.", "1.3.6.1.2.1.2.", "1.3.6.1.2.1.31.")
SUBTREES = ("1.3.6.1.2.1.2", "1.3.6.1.2.1.31.1.1")
UPLINKS = r"Gi0/(49|5[0-2])"  # the recording's four uplink ports
MAX_REP, TIMEOUT, RETRIES = 25, 10, 3
IN_FLIGHT = 8  # sentinel's default snmp.max_in_flight
SCRAPE_PARALLEL = 10
LABEL_EVERY = 15  # label_refresh 900 s / interval 60 s
CLK_TCK = os.sysconf("SC_CLK_TCK")
MIB = 1024 * 1024

# -- the exporter's if_mib module (snmp_exporter 0.21 config format) ---------------------

IF = "1.3.6.1.2.1.2.2.1"
IFX = "1.3.6.1.2.1.31.1.1.1"
OPER = {1: "up", 2: "down", 3: "testing", 4: "unknown", 5: "dormant", 6: "notPresent"}
OPER[7] = "lowerLayerDown"
ADMIN = {1: "up", 2: "down", 3: "testing"}
TRUTH = {1: "true", 2: "false"}
IFTYPES = {1: "other", 6: "ethernetCsmacd", 24: "softwareLoopback", 53: "propVirtual"}
IFTYPES |= {131: "tunnel", 135: "l2vlan", 136: "l3ipvlan", 161: "ieee8023adLag"}
# (name, oid, type, enum_values); ifDescr, ifName and ifAlias are lookups, not metrics.
COLUMNS: list[tuple[str, str, str, dict[int, str] | None]] = [
    ("ifIndex", f"{IF}.1", "gauge", None),
    ("ifType", f"{IF}.3", "EnumAsInfo", IFTYPES),
    ("ifMtu", f"{IF}.4", "gauge", None),
    ("ifSpeed", f"{IF}.5", "gauge", None),
    ("ifPhysAddress", f"{IF}.6", "PhysAddress48", None),
    ("ifAdminStatus", f"{IF}.7", "gauge", ADMIN),
    ("ifOperStatus", f"{IF}.8", "gauge", OPER),
    ("ifLastChange", f"{IF}.9", "gauge", None),
    ("ifInOctets", f"{IF}.10", "counter", None),
    ("ifInUcastPkts", f"{IF}.11", "counter", None),
    ("ifInNUcastPkts", f"{IF}.12", "counter", None),
    ("ifInDiscards", f"{IF}.13", "counter", None),
    ("ifInErrors", f"{IF}.14", "counter", None),
    ("ifInUnknownProtos", f"{IF}.15", "counter", None),
    ("ifOutOctets", f"{IF}.16", "counter", None),
    ("ifOutUcastPkts", f"{IF}.17", "counter", None),
    ("ifOutNUcastPkts", f"{IF}.18", "counter", None),
    ("ifOutDiscards", f"{IF}.19", "counter", None),
    ("ifOutErrors", f"{IF}.20", "counter", None),
    ("ifOutQLen", f"{IF}.21", "gauge", None),
    ("ifSpecific", f"{IF}.22", "OctetString", None),
    ("ifInMulticastPkts", f"{IFX}.2", "counter", None),
    ("ifInBroadcastPkts", f"{IFX}.3", "counter", None),
    ("ifOutMulticastPkts", f"{IFX}.4", "counter", None),
    ("ifOutBroadcastPkts", f"{IFX}.5", "counter", None),
    ("ifHCInOctets", f"{IFX}.6", "counter", None),
    ("ifHCInUcastPkts", f"{IFX}.7", "counter", None),
    ("ifHCInMulticastPkts", f"{IFX}.8", "counter", None),
    ("ifHCInBroadcastPkts", f"{IFX}.9", "counter", None),
    ("ifHCOutOctets", f"{IFX}.10", "counter", None),
    ("ifHCOutUcastPkts", f"{IFX}.11", "counter", None),
    ("ifHCOutMulticastPkts", f"{IFX}.12", "counter", None),
    ("ifHCOutBroadcastPkts", f"{IFX}.13", "counter", None),
    ("ifLinkUpDownTrapEnable", f"{IFX}.14", "gauge", {1: "enabled", 2: "disabled"}),
    ("ifHighSpeed", f"{IFX}.15", "gauge", None),
    ("ifPromiscuousMode", f"{IFX}.16", "gauge", TRUTH),
    ("ifConnectorPresent", f"{IFX}.17", "gauge", TRUTH),
    ("ifCounterDiscontinuityTime", f"{IFX}.19", "gauge", None),
]
LOOKUPS = (("ifAlias", f"{IFX}.18"), ("ifDescr", f"{IF}.2"), ("ifName", f"{IFX}.1"))


def exporter_config(communities: list[str]) -> str:
    """snmp.yml for snmp_exporter 0.21: module ``if_mib`` (community public) + one per switch."""
    out = ["# snmp_exporter 0.21 format, written by bench/snmp.py", "if_mib:"]
    out += ["  walk: &walk", *(f"  - {s}" for s in SUBTREES)]
    out += ["  metrics: &metrics"]
    out += ["  - name: ifNumber", "    oid: 1.3.6.1.2.1.2.1", "    type: gauge"]
    for name, oid, typ, enums in COLUMNS:
        out += [f"  - name: {name}", f"    oid: {oid}", f"    type: {typ}"]
        out += ["    indexes:", "    - labelname: ifIndex", "      type: gauge"]
        out += ["    lookups:"]
        for label, loid in LOOKUPS:
            out += ["    - labels: [ifIndex]", f"      labelname: {label}", f"      oid: {loid}"]
            out += ["      type: DisplayString"]
        if enums:
            out += ["    enum_values:", *(f"      {k}: {v}" for k, v in enums.items())]
    params = ["version: 2", f"max_repetitions: {MAX_REP}", f"retries: {RETRIES}"]
    params += [f"timeout: {TIMEOUT}s"]
    out += [f"  {p}" for p in params] + ["  auth:", "    community: public"]
    for c in communities:
        out += [f"if_mib_{c}:", "  walk: *walk", "  metrics: *metrics"]
        out += [f"  {p}" for p in params] + ["  auth:", f"    community: {c}"]
    return "\n".join(out) + "\n"


# -- processes -----------------------------------------------------------------------------


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_cpu(pid: int) -> float:
    """utime + stime of a whole process (every thread), seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def stop(p: subprocess.Popen) -> None:
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)


def recording() -> list[str]:
    import snmpsim_data

    path = Path(snmpsim_data.__file__).parent / RECORDING
    with bz2.open(path, "rt") as f:
        return [line for line in f if line.startswith(KEEP_PREFIXES)]


@dataclasses.dataclass
class Lab:
    tmp: Path
    sims: list[subprocess.Popen]
    ports: list[int]
    switches: list[tuple[int, str]]  # (port, community) of every switch


def start_simulators(tmp: Path, n: int, procs: int) -> Lab:
    lines = recording()
    exe = Path(sys.executable).parent / "snmpsim-command-responder"
    env = dict(os.environ)
    if os.geteuid() == 0:
        env["SNMPSIM_ALLOW_ROOT"] = "true"  # listens on 127.0.0.1 only
    lab = Lab(tmp, [], [], [])
    for k in range(procs):
        data, cache = tmp / f"data{k}", tmp / f"cache{k}"
        data.mkdir()
        cache.mkdir()
        for i in range(k, n, procs):
            (data / f"sw{i:03d}.snmprec").write_text("".join(lines))
        port = free_port(socket.SOCK_DGRAM)
        cmd = [str(exe), "--log-level=error", f"--data-dir={data}", f"--cache-dir={cache}"]
        cmd += [f"--agent-udpv4-endpoint=127.0.0.1:{port}"]
        log = open(tmp / f"snmpsim{k}.log", "w")  # noqa: SIM115 - closed with the process
        lab.sims.append(
            subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
            )
        )
        log.close()
        lab.ports.append(port)
    lab.switches = [(lab.ports[i % procs], f"sw{i:03d}") for i in range(n)]
    for k, port in enumerate(lab.ports):
        last = lab.switches[max(i for i in range(n) if i % procs == k)][1]
        for _ in range(240):  # bounded: about 2 minutes
            if lab.sims[k].poll() is not None:
                log = (tmp / f"snmpsim{k}.log").read_text()[-2000:]
                raise RuntimeError(f"snmpsim exited: {log}")
            get = ["snmpget", "-v2c", "-c", last, "-t", "0.5", "-r", "0", "-On"]
            r = subprocess.run(
                [*get, f"127.0.0.1:{port}", "1.3.6.1.2.1.1.3.0"],
                capture_output=True,
                text=True,
            )
            if r.returncode == 0 and "Timeticks" in r.stdout:
                break
        else:
            raise RuntimeError(f"snmpsim on port {port} does not answer")
    return lab


def exporter_version() -> str:
    if shutil.which("prometheus-snmp-exporter") is None:
        return "not installed"
    r = subprocess.run(["prometheus-snmp-exporter", "--version"], capture_output=True, text=True)
    return (r.stdout + r.stderr).splitlines()[0].strip()


class Exporter:
    def __init__(self, tmp: Path, communities: list[str]) -> None:
        self.config = tmp / "snmp.yml"
        self.config.write_text(exporter_config(communities))
        self.addr = f"127.0.0.1:{free_port(socket.SOCK_STREAM)}"
        self.log = tmp / "exporter.log"
        cmd = ["prometheus-snmp-exporter", f"--config.file={self.config}"]
        with open(self.log, "w") as log:
            self.p = subprocess.Popen(
                [*cmd, f"--web.listen-address={self.addr}", "--log.level=warn"],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        for _ in range(100):  # bounded: 10 s
            if self.p.poll() is not None:
                break
            try:
                with urllib.request.urlopen(f"http://{self.addr}/", timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        stop(self.p)
        raise RuntimeError(f"exporter did not start: {self.log.read_text()[-2000:]}")

    def scrape(self, target: tuple[int, str]) -> dict:
        port, community = target
        url = f"http://{self.addr}/snmp?module=if_mib_{community}&target=127.0.0.1:{port}"
        req = urllib.request.Request(url, headers={"X-Prometheus-Scrape-Timeout-Seconds": "60"})
        try:
            with urllib.request.urlopen(req, timeout=90) as r:
                body = r.read().decode()
        except urllib.error.HTTPError as exc:
            return {"pdus": 0, "series": 0, "errors": 1, "bytes": 0, "http": exc.code}
        pdus, series, err = 0, 0, 0
        for line in body.splitlines():
            if line.startswith("#") or not line:
                continue
            if line.startswith("snmp_scrape_pdus_returned"):
                pdus += int(float(line.split()[-1]))
            elif line.startswith("snmp_error") or "snmp_scrape" in line:
                err += line.startswith("snmp_error")
            else:
                series += 1
        return {"pdus": pdus, "series": series, "errors": err + (pdus == 0), "bytes": len(body)}

    def round(self, targets: list[tuple[int, str]], sims: list[int]) -> dict:
        s0 = sum(proc_cpu(p) for p in sims)
        c0, t0 = proc_cpu(self.p.pid), time.perf_counter()
        with cf.ThreadPoolExecutor(SCRAPE_PARALLEL) as ex:
            res = list(ex.map(self.scrape, targets))
        wall, cpu = time.perf_counter() - t0, proc_cpu(self.p.pid) - c0
        return {
            "wall_s": wall,
            "cpu_s": cpu,
            "sim_cpu_s": sum(proc_cpu(p) for p in sims) - s0,
            "polls": len(targets),
            "varbinds": sum(r["pdus"] for r in res),
            "series": sum(r["series"] for r in res),
            "errors": sum(r["errors"] for r in res),
        }


# -- sentinel (runs in a spawned child) ----------------------------------------------------


def sentinel_configs(switches: list[tuple[int, str]], uplinks: bool) -> list:
    from sentinel.snmp.once import resolved_from_flags

    out = []
    for port, community in switches:
        cfg = resolved_from_flags(
            "127.0.0.1",
            port,
            name=community,
            version="2c",
            community=community,
            user="",
            level=None,
            auth_protocol=None,
            auth_passphrase=None,
            priv_protocol=None,
            priv_passphrase=None,
            context="",
            timeout=TIMEOUT,
            retries=RETRIES,
            max_repetitions=MAX_REP,
            tier=None,
        )
        if uplinks:
            cfg = dataclasses.replace(cfg, uplinks=(re.compile(UPLINKS),))
        out.append(cfg)
    return out


def _counts(pollers: list) -> tuple[int, int]:
    return sum(p.varbinds for p in pollers), sum(p.requests for p in pollers)


async def _sentinel_rounds(switches: list[tuple[int, str]], rounds: int, uplinks: bool) -> dict:
    from sentinel.snmp.client import SnmpClient
    from sentinel.snmp.poller import SwitchPoller

    client = SnmpClient()
    sem = asyncio.Semaphore(IN_FLIGHT)
    pollers = [SwitchPoller(c, client, semaphore=sem) for c in sentinel_configs(switches, uplinks)]
    errors: list[str] = []
    notes: set[str] = set()

    async def one_round() -> dict:
        v0, r0 = _counts(pollers)
        c0, t0 = time.process_time(), time.perf_counter()
        res = await asyncio.gather(*(p.poll() for p in pollers), return_exceptions=True)
        cpu, wall = time.process_time() - c0, time.perf_counter() - t0
        v1, r1 = _counts(pollers)
        samples = 0
        for r in res:
            if isinstance(r, BaseException):
                errors.append(f"{type(r).__name__}: {r}")
            else:
                samples += len(r)
        for p in pollers:
            notes.update(p.notes)
        n = len(pollers)
        return {
            "cpu_s": cpu,
            "wall_s": wall,
            "polls": n,
            "varbinds": v1 - v0,
            "requests": r1 - r0,
            "samples": samples,
        }

    try:
        first = await one_round()
        steady = [await one_round() for _ in range(rounds)]
        for p in pollers:
            p.labels_at = None  # the next poll re-reads the labels, as every 900 s
        refresh = await one_round()
        # Where the varbinds of a steady poll go: wire order per request, checked by column.
        waste = await _diagnose(client, pollers)
        tiers: dict[str, int] = {}
        for s in await pollers[0].poll():
            key = f"{s.role.value}/{s.tier.value}"
            tiers[key] = tiers.get(key, 0) + 1
    finally:
        client.close()
    return {
        "first": first,
        "steady": steady,
        "refresh": refresh,
        "waste": waste,
        "interfaces_by_role_tier": tiers,
        "errors": errors[:20],
        "error_count": len(errors),
        "notes": sorted(notes)[:20],
    }


async def _diagnose(client, pollers: list) -> dict:
    """One more steady round with the client's requests recorded: useful vs wasted varbinds."""
    stats = {"get_requests": 0, "get_varbinds": 0, "bulk_requests": 0, "bulk_varbinds": 0}
    stats |= {"bulk_past_column_end": 0, "get_missing": 0, "bulk_max_repetitions": []}
    bulk, get = client.bulk, client.get

    async def rec_bulk(ep, creds, oids, max_repetitions):
        vbs = await bulk(ep, creds, oids, max_repetitions)
        stats["bulk_requests"] += 1
        stats["bulk_varbinds"] += len(vbs)
        stats["bulk_max_repetitions"].append(max_repetitions)
        n = len(oids)
        cols = [tuple(o) for o in oids]
        for i, (oid, _v) in enumerate(vbs):
            col = cols[i % n]
            # asked from the column's OID or its last row: ifTable columns have 10
            # sub-identifiers, ifXTable columns 11
            base = col[:10] if col[6] == 2 else col[:11]
            if oid[: len(base)] != base:
                stats["bulk_past_column_end"] += 1
        return vbs

    async def rec_get(ep, creds, oids):
        from sentinel.snmp.client import Special

        vbs = await get(ep, creds, oids)
        stats["get_requests"] += 1
        stats["get_varbinds"] += len(vbs)
        stats["get_missing"] += sum(isinstance(v, Special) for _o, v in vbs)
        return vbs

    client.bulk, client.get = rec_bulk, rec_get
    try:
        await asyncio.gather(*(p.poll() for p in pollers), return_exceptions=True)
    finally:
        client.bulk, client.get = bulk, get
    reps = stats.pop("bulk_max_repetitions")
    stats["bulk_max_repetitions_hist"] = {str(k): reps.count(k) for k in sorted(set(reps))}
    return {k: (v / len(pollers) if isinstance(v, int) else v) for k, v in stats.items()}


def sentinel_child(switches: list[tuple[int, str]], rounds: int, uplinks: bool) -> dict:
    sys.path.insert(0, str(ROOT))
    return asyncio.run(_sentinel_rounds(switches, rounds, uplinks))


# -- naive pysnmp baseline (spawned child) ---------------------------------------------------


async def _naive(switches: list[tuple[int, str]], rounds: int) -> list[dict]:
    from pysnmp.hlapi.v3arch.asyncio import (
        CommunityData,
        ContextData,
        ObjectIdentity,
        ObjectType,
        SnmpEngine,
        UdpTransportTarget,
        bulk_walk_cmd,
    )

    engine = SnmpEngine()
    sem = asyncio.Semaphore(IN_FLIGHT)

    async def walk(port: int, community: str) -> tuple[int, int]:
        transport = await UdpTransportTarget.create(
            ("127.0.0.1", port), timeout=TIMEOUT, retries=RETRIES
        )
        auth = CommunityData(community, mpModel=1)
        n = err = 0
        async with sem:
            for sub in SUBTREES:
                async for ei, es, _i, vbs in bulk_walk_cmd(
                    engine,
                    auth,
                    transport,
                    ContextData(),
                    0,
                    MAX_REP,
                    ObjectType(ObjectIdentity(sub)),
                    lexicographicMode=False,
                    lookupMib=False,
                ):
                    if ei or es:
                        err += 1
                        break
                    n += len(vbs)
        return n, err

    out = []
    try:
        await asyncio.gather(*(walk(p, c) for p, c in switches[:2]))  # warm-up
        for _ in range(rounds):
            c0, t0 = time.process_time(), time.perf_counter()
            res = await asyncio.gather(*(walk(p, c) for p, c in switches))
            cpu, wall = time.process_time() - c0, time.perf_counter() - t0
            row = {"cpu_s": cpu, "wall_s": wall, "polls": len(switches)}
            row |= {"varbinds": sum(x[0] for x in res), "errors": sum(x[1] for x in res)}
            out.append(row)
    finally:
        engine.close_dispatcher()
    return out


def naive_child(switches: list[tuple[int, str]], rounds: int) -> list[dict]:
    return asyncio.run(_naive(switches, rounds))


# -- memory (spawned children) ------------------------------------------------------------


def pss_anon() -> int:
    with open("/proc/self/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss_Anon:"):
                return int(line.split()[1]) * 1024
    return 0


async def _poll_all(pollers: list) -> tuple[int, int]:
    """Errors and interfaces of one poll of every switch; the samples die with this frame."""
    res = await asyncio.gather(*(p.poll() for p in pollers), return_exceptions=True)
    errors = sum(isinstance(r, BaseException) for r in res)
    return errors, sum(len(r) for r in res if not isinstance(r, BaseException))


def _sentinel_lines(snapshot: tracemalloc.Snapshot) -> tracemalloc.Snapshot:
    return snapshot.filter_traces([tracemalloc.Filter(True, str(ROOT / "sentinel") + "/*")])


async def _memory(switches: list[tuple[int, str]], trace: bool) -> dict:
    from sentinel.snmp.client import SnmpClient
    from sentinel.snmp.poller import SwitchPoller

    client = SnmpClient()
    sem = asyncio.Semaphore(IN_FLIGHT)
    cfgs = sentinel_configs(switches, uplinks=False)
    # Warm the code paths (imports, pysnmp's lazy tables) on a client not measured.
    warm = SnmpClient()
    try:
        await SwitchPoller(sentinel_configs(switches[:1], False)[0], warm).poll()
    finally:
        warm.close()
    del warm
    gc.collect()
    if trace:
        tracemalloc.start()  # after the imports: only what follows is traced
        snap0 = tracemalloc.take_snapshot()
    p0 = pss_anon()
    pollers = [SwitchPoller(c, client, semaphore=sem) for c in cfgs]
    errors = interfaces = 0
    cpu = []
    for _ in range(2):
        c0 = time.process_time()
        e, interfaces = await _poll_all(pollers)
        cpu.append((time.process_time() - c0) / len(pollers))
        errors += e
    for _ in range(3):  # let the loop drop its last handles (they hold the gather result)
        await asyncio.sleep(0)
    gc.collect()
    out = {"switches": len(pollers), "interfaces": interfaces, "errors": errors}
    out["cpu_per_poll_s"] = cpu  # first poll, second poll (tracemalloc inflates them)
    out["pss_anon_growth"] = pss_anon() - p0
    if trace:
        out["traced_growth"] = tracemalloc.get_traced_memory()[0]
        snap1 = tracemalloc.take_snapshot()
        top = []
        for d in snap1.compare_to(snap0, "filename")[:8]:
            name = d.traceback[0].filename
            for marker in ("site-packages/", str(ROOT) + "/"):
                name = name.split(marker, 1)[-1]
            top.append({"file": name, "growth": d.size_diff})
        out["top_files"] = top
        lines = _sentinel_lines(snap1).compare_to(_sentinel_lines(snap0), "lineno")
        out["top_sentinel_lines"] = [
            {
                "line": f"{d.traceback[0].filename.split(str(ROOT) + '/', 1)[-1]}:"
                f"{d.traceback[0].lineno}",
                "growth": d.size_diff,
                "count": d.count_diff,
            }
            for d in lines[:10]
        ]
        tracemalloc.stop()
    client.close()
    return out


def memory_child(switches: list[tuple[int, str]], trace: bool) -> dict:
    return asyncio.run(_memory(switches, trace))


def in_child(fn, *args, timeout: float = 600):
    ctx = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(1, mp_context=ctx) as ex:
        return ex.submit(fn, *args).result(timeout=timeout)


# -- layer 2: one 48-port switch with 2,000 FDB entries and 24 PoE ports -----------------

L2_RECORDING = ROOT / "tests" / "data" / "l2" / "aruba-2930f-48p.snmprec"
# The subtrees a steady layer-2 poll reads, each exactly the columns sentinel asks for
# (the recording holds no others): dot1qTpFdbTable (port, status), pethPsePortTable
# (admin, detection, class), pethMainPseTable, hpicfPoePethPsePortPower.
L2_STEADY = (
    "1.3.6.1.2.1.17.7.1.2.2",
    "1.3.6.1.2.1.105.1.1",
    "1.3.6.1.2.1.105.1.3",
    "1.3.6.1.4.1.11.2.14.11.1.9.1.1.1.3",
)


def start_l2_simulator(tmp: Path) -> tuple[subprocess.Popen, int]:
    data, cache = tmp / "l2data", tmp / "l2cache"
    data.mkdir()
    cache.mkdir()
    shutil.copyfile(L2_RECORDING, data / "l2.snmprec")
    exe = Path(sys.executable).parent / "snmpsim-command-responder"
    env = dict(os.environ)
    if os.geteuid() == 0:
        env["SNMPSIM_ALLOW_ROOT"] = "true"
    port = free_port(socket.SOCK_DGRAM)
    cmd = [str(exe), "--log-level=error", f"--data-dir={data}", f"--cache-dir={cache}"]
    cmd += [f"--agent-udpv4-endpoint=127.0.0.1:{port}"]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    get = ["snmpget", "-v2c", "-c", "l2", "-t", "0.5", "-r", "0", "-On"]
    for _ in range(240):
        r = subprocess.run([*get, f"127.0.0.1:{port}", "1.3.6.1.2.1.1.3.0"], capture_output=True)
        if r.returncode == 0:
            return p, port
    stop(p)
    raise RuntimeError("snmpsim with the layer-2 recording does not answer")


def bulkwalk_cpu(port: int, subtrees: tuple[str, ...]) -> dict:
    """snmpbulkwalk of each subtree (one process each, as an admin runs it): CPU, varbinds."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    varbinds = 0
    for oid in subtrees:
        argv = ["snmpbulkwalk", "-v2c", "-c", "l2", f"-Cr{MAX_REP}", "-On", "-OQ"]
        r = subprocess.run([*argv, f"127.0.0.1:{port}", oid], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        varbinds += sum(1 for line in r.stdout.splitlines() if line.startswith("."))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"cpu_s": cpu, "wall_s": time.perf_counter() - t0, "varbinds": varbinds}


async def _l2_rounds(port: int, rounds: int) -> dict:
    sys.path.insert(0, str(ROOT))
    from sentinel.config.secret import Secret, SecretSource
    from sentinel.config.snmp import (
        DEFAULT_UPLINK_ALIAS,
        InterfaceFilter,
        Resolved,
        SnmpAuth,
        Tiers,
    )
    from sentinel.l2.reader import L2Reader
    from sentinel.snmp.client import SnmpClient

    cfg = Resolved(
        name="l2", host="127.0.0.1", port=port,
        auth=SnmpAuth(community=Secret("l2", SecretSource("inline", ""))),
        interval=60.0, timeout=TIMEOUT, retries=RETRIES, max_repetitions=MAX_REP,
        label_refresh=900.0, interfaces=InterfaceFilter(),
        uplinks=(re.compile(DEFAULT_UPLINK_ALIAS),), tiers=Tiers(),
    )  # fmt: skip
    client = SnmpClient()
    reader = L2Reader(cfg, client)
    out: dict = {"steady": []}
    try:
        c0, w0 = time.process_time(), time.perf_counter()
        first = await reader.read(refresh=True)
        out["refresh"] = {
            "cpu_s": time.process_time() - c0,
            "wall_s": time.perf_counter() - w0,
            "varbinds": reader.varbinds,
            "requests": reader.requests,
            "fdb_entries": len(first.fdb_entries),
            "poe_ports": len(first.snapshot.poe_ports),
            "neighbors": len(first.remotes),
        }
        for _ in range(rounds):
            v, q = reader.varbinds, reader.requests
            c0, w0 = time.process_time(), time.perf_counter()
            r = await reader.read(refresh=False)
            out["steady"].append(
                {
                    "cpu_s": time.process_time() - c0,
                    "wall_s": time.perf_counter() - w0,
                    "varbinds": reader.varbinds - v,
                    "requests": reader.requests - q,
                    "fdb_entries": len(r.fdb_entries),
                }
            )
    finally:
        reader.close()
        client.close()
    return out


def l2_child(port: int, rounds: int) -> dict:
    return asyncio.run(_l2_rounds(port, rounds))


def l2_bench(tmp: Path, rounds: int) -> dict:
    """sentinel's L2Reader against snmpbulkwalk of the same tables, in one run."""
    sim, port = start_l2_simulator(tmp)
    try:
        bulkwalk_cpu(port, L2_STEADY)  # warm-up (snmpsim's caches)
        walks = [bulkwalk_cpu(port, L2_STEADY) for _ in range(rounds)]
        sentinel = in_child(l2_child, port, rounds)
    finally:
        stop(sim)
    steady = sentinel["steady"]
    med = lambda rows, k: statistics.median(r[k] for r in rows)  # noqa: E731
    return {
        "recording": str(L2_RECORDING.relative_to(ROOT)),
        "rounds": rounds,
        "snmpbulkwalk": walks,
        "sentinel": sentinel,
        "summary": {
            "bulkwalk_cpu_s": med(walks, "cpu_s"),
            "bulkwalk_varbinds": med(walks, "varbinds"),
            "sentinel_cpu_s": med(steady, "cpu_s"),
            "sentinel_wall_s": max(r["wall_s"] for r in steady),
            "sentinel_varbinds": med(steady, "varbinds"),
            "sentinel_requests": med(steady, "requests"),
            "ratio": med(steady, "cpu_s") / med(walks, "cpu_s"),
            "refresh_cpu_s": sentinel["refresh"]["cpu_s"],
            "refresh_wall_s": sentinel["refresh"]["wall_s"],
            "fdb_entries": steady[-1]["fdb_entries"],
        },
    }


def l2_markdown(x: dict) -> list[str]:
    s = x["summary"]
    ms = lambda v: f"{v * 1000:.1f}"  # noqa: E731
    return [
        "",
        "## Layer 2 (one switch)",
        "",
        f"{x['recording']} (synthetic: 48 access ports, {s['fdb_entries']} learned MACs, "
        f"24 PoE ports), served by snmpsim; {x['rounds']} rounds, medians. Anchor: "
        "snmpbulkwalk of the same four subtrees (dot1qTpFdbTable, pethPsePortTable, "
        "pethMainPseTable, hpicfPoePethPsePortPower), one process each, CPU from "
        "getrusage(RUSAGE_CHILDREN).",
        "",
        "| reader | CPU ms / poll | vs snmpbulkwalk | varbinds / poll | wall s / poll |",
        "|---|---|---|---|---|",
        f"| snmpbulkwalk, 4 subtrees | {ms(s['bulkwalk_cpu_s'])} | 1.00 (anchor) | "
        f"{s['bulkwalk_varbinds']:.0f} | |",
        f"| sentinel L2Reader, steady (FDB + PoE) | {ms(s['sentinel_cpu_s'])} | "
        f"{s['ratio']:.2f} | {s['sentinel_varbinds']:.0f} | {s['sentinel_wall_s']:.2f} (max) |",
        f"| sentinel L2Reader, label refresh (+ ports, LLDP, CDP, bridge ports) | "
        f"{ms(s['refresh_cpu_s'])} | | | {s['refresh_wall_s']:.2f} |",
    ]


# -- report ---------------------------------------------------------------------------------


def per_poll(rows: list[dict], key: str) -> float:
    return statistics.median(r[key] / r["polls"] for r in rows)


def summarize(res: dict) -> dict:
    s: dict = {}
    ex = res["exporter"]["rounds"]
    s["exporter"] = {
        "cpu_per_poll_s": per_poll(ex, "cpu_s"),
        "varbinds_per_poll": per_poll(ex, "varbinds"),
        "series_per_poll": per_poll(ex, "series"),
        "simulator_cpu_per_poll_s": per_poll(ex, "sim_cpu_s"),
        "errors": sum(r["errors"] for r in ex),
    }
    base = s["exporter"]["cpu_per_poll_s"]
    for variant, r in res["sentinel"].items():
        steady = per_poll(r["steady"], "cpu_s")
        refresh = r["refresh"]["cpu_s"] / r["refresh"]["polls"]
        first = r["first"]["cpu_s"] / r["first"]["polls"]
        amort = ((LABEL_EVERY - 1) * steady + refresh) / LABEL_EVERY
        vb = per_poll(r["steady"], "varbinds")
        vb_refresh = r["refresh"]["varbinds"] / r["refresh"]["polls"]
        s[f"sentinel_{variant}"] = {
            "cpu_per_poll_s": steady,
            "cpu_per_poll_amortised_s": amort,
            "cpu_label_refresh_poll_s": refresh,
            "cpu_first_poll_s": first,
            "ratio_steady": steady / base,
            "ratio_amortised": amort / base,
            "varbinds_per_poll": vb,
            "varbinds_per_poll_amortised": ((LABEL_EVERY - 1) * vb + vb_refresh) / LABEL_EVERY,
            "varbinds_label_refresh_poll": vb_refresh,
            "varbinds_first_poll": r["first"]["varbinds"] / r["first"]["polls"],
            "requests_per_poll": per_poll(r["steady"], "requests"),
            "samples_per_poll": per_poll(r["steady"], "samples"),
            "errors": r["error_count"],
        }
    if res.get("naive"):
        n = res["naive"]
        s["pysnmp_naive"] = {
            "cpu_per_poll_s": per_poll(n, "cpu_s"),
            "varbinds_per_poll": per_poll(n, "varbinds"),
            "ratio_steady": per_poll(n, "cpu_s") / base,
            "errors": sum(r["errors"] for r in n),
        }
    return s


def markdown(res: dict) -> str:
    m, s, mem = res["meta"], res["summary"], res["memory"]
    ms = lambda x: f"{x * 1000:.2f}"  # noqa: E731
    lines = [
        f"# SNMP polling cost, {m['started']}",
        "",
        f"{m['switches']} simulated Catalyst 3560 switches ({m['recording']}), "
        f"{m['rounds']} rounds after one warm-up; max-repetitions {MAX_REP}, "
        f"timeout {TIMEOUT} s, {RETRIES} retries. Exporter: {SCRAPE_PARALLEL} scrapes at a "
        f"time. Sentinel: one SnmpClient, Semaphore({IN_FLIGHT}), all switches at once; "
        f"amortised = one label refresh every {LABEL_EVERY} polls.",
        "",
        "| poller | CPU ms / switch-poll | vs exporter | varbinds / poll | notes |",
        "|---|---|---|---|---|",
    ]
    e = s["exporter"]
    lines.append(
        f"| prometheus-snmp-exporter | {ms(e['cpu_per_poll_s'])} | 1.00 (anchor) | "
        f"{e['varbinds_per_poll']:.0f} | {e['series_per_poll']:.0f} series/poll, "
        f"errors {e['errors']} |"
    )
    for variant, label in (("default", "default tiers"), ("uplinks", "Gi0/49-52 full tier")):
        x = s.get(f"sentinel_{variant}")
        if not x:
            continue
        lines.append(
            f"| sentinel, {label}, steady | {ms(x['cpu_per_poll_s'])} | "
            f"{x['ratio_steady']:.3f} | {x['varbinds_per_poll']:.0f} | "
            f"{x['requests_per_poll']:.1f} requests, {x['samples_per_poll']:.0f} samples, "
            f"errors {x['errors']} |"
        )
        lines.append(
            f"| sentinel, {label}, amortised | {ms(x['cpu_per_poll_amortised_s'])} | "
            f"{x['ratio_amortised']:.3f} | {x['varbinds_per_poll_amortised']:.0f} | "
            f"label refresh poll {ms(x['cpu_label_refresh_poll_s'])} ms, "
            f"{x['varbinds_label_refresh_poll']:.0f} varbinds |"
        )
        lines.append(
            f"| sentinel, {label}, first poll | {ms(x['cpu_first_poll_s'])} | "
            f"{x['cpu_first_poll_s'] / e['cpu_per_poll_s']:.3f} | "
            f"{x['varbinds_first_poll']:.0f} | once per switch at start |"
        )
    if "pysnmp_naive" in s:
        x = s["pysnmp_naive"]
        lines.append(
            f"| naive pysnmp bulk_walk_cmd | {ms(x['cpu_per_poll_s'])} | "
            f"{x['ratio_steady']:.3f} | {x['varbinds_per_poll']:.0f} | "
            f"context only, errors {x['errors']} |"
        )
    lines.append(
        f"\nSimulator CPU per exporter poll: {ms(e['simulator_cpu_per_poll_s'])} ms "
        "(snmpsim, not counted above)."
    )
    tm, ps = mem.get("tracemalloc", {}), mem.get("pss", {})
    if tm or ps:
        n = tm.get("switches") or ps.get("switches")
        ifs = tm.get("interfaces") or ps.get("interfaces")
        lines += [
            "",
            f"## Memory held by {n} pollers ({ifs} interfaces, after two polls each)",
            "",
            "| measure | total MiB | KiB / switch | target |",
            "|---|---|---|---|",
        ]
        for label, d, key in (
            ("tracemalloc traced growth", tm, "traced_growth"),
            ("Pss_Anon growth (no tracemalloc)", ps, "pss_anon_growth"),
        ):
            if key in d:
                lines.append(
                    f"| {label} | {d[key] / MIB:.2f} | {d[key] / 1024 / d['switches']:.1f} | "
                    f"< 20 MiB for 200 x 52 ports |"
                )
        if ps.get("cpu_per_poll_s"):
            first, second = ps["cpu_per_poll_s"]
            lines.append(
                f"\nCPU per poll with {ps['switches']} switches on one client (no tracemalloc): "
                f"first {first * 1000:.2f} ms, second {second * 1000:.2f} ms (labels cached, "
                "row counts known; compare with the first poll and the refresh poll above)."
            )
        if tm.get("top_files"):
            lines += ["", "Largest tracemalloc growth by file:", ""]
            lines += [f"- {t['file']}: {t['growth'] / 1024:.0f} KiB" for t in tm["top_files"]]
        if tm.get("top_sentinel_lines"):
            lines += ["", "Largest growth by line in sentinel:", ""]
            lines += [
                f"- {t['line']}: {t['growth'] / 1024:.0f} KiB in {t['count']} blocks"
                for t in tm["top_sentinel_lines"]
            ]
    for variant in ("default", "uplinks"):
        r = res["sentinel"].get(variant)
        if not r:
            continue
        w = r["waste"]
        lines += [
            "",
            f"Sentinel ({variant}) varbinds of one steady poll: {w['bulk_requests']:.1f} GETBULK "
            f"with {w['bulk_varbinds']:.1f} varbinds ({w['bulk_past_column_end']:.1f} past a "
            f"column's end), {w['get_requests']:.1f} GET with {w['get_varbinds']:.1f} "
            f"({w['get_missing']:.1f} missing); max-repetitions asked: "
            f"{w['bulk_max_repetitions_hist']}; interfaces by role/tier: "
            f"{r['interfaces_by_role_tier']}.",
        ]
        if r["notes"] or r["errors"]:
            lines.append(f"Notes: {r['notes']}; errors: {r['errors']}")
    lines += [
        "",
        "## Machine",
        "",
        *(f"- {k}: {v}" for k, v in m["machine"].items()),
        "",
    ]
    return "\n".join(lines)


def machine() -> dict:
    cpu = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "")
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": cpu,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "pysnmp": metadata.version("pysnmp"),
        "snmpsim": metadata.version("snmpsim"),
        "sentinel": metadata.version("sentinel-school"),
        "exporter": exporter_version(),
    }


def phase(res: dict, name: str, t0: float) -> float:
    t = time.perf_counter()
    res["meta"].setdefault("phases_s", {})[name] = round(t - t0, 1)
    print(f"  [{name}: {t - t0:.1f} s]", flush=True)
    return t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--switches", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--mem-switches", type=int, default=200)
    ap.add_argument("--naive-rounds", type=int, default=1, help="0 skips the pysnmp baseline")
    ap.add_argument("--procs", type=int, default=2, help="snmpsim processes")
    ap.add_argument("--quick", action="store_true", help="5 switches, 2 rounds, 20 mem switches")
    ap.add_argument("--print-exporter-config", action="store_true")
    ap.add_argument("--l2-rounds", type=int, default=10, help="0 skips the layer-2 row")
    ap.add_argument("--l2-only", action="store_true", help="only the layer-2 row")
    args = ap.parse_args()
    if args.l2_only:
        main_l2(args.l2_rounds)
        return
    if args.print_exporter_config:
        print(exporter_config([]), end="")
        return
    if args.quick:
        args.switches, args.rounds, args.mem_switches = 5, 2, 20
        args.naive_rounds = min(args.naive_rounds, 1)
    n_all = max(args.switches, args.mem_switches)
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    res: dict = {
        "meta": {
            "started": started,
            "switches": args.switches,
            "rounds": args.rounds,
            "mem_switches": args.mem_switches,
            "quick": args.quick,
            "recording": "snmpsim-data cisco-c3560, system + interfaces + ifMIB subtrees",
            "machine": machine(),
        },
        "sentinel": {},
        "memory": {},
    }
    t_start = time.perf_counter()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # still run the finally below
    tmp = Path(tempfile.mkdtemp(prefix="sentinel-bench-snmp-"))
    lab = exporter = None
    try:
        print(f"starting {args.procs} simulators with {n_all} switches ...", flush=True)
        lab = start_simulators(tmp, n_all, args.procs)
        t = phase(res, "simulators", t_start)
        sims = [p.pid for p in lab.sims]
        targets = lab.switches[: args.switches]
        exporter = Exporter(tmp, [c for _p, c in lab.switches])
        check = exporter.scrape(targets[0])
        print(f"exporter check scrape: {check}", flush=True)
        if check["errors"] or not check["pdus"]:
            raise RuntimeError(f"exporter scrape failed: {check}, log {exporter.log}")
        exporter.round(targets, sims)  # warm-up
        rounds = []
        for i in range(args.rounds):
            r = exporter.round(targets, sims)
            rounds.append(r)
            print(
                f"exporter round {i}: cpu {r['cpu_s']:.3f}s wall {r['wall_s']:.2f}s "
                f"varbinds {r['varbinds']} errors {r['errors']}",
                flush=True,
            )
        res["exporter"] = {"rounds": rounds, "check": check}
        stop(exporter.p)
        exporter = None
        t = phase(res, "exporter", t)
        for variant, uplinks in (("default", False), ("uplinks", True)):
            r = in_child(sentinel_child, targets, args.rounds, uplinks)
            res["sentinel"][variant] = r
            cpu = [round(x["cpu_s"], 3) for x in r["steady"]]
            print(
                f"sentinel {variant}: first {r['first']['cpu_s']:.3f}s steady {cpu} "
                f"refresh {r['refresh']['cpu_s']:.3f}s errors {r['error_count']}",
                flush=True,
            )
            t = phase(res, f"sentinel {variant}", t)
        if args.naive_rounds:
            res["naive"] = in_child(naive_child, targets, args.naive_rounds)
            print(f"naive pysnmp: {res['naive']}", flush=True)
            t = phase(res, "naive pysnmp", t)
        mem_targets = lab.switches[: args.mem_switches]
        res["memory"]["tracemalloc"] = in_child(memory_child, mem_targets, True)
        t = phase(res, "memory tracemalloc", t)
        res["memory"]["pss"] = in_child(memory_child, mem_targets, False)
        t = phase(res, "memory pss", t)
        print(f"memory: {res['memory']}", flush=True)
        if args.l2_rounds:
            res["l2"] = l2_bench(tmp, args.l2_rounds)
            t = phase(res, "layer 2", t)
    finally:
        if exporter is not None:
            stop(exporter.p)
        if lab is not None:
            for p in lab.sims:
                stop(p)
        shutil.rmtree(tmp, ignore_errors=True)
    res["meta"]["duration_s"] = round(time.perf_counter() - t_start, 1)
    res["summary"] = summarize(res)
    md = markdown(res)
    if "l2" in res:
        md += "\n".join(l2_markdown(res["l2"])) + "\n"
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    stem = f"snmp-{started[:10]}" + ("-quick" if args.quick else "")
    (out / f"{stem}.json").write_text(json.dumps(res, indent=1, default=str) + "\n")
    (out / f"{stem}.md").write_text(md)
    print()
    print(md)
    print(f"written: {out / stem}.md, .json ({res['meta']['duration_s']} s)")


def main_l2(rounds: int) -> None:
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    tmp = Path(tempfile.mkdtemp(prefix="sentinel-bench-l2-"))
    try:
        res = {"meta": {"started": started, "machine": machine()}, "l2": l2_bench(tmp, rounds)}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    md = f"# SNMP layer-2 polling cost, {started}\n" + "\n".join(l2_markdown(res["l2"])) + "\n"
    md += (
        "\nMachine shared with other jobs (2 cores); run under nice -n 10. "
        f"{res['meta']['machine']['cpu']}, Python {res['meta']['machine']['python']}.\n"
    )
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    stem = f"snmp-l2-{started[:10]}"
    (out / f"{stem}.json").write_text(json.dumps(res, indent=1, default=str) + "\n")
    (out / f"{stem}.md").write_text(md)
    print(md)
    print(f"written: {out / stem}.md, .json")


if __name__ == "__main__":
    main()
