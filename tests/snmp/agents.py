"""Real recorded SNMP agents for tests: snmpsim serving snmpsim-data walks, read by net-snmp.

The PyPI package ``snmpsim-data`` holds ~116 walks recorded from real devices.  The ones
with IF-MIB interface data (ifInOctets or ifHCInOctets rows) are served by one
``snmpsim-command-responder`` process on 127.0.0.1, each as its own SNMPv2c community
(the file stem), next to two SNMPv3 users.  ``bulkwalk`` reads the same agent with
net-snmp's ``snmpbulkwalk``, an independent client, so tests can compare.

Served subset of each walk.  snmpsim indexes every record at start-up (about 17,000
records a second here, in a dbm file of ~700 bytes a record with Python's fallback
``dbm.dumb``); the full walks hold 22 million records, which would take many minutes and
gigabytes.  So each walk is cut down, in file order, to the records under the subtrees a
poller reads (SNMPv2-MIB system, IF-MIB interfaces, IF-MIB ifMIB), plus the single record
that follows each kept run in the file.  snmpsim answers a GETNEXT/GETBULK from an
existing OID with the next record of the file, so every walk of those subtrees returns
exactly what the full recording returns, up to and including the first OID past the
subtree end that tells a poller to stop.  Recording bugs (odd orderings, holes,
thousands of interfaces) inside those subtrees are kept as they are.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence

RESPONDER = "snmpsim-command-responder"
HOST = "127.0.0.1"

SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
IF_TABLE = "1.3.6.1.2.1.2.2.1"
IFX_TABLE = "1.3.6.1.2.1.31.1.1.1"
IF_IN_OCTETS = IF_TABLE + ".10"
IF_HC_IN_OCTETS = IFX_TABLE + ".6"

# Subtrees kept from every recording (see the module docstring).
SERVED_SUBTREES = ("1.3.6.1.2.1.1", "1.3.6.1.2.1.2", "1.3.6.1.2.1.31")
_KEPT_PATTERN = r"^1\.3\.6\.1\.2\.1\.(1|2|31)\."
_OCTET_ROW = re.compile(
    rb"^(?:1\.3\.6\.1\.2\.1\.2\.2\.1\.10|1\.3\.6\.1\.2\.1\.31\.1\.1\.1\.6)\.(\d+)\|",
    re.MULTILINE,
)
# A record whose type field names a variation module ("65:numeric"): its value changes.
_VARIATION = re.compile(rb"^[0-9.]+\|[0-9a-z]*:", re.MULTILINE)


@dataclass(frozen=True)
class V3User:
    """An SNMPv3 USM user of the simulator, in snmpsim and net-snmp spellings."""

    name: str
    auth_proto: str  # net-snmp -a
    auth_key: str
    priv_proto: str  # net-snmp -x
    priv_key: str
    snmpsim_auth: str
    snmpsim_priv: str

    def netsnmp_args(self) -> list[str]:
        """The net-snmp (and ``sentinel poll``) options for this user, authPriv."""
        return [
            "-v",
            "3",
            "-l",
            "authPriv",
            "-u",
            self.name,
            "-a",
            self.auth_proto,
            "-A",
            self.auth_key,
            "-x",
            self.priv_proto,
            "-X",
            self.priv_key,
        ]

    def snmpsim_args(self) -> list[str]:
        return [
            f"--v3-user={self.name}",
            f"--v3-auth-proto={self.snmpsim_auth}",
            f"--v3-auth-key={self.auth_key}",
            f"--v3-priv-proto={self.snmpsim_priv}",
            f"--v3-priv-key={self.priv_key}",
        ]


V3_SHA_AES = V3User("sentinel", "SHA", "sentinel-auth", "AES", "sentinel-priv", "SHA", "AES")
V3_SHA256_AES256 = V3User(
    "sentinel256", "SHA-256", "sentinel-auth", "AES-256", "sentinel-priv", "SHA256", "AES256"
)
# AES-256 comes in two key localizations, which differ only when the auth hash is shorter
# than the 32-byte key (so not with SHA-256): Reeder (pysnmp usmAesCfb256Protocol,
# snmpsim AES256, net-snmp AES-256-C) and Blumenthal (pysnmp
# usmAesBlumenthalCfb256Protocol, snmpsim AES256BLMT, net-snmp AES-256).  One SHA-1 user
# of each tells which one a client speaks.
V3_SHA_AES256_REEDER = V3User(
    "sentinel-reeder", "SHA", "sentinel-auth", "AES-256-C", "sentinel-priv", "SHA", "AES256"
)
V3_SHA_AES256_BLUMENTHAL = V3User(
    "sentinel-blumenthal",
    "SHA",
    "sentinel-auth",
    "AES-256",
    "sentinel-priv",
    "SHA",
    "AES256BLMT",
)
V3_USERS = (V3_SHA_AES, V3_SHA256_AES256, V3_SHA_AES256_REEDER, V3_SHA_AES256_BLUMENTHAL)
# SNMPv3 with the empty context name reads this recording (snmpsim serves the data file
# "self" there); with context name N it reads the recording served as community N.
V3_DEFAULT_RECORDING = "cisco-c3560"


@dataclass(frozen=True)
class Recording:
    """One recorded walk from snmpsim-data, served as the community of the same name."""

    community: str  # file stem: "cisco-c3560"
    folder: str  # folder under snmpsim-data's data/: "network/switch"
    records: int  # records served (after the cut described in the module docstring)
    ifindexes: int  # ifIndexes with an octet counter
    dynamic: bool  # some served record changes between reads (a variation module)


HAVE_DATA = importlib.util.find_spec("snmpsim_data") is not None

# The recordings of snmpsim-data (the version constraints.txt pins) with IF-MIB interface
# data, which the simulator serves; test_served_recordings_are_the_listed_ones keeps the
# list true. A parameter list known at collection, so no test skips for a walk without them.
IF_MIB_RECORDINGS = tuple(Path(__file__).with_name("if_mib_recordings.txt").read_text().split())


def data_root() -> Path:
    """The ``data`` folder of the installed snmpsim-data package (PyPI snmpsim-data)."""
    spec = importlib.util.find_spec("snmpsim_data")
    assert spec is not None, "snmpsim-data is not installed"
    assert spec.origin is not None
    return Path(spec.origin).resolve().parent / "data"


def recording_files(root: Path | None = None) -> list[Path]:
    """Every recording file in snmpsim-data, in a stable order."""
    root = root or data_root()
    files = [*root.rglob("*.snmprec"), *root.rglob("*.snmprec.bz2")]
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def stem(path: Path) -> str:
    return path.name.split(".snmprec")[0]


def cut(src: Path, dest: Path) -> None:
    """Write the records of ``src`` under SERVED_SUBTREES to ``dest``, each kept run
    followed by the record after it (``grep -A1``); ``.bz2`` is decompressed on the way."""
    # -a: a recording with a stray non-UTF-8 byte is text too (else grep prints only
    # "binary file matches" and the walk would be lost).
    grep = ["grep", "-a", "--no-group-separator", "-A1", "-E", _KEPT_PATTERN]
    with dest.open("wb") as out:
        if src.suffix == ".bz2":
            unzip = subprocess.Popen(["bzip2", "-dc", str(src)], stdout=subprocess.PIPE)
            assert unzip.stdout is not None
            g = subprocess.run(grep, stdin=unzip.stdout, stdout=out, check=False, timeout=600)
            unzip.stdout.close()
            if unzip.wait(timeout=60) != 0:
                raise RuntimeError(f"bzip2 -dc {src} failed")
        else:
            g = subprocess.run([*grep, str(src)], stdout=out, check=False, timeout=600)
    if g.returncode not in (0, 1):  # 1: no match
        raise RuntimeError(f"grep on {src} failed: exit {g.returncode}")


def prepare_recording(src: Path, data_dir: Path, root: Path) -> Recording | None:
    """Write the served cut of ``src`` to ``data_dir/<stem>.snmprec``; None without IF data."""
    dest = data_dir / f"{stem(src)}.snmprec"
    cut(src, dest)
    kept = dest.read_bytes()
    ifindexes = {m.group(1) for m in _OCTET_ROW.finditer(kept)}
    if not ifindexes:
        dest.unlink()
        return None
    return Recording(
        community=stem(src),
        folder=src.parent.relative_to(root).as_posix(),
        records=kept.count(b"\n"),
        ifindexes=len(ifindexes),
        dynamic=_VARIATION.search(kept) is not None,
    )


def prepare_data(data_dir: Path, workers: int = 2) -> list[Recording]:
    """Write every recording with IF-MIB interface data to ``data_dir``, plus the v3 data."""
    root = data_root()
    files = recording_files(root)
    stems = [stem(f) for f in files]
    dupes = {s for s in stems if stems.count(s) > 1}
    assert not dupes, f"recordings share a community name: {sorted(dupes)}"
    data_dir.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        found = list(pool.map(lambda f: prepare_recording(f, data_dir, root), files))
    recordings = [r for r in found if r is not None]
    names = {r.community for r in recordings}
    assert V3_DEFAULT_RECORDING in names
    shutil.copyfile(data_dir / f"{V3_DEFAULT_RECORDING}.snmprec", data_dir / "self.snmprec")
    return recordings


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Simulator:
    """A running snmpsim-command-responder on HOST:port."""

    proc: subprocess.Popen[bytes]
    port: int
    recordings: list[Recording]
    data_dir: Path
    log: Path
    startup_seconds: float  # from process start until every community answered

    @property
    def target(self) -> str:
        return f"{HOST}:{self.port}"


def responder_path() -> str | None:
    """snmpsim's responder: next to this Python (its venv) first, else on PATH."""
    local = Path(sys.executable).parent / RESPONDER
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    return shutil.which(RESPONDER)


def responder_argv(port: int, data_dir: Path, cache_dir: Path) -> list[str]:
    exe = responder_path()
    assert exe is not None, f"no {RESPONDER} next to {sys.executable} or on PATH"
    argv = [
        exe,
        "--log-level=error",
        f"--cache-dir={cache_dir}",
        "--v3-engine-id=auto",
        f"--data-dir={data_dir}",
        f"--agent-udpv4-endpoint={HOST}:{port}",
    ]
    for user in V3_USERS:
        argv += user.snmpsim_args()
    return argv


def snmpget_ok(target: str, auth: Sequence[str], timeout: float = 1.0) -> bool:
    """True if the agent answers a GET of sysUpTime.0 (net-snmp snmpget)."""
    r = subprocess.run(
        ["snmpget", *auth, "-t", str(timeout), "-r", "0", "-On", target, SYS_UPTIME],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout + 10,
    )
    return r.returncode == 0 and "Timeticks" in r.stdout


def start(
    tmp: Path,
    recordings: list[Recording] | None = None,
    wait_seconds: float = 180.0,
) -> Simulator:
    """Prepare the data under ``tmp`` (unless given) and start one simulator; wait for it.

    Every community and every v3 user must answer a GET of sysUpTime within
    ``wait_seconds`` of the process start (index building included), else it is stopped
    and RuntimeError raised.
    """
    data_dir, cache_dir = tmp / "data", tmp / "cache"
    cache_dir.mkdir(parents=True, exist_ok=True)
    if recordings is None:
        recordings = prepare_data(data_dir)
    port = free_udp_port()
    env = dict(os.environ)
    if os.geteuid() == 0:
        # snmpsim refuses root unless it may drop to another user, who could not read a
        # venv under root's home; it only listens on 127.0.0.1 here.
        env["SNMPSIM_ALLOW_ROOT"] = "true"
    log = tmp / "snmpsim.log"
    started = time.monotonic()
    with log.open("wb") as lf:
        proc = subprocess.Popen(
            responder_argv(port, data_dir, cache_dir),
            cwd=tmp,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=lf,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    sim = Simulator(proc, port, recordings, data_dir, log, 0.0)
    try:
        pending: list[Sequence[str]] = [["-v2c", "-c", r.community] for r in recordings]
        pending += [u.netsnmp_args() for u in V3_USERS]
        deadline = started + wait_seconds
        while pending and time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"snmpsim exited {proc.returncode}: {tail(log)}")
            if snmpget_ok(sim.target, pending[0]):
                pending.pop(0)
            else:
                time.sleep(0.5)
        if pending:
            raise RuntimeError(
                f"snmpsim not answering {pending[0]} after {wait_seconds:.0f}s: {tail(log)}"
            )
    except BaseException:
        stop(sim)
        raise
    sim.startup_seconds = time.monotonic() - started
    return sim


def tail(path: Path, n: int = 5) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


def stop(sim: Simulator) -> None:
    """Stop the simulator process (SIGTERM, then SIGKILL after 5 s)."""
    if sim.proc.poll() is None:
        sim.proc.send_signal(signal.SIGTERM)
        try:
            sim.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            sim.proc.kill()
            sim.proc.wait(timeout=5)


@contextlib.contextmanager
def running(tmp: Path, recordings: list[Recording] | None = None) -> Iterator[Simulator]:
    sim = start(tmp, recordings)
    try:
        yield sim
    finally:
        stop(sim)


# --- net-snmp side -------------------------------------------------------------------

Value = str | int | bytes
HEX_STRING = re.compile(r"^[0-9A-F]{2}( [0-9A-F]{2})* ?$")


def v2c_args(community: str) -> list[str]:
    return ["-v", "2c", "-c", community]


def parse_value(raw: str) -> Value:
    """A value as printed by net-snmp with -OQ -Oe -Ot: int, str ("quoted") or bytes (hex).

    net-snmp prints a non-printable OCTET STRING as quoted hex ("70 6F 00 "); such
    values come back as str, and ``hex_bytes`` tells them apart.
    """
    raw = raw.strip()
    if len(raw) >= 2 and raw.startswith('"') and raw.endswith('"'):
        return raw[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    try:
        return int(raw)
    except ValueError:
        pass
    flat = " ".join(raw.split())
    if HEX_STRING.match(flat):
        return bytes.fromhex(flat)
    return raw


def hex_bytes(v: Value) -> bytes | None:
    """The bytes of a value net-snmp printed in hex ("70 6F 00 "), else None."""
    if isinstance(v, bytes):
        return v
    if isinstance(v, str) and v.endswith(" ") and HEX_STRING.match(" ".join(v.split())):
        return bytes.fromhex(v)
    return None


def parse_walk(text: str) -> dict[str, Value]:
    """``-On -OQ`` output lines ``.1.3.6... = value`` as {"1.3.6...": value}.

    A quoted string may run over several lines; continuation lines are appended.
    """
    out: dict[str, Value] = {}
    oid = ""
    raw = ""
    for line in text.splitlines():
        if line.startswith(".") and " = " in line:
            if oid:
                out[oid] = parse_value(raw)
            left, _, raw = line.partition(" = ")
            oid = left.strip().lstrip(".")
        elif oid:
            raw += "\n" + line
    if oid:
        out[oid] = parse_value(raw)
    return {k: v for k, v in out.items() if not _no_value(v)}


def _no_value(v: Value) -> bool:
    return isinstance(v, str) and v.startswith(
        ("No Such Object", "No Such Instance", "No more variables")
    )


class WalkError(RuntimeError):
    pass


def bulkwalk(
    target: str,
    oid: str,
    auth: Sequence[str],
    *,
    timeout: float = 5.0,
    retries: int = 1,
    repetitions: int = 50,
    context: str | None = None,
) -> dict[str, Value]:
    """snmpbulkwalk one subtree: {numeric OID without leading dot: int or str value}.

    ``auth`` is ``v2c_args(community)`` or ``V3User.netsnmp_args()``.  Raises WalkError
    when snmpbulkwalk fails (a timeout, or an agent error such as OIDs not increasing).
    """
    argv = ["snmpbulkwalk", *auth, "-t", str(timeout), "-r", str(retries)]
    argv += [f"-Cr{repetitions}", "-On", "-Oe", "-Ot", "-OQ"]
    if context is not None:
        argv += ["-n", context]
    argv += [target, oid]
    r = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        errors="replace",
        check=False,
        timeout=(timeout + 1) * (retries + 1) * 50 + 60,
    )
    if r.returncode != 0 or r.stderr.strip():
        raise WalkError(f"{' '.join(argv)}: exit {r.returncode}: {r.stderr.strip()[:500]}")
    return parse_walk(r.stdout)


def bulkwalk_many(
    target: str, oids: Iterable[str], auth: Sequence[str], **kw: object
) -> dict[str, Value]:
    """bulkwalk every subtree in ``oids`` (snmpbulkwalk takes one OID per run), merged."""
    out: dict[str, Value] = {}
    for oid in oids:
        out.update(bulkwalk(target, oid, auth, **kw))  # type: ignore[arg-type]
    return out


def column(walk: Mapping[str, Value], col: str) -> dict[int, Value]:
    """The rows of table column ``col`` in ``walk``, keyed by ifIndex (last sub-identifier)."""
    prefix = col + "."
    return {
        int(k[len(prefix) :]): v
        for k, v in walk.items()
        if k.startswith(prefix) and k[len(prefix) :].isdigit()
    }
