"""``sentinel demo``: the whole product on one machine, without a school.

Starts, as root, in this order (and stops in the reverse order, on Ctrl-C, SIGTERM, the
end of ``--duration``, or a child failing):

1. a temporary directory for everything the demo writes (config, state, logs, alerts);
2. snmpsim on 127.0.0.1 serving three switches recorded from real devices, with moving
   counters (``switches.py``);
3. a network namespace and a veth pair (``lan.py``): sentinel captures on one end, the
   replayer plays the project's recorded attack captures into the other at their pace;
4. the local page: the alert sink (webhook, ``alerts.jsonl``) and a summary of /metrics;
5. the daemon itself, ``sentinel run`` with a generated config: SNMP polling, the box's
   own interfaces, capture and every detector on the demo LAN, alerts to the log and to
   the page, /metrics on ``--listen``;
6. with ``--region``, the regional stack on loopback (``region.py``);
7. the replayer, in the namespace.

Everything it shows says DEMO: the log lines, the page, the site id and switch names,
the alert summaries and the ``sentinel_demo_info`` metric on the page's /metrics. Nothing
outlives it: children are in their own process group and get SIGTERM if the demo dies;
the namespace, the veth pair and the directory are removed on the way out.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sentinel import logsetup
from sentinel.demo import lan as demo_lan
from sentinel.demo import switches
from sentinel.demo.page import Page
from sentinel.demo.procs import Child

if TYPE_CHECKING:
    from collections.abc import Callable

log = logsetup.get("sentinel.demo")

SITE = "demo-school"
DATA = Path(__file__).parent / "data"
# The recorded captures, in the order played: quick detections first.
CAPTURES = (
    "syn_scan",
    "arp_spoof",
    "rogue_dhcp",
    "icmp_sweep",
    "dns_tunnel",
    "baseline",
    "mac_flood",
    "brute_force",
    "sweep_and_scan",  # nmap's discovery then its port scan: one incident, one notification
    "rogue_ra",  # thc-ipv6 fake_router6: a laptop announcing itself as the IPv6 router
    "http_basic_guess",  # hydra against HTTP basic auth, seen from the 401s
    "dnscat2_direct",  # dnscat2's DNS transport straight to the attacker's server
    "filtered_ack_scan",  # nmap -sA at a server whose firewall drops it: caught by silence
    "rogue_ra_fragmented",  # fake_router26 -E D: a router advertisement split past RA guard
    "mitm6_dhcpv6",  # mitm6: a laptop answering DHCPv6 to make itself the DNS server
)
# The lab the captures were recorded in (tests/data/lab/*.json): what a school would pin.
LAB_NETWORK = "10.77.0.0/24"
LAB_GATEWAY = {"ip": "10.77.0.1", "mac": "02:77:00:00:00:01"}
LAB_SERVER = "10.77.0.10"  # the school's DHCP and DNS server
ROUND_PAUSE = 10.0  # seconds between two rounds of the captures


@dataclass(frozen=True, slots=True)
class Options:
    listen: tuple[str, int] = ("127.0.0.1", 9717)
    page: tuple[str, int] = ("127.0.0.1", 9718)
    duration: float = 3600.0
    rounds: int = 20
    region: bool = False
    region_free_ports: bool = False  # any free ports for the region, not the usual ones


class DemoError(RuntimeError):
    """The demo cannot start here (not root, a tool missing); the message says what to do."""


def free_port(host: str, kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def hostport(host: str, port: int) -> str:
    """``host:port``, an IPv6 address in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _say(line: str) -> None:
    print(f"[demo] {line}", flush=True)


def wait_for(check: Callable[[], bool], what: str, timeout: float, stop: threading.Event) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if stop.wait(0.3):
            raise DemoError(f"stopped while waiting for {what}")
    raise DemoError(f"timed out after {timeout:.0f}s waiting for {what}")


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as rsp:  # noqa: S310 (loopback URLs)
            return bool(rsp.status == 200)
    except (OSError, ValueError):
        return False


def probe_config(page_url: str) -> dict[str, Any] | None:
    """Connection-quality probes to local targets only: 127.0.0.1 (ICMP), the demo page
    (TCP connect and HTTP). ``default_targets`` is off, so the demo probes nothing beyond
    this machine (no gateway, no outside resolver). None while this sentinel has no
    ``probes`` section (sentinel/probes)."""
    from sentinel.config.schema import Config

    if "probes" not in Config.__dataclass_fields__:
        return None
    return {
        "default_targets": False,
        "icmp": {"interval": "15s", "pings": 5, "spacing": "200ms"},
        "tcp": {"interval": "15s"},
        "http": {"interval": "15s"},
        "targets": [
            {"name": "demo-loopback", "module": "icmp", "address": "127.0.0.1"},
            {"name": "demo-page-tcp", "module": "tcp", "address": page_url.split("//")[1]},
            {"name": "demo-page", "module": "http", "address": f"{page_url}/"},
        ],
    }


class Demo:
    """One run of the demo; ``run()`` returns the exit code."""

    def __init__(self, options: Options) -> None:
        self.o = options
        self.stop = threading.Event()
        self.stack = contextlib.ExitStack()
        self.children: list[Child] = []
        self.tmp = Path(tempfile.mkdtemp(prefix="sentinel-demo-"))
        self.lan = demo_lan.Lan.named()
        self.page: Page | None = None
        self.region: Any = None  # the regional stack with --region (region.Region)
        self.failed = ""
        self.lan_made = False

    # -- start -------------------------------------------------------------------------
    def _child(self, name: str, argv: list[str], **kw: Any) -> Child:
        child = Child(name, argv, log=self.tmp / f"{name}.log", **kw)
        self.children.append(child)
        return child

    def _start_switches(self) -> int:
        data, cache = self.tmp / "snmp-data", self.tmp / "snmp-cache"
        cache.mkdir()
        switches.write_recordings(data)
        port = free_port("127.0.0.1", socket.SOCK_DGRAM)
        env = dict(os.environ, SNMPSIM_ALLOW_ROOT="true")  # it listens on loopback only
        sim = self._child("snmpsim", switches.responder_argv(port, data, cache), env=env)
        wait_for(
            lambda: (
                "Listening at" in (self.tmp / "snmpsim.log").read_text(errors="replace")
                or not sim.running()
            ),
            "snmpsim",
            120,
            self.stop,
        )
        if not sim.running():
            raise DemoError(f"snmpsim exited: {sim.tail()}")
        _say(
            f"switches: {', '.join(s.name for s in switches.SWITCHES)} "
            f"(snmpsim-data recordings) on udp 127.0.0.1:{port}"
        )
        return port

    def config(self, snmp_port: int, page_url: str, secret_file: Path) -> dict[str, Any]:
        """The daemon's config for this run (written as JSON, which is YAML)."""
        host, port = self.o.listen
        alerting: dict[str, Any] = {
            # The demo page on this box's loopback: a trusted path for the signed webhook.
            "webhook": {
                "url": f"{page_url}/alerts",
                "secret": {"file": str(secret_file)},
                "insecure": True,
            },
            "resolve_after": "10m",
        }
        if self.region is not None:
            alerting["alertmanager"] = {"urls": [self.region.alertmanager_url], "resend": "30s"}
        cfg: dict[str, Any] = {
            "site": SITE,
            "listen": hostport(host, port),
            "state_dir": str(self.tmp / "state"),
            "shutdown_timeout": "5s",
            "local": {"interval": "5s"},
            "snmp": {
                # The recordings' LLDP/CDP neighbours carry the addresses of the networks
                # they were recorded in: never poll them (sentinel's default, made explicit).
                "discover": False,
                "defaults": {"interval": "5s", "timeout": "1s", "retries": 1},
                "auths": {
                    sw.name: {"version": "2c", "community": sw.name} for sw in switches.SWITCHES
                },
                "switches": [
                    {
                        "name": sw.name,
                        "address": f"127.0.0.1:{snmp_port}",
                        "auth": sw.name,
                        "uplinks": list(sw.uplinks),
                    }
                    for sw in switches.SWITCHES
                ],
            },
            "capture": {"interface": self.lan.lan, "networks": [LAB_NETWORK], "ring_size_mb": 8},
            "detect": {
                # Each round of replays is a new incident: an alert resolves after a
                # minute of quiet (a school keeps the default ten minutes).
                "resolve_after": "60s",
                "gateway": LAB_GATEWAY,
                "rogue_dhcp": {"servers": [LAB_SERVER], "routers": [LAB_GATEWAY["ip"]]},
                "dns_bypass": {"resolvers": [LAB_SERVER]},
            },
            "alerting": alerting,
        }
        probes = probe_config(page_url)
        if probes is not None:
            cfg["probes"] = probes
        return cfg

    def _start_daemon(self, cfg: dict[str, Any]) -> str:
        path = self.tmp / "sentinel.yaml"
        path.write_text(json.dumps(cfg, indent=1) + "\n")
        (self.tmp / "state").mkdir()
        daemon = self._child(
            "sentinel",
            [sys.executable, "-m", "sentinel", "run", "--config", str(path)],
            on_line=lambda line: print(f"[demo] {line}", flush=True),
        )
        host, port = self.o.listen
        url = f"http://{hostport(host, port)}"
        wait_for(
            lambda: http_ok(f"{url}/-/ready") or not daemon.running(),
            "sentinel /-/ready",
            60,
            self.stop,
        )
        if not daemon.running():
            raise DemoError(f"sentinel exited {daemon.proc.returncode}: {daemon.tail()}")
        return url

    def _on_replay(self, line: str) -> None:
        words = line.split()
        if len(words) == 3 and words[0] == "replayed" and self.page is not None:
            self.page.replayed(words[1])
            _say(f"replayed the recorded capture {words[1]} ({words[2]} packets)")
        else:
            _say(f"replayer: {line}")

    def _start_replayer(self) -> None:
        files = [str(DATA / f"{name}.pcap") for name in CAPTURES]
        argv = [demo_lan.tool("ip"), "netns", "exec", self.lan.netns, sys.executable, "-m"]
        argv += ["sentinel.demo.replay", self.lan.peer, str(self.o.rounds), str(ROUND_PAUSE)]
        self._child("replayer", [*argv, *files], on_line=self._on_replay)

    def start(self) -> None:
        if os.geteuid() != 0:
            raise DemoError(
                "needs root: it creates a network namespace and captures packets (run it with sudo)"
            )
        demo_lan.tool("ip")
        demo_lan.tool("sysctl")
        for what, (host, port) in (("--listen", self.o.listen), ("--page", self.o.page)):
            with socket.socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind((host, port))
                except OSError as exc:
                    raise DemoError(
                        f"{host}:{port} ({what}) is taken ({exc.strerror}); is a sentinel "
                        f"running? Stop it, or pass {what} 127.0.0.1:0 for any free port"
                    ) from None
        for netns in demo_lan.sweep():
            _say(f"removed {netns}, left by a demo that was killed")
        marker = demo_lan.claim(self.lan, self.tmp)
        self.stack.callback(lambda: marker.unlink(missing_ok=True))
        snmp_port = self._start_switches()
        demo_lan.create(self.lan)
        self.lan_made = True
        self.stack.callback(self._remove_lan)
        _say(f"LAN: capture on {self.lan.lan}, recorded captures replayed from {self.lan.netns}")
        secret = secrets.token_hex(24)
        secret_file = self.tmp / "webhook-secret"
        secret_file.write_text(secret)
        secret_file.chmod(0o600)
        host, port = self.o.page
        metrics_url = f"http://{hostport(*self.o.listen)}/metrics"
        self.page = Page(
            host,
            port,
            site=SITE,
            alerts_file=self.tmp / "alerts.jsonl",
            secret=secret.encode(),
            metrics_url=metrics_url,
        )
        self.page.start()
        self.stack.callback(self.page.close)
        if self.o.region:
            from sentinel.demo.region import Region

            self.region = Region(
                self.tmp / "region", self._child, self.stop, free_ports=self.o.region_free_ports
            )
            self.region.start_receivers(f"{self.page.url}/notify", wait_for)
        url = self._start_daemon(self.config(snmp_port, self.page.url, secret_file))
        if self.region is not None:
            self.region.start_agent(
                self.o.listen, self.page.server.server_address[1], SITE, wait_for
            )
            self.region.start_grafana(wait_for)
        self._start_replayer()
        _say(
            f"ready: metrics={url}/metrics page={self.page.url}/ "
            f"alerts={self.tmp / 'alerts.jsonl'} dir={self.tmp}"
        )
        if self.region is not None:
            self.region.announce(_say)
        _say("everything here is a DEMO: simulated switches, recorded attacks; Ctrl-C stops")

    # -- run and stop ------------------------------------------------------------------
    def _watch(self) -> None:
        deadline = time.monotonic() + self.o.duration
        while not self.stop.wait(1.0):
            if time.monotonic() > deadline:
                _say(f"--duration {self.o.duration:.0f}s reached")
                return
            for c in self.children:
                if not c.running() and c.name != "replayer":
                    self.failed = f"{c.name} exited ({c.proc.returncode}): {c.tail()}"
                    return

    def _remove_lan(self) -> None:
        for err in demo_lan.remove(self.lan):
            _say(f"cleanup: {err}")

    def shutdown(self) -> None:
        _say("stopping")
        for child in reversed(self.children):
            code = child.stop(timeout=15 if child.name == "sentinel" else 8)
            if child.name == "sentinel" and code not in (0, None):
                _say(f"sentinel exited {code}")
        self.children.clear()
        self.stack.close()
        shutil.rmtree(self.tmp, ignore_errors=True)
        made = " (namespace, veth pair and files removed)" if self.lan_made else ""
        _say(f"stopped; nothing left running{made}")

    def run(self) -> int:
        def on_signal(signum: int, _frame: object) -> None:
            self.stop.set()

        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.start()
            self._watch()
        except DemoError as exc:
            if not self.stop.is_set():
                self.failed = str(exc)
        except (demo_lan.LanError, switches.SwitchDataError, OSError) as exc:
            self.failed = str(exc)
        except Exception as exc:
            from sentinel.demo.region import RegionError

            if not isinstance(exc, RegionError):
                raise
            self.failed = str(exc)
        finally:
            self.shutdown()
            for s, h in previous.items():
                signal.signal(s, h)
        if self.failed:
            print(f"sentinel demo: {self.failed}", file=sys.stderr)
            return 1
        return 0


def main(options: Options) -> int:
    host, port = options.listen
    page_host, page_port = options.page
    if port == 0:
        options = Options(**{**_fields(options), "listen": (host, free_port(host))})
    if page_port == 0:
        options = Options(**{**_fields(options), "page": (page_host, free_port(page_host))})
    return Demo(options).run()


def _fields(o: Options) -> dict[str, Any]:
    return {k: getattr(o, k) for k in o.__dataclass_fields__}
