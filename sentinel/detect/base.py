"""What every detector shares: the finding it reports, bounded tables, the protocol,
and the site-wide settings (``Common``) the registry hands each detector."""

from __future__ import annotations

import ipaddress
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

from sentinel.config.detect import DetectConfig
from sentinel.model import Severity

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterable, Iterator

    from sentinel.config.detect import Allow
    from sentinel.packet import Packet

K = TypeVar("K")
V = TypeVar("V")

# Which packets a detector wants; the engine classifies each packet once.
ARP = "arp"
TCP_CONTROL = "tcp_control"  # SYN, FIN, RST, or no ACK (NULL, Xmas probes)
# Any other TCP segment: the capture passes an empty ACK whose peer has been quiet (an
# ACK or Window scan's probe) and the peer's answer to it or to an empty FIN|ACK
TCP_ACK = "tcp_ack"
ICMP = "icmp"
DNS = "dns"
DHCP = "dhcp"
DHCP6 = "dhcp6"  # DHCPv6: UDP to or from port 546 or 547
ND = "nd"  # IPv6 neighbour discovery: router and neighbour solicitations, advertisements
UDP_PROBE = "udp_probe"  # an empty UDP datagram (UDP scans)
IP_OTHER = "ip_other"  # an IP protocol other than TCP, UDP, ICMP (IP-protocol scans)
ANY_IP = "ip"  # every decoded IP packet (blocklist)
ETHERNET = "ethernet"  # every decoded frame (new source MACs)
LOGIN = "login"  # TCP data that starts like a refused login, an HTTP POST or HTTP answer


@dataclass(slots=True)
class Finding:
    """A detector's verdict about one source, in clear text (the engine pseudonymises).

    ``summary`` may use ``{source}`` and ``{target}``: the engine fills them with the
    pseudonyms (or the clear values where the site allows it).
    """

    detector: str
    severity: Severity
    identifier: str  # what repeats are suppressed by: usually the source address
    summary: str
    ts: float
    src_ip: str = ""
    src_mac: str = ""
    target: str = ""  # a device (pseudonymised) ...
    target_name: str = ""  # ... or a name that is not a device (a domain, a port)
    kind: str = ""  # variant: vertical, horizontal, arp, ...
    counts: dict[str, int] = field(default_factory=dict)
    description: str = ""


class Detector(Protocol):
    """One detection, in one module, with its settings from ``config.detect``."""

    name: ClassVar[str]
    wants: ClassVar[frozenset[str]]

    def observe(self, p: Packet) -> Iterable[Finding]: ...

    def tick(self, now: float) -> Iterable[Finding]: ...

    def stats(self) -> dict[str, int]: ...


class Bounded(Generic[K, V]):
    """A dict with a size cap: the least recently touched key goes first.

    Spoofed-source floods fill tables with junk; the cap keeps memory flat and the
    evictions are counted so operators see it happen.
    """

    __slots__ = ("_d", "cap", "evictions")

    def __init__(self, cap: int) -> None:
        self._d: OrderedDict[K, V] = OrderedDict()
        self.cap = cap
        self.evictions = 0

    def get(self, key: K) -> V | None:
        v = self._d.get(key)
        if v is not None:
            self._d.move_to_end(key)
        return v

    def touch(self, key: K) -> bool:
        """Whether ``key`` is here; if so it becomes the most recent (one lookup: for
        tables asked on every frame, whose keys are nearly always present)."""
        try:
            self._d.move_to_end(key)
        except KeyError:
            return False
        return True

    def setdefault(self, key: K, factory: type[V] | None = None, value: V | None = None) -> V:
        v = self._d.get(key)
        if v is not None:
            self._d.move_to_end(key)
            return v
        new = value if value is not None else factory() if factory is not None else None
        assert new is not None
        self._d[key] = new
        if len(self._d) > self.cap:
            self._d.popitem(last=False)
            self.evictions += 1
        return new

    def put(self, key: K, value: V) -> None:
        """Set (or replace) the value of ``key``; it becomes the most recent."""
        d = self._d
        if key in d:
            d[key] = value
            d.move_to_end(key)
            return
        d[key] = value
        if len(d) > self.cap:
            d.popitem(last=False)
            self.evictions += 1

    def pop(self, key: K) -> V | None:
        return self._d.pop(key, None)

    def __contains__(self, key: object) -> bool:
        return key in self._d

    def __len__(self) -> int:
        return len(self._d)

    def items(self) -> Iterator[tuple[K, V]]:
        return iter(list(self._d.items()))

    def keys(self) -> list[K]:
        return list(self._d)


class Run:
    """Packets a second, and the run of consecutive seconds at or over a rate (floods).

    A burst rarely lines up with the clock: hping3's 3,000 packets in 1.5 s fall into
    three one-second buckets, only the middle one over the rate. So a run's ``total``
    also counts the second before it (``lead``) and its last, partial second.
    """

    __slots__ = ("count", "hot", "judged", "lead", "second", "total")

    def __init__(self) -> None:
        self.second = -1
        self.count = 0  # in the current second
        self.hot = 0  # consecutive seconds at or over the rate
        self.lead = 0  # the previous second's count, when it was under the rate
        self.total = 0  # since the run (or the current second, outside one) began
        self.judged = 0  # the total ``roll`` last judged: a run's, even once it ended

    def add(self, n: int = 1) -> None:
        self.count += n
        self.total += n

    def roll(self, second: int, rate: float, sustain: float, burst: int) -> tuple[bool, bool]:
        """Close the current second when ``second`` is a later one.

        Returns (flood: the run is over the rate for ``sustain`` seconds or ``burst``
        packets, quiet: no run goes on, so the caller forgets who sent what).
        """
        if second == self.second:
            return False, False
        flood = quiet = False
        if self.second >= 0:
            over = self.count >= rate
            if over:
                if not self.hot:
                    self.total += self.lead
                self.hot += 1
                flood = self.hot >= sustain or self.total >= burst
            else:
                flood = self.hot > 0 and self.total >= burst  # the run's last second
            self.judged = self.total
            adjacent = second - self.second == 1
            if not (over and adjacent):
                self.lead = self.count if adjacent and not over else 0
                self.hot = 0
                self.total = 0
                quiet = True
        self.second, self.count = second, 0
        return flood, quiet


# Every detector keys its tables by these texts: one shared string per address instead of
# one per detector and packet. Bounded: emptied when full (a spoofed flood only refills it).
_TEXTS_CAP = 16384


class _Texts(dict[bytes, str]):
    """Wire bytes of an address -> its text, made on the first lookup (``__missing__``):
    4 or 16 bytes are an IP address, anything else a MAC (6 bytes)."""

    __slots__ = ()

    def __missing__(self, raw: bytes) -> str:
        if len(raw) == 4:
            text = f"{raw[0]}.{raw[1]}.{raw[2]}.{raw[3]}"
        elif len(raw) == 16:
            text = str(ipaddress.IPv6Address(raw))
        else:
            text = raw.hex(":")
        if len(self) >= _TEXTS_CAP:
            self.clear()
        self[raw] = text
        return text


_TEXTS = _Texts()
# Asked several times a packet: the dict's own lookup, so a known address (nearly every
# call) runs no Python code. ip_text: 4 or 16 bytes to the usual text form; mac_text: 6
# bytes to "aa:bb:cc:dd:ee:ff".
ip_text: Callable[[bytes], str] = _TEXTS.__getitem__
mac_text: Callable[[bytes], str] = _TEXTS.__getitem__


class Allowed:
    """An allow-list (hosts, networks, MACs, domains) answered quickly."""

    def __init__(self, *allows: Allow) -> None:
        self.nets = [ipaddress.ip_network(h) for a in allows for h in a.hosts]
        self.macs = {m for a in allows for m in a.macs}
        self.domains = frozenset(d.lower().rstrip(".") for a in allows for d in a.domains)
        self._ips: dict[str, bool] = {}

    def ip(self, text: str) -> bool:
        if not self.nets or not text:
            return False
        hit = self._ips.get(text)
        if hit is None:
            addr = ipaddress.ip_address(text)
            hit = any(addr in n for n in self.nets)
            if len(self._ips) < 65536:
                self._ips[text] = hit
        return hit

    def mac(self, text: str) -> bool:
        return text in self.macs

    def source(self, ip: str, mac: str) -> bool:
        # asked by most detectors on every packet, and most allow-lists are empty
        return (bool(self.nets) and self.ip(ip)) or (bool(mac) and mac in self.macs)

    def domain(self, name: str) -> bool:
        """``name`` is an allowed domain or under one: each of its suffixes looked up."""
        if not self.domains:
            return False
        name = name.lower().rstrip(".")
        domains = self.domains
        while name not in domains:
            dot = name.find(".")
            if dot < 0:
                return False
            name = name[dot + 1 :]
        return True


@dataclass(frozen=True, slots=True)
class Common:
    """What detectors share: the site's ranges, its gateway, global allow-list, caps."""

    cfg: DetectConfig
    networks: tuple[str, ...]
    max_tracked: int

    def allowed(self, own: Any) -> Allowed:
        return Allowed(self.cfg.allow, own.allow)


# A flood's senders (syn_flood, flood): one that dominates, a crowd of one-shot (spoofed)
# senders, or a few hosts flooding together.
DOMINANT_SHARE = 0.5  # one sender with at least this share: a single-source flood
ONE_SHOT_SHARE = 0.9  # senders with a single packet: spoofed sources
CROWD = 50  # distinct senders a crowd of one-shot senders has at least
# Distributed: senders with at least HEAVY_SHARE each (so at most 1 / HEAVY_SHARE of
# them), two or more, together at least HEAVY_TOTAL of the packets. A busy server's
# hundreds of clients each send a sliver; a few infected laptops each send a slice.
HEAVY_SHARE = 0.05
HEAVY_TOTAL = 0.8


def heavy_senders(senders: dict[K, int], untracked: int) -> list[tuple[K, int]]:
    """The senders with at least HEAVY_SHARE of the packets (``untracked``: packets from
    senders past the cap), with their counts."""
    total = sum(senders.values()) + untracked
    return [(who, n) for who, n in senders.items() if n >= HEAVY_SHARE * total]


def flood_shape(senders: dict[K, int], untracked: int) -> str:
    """How a flood's packets are spread over their senders: ``single``, ``spoofed``,
    ``distributed``, or "" when none of those (a busy server's many clients)."""
    total = sum(senders.values()) + untracked
    if not total:
        return ""
    if max(senders.values(), default=0) >= DOMINANT_SHARE * total:
        return "single"
    one_shot = sum(1 for n in senders.values() if n == 1) + untracked
    if len(senders) >= CROWD and one_shot >= ONE_SHOT_SHARE * (len(senders) + untracked):
        return "spoofed"
    heavy = [n for _, n in heavy_senders(senders, untracked)]
    if len(heavy) >= 2 and sum(heavy) >= HEAVY_TOTAL * total:
        return "distributed"
    return ""


# A crowd of repeating spoofed senders (syn_flood): addresses that each send a few SYNs,
# far more of them than the MACs they come from, almost none of them ever answered.
# More addresses than a lesson's laptops (60 opening 20 connections each in 3 s).
REPEATING_CROWD = 100
CROWD_MAC_SHARE = 0.1  # at most one sender MAC per ten addresses
UNANSWERED_SHARE = 0.9  # senders the service never sent a SYN-ACK


def behind_few_macs(senders: Collection[tuple[str, str]], crowd: int) -> bool:
    """At least ``crowd`` (address, MAC) senders behind at most a tenth as many MACs: one
    machine (or the router in front of it) sending for them all. Laptops have their own."""
    n = len(senders)
    return n >= crowd and len({mac for _, mac in senders}) <= CROWD_MAC_SHARE * n


def spoofed_crowd(senders: dict[tuple[str, str], int], answered: Collection[str]) -> bool:
    """``senders`` ((address, MAC) -> packets) are a spoofed crowd: at least
    REPEATING_CROWD addresses behind at most a tenth as many MACs (one machine, or the
    router in front of it, sending for them all), and UNANSWERED_SHARE of them never
    answered by the service (``answered``: the addresses it sent a SYN-ACK). Laptops each
    have their own MAC, clients behind a router are answered: a busy server's clients
    are neither."""
    if not behind_few_macs(senders, REPEATING_CROWD):
        return False
    n = len(senders)
    served = sum(1 for ip, _ in senders if ip in answered) if answered else 0
    return n - served >= UNANSWERED_SHARE * n
