"""port_scan and the answers to SYNs: a SYN-ACK answering a SYN that was seen probes
nothing, however the client reacts to it and whether or not the SYN-ACK itself was seen.

hping3 -S (a SYN flood, or a raw SYN scan) sends its SYNs from no socket: the client's
kernel resets every SYN-ACK it gets with a bare RST, window 0, whose sequence number is
the one the SYN-ACK acknowledged. When the SYN-ACKs do not reach the detector (a header
snap length cuts them inside their options, as a recording with ``tcpdump -s 54`` does;
a full detector budget), that reset looked like a closed port's answer to an ACK probe
from the server: a SYN flood's victim was named a scanner of its attacker.
"""

from __future__ import annotations

from scapy.layers.inet import ICMP, IP, TCP
from scapy.layers.l2 import Ether

from sentinel.capture.pipeline import Pipeline, Settings
from sentinel.config.detect import Allow, DetectConfig
from sentinel.detect.engine import Engine
from sentinel.detect.port_scan import PortScan
from tests.detect.crafted import NETS, make, pkt, run, settings

A, S, GW = "02:77:00:00:66:66", "02:77:00:00:00:0a", "02:77:00:00:00:01"
ATK, SRV = "10.77.0.66", "10.77.0.10"
STUDENT, STUDENT_MAC = "10.77.0.103", "02:77:00:00:01:03"
SYN_ACK_OPTIONS = [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (1, 2)), ("NOP", None)]


def handshake(
    sport: int, dport: int, seq: int, *, open_port: bool = True
) -> tuple[bytes, bytes, bytes]:
    """hping3's SYN, the server's answer (a SYN-ACK with a kernel's options, or RST|ACK
    from a closed port) and, for a SYN-ACK, the client kernel's reset of it."""
    up = Ether(src=A, dst=S) / IP(src=ATK, dst=SRV)
    down = Ether(src=S, dst=A) / IP(src=SRV, dst=ATK)
    syn = up / TCP(sport=sport, dport=dport, flags="S", seq=seq, window=512)
    if not open_port:
        refused = down / TCP(sport=dport, dport=sport, flags="RA", seq=0, ack=seq + 1, window=0)
        return bytes(syn), bytes(refused), b""
    answer = down / TCP(
        sport=dport, dport=sport, flags="SA", seq=7777, ack=seq + 1, options=SYN_ACK_OPTIONS
    )
    reset = up / TCP(sport=sport, dport=dport, flags="R", seq=seq + 1, window=0)
    return bytes(syn), bytes(answer), bytes(reset)


def test_resets_of_syn_acks_that_were_not_seen_name_no_scanner() -> None:
    """hping3 -S -p 80, 300 SYNs from turning source ports: only the SYNs and the
    client's resets reach the detector. Each reset ends a SYN that was answered."""
    frames = []
    for i in range(300):
        syn, _, reset = handshake(1900 + i, 80, 1000 * i + 5)
        frames += [pkt(Ether(syn), i / 300), pkt(Ether(reset), i / 300 + 0.0001)]
    detector = make(PortScan)
    assert run(detector, frames, until=20) == []
    assert detector.stats()["pending"] == 0


def test_resets_of_syn_acks_that_were_seen_name_no_scanner() -> None:
    frames = []
    for i in range(300):
        t = i / 300
        syn, answer, reset = handshake(1900 + i, 80, 1000 * i + 5)
        frames += [pkt(Ether(syn), t), pkt(Ether(answer), t + 0.00005)]
        frames.append(pkt(Ether(reset), t + 0.0001))
    assert run(make(PortScan), frames, until=20) == []


def test_an_allowed_clients_resets_name_no_scanner() -> None:
    """An allowed host's raw SYNs are no probes, and their answers none either."""
    allowed = make(PortScan, settings(PortScan, allow=Allow(hosts=(ATK,))))
    frames = []
    for i in range(300):
        syn, _, reset = handshake(1900 + i, 80, 1000 * i + 5)
        frames += [pkt(Ether(syn), i / 300), pkt(Ether(reset), i / 300 + 0.0001)]
    assert run(allowed, frames, until=20) == []


def test_a_raw_syn_scan_whose_open_ports_answers_were_not_seen_names_the_scanner() -> None:
    """nmap -sS of 60 ports, 20 open (their SYN-ACKs missed, the scanner's kernel resets
    them), 40 closed (RST|ACK): the scanner with the 40 closed ports, never the server."""
    frames = []
    for port in range(1, 61):
        t = port / 100
        syn, answer, reset = handshake(40000, port, 91000, open_port=port % 3 == 0)
        frames.append(pkt(Ether(syn), t))
        frames.append(pkt(Ether(reset if reset else answer), t + 0.0001))
    found = run(make(PortScan), frames, until=20)
    assert {(f.kind, f.src_ip) for f in found} == {("vertical", ATK)}
    assert found[-1].counts["ports"] == 40


def test_a_reset_that_answers_no_syn_ack_leaves_the_syn_unanswered() -> None:
    """A scanner resetting its own SYNs to a filtered host (the reset does not carry the
    sequence number a SYN-ACK would have acknowledged): the SYNs are still unanswered."""
    frames = []
    up = Ether(src=A, dst=S) / IP(src=ATK, dst=SRV)
    for port in range(1, 31):
        t = port / 100
        frames.append(pkt(up / TCP(sport=40000, dport=port, flags="S", seq=500), t))
        frames.append(pkt(up / TCP(sport=40000, dport=port, flags="R", seq=9), t + 0.001))
    found = run(make(PortScan), frames, until=20)
    assert {(f.kind, f.src_ip) for f in found} == {("vertical", ATK)}


def test_a_syn_flood_recorded_with_a_header_snap_length_names_only_the_flooder() -> None:
    """The lab's hping3 SYN flood at a server with SYN cookies (300 a second for 6 s),
    frames cut at 54 bytes as ``tcpdump -s 54`` keeps them: each SYN-ACK is cut inside
    its options (the decoder rejects it as truncated). Through the capture side and
    every default detector: syn_flood names the attacker, nothing names the server."""
    cfg = DetectConfig()
    engine = Engine(cfg, networks=NETS)
    pipe = Pipeline(Settings(networks=NETS, detect=cfg), engine)
    alerts = []
    for i in range(1800):
        t = 100 + i / 300
        for k, frame in enumerate(handshake(1900 + i % 50000, 80, 3 * i + 11)):
            pipe.frame(frame[:54], len(frame), t + k * 0.00002)
        if i % 256 == 0:
            alerts += pipe.drain()
    for second in range(106, 116):  # a student's pings: time moves past the timeouts
        ping = bytes(Ether(src=STUDENT_MAC, dst=GW) / IP(src=STUDENT, dst="10.77.0.1") / ICMP())
        pipe.frame(ping, len(ping), float(second))
        alerts += pipe.drain()
    alerts += pipe.drain() + engine.finish()
    assert {(a.detector, a.source.ip) for a in alerts} == {("syn_flood", ATK)}, alerts
