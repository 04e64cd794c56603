#!/usr/bin/env python3
"""Benign school traffic from real sockets, run inside a lab namespace (standard library only).

    python3 traffic.py peer  --listen ADDR:PORT ... [--call HOST:PORT] --seconds S
    python3 traffic.py swarm --peer ADDR:PORT ... --port P --seconds S
    python3 traffic.py chatter --role printer|laptop --name NAME --count N --interval I
    python3 traffic.py fetch --server ADDR --port P --connections N --parallel K

``peer`` and ``swarm`` are a peer-to-peer client and its peers (BitTorrent's TCP
handshake and piece messages, uTP-like UDP exchanges, every datagram answered);
``chatter`` is a host's mDNS, SSDP, LLMNR and NetBIOS name service; ``fetch`` opens
many parallel TLS-sized TCP exchanges, as an update client does with a CDN. Every
loop is bounded by a count and by ``--seconds``.
"""

from __future__ import annotations

import argparse
import random
import selectors
import socket
import struct
import sys
import threading
import time

HANDSHAKE = b"\x13BitTorrent protocol" + bytes(8)
PIECE = 700  # bytes per piece message (a block, shrunk to keep the recording small)


def _addr(text: str) -> tuple[str, int]:
    host, port = text.rsplit(":", 1)
    return host, int(port)


# ---------------------------------------------------------------------- peer-to-peer
def peer(listen: list[tuple[str, int]], call: tuple[str, int] | None, seconds: float) -> None:
    """Answer every handshake and datagram on ``listen``; connect once to ``call`` from each."""
    sel = selectors.DefaultSelector()
    for addr in listen:
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        t.bind(addr)
        t.listen(16)
        t.setblocking(False)
        sel.register(t, selectors.EVENT_READ, "accept")
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(addr)
        u.setblocking(False)
        sel.register(u, selectors.EVENT_READ, "udp")
    if call is not None:
        threading.Thread(target=_call_back, args=(listen, call), daemon=True).start()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.2):
            s = key.fileobj
            assert isinstance(s, socket.socket)
            if key.data == "accept":
                try:
                    conn, _ = s.accept()
                except BlockingIOError:
                    continue
                threading.Thread(target=_serve, args=(conn,), daemon=True).start()
            else:
                try:
                    data, src = s.recvfrom(2048)
                except BlockingIOError:
                    continue
                s.sendto(b"\x21\x00" + data[2:4] + bytes(random.randrange(20, 200)), src)


def _serve(conn: socket.socket) -> None:
    """A seeder: handshake back, then the pieces asked for, until the leecher closes."""
    conn.settimeout(5)
    try:
        if conn.recv(68)[:20] != HANDSHAKE[:20]:
            return
        conn.sendall(HANDSHAKE + random.randbytes(40))
        for _ in range(8):  # bounded: at most eight requests per connection
            req = conn.recv(17)
            if not req:
                return
            conn.sendall(struct.pack("!IB", PIECE + 9, 7) + bytes(8) + random.randbytes(PIECE))
    except OSError:
        return
    finally:
        conn.close()


def _call_back(listen: list[tuple[str, int]], call: tuple[str, int]) -> None:
    """Peers also find the client: one incoming connection and datagram from each address."""
    time.sleep(1.0)
    for host in sorted({h for h, _ in listen})[:12]:
        try:
            with socket.create_connection(call, timeout=3, source_address=(host, 0)) as c:
                c.sendall(HANDSHAKE + random.randbytes(40))
                c.recv(68)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                u.bind((host, 0))
                u.settimeout(2)
                u.sendto(b"\x41\x00" + random.randbytes(18), call)
                u.recv(2048)
        except OSError:
            continue
        time.sleep(0.1)


def swarm(peers: list[tuple[str, int]], port: int, seconds: float) -> None:
    """A torrent client: uTP-like datagrams with every peer, TCP piece exchanges with most."""
    stop = time.monotonic() + seconds
    threading.Thread(target=_client_listen, args=(port, stop), daemon=True).start()
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("0.0.0.0", port))
    u.settimeout(1)
    answered = 0
    for rnd in range(3):  # three rounds over the swarm (bounded)
        for i, p in enumerate(peers):
            if time.monotonic() > stop:
                break
            u.sendto(b"\x41\x00" + struct.pack("!H", i) + random.randbytes(16), p)
            try:
                u.recv(2048)
                answered += 1
            except OSError:
                pass
            if rnd == 0 and i % 4 != 3:  # three peers in four also over TCP
                _leech(p)
            time.sleep(0.02)
    u.close()
    print(f"swarm: {answered} datagrams answered of {3 * len(peers)}")
    while time.monotonic() < min(stop, time.monotonic() + 3):
        time.sleep(0.2)


def _leech(p: tuple[str, int]) -> None:
    try:
        with socket.create_connection(p, timeout=3) as c:
            c.sendall(HANDSHAKE + random.randbytes(40))
            c.recv(68)
            for n in range(random.randrange(1, 4)):
                c.sendall(struct.pack("!IBIII", 13, 6, n, 0, PIECE))
                got = 0
                while got < PIECE + 13:
                    chunk = c.recv(4096)
                    if not chunk:
                        return
                    got += len(chunk)
    except OSError:
        return


def _client_listen(port: int, stop: float) -> None:
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", port))
    srv.listen(16)
    srv.settimeout(0.5)
    while time.monotonic() < stop:
        try:
            conn, _ = srv.accept()
        except OSError:
            continue
        with conn:
            conn.settimeout(3)
            try:
                conn.recv(68)
                conn.sendall(HANDSHAKE + random.randbytes(40))
            except OSError:
                pass


# ---------------------------------------------------------------------- chatter
MDNS = ("224.0.0.251", 5353)
SSDP = ("239.255.255.250", 1900)
LLMNR = ("224.0.0.252", 5355)


def _qname(name: str) -> bytes:
    return b"".join(bytes([len(x)]) + x.encode() for x in name.strip(".").split(".")) + b"\0"


def dns_query(name: str, qtype: int, ident: int = 0, qu: bool = False) -> bytes:
    qclass = 0x8001 if qu else 1
    return (
        struct.pack("!6H", ident, 0, 1, 0, 0, 0) + _qname(name) + struct.pack("!2H", qtype, qclass)
    )


def dns_answer(ident: int, name: str, qtype: int, rdata: bytes, flags: int = 0x8400) -> bytes:
    rr = _qname(name) + struct.pack("!HHIH", qtype, 0x8001, 120, len(rdata)) + rdata
    return struct.pack("!6H", ident, flags, 0, 1, 0, 0) + rr


def _nb_name(name: str) -> bytes:
    """NetBIOS first-level encoding of a 15-character name plus its suffix byte 0x00."""
    raw = name.upper().ljust(15)[:15].encode() + b"\0"
    return b"\x20" + bytes(c for b in raw for c in (0x41 + (b >> 4), 0x41 + (b & 0xF))) + b"\0"


def chatter(role: str, name: str, count: int, interval: float, lan_bcast: str) -> None:
    """What a school laptop or printer says unasked: queries, announcements, and answers."""
    me = _my_ip()
    socks: list[socket.socket] = []

    def mcast(group: tuple[str, int]) -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("", group[1]))
        mreq = socket.inet_aton(group[0]) + socket.inet_aton(me)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(me))
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255 if group is MDNS else 2)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
        s.setblocking(False)
        socks.append(s)
        return s

    mdns, ssdp, llmnr = mcast(MDNS), mcast(SSDP), mcast(LLMNR)
    nbns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    nbns.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    nbns.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    nbns.bind(("", 137))
    nbns.setblocking(False)
    socks.append(nbns)
    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    ip = socket.inet_aton(me)
    service = "_ipp._tcp.local"
    hostname = f"{name}.local"
    rng = random.Random(name)
    for i in range(count):
        # what this host says this round
        if role == "printer":
            ptr = _qname(f"{name}.{service}")
            mdns.sendto(dns_answer(0, service, 12, ptr), MDNS)
            mdns.sendto(dns_answer(0, hostname, 1, ip), MDNS)
            notify = (
                "NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nCACHE-CONTROL: max-age=1800"
                f"\r\nLOCATION: http://{me}:80/description.xml\r\nNT: upnp:rootdevice\r\n"
                "NTS: ssdp:alive\r\nSERVER: Linux/5.10 UPnP/1.0 printer/1.0\r\n"
                f"USN: uuid:{name}-0000::upnp:rootdevice\r\n\r\n"
            )
            ssdp.sendto(notify.encode(), SSDP)
        else:
            mdns.sendto(dns_query(service, 12, qu=i == 0), MDNS)
            mdns.sendto(dns_query("_googlecast._tcp.local", 12), MDNS)
            search = (
                'M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\n'
                "MX: 2\r\nST: ssdp:all\r\nUSER-AGENT: Windows/10.0 UPnP/1.1\r\n\r\n"
            )
            ssdp.sendto(search.encode(), SSDP)
            if i % 2 == 0:
                llmnr.sendto(dns_query("printer", 1, rng.randrange(65536)), LLMNR)
                q = struct.pack("!6H", rng.randrange(65536), 0x0110, 1, 0, 0, 0)
                nbns.sendto(q + _nb_name("PRINTER") + struct.pack("!2H", 0x20, 1), (lan_bcast, 137))
        # answer what others asked, until the next round
        until = time.monotonic() + interval
        while (left := until - time.monotonic()) > 0:
            for key, _ in sel.select(timeout=left):
                s = key.fileobj
                assert isinstance(s, socket.socket)
                try:
                    data, src = s.recvfrom(2048)
                except BlockingIOError:
                    continue
                if src[0] == me or role != "printer":
                    continue
                _answer(s, data, src, name, me, ip, service, mdns, ssdp, llmnr, nbns)
    for s in socks:
        s.close()


def _answer(
    s: socket.socket,
    data: bytes,
    src: tuple[str, int],
    name: str,
    me: str,
    ip: bytes,
    service: str,
    mdns: socket.socket,
    ssdp: socket.socket,
    llmnr: socket.socket,
    nbns: socket.socket,
) -> None:
    if s is mdns and len(data) > 12 and _qname(service) in data:
        mdns.sendto(dns_answer(0, service, 12, _qname(f"{name}.{service}")), MDNS)
    elif s is ssdp and data.startswith(b"M-SEARCH"):
        reply = (
            "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=1800\r\nEXT:\r\n"
            f"LOCATION: http://{me}:80/description.xml\r\nST: upnp:rootdevice\r\n"
            f"USN: uuid:{name}-0000::upnp:rootdevice\r\n\r\n"
        )
        ssdp.sendto(reply.encode(), src)
    elif s is llmnr and len(data) > 12 and _qname("printer") in data:
        (ident,) = struct.unpack_from("!H", data)
        llmnr.sendto(dns_answer(ident, "printer", 1, ip, flags=0x8000), src)
    elif s is nbns and len(data) > 12 and _nb_name("PRINTER") in data:
        (ident,) = struct.unpack_from("!H", data)
        rr = _nb_name("PRINTER") + struct.pack("!HHIHH", 0x20, 1, 300, 6, 0) + ip
        nbns.sendto(struct.pack("!6H", ident, 0x8500, 0, 1, 0, 0) + rr, src)


def _my_ip() -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(MDNS)  # no packet: only picks the LAN source address
        return str(s.getsockname()[0])


# ---------------------------------------------------------------------- fetch
def fetch(servers: list[str], port: int, connections: int, parallel: int, size: int) -> None:
    """An update client: TLS-sized exchanges, ``connections`` in all, ``parallel`` at once."""
    sem = threading.Semaphore(parallel)
    done = [0]

    def one(host: str) -> None:
        with sem:
            try:
                with socket.create_connection((host, port), timeout=5) as c:
                    c.sendall(b"\x16\x03\x01\x02\x00" + random.randbytes(512))  # ClientHello-sized
                    got = 0
                    while got < size:
                        chunk = c.recv(16384)
                        if not chunk:
                            break
                        got += len(chunk)
                    done[0] += 1
            except OSError:
                pass

    threads = [
        threading.Thread(target=one, args=(servers[i % len(servers)],)) for i in range(connections)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    print(f"fetch: {done[0]} of {connections} connections completed")


def cdn(listen: list[str], port: int, size: int, seconds: float) -> None:
    """The other end of ``fetch``: a ServerHello-sized answer, then ``size`` bytes."""
    sel = selectors.DefaultSelector()
    for host in listen:
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        t.bind((host, port))
        t.listen(64)
        t.setblocking(False)
        sel.register(t, selectors.EVENT_READ)

    def serve(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                conn.recv(1024)
                conn.sendall(b"\x16\x03\x03" + random.randbytes(size))
            except OSError:
                pass

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.2):
            s = key.fileobj
            assert isinstance(s, socket.socket)
            try:
                conn, _ = s.accept()
            except BlockingIOError:
                continue
            threading.Thread(target=serve, args=(conn,), daemon=True).start()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("peer")
    p.add_argument("--listen", type=_addr, nargs="+", required=True)
    p.add_argument("--call", type=_addr)
    p.add_argument("--seconds", type=float, default=30)
    w = sub.add_parser("swarm")
    w.add_argument("--peer", type=_addr, nargs="+", required=True)
    w.add_argument("--port", type=int, default=51413)
    w.add_argument("--seconds", type=float, default=30)
    c = sub.add_parser("chatter")
    c.add_argument("--role", choices=("printer", "laptop"), required=True)
    c.add_argument("--name", required=True)
    c.add_argument("--count", type=int, default=5)
    c.add_argument("--interval", type=float, default=2)
    c.add_argument("--broadcast", default="10.77.0.255")
    f = sub.add_parser("fetch")
    f.add_argument("--server", nargs="+", required=True)
    f.add_argument("--port", type=int, default=443)
    f.add_argument("--connections", type=int, default=24)
    f.add_argument("--parallel", type=int, default=8)
    f.add_argument("--size", type=int, default=1500)
    d = sub.add_parser("cdn")
    d.add_argument("--listen", nargs="+", required=True)
    d.add_argument("--port", type=int, default=443)
    d.add_argument("--size", type=int, default=1500)
    d.add_argument("--seconds", type=float, default=30)
    a = ap.parse_args()
    if a.cmd == "peer":
        peer(a.listen, a.call, a.seconds)
    elif a.cmd == "swarm":
        swarm(a.peer, a.port, a.seconds)
    elif a.cmd == "chatter":
        chatter(a.role, a.name, a.count, a.interval, a.broadcast)
    elif a.cmd == "fetch":
        fetch(a.server, a.port, a.connections, a.parallel, a.size)
    else:
        cdn(a.listen, a.port, a.size, a.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
