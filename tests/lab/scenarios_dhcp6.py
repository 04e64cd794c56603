"""Lab scenarios of DHCPv6: mitm6 and thc-ipv6's fake_dhcps6 answering a student's
DHCPv6 requests, and the school's own DHCPv6 server (dnsmasq) doing so, which must
raise nothing. Registered into ``tests.lab.scenarios.SCENARIOS``.

The student asks with ISC dhclient (``-6 -1``, its script replaced by ``/bin/true`` so
that nothing outside the namespace is touched); every tool runs under timeout(1).
mitm6 is not a Debian package: recording these needs it on PATH (``pip install mitm6``
into a separate environment); the recorded captures and their ground truth are what the
tests read.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time

from tests.lab.lan import IF, Host, SchoolLan
from tests.lab.scenarios import ATTACKER6, SERVER6, STUDENT6, Outcome, Scenario, _link_local


def _ask(lan: SchoolLan, student: Host, name: str) -> str:
    """One DHCPv6 exchange from ``student`` (SOLICIT, then REQUEST to the server that
    advertised), bounded; dhclient's log."""
    leases, pid = lan.work / f"{name}.leases", lan.work / f"{name}.pid"
    out = lan.run(
        student.ns,
        "timeout", "-s", "INT", "12", "dhclient", "-6", "-1", "-v", "-d",
        "-sf", "/bin/true", "-lf", str(leases), "-pf", str(pid), IF,
        timeout=20,
    )  # fmt: skip
    return (out.stdout + out.stderr)[-600:]


def _pip_version(tool: str) -> str:
    """The version of a tool installed with pip (mitm6), from its own interpreter."""
    path = shutil.which(tool)
    if path is None:
        return ""
    with open(path, "rb") as fh:
        first = fh.readline()
    if not first.startswith(b"#!"):
        return ""
    python = first[2:].decode().strip()
    code = f"import importlib.metadata as m; print(m.version({tool!r}))"
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=False)
    return out.stdout.strip()


def _said(log: str) -> list[str]:
    """What a tool said it did (mitm6: the addresses it assigned), not its tracebacks."""
    keep = ("assigned", "Renew", "Sent", "Starting", "Primary")
    return [line.strip() for line in log.splitlines() if line.startswith(keep)][:20]


def _rogue_dhcp6(  # type: ignore[no-untyped-def]
    name: str, tool: str, cmd: list[str], what: str, expected: tuple[str, ...] = ("rogue_dhcp6",)
):
    def run(lan: SchoolLan, small: bool = False) -> Outcome:
        a, victim = lan.attacker, lan.students[0]
        lan.ipv6(a, ATTACKER6)
        lan.ipv6(victim, STUDENT6)
        try:
            time.sleep(2)  # DAD of the link-local addresses
            lan.attack_started = time.monotonic()
            rogue = lan.start(a.ns, name, "timeout", "-s", "INT", "20", *cmd)
            time.sleep(3)
            log = _ask(lan, victim, name)
            time.sleep(1)
            lan.stop(rogue, signal.SIGINT)
            link_local = _link_local(lan, a)
        finally:
            lan.ipv6(victim, None)
            lan.ipv6(a, None)
        return Outcome(
            name,
            expected,
            " ".join(cmd),
            what,
            a,
            tool,
            notes={
                "attacker_ip6": link_local,
                "tool_version": _pip_version(tool) if tool == "mitm6" else "",
                "dhclient": log,
                "tool_log": _said(lan.log(name)),
            },
        )

    return run


def dhcpv6_server(lan: SchoolLan, small: bool = False) -> Outcome:
    """The school's server answers DHCPv6 (dnsmasq, a range of the site's ULA prefix,
    itself as DNS server): a student asks, twice."""
    srv, student = lan.srv, lan.students[0]
    lan.ipv6(srv, SERVER6)
    lan.ipv6(student, STUDENT6)
    args = _school_dhcp6(lan, "dhcp6")
    try:
        time.sleep(2)
        lan.attack_started = time.monotonic()
        server = lan.start(srv.ns, "dhcp6-server", "dnsmasq", *args)
        time.sleep(2)
        logs = [_ask(lan, student, f"dhcp6-{i}") for i in range(2)]
        lan.stop(server)
    finally:
        lan.ipv6(student, None)
        lan.ipv6(srv, None)
    return Outcome(
        "dhcpv6_server",
        (),
        "dnsmasq " + " ".join(x for x in args if "file" not in x),
        "the school's server answers DHCPv6 (dnsmasq: addresses of fd77::/64, itself as "
        "DNS server); student 1 asks with dhclient -6 twice",
        None,
        "dnsmasq",
        notes={"dhclient": logs},
    )


def _starvation6(name: str, flags: list[str], what: str, expected: tuple[str, ...]):  # type: ignore[no-untyped-def]
    # random MACs: the findings name the LAN, not the attacker's MAC
    notes = {} if "-N" in flags else {"no_single_source": True}
    """thc-ipv6 flood_dhcpc6 on the attacker for 3 s against the school's DHCPv6 server."""

    def run(lan: SchoolLan, small: bool = False) -> Outcome:
        a, srv = lan.attacker, lan.srv
        lan.ipv6(srv, SERVER6)
        lan.ipv6(a, ATTACKER6)
        server = lan.start(srv.ns, f"{name}-server", "dnsmasq", *_school_dhcp6(lan, name))
        cmd = ["atk6-flood_dhcpc6", *flags, IF]
        try:
            time.sleep(2)
            lan.attack_started = time.monotonic()
            lan.run(a.ns, "timeout", "-s", "INT", "3", *cmd, timeout=10)
            time.sleep(1)
        finally:
            lan.stop(server)
            lan.ipv6(a, None)
            lan.ipv6(srv, None)
        return Outcome(name, expected, " ".join(cmd), what, a, "thc-ipv6", notes=notes)

    return run


def _school_dhcp6(lan: SchoolLan, name: str) -> list[str]:
    """dnsmasq on the school's server answering DHCPv6 for fd77::/64, itself as DNS."""
    return [
        "-k", "--port=0", f"--interface={IF}", "--bind-interfaces", "--no-hosts",
        "--no-resolv", "--dhcp-range=fd77::1000,fd77::1fff,64,10m",
        f"--dhcp-option=option6:dns-server,[{SERVER6}]", "--user=root",
        f"--dhcp-leasefile={lan.work / (name + '.leases')}",
        f"--pid-file={lan.work / (name + '.pid')}",
    ]  # fmt: skip


SCENARIOS = {
    s.name: s
    for s in [
        Scenario(
            "mitm6_dhcpv6",
            ("mitm6", "dhclient"),
            _rogue_dhcp6(
                "mitm6_dhcpv6",
                "mitm6",
                ["mitm6", "-i", IF, "-a", "-d", "school.example"],
                "mitm6 -a on the attacker (DHCPv6 only, no router advertisements): it "
                "answers student 1's DHCPv6 SOLICIT and REQUEST with a link-local address "
                "and itself as DNS server",
            ),
        ),
        Scenario(
            "mitm6_with_ra",
            ("mitm6", "dhclient"),
            _rogue_dhcp6(
                "mitm6_with_ra",
                "mitm6",
                ["mitm6", "-i", IF, "-d", "school.example"],
                "mitm6 as it starts by default on the attacker: router advertisements "
                "(itself as router, no prefix) beside its DHCPv6 answers to student 1 (a "
                "link-local address, itself as DNS server)",
                ("rogue_dhcp6", "rogue_ra"),
            ),
        ),
        Scenario(
            "fake_dhcps6",
            ("atk6-fake_dhcps6", "dhclient"),
            _rogue_dhcp6(
                "fake_dhcps6",
                "thc-ipv6",
                ["atk6-fake_dhcps6", IF, "fd77:bad::/64", ATTACKER6],
                "thc-ipv6 fake_dhcps6 on the attacker: it answers student 1's DHCPv6 "
                f"requests with an address of fd77:bad::/64 and {ATTACKER6} as DNS server",
            ),
        ),
        Scenario("dhcpv6_server", ("dnsmasq", "dhclient"), dhcpv6_server),
        Scenario(
            "dhcp6_starvation",
            ("atk6-flood_dhcpc6", "dnsmasq"),
            _starvation6(
                "dhcp6_starvation",
                [],
                "thc-ipv6 flood_dhcpc6 for 3 s: DHCPv6 SOLICITs and REQUESTs, each from a "
                "random MAC and link-local address, for the school server's pool",
                ("dhcp_starvation", "mac_flood"),
            ),
        ),
        Scenario(
            "dhcp6_starvation_own_mac",
            ("atk6-flood_dhcpc6", "dnsmasq"),
            _starvation6(
                "dhcp6_starvation_own_mac",
                ["-N"],
                "thc-ipv6 flood_dhcpc6 -N for 3 s: DHCPv6 SOLICITs and REQUESTs from the "
                "attacker's own MAC and link-local address, a new client DUID each",
                ("dhcp_starvation",),
            ),
        ),
    ]
}
