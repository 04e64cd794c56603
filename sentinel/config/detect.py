"""The ``detect`` section: every detector's thresholds, with documented defaults.

Each threshold's trade-off is in its comment: lower catches slower or smaller attacks
and raises more false alarms on busy but benign hosts. Defaults come from the tools the
detections are modelled on (Zeek, simple-scan, arpwatch, nDPI) and the school lab.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from sentinel.config.validate import Check, Count, Duration, Ip, Network, Port, Rate

Seconds = Annotated[float, Duration(min=1, max=7 * 86400)]


def _mac(text: str) -> str:
    t = text.strip().lower().replace("-", ":")
    if not re.fullmatch(r"([0-9a-f]{2}:){5}[0-9a-f]{2}", t):
        raise ValueError(f"{text!r} is not a MAC address such as 00:11:22:33:44:55")
    return t


def _domain(text: str) -> str:
    t = text.strip().lower().rstrip(".")
    if not re.fullmatch(r"[a-z0-9_*]([a-z0-9_.-]*[a-z0-9])?", t):
        raise ValueError(f"{text!r} is not a domain name")
    return t


def _percent(value: int) -> int:
    if not 0 < value <= 100:
        raise ValueError(f"{value} is not a percentage between 1 and 100")
    return value


Mac = Annotated[str, Check(_mac)]
Percent = Annotated[int, Check(_percent)]
Domain = Annotated[str, Check(_domain)]


@dataclass(frozen=True, slots=True)
class Allow:
    """Never alert about these sources (or, for domains, these names)."""

    hosts: tuple[Network, ...] = ()  # addresses or networks
    macs: tuple[Mac, ...] = ()
    domains: tuple[Domain, ...] = ()  # a domain covers its subdomains


@dataclass(frozen=True, slots=True)
class Gateway:
    """The site's router. Pinned here, never learned from traffic an attacker can forge."""

    ip: Ip | None = None
    mac: Mac | None = None
    # Its IPv6 link-local address (the source of its router advertisements): rogue_ra
    # uses it when no router MAC is pinned, nd_spoof guards it with ``mac``.
    ip6: Ip | None = None


@dataclass(frozen=True, slots=True)
class Incidents:
    """Findings of one source within ``window`` of each other are one incident: one
    notification that names every finding (a sweep and the scan that follows it)."""

    enabled: bool = True
    window: Seconds = 300.0


@dataclass(frozen=True, slots=True)
class PortScan:
    enabled: bool = True
    allow: Allow = field(default_factory=Allow)
    window: Seconds = 300.0
    # Failed (closed or unanswered) ports on one host within the window. Lower catches
    # scans of a few ports; higher spares hosts whose clients retry several dead services.
    vertical_threshold: Count = 15
    # Hosts probed on one port, failing, within the window.
    horizontal_threshold: Count = 20
    # Failed (host, port) pairs with at least 10 ports, any pattern (random scans).
    # Horizontal and random scans count only the site's hosts (detect networks).
    random_threshold: Count = 40
    # IP protocols probed on one host (nmap -sO); hosts speak TCP, UDP, ICMP and a few.
    protocol_threshold: Count = 8
    # Slow scans: failed ports on one host within slow_window (nmap -T1 and friends).
    # UDP datagrams with data between the site's hosts reach port_scan six unanswered
    # ports at a time (accounting.SPREAD_FLOOR): a lower threshold does not see them sooner.
    slow_window: Seconds = 3600.0
    slow_threshold: Count = 6
    # A SYN without SYN-ACK after this long counts as a failed attempt.
    answer_timeout: Seconds = 5.0


@dataclass(frozen=True, slots=True)
class HostSweep:
    enabled: bool = True
    allow: Allow = field(default_factory=Allow)
    window: Seconds = 300.0
    # Distinct hosts probed with ICMP queries (echo; in IPv4 timestamp, information,
    # address mask) or TCP discovery probes within the window.
    icmp_threshold: Count = 20
    tcp_threshold: Count = 20
    # Distinct addresses one MAC asks for with ARP (or IPv6 solicitations) within
    # arp_window. Hosts talk to few neighbours; a sweep asks for the whole subnet. An
    # address that sent the MAC a packet within arp_window does not count: asking for it
    # is answering it (a server flooded from spoofed addresses of its own subnet). Nor
    # do a host's requests within arp_window of a second in which 20 addresses sent it
    # datagrams with data, fragments, or SYNs past the frame budget (counted by the
    # capture side, not packets here); requests are judged 2 s old, once their
    # second's counts are in.
    arp_window: Seconds = 60.0
    arp_threshold: Count = 50


@dataclass(frozen=True, slots=True)
class SynFlood:
    enabled: bool = True
    allow: Allow = field(default_factory=Allow)
    # SYNs per second to one (host, port), sustained for `sustain` seconds, or `burst`
    # SYNs in a run of seconds each over the rate (a two-second burst of thousands).
    # A busy file server gets many SYNs too, from many clients that each open a few:
    # only a dominant sender, a crowd of one-shot (spoofed) senders, a few heavy senders,
    # or many addresses behind one MAC the service never answers is a flood.
    rate_threshold: Rate = 200.0
    sustain: Seconds = 3.0
    burst: Count = 1000


@dataclass(frozen=True, slots=True)
class Flood:
    """RST, ACK, UDP and ICMP floods to one victim (SYN floods: syn_flood)."""

    enabled: bool = True
    allow: Allow = field(default_factory=Allow)
    # Packets a second to one victim, sustained for `sustain` seconds, or `burst` packets
    # in a run of seconds over the rate, the seconds on either side of it counted (a
    # burst rarely lines up with the clock: 3,000 packets in 1.5 s fill three buckets,
    # only one over the rate). Nothing ordinary sends a host a thousand empty datagrams,
    # RSTs or echo requests a second; ping sends one.
    rate_threshold: Rate = 1000.0
    sustain: Seconds = 2.0
    burst: Count = 2000
    # UDP datagrams with data to one host that answers fewer than 2 % of them: video,
    # QUIC and game traffic is answered, and one-way streams (NetFlow or syslog to a
    # collector, a camera to a recorder) stay well under ten thousand a second.
    udp_data_rate_threshold: Rate = 10000.0
    # IPv4 and IPv6 fragments of UDP and TCP to one host that answers fewer than 2 % of
    # them (a flood sent in fragments: hping3 -f, or datagrams over the MTU). Fragments are
    # rare on a LAN (a few large DNS answers); NFS over UDP and VPN tunnels that fragment
    # are answered, and a one-way stream would need some 25 Mbit/s in fragments.
    fragment_rate_threshold: Rate = 2000.0


@dataclass(frozen=True, slots=True)
class DhcpStarvation:
    enabled: bool = True
    allow: Allow = field(default_factory=Allow)
    # DISCOVERs/REQUESTs (DHCPv6: SOLICITs/REQUESTs, a client being its DUID) for
    # distinct client MACs within `window`: a whole school's laptops coming back after a
    # Wi-Fi outage reach a few hundred a minute; starvation tools send hundreds a second.
    # Critical when one Ethernet sender speaks for `forged_threshold` different client
    # MACs (a relay sets giaddr and is not counted).
    window: Seconds = 10.0
    clients_threshold: Count = 200
    forged_threshold: Count = 20
    # A tool that waits for each lease (dhcpstarv against a server that pings an address
    # before offering it: one lease every 3 s) asks slowly but never stops: a warning at
    # `slow_threshold` other client MACs from one sender within `slow_window`. Lower
    # catches it sooner; a laptop bridging a few virtual machines speaks for two or three.
    slow_window: Seconds = 300.0
    slow_threshold: Count = 10


@dataclass(frozen=True, slots=True)
class ArpSpoof:
    enabled: bool = True
    allow: Allow = field(default_factory=Allow)
    # An IP whose MAC changes this often within flip_window is a man in the middle; a
    # laptop that got the address of one that left (DHCP) changes it once.
    flip_threshold: Count = 3
    flip_window: Seconds = 600.0


@dataclass(frozen=True, slots=True)
class RogueDhcp:
    enabled: bool = True
    allow: Allow = field(default_factory=Allow)
    # Allowed DHCP servers. Empty: learned during the quiet period after start, and only
    # from ACKs (a rogue that answers OFFERs first is still a rogue).
    servers: tuple[Ip, ...] = ()
    learn_period: Seconds = 600.0
    # The router and DNS servers the legitimate server hands out; a different one in an
    # OFFER/ACK is flagged even from an allowed server. Empty: not checked.
    routers: tuple[Ip, ...] = ()
    dns_servers: tuple[Ip, ...] = ()


@dataclass(frozen=True, slots=True)
class RogueRa:
    enabled: bool = True
    allow: Allow = field(default_factory=Allow)
    # The LAN's IPv6 routers. With a MAC pinned here or in detect.gateway.mac, a router
    # advertisement from any other MAC is critical; addresses count only when no MAC is
    # pinned (a forged source address is how the "kill router" attack works). Empty
    # (and no gateway): the routers that announce during learn_period, counted from the
    # first advertisement, are learned and a later newcomer is a warning. A longer period
    # lets an early rogue be learned; a shorter one flags a quiet second router.
    router_macs: tuple[Mac, ...] = ()
    router_addresses: tuple[Ip, ...] = ()
    learn_period: Seconds = 600.0


@dataclass(frozen=True, slots=True)
class RogueDhcp6:
    enabled: bool = True
    allow: Allow = field(default_factory=Allow)
    # The LAN's DHCPv6 servers (or the relay agents that deliver their replies), by MAC
    # or address. With any listed, a reply from another is critical. Empty: servers that
    # reply during learn_period, counted from the first DHCPv6 message, are learned, and
    # a later one is critical. The pinned gateway (detect.gateway.mac) is always the
    # site's. Whatever is listed, a server handing out a link-local address (mitm6)
    # is critical: no DHCPv6 server does.
    server_macs: tuple[Mac, ...] = ()
    server_addresses: tuple[Ip, ...] = ()
    learn_period: Seconds = 600.0
    # The IPv6 DNS servers the legitimate servers hand out; another one is critical even
    # from a listed server. Empty: not checked.
    dns_servers: tuple[Ip, ...] = ()


@dataclass(frozen=True, slots=True)
class NdSpoof:
    enabled: bool = True
    allow: Allow = field(default_factory=Allow)
    # An IPv6 address whose MAC changes this often within flip_window (neighbour
    # advertisements with the override flag, solicitations naming their sender) is a man
    # in the middle; a device that takes over an address changes it once. The router's
    # address (detect.gateway.ip6 with its MAC, or the source of a learned router's
    # advertisements) claimed by another MAC is flagged at once.
    flip_threshold: Count = 3
    flip_window: Seconds = 600.0


@dataclass(frozen=True, slots=True)
class DnsTunnel:
    enabled: bool = True
    allow: Allow = field(
        default_factory=lambda: Allow(
            domains=(
                "akamaiedge.net",
                "akamaihd.net",
                "cloudfront.net",
                "googlevideo.com",
                "1e100.net",
                "windowsupdate.com",
                "sophosxl.net",
                "mcafee.com",
                "trendmicro.com",
                "eset.com",
                "kaspersky.com",
                "avast.com",
                "spamhaus.org",
            )
        )
    )
    window: Seconds = 3600.0
    # A first label longer than this, or a whole name longer than name_length, is data.
    label_length: Count = 48
    name_length: Count = 90
    # Unique names queried under one registered domain within the window.
    unique_names_threshold: Count = 150
    # Long-name queries under one domain within the window before an alert.
    long_names_threshold: Count = 20
    # Query types used for tunnels (NULL, TXT, PRIVATE): counts within the window.
    odd_types_threshold: Count = 50
    # Datagrams to port 53 of one server that are not DNS queries (iodine's raw UDP
    # mode, a VPN on the DNS port) within the window; DNS clients send none.
    not_dns_threshold: Count = 20
    # Per client, over all its queries whatever their domain (dnscat2 sent straight to
    # its server spreads the tunnel over names that share no domain), within
    # client_window. Shorter forgets slow tunnels sooner; longer holds more per client.
    client_window: Seconds = 600.0
    # A name is random-looking when the labels left of its registered domain (the whole
    # name under an unknown top-level label) have at least data_length characters at
    # entropy_threshold bits a character or more: hex and base32 data do, host names
    # rarely. Different random-looking names within client_window before an alert:
    # lower catches smaller transfers, and flags telemetry that puts GUIDs in names.
    data_length: Count = 24
    entropy_threshold: Rate = 3.3
    encoded_names_threshold: Count = 100
    # TXT, CNAME, MX and rare-type queries (NULL, KEY, private use: types no everyday
    # client asks for) within client_window, when they are
    # at least carrier_share percent of the client's queries. Laptops ask A, AAAA and
    # HTTPS; dnscat2 asks TXT, CNAME and MX. A mail server asks MX and TXT all day:
    # allow it (or raise these) where one sits on the monitored LAN.
    carrier_types_threshold: Count = 40
    carrier_share: Percent = 30
    # Different names a minute, summed over client_window (a program retrying one name
    # counts once a minute): a busy laptop's browsing reaches a few hundred.
    distinct_names_threshold: Count = 1500
    # A client asking for this many different registered domains (under known suffixes)
    # within client_window relays for others (a resolver, a proxy) and is not judged as
    # a client; the per-domain tests still apply. Lower spares busier single users, and
    # lets a tunnel hidden among that many ordinary lookups go unseen by the client test.
    relay_domains_threshold: Count = 150
    # Slow tunnels: dnscat2 with --delay 6000 or slower asks under 100 names in
    # client_window (at 20 s, under 40 carriers too). Per client within slow_window:
    # different random-looking names (data_length, entropy_threshold) under no known
    # public suffix (dnscat2's direct mode, dnscat.<hex> straight to its server) or very
    # long (label_length, name_length: iodine's chunks). Hashed CDN and ad-frame names
    # and GUID telemetry sit in short labels under known suffixes and never count (a
    # busy laptop asks a hundred of those an hour, so short random labels under one
    # domain are left to unique_names_threshold: to one query every 24 s, 72 s as TXT).
    # 200 in 6 h is one query every 108 s or faster (some 20 kB); lower or longer catches
    # slower tunnels, and a device asking many random local names (a domain controller's
    # GUID records: allow it). A name asked again counts once; 2 KiB a client counted,
    # 1,024 clients at most.
    slow_window: Seconds = 21600.0
    slow_names_threshold: Count = 200


@dataclass(frozen=True, slots=True)
class BruteForce:
    enabled: bool = True
    allow: Allow = field(default_factory=Allow)
    # Login services: ssh, telnet, ftp, rdp, smb, vnc, mssql, mysql, postgres, ldap, winrm.
    ports: tuple[Port, ...] = (21, 22, 23, 139, 445, 1433, 3306, 3389, 5432, 5900, 5985, 389)
    # Connections from one source to one login service within short_window, or within
    # long_window. An admin opens a few sessions; a password guesser opens dozens (hydra
    # makes several guesses per connection, so connections are counted, not failures).
    short_window: Seconds = 120.0
    short_threshold: Count = 10
    long_window: Seconds = 1800.0
    long_threshold: Count = 30
    # Bursts: `burst_threshold` connections started within `burst_window`, seen `bursts`
    # times within short_window. Password guessers run parallel sessions (hydra -t 4),
    # and modern sshd keeps each for several guesses, so the first burst is all there is
    # for half a minute; a person opening sessions by hand never starts four in two
    # seconds. Raise `bursts` to 2 where admins' tools open parallel sessions to one host.
    burst_threshold: Count = 4
    burst_window: Seconds = 2.0
    bursts: Count = 1
    # Refused logins read from the servers' replies on any port (HTTP 401, FTP 530,
    # SMTP 535, POP3 and IMAP refusals, Redis WRONGPASS, telnet "Login incorrect", VNC,
    # MySQL 1045, PostgreSQL 28P01) from one server to one client within
    # failures_window. A person mistyping a password makes two or three, a browser shows
    # a 401 page a few times before the password is typed; hydra makes dozens a minute.
    # Lower catches slower guessers, and also a device retrying a stale password every
    # few seconds (allow it).
    failures_threshold: Count = 10
    failures_window: Seconds = 60.0
    # Slow guessing: refused logins from one server to one client within
    # failures_long_window, a warning. hydra with one task spacing its guesses (-c 10:
    # six a minute) or one kept-alive HTTP or IMAP session stays under the minute's bar
    # and reaches 30 in five minutes; at three a minute in ten. A person mistyping makes
    # a few, a browser one 401 per visit, a digest server one per nonce (Apache: every
    # five minutes), a mail client or a printer with a stale password one per poll:
    # every 2 minutes or slower is 15 at most, half the bar. What reaches it averages a
    # refusal a minute for half an hour: a guesser, or a device an admin should fix or
    # allow (a monitoring probe with old credentials every 60 s, an intranet on plain
    # HTTP with Windows sign-in, whose NTLM answers each new connection with a 401).
    # Lower or longer catches slower guessers, and more such devices.
    failures_long_threshold: Count = 30
    failures_long_window: Seconds = 1800.0
    # POSTs from one client to one login form (its path or fields name a login or
    # password) answered alike within failures_window: the same status and redirect,
    # the length within 10 % (the "wrong password" page). Lower catches slower guessers
    # and more apps that post to a login-named path in a loop.
    form_threshold: Count = 10
    # Spraying: the thresholds above reached over `spray_servers` servers or more on one
    # login port (a few guesses each): refused logins critical, accepted sessions closed
    # with a FIN a warning (an admin's tool fanning out over many servers' ssh opens as
    # many; a sweep's unanswered or reset SYNs are no sessions).
    spray_servers: Count = 4


@dataclass(frozen=True, slots=True)
class MacFlood:
    enabled: bool = True
    allow: Allow = field(default_factory=Allow)
    # Never-seen source MACs per minute. A school LAN gains a few devices a minute at
    # the start of a lesson; macof sends thousands a second.
    new_macs_threshold: Count = 100
    window: Seconds = 60.0
    # During the first window after capture starts every device is new: the threshold
    # is multiplied by this while the table fills.
    startup_factor: Count = 10


@dataclass(frozen=True, slots=True)
class DnsBypass:
    enabled: bool = True
    allow: Allow = field(default_factory=Allow)
    # The school's resolvers. Empty: the detector is off (nothing to compare with).
    resolvers: tuple[Ip, ...] = ()
    # Queries to other resolvers from one client within the window before an alert.
    threshold: Count = 10
    window: Seconds = 600.0


@dataclass(frozen=True, slots=True)
class Blocklist:
    enabled: bool = True
    allow: Allow = field(default_factory=Allow)
    # Files with one address, network or domain per line (# comments); re-read when
    # they change.
    files: tuple[Path, ...] = ()
    check_interval: Seconds = 60.0


@dataclass(frozen=True, slots=True)
class NewDevice:
    enabled: bool = True
    allow: Allow = field(default_factory=Allow)
    # Every device is new while sentinel learns the LAN: nothing is reported for this long
    # after capture starts. Informational: an alert only with detect.info_alerts.
    learn_period: Seconds = 600.0


@dataclass(frozen=True, slots=True)
class Evidence:
    """Small pcaps of the packets behind each alert, in the state directory."""

    enabled: bool = True
    packets_per_alert: Count = 50
    max_total_mb: Count = 100


@dataclass(frozen=True, slots=True)
class DetectConfig:
    """The ``detect`` section."""

    gateway: Gateway = field(default_factory=Gateway)
    allow: Allow = field(default_factory=Allow)  # applies to every detector
    # A repeat of the same alert (detector + source) within this time is not sent again.
    suppress_for: Seconds = 3600.0
    # An alert is resolved when its source has been quiet this long.
    resolve_after: Seconds = 600.0
    # Informational findings (a new device) become alerts only when this is true.
    info_alerts: bool = False
    evidence: Evidence = field(default_factory=Evidence)
    incidents: Incidents = field(default_factory=Incidents)
    # Bound on tracked sources per detector: a spoofed-source flood evicts, never grows.
    max_tracked: Count = 20000
    port_scan: PortScan = field(default_factory=PortScan)
    host_sweep: HostSweep = field(default_factory=HostSweep)
    syn_flood: SynFlood = field(default_factory=SynFlood)
    flood: Flood = field(default_factory=Flood)
    dhcp_starvation: DhcpStarvation = field(default_factory=DhcpStarvation)
    arp_spoof: ArpSpoof = field(default_factory=ArpSpoof)
    rogue_dhcp: RogueDhcp = field(default_factory=RogueDhcp)
    rogue_ra: RogueRa = field(default_factory=RogueRa)
    rogue_dhcp6: RogueDhcp6 = field(default_factory=RogueDhcp6)
    nd_spoof: NdSpoof = field(default_factory=NdSpoof)
    dns_tunnel: DnsTunnel = field(default_factory=DnsTunnel)
    brute_force: BruteForce = field(default_factory=BruteForce)
    mac_flood: MacFlood = field(default_factory=MacFlood)
    dns_bypass: DnsBypass = field(default_factory=DnsBypass)
    blocklist: Blocklist = field(default_factory=Blocklist)
    new_device: NewDevice = field(default_factory=NewDevice)
