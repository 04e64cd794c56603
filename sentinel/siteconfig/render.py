"""A school's config file from what the box sees: choices first (``plan``), then the text."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sentinel.siteconfig.discover import Interface

if TYPE_CHECKING:
    from sentinel.siteconfig.discover import Facts

SITE_KEY_CREDENTIAL = "sentinel_site-key"
COMMUNITY_CREDENTIAL = "sentinel_snmp-community"
V3_CREDENTIAL = "sentinel_snmp"  # -auth and -priv are appended
DHCP_SERVER_PORT = 67
DNS_PORT = 53


class PlanError(ValueError):
    """The options cannot be met on this box (e.g. the named LAN interface is absent)."""


@dataclass(frozen=True, slots=True)
class SwitchOption:
    address: str
    name: str = ""
    version: str = "2c"
    credential: str = ""  # community (v1/v2c) or prefix of -auth/-priv (v3)
    user: str = "sentinel"
    auth_protocol: str = "SHA-256"
    priv_protocol: str = "AES"


@dataclass(frozen=True, slots=True)
class Options:
    site: str
    lan: str | None = None
    switch: SwitchOption | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """Every choice the generator made, and where each came from."""

    site: str
    lan: Interface | None
    other_lans: tuple[str, ...] = ()
    gateway_ip: str | None = None
    gateway_mac: str | None = None
    dhcp_servers: tuple[str, ...] = ()
    dhcp_routers: tuple[str, ...] = ()
    dhcp_dns: tuple[str, ...] = ()
    resolvers: tuple[str, ...] = ()
    local_community: str | None = None
    switch: SwitchOption | None = None
    notes: tuple[str, ...] = field(default=())

    def credentials(self) -> tuple[str, ...]:
        """The credential names the config refers to."""
        names = [SITE_KEY_CREDENTIAL]
        sw = self.switch
        if sw is not None:
            if sw.version == "3":
                prefix = sw.credential or V3_CREDENTIAL
                names += [f"{prefix}-auth", f"{prefix}-priv"]
            else:
                names.append(sw.credential or COMMUNITY_CREDENTIAL)
        return tuple(names)


def _in(net: str | None, ip: str) -> bool:
    if net is None:
        return False
    try:
        return ipaddress.ip_address(ip) in ipaddress.ip_network(net)
    except ValueError:
        return False


def _unique(items: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def plan(facts: Facts, options: Options) -> Plan:
    """Choose the LAN interface and what to pin on it."""
    notes: list[str] = []
    candidates = [
        i
        for i in facts.interfaces
        if i.name != "lo" and i.ether and i.up and i.name not in facts.uplinks
    ]
    # An interface with an IPv4 address is a LAN; one without is a mirror port or unused.
    candidates.sort(key=lambda i: (i.network is None, i.name))
    if options.lan is not None:
        lan = facts.interface(options.lan)
        if lan is None:
            names = ", ".join(i.name for i in facts.interfaces if i.name != "lo") or "none"
            raise PlanError(f"no interface {options.lan!r} on this box (interfaces: {names})")
        notes.append(f"LAN interface {lan.name} (--lan)")
    elif candidates:
        lan = candidates[0]
        uplinks = ", ".join(sorted(facts.uplinks)) or "none"
        notes.append(f"LAN interface {lan.name} (up, not the default route's: {uplinks})")
    else:
        lan = None
        notes.append("no LAN interface found (an up Ethernet interface without the default route)")
    others = tuple(i.name for i in candidates if lan is None or i.name != lan.name)
    if lan is None:
        return Plan(
            site=options.site,
            lan=None,
            other_lans=others,
            local_community=facts.snmp_community,
            switch=options.switch,
            notes=tuple(notes),
        )

    lease = facts.lease(lan.name)
    gateway_ip = None
    if lease is not None:
        notes.append(f"DHCP lease on {lan.name}: {lease.source}")
        gateway_ip = next((r for r in lease.routers if _in(lan.network, r)), None)
        if gateway_ip:
            notes.append(f"gateway {gateway_ip} (the lease's router)")
    if gateway_ip is None:
        routed = [gw for _, gw, dev in facts.routes if dev == lan.name and gw != "0.0.0.0"]  # noqa: S104
        gateway_ip = next((gw for gw in routed if _in(lan.network, gw)), None)
        if gateway_ip:
            notes.append(f"gateway {gateway_ip} (routes via {lan.name})")
    gateway_mac = None
    if gateway_ip is None and facts.ip_forward and lan.address:
        gateway_ip, gateway_mac = lan.address, lan.mac  # this box routes the LAN
        notes.append(f"gateway {gateway_ip}: this box (it forwards IPv4)")
    elif gateway_ip is not None and gateway_ip in facts.neighbours:
        mac, dev = facts.neighbours[gateway_ip]
        if dev == lan.name:
            gateway_mac = mac
    if gateway_ip is None:
        notes.append("no gateway seen on the LAN: detect.gateway left to set by hand")

    servers: list[str] = []
    if lease is not None and lease.server and _in(lan.network, lease.server):
        servers.append(lease.server)
    if DHCP_SERVER_PORT in facts.listening_udp and lan.address:
        servers.append(lan.address)
        notes.append("this box serves DHCP")
    dns: list[str] = list(lease.dns) if lease is not None else []
    if DNS_PORT in facts.listening_udp and lan.address:
        dns.append(lan.address)
        notes.append("this box serves DNS")
    resolvers = list(dns)
    if not resolvers:
        # What this box itself asks, when nothing says what the LAN is told.
        resolvers = list(facts.resolvers)
        if resolvers:
            notes.append(f"DNS servers from resolv.conf: {', '.join(resolvers)}")
    elif lease is not None and lease.dns:
        notes.append(f"DNS servers from the lease: {', '.join(lease.dns)}")
    if servers:
        notes.append(f"DHCP servers: {', '.join(_unique(servers))}")
    else:
        notes.append("no DHCP server seen: rogue_dhcp learns the servers after start")
    return Plan(
        site=options.site,
        lan=lan,
        other_lans=others,
        gateway_ip=gateway_ip,
        gateway_mac=gateway_mac,
        dhcp_servers=_unique(servers),
        dhcp_routers=(gateway_ip,) if lease is not None and gateway_ip in lease.routers else (),
        dhcp_dns=_unique(list(lease.dns)) if lease is not None else (),
        resolvers=_unique(resolvers),
        local_community=facts.snmp_community,
        switch=options.switch,
        notes=tuple(notes),
    )


def _q(value: str) -> str:
    """A YAML scalar in double quotes (JSON strings are valid YAML)."""
    return json.dumps(value)


def _list(items: tuple[str, ...]) -> str:
    return "[" + ", ".join(items) + "]"


def render(p: Plan, generator: str) -> str:
    """The config file text: what was found, then commented blocks to fill in."""
    out = [
        f"# sentinel config for site {p.site}, written by `{generator}`",
        "# from what this box could see. Every option: sentinel.example.yaml (in /opt/sentinel",
        "# or the source tree). Check: sentinel check-config /etc/sentinel/sentinel.yaml",
        "",
        f"site: {p.site}",
        "listen: 127.0.0.1:9717            # vmagent scrapes it here",
        "",
        "local:",
        "  interval: 10s",
        "",
        "privacy:",
        f"  key: {{credential: {SITE_KEY_CREDENTIAL}}}   # /etc/sentinel/credentials/site-key",
        "",
    ]
    out += _snmp(p)
    out += _capture(p)
    out += _alerting()
    return "\n".join(out) + "\n"


_SNMP_EXAMPLE = [
    "    # school-v3:                   # one entry per set of credentials",
    "    #   version: 3",
    "    #   user: sentinel",
    "    #   auth: {protocol: SHA-256, passphrase: {credential: sentinel_snmp-auth}}",
    "    #   priv: {protocol: AES, passphrase: {credential: sentinel_snmp-priv}}",
]
_SWITCH_EXAMPLE = [
    "    # - {name: core, address: 10.20.0.2, auth: school-v3, uplinks: [Te1/0/1]}",
    "    # - {name: wing-b, address: 10.20.0.12, auth: school-v3}",
]


def _snmp(p: Plan) -> list[str]:
    auths: list[str] = []
    switches: list[str] = []
    if p.local_community is not None:
        # A read-only community on loopback (deploy/install.sh --demo, or Debian's own
        # "public" for localhost): not a secret worth a credential.
        auths.append(f"    local: {{version: 2c, community: {_q(p.local_community)}}}")
        switches.append(
            "    - {name: localhost, address: 127.0.0.1, auth: local, interval: 30s, "
            "timeout: 1s, retries: 1}   # this box's own snmpd"
        )
    sw = p.switch
    if sw is not None:
        name = sw.name or sw.address.rsplit(":", 1)[0].strip("[]")
        if sw.version == "3":
            prefix = sw.credential or V3_CREDENTIAL
            auths += [
                "    school:",
                "      version: 3",
                f"      user: {_q(sw.user)}",
                f"      auth: {{protocol: {sw.auth_protocol}, passphrase: "
                f"{{credential: {prefix}-auth}}}}",
                f"      priv: {{protocol: {sw.priv_protocol}, passphrase: "
                f"{{credential: {prefix}-priv}}}}",
            ]
        else:
            cred = sw.credential or COMMUNITY_CREDENTIAL
            auths.append(
                f"    school: {{version: {sw.version}, community: {{credential: {cred}}}}}"
            )
        switches.append(f"    - {{name: {_q(name)}, address: {_q(sw.address)}, auth: school}}")
    if not switches:
        return [
            "# The school's switches, polled over SNMP:",
            "# snmp:",
            "#   auths:",
            *(f"#     {line[6:]}" for line in _SNMP_EXAMPLE),
            "#   switches:",
            *(f"#     {line[6:]}" for line in _SWITCH_EXAMPLE),
            "",
        ]
    return [
        "snmp:",
        "  auths:",
        *auths,
        *_SNMP_EXAMPLE,
        "  switches:",
        *switches,
        *_SWITCH_EXAMPLE,
        "",
    ]


def _capture(p: Plan) -> list[str]:
    if p.lan is None:
        return [
            "# No LAN interface was found: set it to capture and detect on the LAN.",
            "# capture:",
            "#   interface: lan0",
            "",
        ]
    lan = p.lan
    lines = [
        "capture:",
        f"  interface: {lan.name}"
        + (f"              # the LAN: {lan.network}" if lan.network else ""),
        "  # networks: the site's own ranges (default: every private range)",
    ]
    if p.other_lans:
        lines.append(f"  # other candidate interfaces: {', '.join(p.other_lans)}")
    lines += [
        "",
        "# Every detector runs with its default thresholds (sentinel.example.yaml).",
        "detect:",
    ]
    if p.gateway_ip:
        gw = f"ip: {p.gateway_ip}"
        if p.gateway_mac:
            gw += f", mac: {_q(p.gateway_mac)}"
        lines.append(f"  gateway: {{{gw}}}   # pinned: ARP claims for it from another MAC alert")
    else:
        lines.append(
            '  # gateway: {ip: 10.20.0.1, mac: "00:11:22:33:44:55"}   # pin the LAN\'s router'
        )
    rogue = []
    if p.dhcp_servers:
        rogue.append(f"servers: {_list(p.dhcp_servers)}")
    if p.dhcp_routers:
        rogue.append(f"routers: {_list(p.dhcp_routers)}")
    if p.dhcp_dns:
        rogue.append(f"dns_servers: {_list(p.dhcp_dns)}")
    if rogue:
        lines.append(f"  rogue_dhcp: {{{', '.join(rogue)}}}")
    else:
        lines.append("  # rogue_dhcp: {servers: [10.20.0.1]}   # empty: learned after start")
    if p.resolvers:
        lines.append(
            f"  dns_bypass: {{resolvers: {_list(p.resolvers)}}}   # the school's resolvers"
        )
    else:
        lines.append("  # dns_bypass: {resolvers: [10.20.0.10]}   # empty: the detector is off")
    lines += [
        "",
        "# Internet quality probes (the gateway, this box's resolver and an outside one by",
        "# default, where this version has them):",
        "# probes:",
        "#   targets:",
        '#     - {name: portal, module: http, address: "https://portal.school.example/"}',
        "",
    ]
    return lines


def _alerting() -> list[str]:
    return [
        "# Alerts go to the log (the journal under systemd) until a receiver is set:",
        "# alerting:",
        "#   alertmanager:",
        '#     urls: ["https://alertmanager.region.example/"]',
        "#     username: bs-de-linde-gent",
        "#     password: {credential: sentinel_alertmanager-password}",
        "#   email:",
        "#     smtp: smtp.school.example:587",
        "#     sender: sentinel@school.example",
        "#     to: [ict@school.example]",
        "#     username: sentinel",
        "#     password: {credential: sentinel_smtp-password}",
        "#   webhook:",
        '#     url: "https://hooks.school.example/sentinel"',
        "#     secret: {credential: sentinel_webhook-secret}",
    ]
