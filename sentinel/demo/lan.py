"""The demo's LAN: a veth pair, one end in a namespace of its own, the other captured on.

Sentinel captures on ``lan`` (this namespace); the replayer plays recorded captures into
``peer`` inside the namespace ``netns``. The capture end carries no address and is cut off
from the host's IP stack (no IPv6, no forwarding, no ARP answers, strict reverse-path
filter), so replayed frames are seen by the capture socket and go nowhere else: the
frames are addressed to the lab's MACs, which the kernel drops as not for this host.
``remove`` deletes both (deleting one end of a veth deletes the other).

A demo killed with SIGKILL cannot clean up: its children go (they get SIGTERM when it
dies) but the namespace, the pair and its directory stay. Each run leaves a marker in
``/run/sentinel-demo/`` naming its pid, namespace, interface and directory, and the next
run removes what markers of dead runs name (``sweep``), and nothing else.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

MARKERS = Path("/run/sentinel-demo")


class LanError(RuntimeError):
    """The namespace or the veth pair could not be set up."""


def tool(name: str) -> str:
    """The absolute path of ``name`` on PATH (or in /usr/sbin, /sbin), else LanError."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if found is None:
        raise LanError(f"sentinel demo needs {name} (Debian: apt-get install iproute2 procps)")
    return found


def ip(*args: str) -> None:
    r = subprocess.run([tool("ip"), *args], capture_output=True, text=True, check=False, timeout=30)
    if r.returncode != 0:
        raise LanError(f"ip {' '.join(args)}: {r.stderr.strip() or r.returncode}")


def _sysctl(key: str, value: str, netns: str | None = None) -> None:
    argv = [tool("sysctl"), "-qw", f"{key}={value}"]
    if netns:
        argv = [tool("ip"), "netns", "exec", netns, *argv]
    r = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)
    if r.returncode != 0:
        raise LanError(f"{' '.join(argv)}: {r.stderr.strip() or r.returncode}")


@dataclass(frozen=True, slots=True)
class Lan:
    """Names of what ``create`` made: unique per run (pid and a random tag)."""

    netns: str
    lan: str  # captured by sentinel, in the host namespace
    peer: str  # in ``netns``, where the replayer sends

    @classmethod
    def named(cls) -> Lan:
        tag = f"{os.getpid() % 10000:04d}{secrets.token_hex(2)}"
        return cls(netns=f"sentinel-demo-{tag}", lan=f"sdemo{tag}", peer=f"sdpeer{tag}")


def create(lan: Lan) -> None:
    """Make the namespace and the pair; on failure, undo what was made and raise LanError."""
    try:
        ip("netns", "add", lan.netns)
        ip("-n", lan.netns, "link", "set", "lo", "up")
        ip("link", "add", lan.lan, "type", "veth", "peer", "name", lan.peer)
        ip("link", "set", lan.peer, "netns", lan.netns)
        for key, value in (
            ("disable_ipv6", "1"),  # net.ipv6.conf
            ("forwarding", "0"),
            ("rp_filter", "1"),
            ("arp_ignore", "8"),
            ("accept_local", "0"),
        ):
            family = "ipv6" if key == "disable_ipv6" else "ipv4"
            _sysctl(f"net.{family}.conf.{lan.lan}.{key}", value)
        _sysctl(f"net.ipv6.conf.{lan.peer}.disable_ipv6", "1", lan.netns)
        ip("link", "set", lan.lan, "up")
        ip("-n", lan.netns, "link", "set", lan.peer, "up")
    except BaseException:
        remove(lan)
        raise


def remove(lan: Lan) -> list[str]:
    """Delete the pair and the namespace; the errors of what could not be deleted."""
    errors = []
    for argv in (["link", "del", lan.lan], ["netns", "del", lan.netns]):
        r = subprocess.run(
            [tool("ip"), *argv], capture_output=True, text=True, check=False, timeout=30
        )
        if r.returncode != 0 and "Cannot find" not in r.stderr and "No such" not in r.stderr:
            errors.append(f"ip {' '.join(argv)}: {r.stderr.strip()}")
    return errors


def exists(lan: Lan) -> tuple[bool, bool]:
    """(namespace exists, capture interface exists): for the clean-stop check."""
    return os.path.exists(f"/run/netns/{lan.netns}"), os.path.exists(f"/sys/class/net/{lan.lan}")


def claim(lan: Lan, workdir: Path) -> Path:
    """Leave the marker of this run (before anything is created)."""
    MARKERS.mkdir(mode=0o700, parents=True, exist_ok=True)
    marker = MARKERS / f"{lan.netns}.json"
    doc = {"pid": os.getpid(), "netns": lan.netns, "lan": lan.lan, "peer": lan.peer}
    marker.write_text(json.dumps({**doc, "dir": str(workdir)}))
    return marker


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep() -> list[str]:
    """Remove what demos that died without cleaning up left; what was removed."""
    removed = []
    for marker in sorted(MARKERS.glob("sentinel-demo-*.json")) if MARKERS.is_dir() else []:
        try:
            doc = json.loads(marker.read_text())
            pid, netns, name, peer = int(doc["pid"]), doc["netns"], doc["lan"], doc["peer"]
            workdir = Path(doc["dir"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if _alive(pid) or not netns.startswith("sentinel-demo-"):
            continue
        remove(Lan(netns=netns, lan=name, peer=peer))
        if workdir.name.startswith("sentinel-demo-"):
            shutil.rmtree(workdir, ignore_errors=True)
        marker.unlink(missing_ok=True)
        removed.append(netns)
    return removed
