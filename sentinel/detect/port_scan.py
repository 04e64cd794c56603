"""port_scan: one source probing many ports, hosts or protocols, with any probe type.

What counts as a failed probe, per (source, target host, port or protocol):

- a SYN answered by RST, or not answered within ``answer_timeout`` (SYN and connect
  scans, open ports excepted: a SYN-ACK is an answer);
- a TCP segment with neither ACK nor SYN nor RST (NULL, FIN and Xmas scans): no
  connection ever sends one, so the probe itself is the evidence;
- an empty ACK or FIN|ACK answered by RST, or not answered within ``answer_timeout``
  (ACK, Window and Maimon scans, of unfiltered and of filtered hosts): the capture
  passes an empty ACK only when its peer has been quiet (it acknowledges nothing), and
  the peer's next segment, so a live flow's answer clears it; a normal close's FIN|ACK
  is answered too;
- a bare RST (no ACK flag) with window 0 from a host of the site: what a closed or
  unfiltered port's kernel answers to an ACK, Window or Maimon probe whose probe was
  not seen (an RST flood's crafted segments carry a window: they name no one a
  scanner). A SYN-ACK is never such a probe: the client's kernel resets one it has no
  socket for (a SYN flood's or a raw SYN scan's), and that reset is the end of the
  client's own attempt, whether the SYN-ACK was seen or not (a snap length cutting it
  inside its options, a full detector budget): the reset that comes from a SYN's
  sender, on the SYN's ports, with the sequence number the SYN-ACK acknowledged, is
  the SYN answered;
- an empty UDP datagram, or an ICMP port unreachable quoting one a source sent (UDP
  scans; the kernel rate-limits the unreachables, the probes are seen anyway);
- a UDP datagram with data to a port of a site's host that did not answer from it, when
  the sender sent such datagrams to 8 or more ports of the host in one second (UDP
  scans with payloads, nmap -sU --data-length, --max-retries 0, against a kernel that
  answers one unreachable a second): the capture side counts them per sender and hands
  the second over (``UdpProbes``), traceroute's ports 33434-33534 excepted; slower
  (nmap -sU -T2, -T1 against a host that drops its unreachables, or behind a firewall),
  when the sender, one of the site's hosts, sent data to 6 or more ports below 32768 of
  the host over minutes, at most 3 datagrams to each in its first 10 seconds (more is a
  stream), none of which the host sent from to it (in either order; a host that sent
  from more than 8 such ports is a server answering from many: media, TURN, games): the
  capture side keeps such ports per pair of the site's hosts and hands six over at a
  time (``UdpSpread``), each failed at the second it was first sent to, so the slow
  window sees the pace. Collectors' ports (syslog, traps, flow export, metrics:
  ``ONE_WAY_PORTS``) are one-way by design and never fail;
- a kernel's refusal of a probe that was not seen (RST|ACK with sequence number 0 and
  window 0, which answers only a segment without ACK: a SYN, or a NULL, FIN or Xmas
  probe) from a host of the site: a SYN scan sent in IPv4 fragments (nmap -f, --mtu),
  whose first fragment does not hold the TCP flags; the server reassembles the probe
  and refuses it;
- an SCTP INIT or COOKIE ECHO answered by ABORT, or by neither INIT ACK nor COOKIE ACK
  within ``answer_timeout`` (nmap -sY, -sZ), per port as with TCP;
- a datagram of a rare IP protocol, or an ICMP protocol unreachable (IP-protocol scans).

An empty UDP datagram is a probe whatever its ports: the engine routes it as one even
from DNS's, mDNS's or DHCP's port (nmap -sU -g 53), as it carries none of their messages.

Successful connections never count: a client using many services of one server is not
scanning it. Many ports on one host is a scan wherever the host is (vertical); many
hosts, or any pattern, counts only hosts of the site (horizontal, random): a laptop's
failures to the internet (peer-to-peer clients, blocked apps) stay below the floor, as
do a resolver's late answers to closed client ports. Slow scans are judged over
``slow_window`` from the same table: paced probes on one host, or one port on many of
the site's hosts.

Decoys (nmap -D) send the same probes from forged addresses of the same MAC: a probe
from a MAC whose own address is known from its ARP (and is not the gateway's) is
charged to that address, so the alert names the real scanner once.
"""

from __future__ import annotations

import ipaddress
import itertools
from typing import TYPE_CHECKING, ClassVar

from sentinel.detect import base
from sentinel.detect.base import Bounded, Finding, ip_text, mac_text
from sentinel.model import Severity
from sentinel.packet import (
    ICMP_UNREACHABLE,
    ICMPV6_UNREACHABLE,
    PROTO_ICMP,
    PROTO_ICMPV6,
    PROTO_SCTP,
    PROTO_TCP,
    PROTO_UDP,
    SCTP_ABORT,
    SCTP_COOKIE_ECHO,
    SCTP_INIT,
    TCP_ACK,
    TCP_FIN,
    TCP_PSH,
    TCP_RST,
    TCP_SYN,
    TCP_URG,
    UdpProbes,
    UdpSpread,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sentinel.config.detect import PortScan as Settings
    from sentinel.detect.base import Common
    from sentinel.packet import Aggregate, Packet

MAX_FAILURES_PER_SOURCE = 8192
MAX_DECOYS = 64
PACED_GAP = 1.0  # seconds: a median gap this long between failures is a deliberate delay
PROTOCOL = 1 << 16  # failure keys above this are IP protocols, not ports
LATE_ANSWER = 10.0  # seconds an unanswered empty ACK's answer is still recognised as one
BULK_PROTOCOLS = frozenset({4, 41, 47, 50, 51})  # tunnels: traffic, never probes
ICMPV6_PARAMETER_PROBLEM = 4  # code 1: unrecognised next header (IPv6's protocol unreachable)
TRACEROUTE_FIRST, TRACEROUTE_LAST = 33434, 33534  # traceroute's UDP ports (Linux, BSD)
# Collectors' UDP ports, one-way by design: syslog, SNMP traps, NetFlow, IPFIX, sFlow,
# Graylog's GELF, statsd, collectd. A switch or server exporting to a monitoring host on
# several of them, each every minute or on events, is no probe of them.
ONE_WAY_PORTS = frozenset({162, 514, 2055, 4739, 6343, 8125, 9995, 9996, 12201, 25826})


def stealth_probe(flags: int) -> str:
    """The nmap name of a TCP probe without ACK, SYN or RST."""
    if flags == 0:
        return "null"
    if flags & (TCP_FIN | TCP_PSH | TCP_URG) == TCP_FIN | TCP_PSH | TCP_URG:
        return "xmas"
    if flags & TCP_FIN:
        return "fin"
    return "odd_flags"


class _Source:
    __slots__ = ("decoys", "dirty", "failures", "mac", "probes")

    def __init__(self) -> None:
        self.failures: dict[tuple[str, int], float] = {}  # (dst, port) -> last failure
        self.dirty = False
        self.mac = ""
        self.probes: dict[str, int] = {}  # probe type -> failures
        self.decoys: set[str] | None = None  # made for the first decoy: most have none


class PortScan:
    name: ClassVar[str] = "port_scan"
    wants: ClassVar[frozenset[str]] = frozenset(
        {base.TCP_CONTROL, base.TCP_ACK, base.ICMP, base.UDP_PROBE, base.IP_OTHER, base.ARP}
    )

    def __init__(self, s: Settings, common: Common) -> None:
        self.s = s
        self.allowed = common.allowed(s)
        # SYNs (and SCTP INITs, COOKIE ECHOs) awaiting an answer: a scan of a filtered
        # host. (prober, target, port, prober's port) -> (sent, MAC, probe name, the
        # sequence number an answer acknowledges, whether it counts: allowed sources'
        # SYNs are tracked only to recognise their own resets of the answer)
        self.pending: Bounded[tuple[str, str, int, int], tuple[float, str, str, int, bool]] = (
            Bounded(common.max_tracked * 2)
        )
        # Empty ACKs and FIN|ACKs awaiting an answer: (prober, target, port, prober's port)
        # -> (sent, MAC, probe name, whether it counts: allowed sources are tracked only
        # to recognise the answer, which is not a probe of its own)
        self.acks: Bounded[tuple[str, str, int, int], tuple[float, str, str, bool]] = Bounded(
            common.max_tracked * 2
        )
        self.late: Bounded[tuple[str, str, int, int], float] = Bounded(common.max_tracked)
        self.sources: Bounded[str, _Source] = Bounded(common.max_tracked)
        # SYN-ACKs seen: a bare RST back is a client refusing it, not an ACK-scan answer
        self.answered: Bounded[tuple[str, str, int, int], float] = Bounded(common.max_tracked)
        self.owners: Bounded[str, str] = Bounded(common.max_tracked)  # MAC -> its own IPv4
        gw = common.cfg.gateway
        self.gateway_mac = gw.mac or ""
        self.nets = [ipaddress.ip_network(n, strict=False) for n in common.networks]
        self._local: dict[str, bool] = {}

    # -- packets -----------------------------------------------------------------------

    def observe(self, p: Packet) -> Iterable[Finding]:
        if p.arp_op:
            if p.arp_sha == p.src_mac and any(p.arp_spa):  # the sender's own address
                self.owners.put(mac_text(p.src_mac), ip_text(p.arp_spa))
            return ()
        if p.error or p.fragment:
            return ()
        proto = p.proto
        if proto == PROTO_TCP:
            self._tcp(p)
        elif proto == PROTO_UDP:
            if p.payload_length == 0 and p.dport:
                self._probe(p, p.dport, "udp")
        elif proto in (PROTO_ICMP, PROTO_ICMPV6):
            self._icmp(p)
        elif proto not in BULK_PROTOCOLS and proto >= 0:
            if proto == PROTO_SCTP:
                self._sctp(p)
            self._probe(p, PROTOCOL + proto, "protocol")
        return ()

    def observe_aggregate(self, a: Aggregate) -> Iterable[Finding]:
        """UDP probes with data: datagrams from one sender to many ports of a site's host
        in one second, counted by the capture side (they are never frames). A port the
        host answered from that second is open, not a failure; traceroute's ports are
        paths being traced, not services. Slower ones: the unanswered ports of one of the
        site's hosts another sent data to over minutes (``UdpSpread``), each failed at
        the second it was first sent to, so that the slow window sees their pace."""
        if isinstance(a, UdpSpread):
            self._spread(a)
            return ()
        if not isinstance(a, UdpProbes):
            return ()
        target = ip_text(a.dst)
        if not self._is_local(target):
            return ()  # peer-to-peer clients' NAT traversal tries many ports of a peer
        answered = set(a.answered)
        ts = float(a.second)
        for raw, raw_mac, ports in a.probes:
            src, mac = ip_text(raw), mac_text(raw_mac)
            if self.allowed.source(src, mac):
                continue
            for port in ports:
                if port in answered or port in ONE_WAY_PORTS:
                    continue
                if not TRACEROUTE_FIRST <= port <= TRACEROUTE_LAST:
                    self._fail(src, mac, target, port, ts, "udp")
        return ()

    def _spread(self, a: UdpSpread) -> None:
        target = ip_text(a.dst)
        src, mac = ip_text(a.src), mac_text(a.src_mac)
        if not self._is_local(target) or self.allowed.source(src, mac):
            return
        answered = set(a.answered)
        for port, second in a.ports:
            if port not in answered and port not in ONE_WAY_PORTS:
                self._fail(src, mac, target, port, float(second), "udp")

    def _sctp(self, p: Packet) -> None:
        """An SCTP packet's first chunk: INIT and COOKIE ECHO await their answer like a
        SYN (an association answers INIT ACK, COOKIE ACK); ABORT refuses one."""
        if p.payload_length < 4 or not p.dport:
            return
        chunk = p.frame[p.payload_offset]
        if chunk in (SCTP_INIT, SCTP_COOKIE_ECHO):
            src, mac = ip_text(p.src), mac_text(p.src_mac)
            if not self.allowed.source(src, mac):
                key = (src, ip_text(p.dst), p.dport, p.sport)
                if key not in self.pending:
                    probe = "sctp_init" if chunk == SCTP_INIT else "sctp_cookie_echo"
                    self.pending.setdefault(key, value=(p.ts, mac, probe, -1, True))
            return
        key = (ip_text(p.dst), ip_text(p.src), p.sport, p.dport)
        started = self.pending.pop(key)  # any other chunk back: an association answered
        if started is not None and started[4] and chunk == SCTP_ABORT:
            self._fail(key[0], started[1], key[1], key[2], p.ts, started[2])

    def _tcp(self, p: Packet) -> None:
        flags = p.tcp_flags
        if flags & TCP_SYN and not flags & TCP_ACK:
            src, mac = ip_text(p.src), mac_text(p.src_mac)
            key = (src, ip_text(p.dst), p.dport, p.sport)
            if key not in self.pending:
                counts = not self.allowed.source(src, mac)
                answer = (p.tcp_seq + 1) & 0xFFFFFFFF  # what a SYN-ACK acknowledges
                self.pending.setdefault(key, value=(p.ts, mac, "syn", answer, counts))
        elif flags & TCP_SYN:
            # The port answered: an open port, not a failure.
            key = (ip_text(p.dst), ip_text(p.src), p.sport, p.dport)
            self.pending.pop(key)
            self.answered.put(key, p.ts)
        elif flags & TCP_RST:
            key = (ip_text(p.dst), ip_text(p.src), p.sport, p.dport)
            started = self.pending.pop(key)
            ack = self.acks.pop(key)
            if started is not None:
                if started[4]:
                    self._fail(key[0], started[1], key[1], key[2], p.ts, started[2])
            elif self._refused_answer(p):
                pass  # a SYN's sender resetting the SYN-ACK it got: the SYN was answered
            elif ack is not None:
                if ack[3]:  # no connection for it: a probe, answered by a closed or
                    self._fail(key[0], ack[1], key[1], key[2], p.ts, ack[2])  # unfiltered port
            elif self.late.pop(key) is not None:
                pass  # a late answer to a probe already counted
            elif self.answered.pop((key[1], key[0], key[3], key[2])) is not None:
                pass  # a client refusing a SYN-ACK (its raw SYN had no socket: hping3)
            elif not flags & TCP_ACK and p.tcp_window == 0 and self._is_local(key[1]):
                # A bare RST answers a segment with ACK set for no connection: an ACK,
                # Window or Maimon probe (or a stale connection: one port, below any floor).
                # A kernel's reset carries window 0; a crafted one (hping3 -R, a flood
                # tool's) carries a window, and its receiver is a victim, not a scanner.
                prober, mac = key[0], mac_text(p.dst_mac)
                if not self.allowed.source(prober, mac):
                    self._fail(prober, mac, key[1], key[2], p.ts, "ack")
            elif flags & TCP_ACK and p.tcp_seq == 0 and p.tcp_window == 0:
                # A kernel refusing a segment without ACK (RST|ACK, sequence 0): a SYN or
                # stealth probe this detector did not see, hidden in IPv4 fragments whose
                # first one stops inside the TCP header. Connections refused after a SYN
                # that was seen are counted above; an application's reset carries its
                # own sequence number and window.
                prober, mac = key[0], mac_text(p.dst_mac)
                if self._is_local(key[1]) and not self.allowed.source(prober, mac):
                    self._fail(prober, mac, key[1], key[2], p.ts, "unseen")
        elif not flags & TCP_ACK:
            self._probe(p, p.dport, stealth_probe(flags))
        else:
            self._ack(p, flags)

    def _refused_answer(self, p: Packet) -> bool:
        """A reset from a SYN's sender on the SYN's own ports, with the sequence number a
        SYN-ACK acknowledged: the client's kernel refusing the answer to a SYN it sent
        from no socket (hping3, a SYN flood or scan), or a client aborting its attempt.
        The SYN was answered (its SYN-ACK, seen or not), and the SYN-ACK probed nothing."""
        own = (ip_text(p.src), ip_text(p.dst), p.dport, p.sport)
        started = self.pending.get(own)
        if started is None or started[2] != "syn" or p.tcp_seq != started[3]:
            return False
        self.pending.pop(own)
        return True

    def _ack(self, p: Packet, flags: int) -> None:
        """An ACK without SYN or RST: the answer to an empty ACK from its peer (a live
        flow), or an empty one that may itself be a probe."""
        src, dst = ip_text(p.src), ip_text(p.dst)
        back = (dst, src, p.sport, p.dport)
        if self.acks.pop(back) is not None or self.late.pop(back) is not None:
            return
        if p.payload_length:
            return
        mac = mac_text(p.src_mac)
        key = (src, dst, p.dport, p.sport)
        if key not in self.acks:
            probe = "maimon" if flags & TCP_FIN else "ack"
            counts = not self.allowed.source(src, mac)
            self.acks.setdefault(key, value=(p.ts, mac, probe, counts))

    def _icmp(self, p: Packet) -> None:
        if not p.inner_src or p.inner_proto < 0:
            return
        v4 = p.proto == PROTO_ICMP
        port_unreachable = (v4 and p.icmp_type == ICMP_UNREACHABLE and p.icmp_code == 3) or (
            not v4 and p.icmp_type == ICMPV6_UNREACHABLE and p.icmp_code == 4
        )
        proto_unreachable = (v4 and p.icmp_type == ICMP_UNREACHABLE and p.icmp_code == 2) or (
            not v4 and p.icmp_type == ICMPV6_PARAMETER_PROBLEM and p.icmp_code == 1
        )
        prober, target = ip_text(p.inner_src), ip_text(p.inner_dst)
        mac = mac_text(p.dst_mac)
        if self.allowed.source(prober, mac):
            return
        if port_unreachable and p.inner_proto == PROTO_UDP:
            sport, dport = p.inner_sport, p.inner_dport
            if sport < 1024 <= dport:
                return  # a service's late answer to a closed client port (DNS, NTP, QUIC)
            if not self._is_local(target):
                return  # peer-to-peer clients' dead peers
            self._fail(prober, mac, target, dport, p.ts, "udp")
        elif proto_unreachable:
            self._fail(prober, mac, target, PROTOCOL + p.inner_proto, p.ts, "protocol")

    def _probe(self, p: Packet, port: int, probe: str) -> None:
        src, mac = ip_text(p.src), mac_text(p.src_mac)
        if not self.allowed.source(src, mac):
            self._fail(src, mac, ip_text(p.dst), port, p.ts, probe)

    def _is_local(self, ip: str) -> bool:
        hit = self._local.get(ip)
        if hit is None:
            addr = ipaddress.ip_address(ip)
            if self.nets:
                hit = any(addr.version == n.version and addr in n for n in self.nets)
            else:
                hit = addr.is_private or addr.is_link_local
            if len(self._local) < 65536:
                self._local[ip] = hit
        return hit

    def _fail(self, src: str, mac: str, dst: str, port: int, ts: float, probe: str) -> None:
        decoy = ""
        if mac and mac != self.gateway_mac:
            owner = self.owners.get(mac)
            if owner is not None and owner != src and ":" not in src:
                decoy, src = src, owner  # a forged source of the MAC's own scan
        s = self.sources.setdefault(src, _Source)
        s.mac = mac or s.mac
        if decoy:
            if s.decoys is None:
                s.decoys = set()
            if len(s.decoys) < MAX_DECOYS:
                s.decoys.add(decoy)
        if len(s.failures) < MAX_FAILURES_PER_SOURCE or (dst, port) in s.failures:
            if (dst, port) not in s.failures:
                s.probes[probe] = s.probes.get(probe, 0) + 1
            s.failures[(dst, port)] = ts
        s.dirty = True

    # -- judgement ---------------------------------------------------------------------

    def tick(self, now: float) -> Iterable[Finding]:
        timeout = self.s.answer_timeout
        for key, (started, mac, probe, _, counts) in self.pending.items():
            if now - started >= timeout:
                self.pending.pop(key)
                if counts:
                    self._fail(key[0], mac, key[1], key[2], started + timeout, probe)
        for key, (started, mac, probe, counts) in self.acks.items():
            if now - started >= timeout:
                self.acks.pop(key)
                self.late.put(key, started)
                if counts:  # silence: a filtered host's, or a flow gone
                    self._fail(key[0], mac, key[1], key[2], started + timeout, probe)
        for key, started in self.late.items():
            if now - started >= LATE_ANSWER:
                self.late.pop(key)
        out = []
        horizon = now - self.s.slow_window
        for src, s in self.sources.items():
            s.failures = {k: t for k, t in s.failures.items() if t >= horizon}
            if not s.failures:
                self.sources.pop(src)
                continue
            if s.dirty:
                s.dirty = False
                f = self._judge(src, s, now)
                if f is not None:
                    out.append(f)
        return out

    def _judge(self, src: str, s: _Source, now: float) -> Finding | None:
        recent = [k for k, t in s.failures.items() if t >= now - self.s.window]
        ports_by_host: dict[str, set[int]] = {}
        protocols_by_host: dict[str, set[int]] = {}
        hosts_by_port: dict[int, set[str]] = {}
        local_pairs = 0
        for dst, port in recent:
            if port >= PROTOCOL:
                protocols_by_host.setdefault(dst, set()).add(port - PROTOCOL)
                continue
            ports_by_host.setdefault(dst, set()).add(port)
            if self._is_local(dst):
                hosts_by_port.setdefault(port, set()).add(dst)
                local_pairs += 1
        top_host, top_ports = max(
            ((h, len(ps)) for h, ps in ports_by_host.items()), key=lambda x: x[1], default=("", 0)
        )
        top_port, top_hosts = max(
            ((pt, len(hs)) for pt, hs in hosts_by_port.items()), key=lambda x: x[1], default=(0, 0)
        )
        proto_host, top_protocols = max(
            ((h, len(ps)) for h, ps in protocols_by_host.items()),
            key=lambda x: x[1],
            default=("", 0),
        )
        slow_ports, slow_hosts = self._slow(s)
        counts = {
            "ports": len({p for _, p in recent if p < PROTOCOL}),
            "hosts": len(ports_by_host.keys() | protocols_by_host.keys()),
            "attempts": len(recent),
        }
        kind, target, detail = "", "", ""
        if top_ports >= self.s.vertical_threshold:
            kind, target = "vertical", top_host
            detail = f"{top_ports} closed or filtered ports on {{target}}"
        elif top_hosts >= self.s.horizontal_threshold:
            kind = "horizontal"
            detail = f"port {top_port} on {top_hosts} hosts"
        elif top_protocols >= self.s.protocol_threshold:
            kind, target = "protocol", proto_host
            detail = f"{top_protocols} IP protocols on {{target}}"
            counts["protocols"] = top_protocols
        elif local_pairs >= self.s.random_threshold and len(hosts_by_port) >= 10:
            kind = "random"
            detail = f"{local_pairs} failed connections over {len(hosts_by_port)} ports"
        elif slow_ports >= self.s.slow_threshold:
            kind = "slow"
            detail = f"{slow_ports} closed ports on one host within {self.s.slow_window:g}s"
        elif slow_hosts >= self.s.horizontal_threshold:
            kind = "slow"
            detail = f"one port on {slow_hosts} hosts within {self.s.slow_window:g}s"
        if not kind:
            return None
        probes = ", ".join(f"{n} {p}" for p, n in sorted(s.probes.items(), key=lambda x: -x[1]))
        description = f"Probes: {probes}."
        if s.decoys:
            description += f" Also sent from {len(s.decoys)} decoy addresses of the same MAC."
            counts["decoys"] = len(s.decoys)
        return Finding(
            detector=self.name,
            severity=Severity.WARNING,
            identifier=src,
            summary=f"{{source}} is port scanning ({kind}): {detail}",
            ts=now,
            src_ip=src,
            src_mac=s.mac,
            target=target,
            target_name="" if target else f"port {top_port}" if kind == "horizontal" else "",
            kind=kind,
            counts=counts,
            description=description,
        )

    def _slow(self, s: _Source) -> tuple[int, int]:
        """Slow scans over the whole slow window: (paced ports on one host, one port's
        hosts of the site). A fast scan in progress is neither slow kind: it crosses
        the vertical threshold in a moment."""
        times_by_host: dict[str, list[float]] = {}
        hosts_by_port: dict[int, set[str]] = {}
        for (dst, port), t in s.failures.items():
            if port >= PROTOCOL:
                continue
            times_by_host.setdefault(dst, []).append(t)
            if self._is_local(dst):
                hosts_by_port.setdefault(port, set()).add(dst)
        slow_ports = 0
        for times in times_by_host.values():
            if len(times) < self.s.slow_threshold:
                continue
            times.sort()
            gaps = sorted(b - a for a, b in itertools.pairwise(times))
            paced = gaps[len(gaps) // 2] >= PACED_GAP
            if paced or times[-1] - times[0] > self.s.window:
                slow_ports = max(slow_ports, len(times))
        slow_hosts = max((len(h) for h in hosts_by_port.values()), default=0)
        return slow_ports, slow_hosts

    def stats(self) -> dict[str, int]:
        return {
            "sources": len(self.sources),
            "pending": len(self.pending) + len(self.acks),
            "evictions": self.sources.evictions
            + self.pending.evictions
            + self.answered.evictions
            + self.acks.evictions,
        }
