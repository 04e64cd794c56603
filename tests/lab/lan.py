"""A school LAN built from network namespaces, and sentinel listening on its gateway.

::

    stu1  stu2  stu3  atk   srv                 gw ------------ wan
    .101  .102  .103  .66   .10                 .1 | 203.0.113.1   203.0.113.10
      \\     |     |     |     /                   |               ("internet": HTTP,
       +----+-----+-----+-----+---- br0 (ns sw) ---+                the tunnel server)
                     LAN 10.77.0.0/24

Every name carries a tag derived from the process id (``sl<tag>-gw`` ...), so two runs
never share a namespace. Nothing connects to the root namespace: no lab packet leaves
the machine. The switch mirrors every unicast frame between hosts to the gateway's
port (tc u32 + mirred), so ``gw:lan0`` sees each LAN frame exactly once, as a SPAN
port on a real switch would show it.

The server runs dnsmasq (DHCP with reservations for the students, DNS for
``school.lan``; ``tunnel.test`` is delegated to the internet host), sshd (password
logins fail; the admin logs in as root with a key) and an HTTP server. Students take
their addresses over DHCP with busybox udhcpc.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tests.helpers import samples

if TYPE_CHECKING:
    from collections.abc import Iterator

LAN = "10.77.0.0/24"
PREFIX = 24
DOMAIN = "school.lan"
TUNNEL_DOMAIN = "tunnel.test"
UPSTREAM_DOMAIN = "example.net"  # forwarded to the internet host (see scenarios.upstream_dns)
LAN6 = "fd77::/64"  # IPv6 is off in the lab; scenarios that need it switch it on per host
IF = "lan0"

# tools the lab needs (package in parentheses, Debian names)
BASE_TOOLS = {
    "ip": "iproute2",
    "tc": "iproute2",
    "bridge": "iproute2",
    "tcpdump": "tcpdump",
    "dnsmasq": "dnsmasq-base",
    "busybox": "busybox",
    "sshd": "openssh-server",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
    "curl": "curl",
}


def which(tool: str) -> str | None:
    return shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")


def missing(tools: dict[str, str] | list[str]) -> list[str]:
    return [t for t in tools if which(t) is None]


@dataclass(frozen=True)
class Host:
    name: str
    ns: str
    ip: str
    mac: str


class SchoolLan:
    """Build with :meth:`up`, always :meth:`down` (in a ``finally``)."""

    def __init__(self, workdir: Path, tag: str | None = None) -> None:
        self.tag = tag or f"{os.getpid() % 100000}"
        self.work = workdir
        self.procs: list[subprocess.Popen[bytes]] = []
        p = f"sl{self.tag}-"
        self.sw = p + "sw"
        self.gw = Host("gateway", p + "gw", "10.77.0.1", "02:77:00:00:00:01")
        self.srv = Host("server", p + "srv", "10.77.0.10", "02:77:00:00:00:0a")
        self.students = [
            Host(f"student{i}", p + f"stu{i}", f"10.77.0.10{i}", f"02:77:00:00:01:0{i}")
            for i in (1, 2, 3)
        ]
        self.atk = Host("attacker", p + "atk", "10.77.0.66", "02:77:00:00:66:66")
        self.wan = Host("internet", p + "wan", "203.0.113.10", "02:77:00:00:fe:0a")
        self.wan_gw_ip = "203.0.113.1"
        self.attacker = self.atk  # current identity (see set_attacker)
        self.namespaces = [
            self.sw,
            self.gw.ns,
            self.srv.ns,
            *(s.ns for s in self.students),
            self.atk.ns,
            self.wan.ns,
        ]
        self.created: list[str] = []
        self.attack_started = 0.0  # time.monotonic() when the last attack tool started
        self.made_run_sshd = False

    # ------------------------------------------------------------------ helpers
    def sh(self, *args: str, check: bool = True, timeout: float = 30) -> str:
        proc = subprocess.run(args, capture_output=True, text=True, check=False, timeout=timeout)
        if check and proc.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} -> {proc.returncode}: {proc.stderr.strip()}")
        return proc.stdout

    def run(
        self, ns: str, *cmd: str, timeout: float = 60, check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """Run a command inside one of this lab's namespaces (never anywhere else)."""
        if ns not in self.namespaces:
            raise ValueError(f"refusing to run outside the lab: {ns}")
        return subprocess.run(
            ["ip", "netns", "exec", ns, *cmd],
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
            cwd=self.work,
        )

    def start(self, ns: str, name: str, *cmd: str) -> subprocess.Popen[bytes]:
        """A background process inside a lab namespace, logged to work/logs/<name>.log."""
        if ns not in self.namespaces:
            raise ValueError(f"refusing to run outside the lab: {ns}")
        (self.work / "logs").mkdir(exist_ok=True)
        with (self.work / "logs" / f"{name}.log").open("wb") as log:
            proc = subprocess.Popen(
                ["ip", "netns", "exec", ns, *cmd],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.work,
                start_new_session=True,
            )
        self.procs.append(proc)
        return proc

    @staticmethod
    def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, wait: float = 5) -> None:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(wait)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)

    def log(self, name: str) -> str:
        path = self.work / "logs" / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def wait_port(self, host: Host, port: int, seconds: float = 10) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            probe = f"exec 3<>/dev/tcp/{host.ip}/{port}"
            if self.run(host.ns, "bash", "-c", probe, timeout=5).returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError(f"{host.name} port {port} did not open")

    # ------------------------------------------------------------------ build
    def up(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        for d in ("logs", "www-srv", "www-inet", "sshd", "pcap"):
            (self.work / d).mkdir(exist_ok=True)
        for ns in self.namespaces:
            self.sh("ip", "netns", "add", ns)
            self.created.append(ns)
            self.sh("ip", "-n", ns, "link", "set", "lo", "up")
            self.run(ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", check=True)
            self.run(ns, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1", check=True)
        self._switch()
        self._hosts()
        self._services()
        self._dhcp_students()

    def _port(self, host: Host, port: str) -> None:
        self.sh(
            "ip",
            "link",
            "add",
            "name",
            port,
            "netns",
            self.sw,
            "type",
            "veth",
            "peer",
            "name",
            IF,
            "netns",
            host.ns,
        )
        self.sh("ip", "-n", host.ns, "link", "set", IF, "address", host.mac)
        self.sh("ip", "-n", host.ns, "link", "set", IF, "up")
        self.sh("ip", "-n", self.sw, "link", "set", port, "master", "br0")
        self.sh("ip", "-n", self.sw, "link", "set", port, "up")

    def _switch(self) -> None:
        sw = self.sw
        self.sh(
            "ip",
            "-n",
            sw,
            "link",
            "add",
            "br0",
            "type",
            "bridge",
            "stp_state",
            "0",
            "mcast_snooping",
            "0",
        )
        self.sh("ip", "-n", sw, "link", "set", "br0", "up")
        self._port(self.gw, "p-gw")
        self._port(self.srv, "p-srv")
        for i, s in enumerate(self.students, 1):
            self._port(s, f"p-stu{i}")
        self._port(self.atk, "p-atk")
        # the gateway port never gets flooded unknown unicast (the mirror delivers it);
        # its MAC is pinned so frames for the gateway are forwarded, not flooded
        self.run(sw, "bridge", "link", "set", "dev", "p-gw", "flood", "off", check=True)
        self.run(
            sw, "bridge", "fdb", "add", self.gw.mac, "dev", "p-gw", "master", "static", check=True
        )
        m = self.gw.mac.split(":")
        hi, lo = f"0x0000{m[0]}{m[1]}", f"0x{m[2]}{m[3]}{m[4]}{m[5]}"
        ports = ["p-srv", "p-stu1", "p-stu2", "p-stu3", "p-atk"]
        for port in ports:
            tc = ["tc", "filter", "add", "dev", port, "ingress"]
            self.run(sw, "tc", "qdisc", "add", "dev", port, "clsact", check=True)
            # offsets are relative to the network header: Ethernet destination at -14
            # 1: to the gateway -> nothing (bridged); 2: group address -> nothing (flooded)
            self.run(
                sw,
                *tc,
                "prio",
                "1",
                "protocol",
                "all",
                "u32",
                "match",
                "u32",
                hi,
                "0x0000ffff",
                "at",
                "-16",
                "match",
                "u32",
                lo,
                "0xffffffff",
                "at",
                "-12",
                "classid",
                "1:1",
                check=True,
            )
            self.run(
                sw,
                *tc,
                "prio",
                "2",
                "protocol",
                "all",
                "u32",
                "match",
                "u32",
                "0x00000100",
                "0x00000100",
                "at",
                "-16",
                "classid",
                "1:2",
                check=True,
            )
            # 3: any other unicast -> a copy to the gateway's port (the SPAN)
            self.run(
                sw,
                *tc,
                "prio",
                "3",
                "protocol",
                "all",
                "u32",
                "match",
                "u32",
                "0",
                "0",
                "action",
                "mirred",
                "egress",
                "mirror",
                "dev",
                "p-gw",
                check=True,
            )

    def _hosts(self) -> None:
        gw, srv, wan, atk = self.gw, self.srv, self.wan, self.atk
        self.sh("ip", "-n", gw.ns, "addr", "add", f"{gw.ip}/{PREFIX}", "dev", IF)
        self.sh(
            "ip",
            "link",
            "add",
            "name",
            "wan0",
            "netns",
            gw.ns,
            "type",
            "veth",
            "peer",
            "name",
            IF,
            "netns",
            wan.ns,
        )
        self.sh("ip", "-n", gw.ns, "link", "set", "wan0", "address", "02:77:00:00:fe:01")
        self.sh("ip", "-n", wan.ns, "link", "set", IF, "address", wan.mac)
        self.sh("ip", "-n", gw.ns, "addr", "add", f"{self.wan_gw_ip}/24", "dev", "wan0")
        self.sh("ip", "-n", gw.ns, "link", "set", "wan0", "up")
        self.sh("ip", "-n", wan.ns, "link", "set", IF, "up")
        self.sh("ip", "-n", wan.ns, "addr", "add", f"{wan.ip}/24", "dev", IF)
        self.sh("ip", "-n", wan.ns, "route", "add", "default", "via", self.wan_gw_ip)
        self.run(gw.ns, "sysctl", "-qw", "net.ipv4.ip_forward=1", check=True)
        for h in (srv, atk):
            self.sh("ip", "-n", h.ns, "addr", "add", f"{h.ip}/{PREFIX}", "dev", IF)
            self.sh("ip", "-n", h.ns, "route", "add", "default", "via", gw.ip)
        # `ip netns exec` bind-mounts /etc/netns/<ns>/resolv.conf: lookups go to the server
        for h in (srv, atk, *self.students):
            d = Path("/etc/netns") / h.ns
            d.mkdir(parents=True, exist_ok=True)
            (d / "resolv.conf").write_text(f"nameserver {srv.ip}\nsearch {DOMAIN}\n")

    def _services(self) -> None:
        srv, wan, w = self.srv, self.wan, self.work
        (w / "www-srv" / "index.html").write_text(
            f"<html><body><h1>Welcome to {DOMAIN}</h1><p>Timetable and homework.</p>"
            "</body></html>\n"
        )
        for i in range(1, 4):
            (w / "www-srv" / f"homework{i}.html").write_text(
                f"<html><body><h2>Homework {i}</h2><p>{'x' * 600}</p></body></html>\n"
            )
        (w / "www-inet" / "index.html").write_text("<html><body>news.example.com</body></html>\n")
        (w / "www-inet" / "chunk.bin").write_bytes(os.urandom(65536))
        s = self.students
        conf = w / "dnsmasq-srv.conf"
        conf.write_text(
            "\n".join(
                [
                    f"interface={IF}",
                    "bind-interfaces",
                    f"listen-address={srv.ip}",
                    "no-resolv",
                    "no-hosts",
                    f"domain={DOMAIN}",
                    f"local=/{DOMAIN}/",
                    "local=/example.com/",
                    f"host-record=srv.{DOMAIN},{srv.ip}",
                    f"host-record=gw.{DOMAIN},{self.gw.ip}",
                    f"address=/www.{DOMAIN}/{srv.ip}",
                    f"address=/news.example.com/{wan.ip}",
                    f"server=/{TUNNEL_DOMAIN}/{wan.ip}",
                    f"server=/{UPSTREAM_DOMAIN}/{wan.ip}",  # the benign resolver scenarios
                    # the rest of the world: a resolver on the internet host, when one runs
                    *(f"server=/{tld}/{wan.ip}" for tld in ("com", "net", "org", "be", "nl")),
                    "dhcp-range=10.77.0.150,10.77.0.199,255.255.255.0,12h",
                    *(f"dhcp-host={h.mac},{h.ip},stu{i}" for i, h in enumerate(s, 1)),
                    f"dhcp-option=option:router,{self.gw.ip}",
                    f"dhcp-option=option:dns-server,{srv.ip}",
                    f"dhcp-option=option:domain-name,{DOMAIN}",
                    "dhcp-authoritative",
                    f"dhcp-leasefile={w / 'dnsmasq-srv.leases'}",
                    "",
                ]
            )
        )
        self.start(
            srv.ns,
            "dnsmasq-srv",
            "dnsmasq",
            "-k",
            f"--conf-file={conf}",
            "--user=root",
            f"--pid-file={w / 'dnsmasq-srv.pid'}",
        )
        # sshd: passwords are checked (and always fail: no such account / root only by
        # key); the admin logs in as root with a key kept in the work directory
        key = w / "sshd" / "host_key"
        self.sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key))
        self.sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(w / "sshd" / "admin"))
        shutil.copy(w / "sshd" / "admin.pub", w / "sshd" / "authorized_keys")
        (w / "sshd" / "sshd_config").write_text(
            f"Port 22\nListenAddress {srv.ip}\nHostKey {key}\n"
            f"PidFile {w / 'sshd' / 'sshd.pid'}\nUsePAM no\nPasswordAuthentication yes\n"
            "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
            f"AuthorizedKeysFile {w / 'sshd' / 'authorized_keys'}\nStrictModes no\n"
            "MaxAuthTries 6\nMaxStartups 10:30:100\nLoginGraceTime 20\nPrintMotd no\n"
            "UseDNS no\nLogLevel VERBOSE\n"
        )
        if not Path("/run/sshd").exists():  # privilege separation directory
            Path("/run/sshd").mkdir(mode=0o755)
            self.made_run_sshd = True
        self.start(
            srv.ns,
            "sshd",
            which("sshd") or "/usr/sbin/sshd",
            "-D",
            "-e",
            "-f",
            str(w / "sshd" / "sshd_config"),
        )
        py = which("python3") or sys.executable
        self.start(
            srv.ns,
            "http-srv",
            py,
            "-m",
            "http.server",
            "80",
            "--bind",
            srv.ip,
            "--directory",
            str(w / "www-srv"),
        )
        self.start(
            wan.ns,
            "http-inet",
            py,
            "-m",
            "http.server",
            "80",
            "--bind",
            "0.0.0.0",
            "--directory",
            str(w / "www-inet"),
        )
        hook = w / "udhcpc.sh"
        hook.write_text(
            "#!/bin/sh\n"
            "# minimal udhcpc hook: address and default route only\n"
            'case "$1" in\n'
            '  deconfig) ip -4 addr flush dev "$interface"; ip link set "$interface" up ;;\n'
            "  bound|renew)\n"
            '    ip -4 addr flush dev "$interface"\n'
            '    ip addr add "$ip/${mask:-24}" dev "$interface"\n'
            '    [ -n "$router" ] && \\\n'
            '      ip route replace default via "${router%% *}" dev "$interface"\n'
            '    echo "lease $ip from ${serverid:-?} router ${router:-?}" ;;\n'
            "esac\nexit 0\n"
        )
        hook.chmod(0o755)
        self.wait_port(srv, 22)
        self.wait_port(srv, 80)
        self.wait_port(wan, 80)

    def dhcp(self, student: Host, tries: int = 3) -> str:
        """One DHCP exchange (busybox udhcpc); returns udhcpc's output."""
        proc = self.run(
            student.ns,
            "busybox",
            "udhcpc",
            "-i",
            IF,
            "-s",
            str(self.work / "udhcpc.sh"),
            "-q",
            "-n",
            "-t",
            str(tries),
            "-T",
            "2",
            "-x",
            f"hostname:{student.ns}",
            timeout=30,
        )
        return proc.stdout + proc.stderr

    def _dhcp_students(self) -> None:
        time.sleep(0.5)
        for s in self.students:
            out = self.dhcp(s, tries=5)
            got = self.sh("ip", "-n", s.ns, "-4", "-o", "addr", "show", "dev", IF)
            if f" {s.ip}/" not in got:
                raise RuntimeError(f"{s.name} did not get {s.ip} over DHCP: {out}")
        r = self.run(self.students[0].ns, "busybox", "ping", "-c1", "-W2", self.wan.ip)
        if r.returncode != 0:
            raise RuntimeError(f"student1 cannot reach the internet host: {r.stdout}{r.stderr}")

    def set_attacker(self, ip: str, mac: str) -> Host:
        """Give the attacker laptop a new address and MAC (each test its own identity)."""
        ns = self.atk.ns
        self.sh("ip", "-n", ns, "addr", "flush", "dev", IF)
        self.sh("ip", "-n", ns, "link", "set", IF, "down")
        self.sh("ip", "-n", ns, "link", "set", IF, "address", mac)
        self.sh("ip", "-n", ns, "link", "set", IF, "up")
        self.sh("ip", "-n", ns, "addr", "add", f"{ip}/{PREFIX}", "dev", IF)
        self.sh("ip", "-n", ns, "route", "replace", "default", "via", self.gw.ip)
        self.attacker = Host("attacker", ns, ip, mac)
        return self.attacker

    def ipv6(self, host: Host, addr: str | None) -> None:
        """Switch IPv6 on for one host with ``addr`` in LAN6 (link-local too), or off."""
        on = "0" if addr else "1"
        for key in ("all", "default", IF):
            self.run(host.ns, "sysctl", "-qw", f"net.ipv6.conf.{key}.disable_ipv6={on}")
        if addr:
            self.sh("ip", "-n", host.ns, "addr", "add", f"{addr}/64", "dev", IF, "nodad")

    # ------------------------------------------------------------------ capture
    @contextlib.contextmanager
    def capture(self, pcap: Path, count: int, snaplen: int = 0) -> Iterator[None]:
        """tcpdump on the gateway's LAN interface (at most ``count`` packets)."""
        name = f"tcpdump-{pcap.stem}"
        proc = self.start(
            self.gw.ns,
            name,
            "tcpdump",
            "-i",
            IF,
            "-n",
            "-s",
            str(snaplen),
            "-U",
            "-B",
            "16384",
            "-c",
            str(count),
            "-Z",
            "root",
            "-w",
            str(pcap),
        )
        deadline = time.monotonic() + 10
        while "listening on" not in self.log(name) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        try:
            yield
        finally:
            time.sleep(1)
            self.stop(proc, signal.SIGINT)

    # ------------------------------------------------------------------ teardown
    def down(self) -> None:
        for proc in reversed(self.procs):
            self.stop(proc)
        for ns in self.created:  # anything a tool left running in our namespaces
            pids = self.sh("ip", "netns", "pids", ns, check=False).split()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
        for ns in reversed(self.created):
            self.sh("ip", "netns", "del", ns, check=False)
            shutil.rmtree(Path("/etc/netns") / ns, ignore_errors=True)
        self.created.clear()
        if self.made_run_sshd:
            with contextlib.suppress(OSError):
                Path("/run/sshd").rmdir()


# ---------------------------------------------------------------------- sentinel
LOGFMT = re.compile(r'([\w.]+)=("(?:[^"\\]|\\.)*"|\S*)')


def logfmt(line: str) -> dict[str, str]:
    out = {}
    for k, v in LOGFMT.findall(line):
        out[k] = v[1:-1].replace('\\"', '"') if v.startswith('"') else v
    return out


@dataclass(frozen=True)
class Detection:
    at: float  # time.monotonic() when the line was read
    fields: dict[str, str]


class Sentinel:
    """``sentinel run`` inside the gateway namespace, capturing live on its LAN port."""

    PORT = 9717  # the gateway namespace has its own loopback

    def __init__(self, lan: SchoolLan, workdir: Path) -> None:
        self.lan = lan
        self.work = workdir
        self.lines: list[tuple[float, str]] = []
        self.lock = threading.Lock()
        self.proc: subprocess.Popen[str] | None = None
        self.reader: threading.Thread | None = None

    def config(self) -> Path:
        lan = self.lan
        state = self.work / "state"
        state.mkdir(exist_ok=True)
        cfg = self.work / "sentinel.yaml"
        cfg.write_text(
            f"listen: 127.0.0.1:{self.PORT}\n"
            f"state_dir: {state}\n"
            "local: {enabled: false}\n"
            "privacy: {pseudonymise: false}\n"
            "log: {level: info, format: logfmt}\n"
            f"capture: {{interface: {IF}, networks: [{LAN}], ring_size_mb: 16}}\n"
            "detect:\n"
            f'  gateway: {{ip: {lan.gw.ip}, mac: "{lan.gw.mac}"}}\n'
            f"  rogue_dhcp: {{servers: [{lan.srv.ip}], routers: [{lan.gw.ip}]}}\n"
            f"  dns_bypass: {{resolvers: [{lan.srv.ip}]}}\n"
            "alerting:\n"
            "  event_log: {enabled: true}\n"
        )
        for p in (self.work, state, cfg):
            p.chmod(0o755 if p.is_dir() else 0o644)
        return cfg

    def start(self) -> None:
        cfg = self.config()
        self.proc = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                self.lan.gw.ns,
                sys.executable,
                "-m",
                "sentinel",
                "run",
                "--config",
                str(cfg),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sentinel exited:\n{self.output()}")
            try:
                body = self.scrape()
            except (RuntimeError, subprocess.SubprocessError):
                time.sleep(0.3)
                continue
            if "sentinel_lan_packets_total" in body or "sentinel_capture" in body:
                return
            time.sleep(0.3)
        raise RuntimeError(f"sentinel not ready:\n{self.output()}")

    def _read(self) -> None:
        assert self.proc is not None
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self.lock:
                self.lines.append((time.monotonic(), line.rstrip("\n")))

    def output(self, since: float = 0.0) -> str:
        with self.lock:
            return "\n".join(line for t, line in self.lines if t >= since)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        if self.reader is not None:
            self.reader.join(5)
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()

    def scrape(self) -> str:
        code = (
            "import sys,urllib.request;sys.stdout.write(urllib.request.urlopen("
            f"'http://127.0.0.1:{self.PORT}/metrics',timeout=5).read().decode())"
        )
        r = self.lan.run(self.lan.gw.ns, sys.executable, "-c", code, timeout=15)
        if r.returncode != 0:
            raise RuntimeError(r.stderr)
        return r.stdout

    def detections_total(self) -> dict[str, float]:
        """``sentinel_detections_total`` by detector (summed over severities)."""
        out: dict[str, float] = {}
        for labels, value in samples(self.scrape(), "sentinel_detections_total"):
            out[labels["detector"]] = out.get(labels["detector"], 0.0) + value
        return out

    def wait_total(self, detector: str, above: float, timeout: float = 6) -> float:
        """``sentinel_detections_total`` of ``detector`` once above ``above`` (lags ~1 s)."""
        deadline = time.monotonic() + timeout
        while True:
            n = self.detections_total().get(detector, 0.0)
            if n > above or time.monotonic() >= deadline:
                return n
            time.sleep(0.3)

    def wait_detection(
        self, detector: str, since: float, timeout: float, sources: tuple[str, ...] = ()
    ) -> Detection | None:
        """The first line about ``detector`` naming one of ``sources``, after ``since``.

        Either the daemon's ``msg=detection`` line (``source=``) or the event log's
        ``msg=alert status=firing`` line (``source_ip=``, ``source_mac=``, ``identifier=``).
        """
        deadline = time.monotonic() + timeout
        while True:
            for d in self.findings(since):
                if d.fields.get("detector") != detector:
                    continue
                named = {
                    d.fields.get(k) for k in ("source", "source_ip", "source_mac", "identifier")
                }
                if not sources or named & set(sources):
                    return d
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.2)

    def findings(self, since: float) -> list[Detection]:
        """Detection lines and firing alert events after ``since``."""
        with self.lock:
            lines = [(t, line) for t, line in self.lines if t >= since]
        out = []
        for t, line in lines:
            f = logfmt(line)
            if f.get("msg") == "detection" or (
                f.get("msg") == "alert" and f.get("status") == "firing"
            ):
                out.append(Detection(t, f))
        return out
