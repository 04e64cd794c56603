"""What this box can see of its school network: interfaces, routes, leases, resolvers.

Everything is read from the kernel and from files (``/proc``, ``/sys``, lease files,
resolv.conf) except the IPv4 address of each interface (an ioctl) and the local SNMP
agent (one GET on loopback). ``root`` lets tests point the file reads elsewhere.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import ipaddress
import re
import socket
import struct
from dataclasses import dataclass, field
from pathlib import Path

from sentinel.local import default_route_interfaces

# Where Debian's DHCP clients keep their leases: isc-dhclient (ifupdown), NetworkManager
# (its internal client and dhclient) and systemd-networkd.
LEASE_GLOBS = (
    "var/lib/dhcp/dhclient*.leases",
    "var/lib/dhclient/*.leases",
    "var/lib/NetworkManager/*.lease",
    "run/systemd/netif/leases/*",
)

_SIOCGIFADDR = 0x8915
_SIOCGIFNETMASK = 0x891B


@dataclass(frozen=True, slots=True)
class Interface:
    name: str
    index: int
    mac: str
    up: bool
    ether: bool
    network: str | None = None  # 10.20.0.0/24
    address: str | None = None  # the box's own address on it


@dataclass(frozen=True, slots=True)
class Lease:
    """What a DHCP server told this box on one interface."""

    interface: str
    server: str | None = None
    routers: tuple[str, ...] = ()
    dns: tuple[str, ...] = ()
    source: str = ""  # the lease file


@dataclass(frozen=True, slots=True)
class Facts:
    interfaces: tuple[Interface, ...] = ()
    uplinks: frozenset[str] = frozenset()  # interfaces with the default route
    routes: tuple[tuple[str, str, str], ...] = ()  # (destination/prefix, gateway, interface)
    neighbours: dict[str, tuple[str, str]] = field(default_factory=dict)  # ip -> (mac, if)
    leases: tuple[Lease, ...] = ()
    resolvers: tuple[str, ...] = ()  # from resolv.conf
    listening_udp: frozenset[int] = frozenset()  # UDP ports this box serves (67, 53)
    ip_forward: bool = False
    snmp_community: str | None = None  # a local agent on 127.0.0.1:161 answers to it

    def interface(self, name: str) -> Interface | None:
        return next((i for i in self.interfaces if i.name == name), None)

    def lease(self, name: str) -> Lease | None:
        found = [lease for lease in self.leases if lease.interface == name]
        return found[-1] if found else None


def discover(
    root: Path = Path("/"),
    lease_files: tuple[str, ...] | None = None,
    snmp_community: str | None = None,
) -> Facts:
    """Read the box's network facts; nothing here fails, missing sources give nothing."""
    interfaces = tuple(_interfaces(root))
    by_index = {i.index: i.name for i in interfaces}
    if lease_files is None:
        lease_files = tuple(
            p for pattern in LEASE_GLOBS for p in sorted(glob.glob(str(root / pattern)))
        )
    leases = [lease for path in lease_files for lease in _lease_file(Path(path), by_index)]
    return Facts(
        interfaces=interfaces,
        uplinks=frozenset(default_route_interfaces(root)),
        routes=tuple(_routes(root)),
        neighbours=_neighbours(root),
        leases=tuple(leases),
        resolvers=_resolvers(root),
        listening_udp=_listening_udp(root),
        ip_forward=_read(root / "proc/sys/net/ipv4/ip_forward") == "1",
        snmp_community=snmp_community,
    )


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None


def _interfaces(root: Path) -> list[Interface]:
    base = root / "sys/class/net"
    try:
        names = sorted(p.name for p in base.iterdir())
    except OSError:
        return []
    out = []
    for name in names:
        d = base / name
        index = _read(d / "ifindex")
        network, address = _ipv4(name) if root == Path("/") else (None, None)
        out.append(
            Interface(
                name=name,
                index=int(index) if index and index.isdigit() else 0,
                mac=_read(d / "address") or "",
                up=_read(d / "operstate") in ("up", "unknown") and _flags_up(d),
                ether=_read(d / "type") == "1",
                network=network,
                address=address,
            )
        )
    return out


def _flags_up(d: Path) -> bool:
    flags = _read(d / "flags")
    try:
        return bool(int(flags or "0", 16) & 0x1)  # IFF_UP
    except ValueError:
        return False


def _ipv4(name: str) -> tuple[str | None, str | None]:
    """The primary IPv4 address and network of ``name`` (SIOCGIFADDR/SIOCGIFNETMASK)."""
    req = struct.pack("256s", name.encode()[:15])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            addr = socket.inet_ntoa(fcntl.ioctl(s.fileno(), _SIOCGIFADDR, req)[20:24])
            mask = socket.inet_ntoa(fcntl.ioctl(s.fileno(), _SIOCGIFNETMASK, req)[20:24])
        except OSError:  # no IPv4 address
            return None, None
    net = ipaddress.ip_network(f"{addr}/{mask}", strict=False)
    return str(net), addr


def _hex_ip(text: str) -> str:
    return socket.inet_ntoa(struct.pack("<I", int(text, 16)))


def _routes(root: Path) -> list[tuple[str, str, str]]:
    text = _read(root / "proc/net/route") or ""
    out = []
    for line in text.splitlines()[1:]:
        cols = line.split()
        if len(cols) < 8:
            continue
        with contextlib.suppress(ValueError):
            dest, gw, mask = _hex_ip(cols[1]), _hex_ip(cols[2]), _hex_ip(cols[7])
            net = ipaddress.ip_network(f"{dest}/{mask}", strict=False)
            out.append((str(net), gw, cols[0]))
    return out


def _neighbours(root: Path) -> dict[str, tuple[str, str]]:
    text = _read(root / "proc/net/arp") or ""
    out = {}
    for line in text.splitlines()[1:]:
        cols = line.split()
        # IP address, HW type, Flags (0x2: complete), HW address, Mask, Device
        if len(cols) >= 6 and cols[2] != "0x0" and cols[3] != "00:00:00:00:00:00":
            out[cols[0]] = (cols[3].lower(), cols[5])
    return out


def _resolvers(root: Path) -> tuple[str, ...]:
    found = _nameservers(root / "etc/resolv.conf")
    # systemd-resolved's stub (127.0.0.53) hides the real servers; it lists them here.
    if all(ipaddress.ip_address(a).is_loopback for a in found):
        found = _nameservers(root / "run/systemd/resolve/resolv.conf") or found
    return tuple(a for a in found if not ipaddress.ip_address(a).is_loopback)


def _nameservers(path: Path) -> list[str]:
    out = []
    for line in (_read(path) or "").splitlines():
        m = re.match(r"\s*nameserver\s+(\S+)", line)
        if m:
            with contextlib.suppress(ValueError):
                out.append(str(ipaddress.ip_address(m[1].split("%")[0])))
    return out


def _listening_udp(root: Path) -> frozenset[int]:
    ports = set()
    for name in ("udp", "udp6"):
        for line in (_read(root / "proc/net" / name) or "").splitlines()[1:]:
            cols = line.split()
            if len(cols) > 3 and cols[3] == "07":  # TCP_CLOSE: an unconnected, bound socket
                with contextlib.suppress(ValueError, IndexError):
                    ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return frozenset(ports)


def _ips(text: str) -> tuple[str, ...]:
    out = []
    for part in re.split(r"[\s,]+", text.strip().rstrip(";")):
        with contextlib.suppress(ValueError):
            out.append(str(ipaddress.ip_address(part)))
    return tuple(out)


def _lease_file(path: Path, by_index: dict[int, str]) -> list[Lease]:
    text = _read(path)
    if not text:
        return []
    if "lease {" in text:  # isc-dhclient
        out = []
        for block in re.findall(r"lease\s*\{(.*?)\n\}", text, re.S):
            iface = re.search(r'interface\s+"([^"]+)"', block)
            if not iface:
                continue

            def option(name: str, block: str = block) -> str:
                m = re.search(rf"option\s+{name}\s+([^;]+);", block)
                return m[1] if m else ""

            server = _ips(option("dhcp-server-identifier"))
            out.append(
                Lease(
                    iface[1],
                    server[0] if server else None,
                    _ips(option("routers")),
                    _ips(option("domain-name-servers")),
                    str(path),
                )
            )
        return out
    # systemd-networkd (named by ifindex) and NetworkManager's internal client
    # (internal-UUID-IFACE.lease): KEY=VALUE lines.
    values = dict(
        line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#")
    )
    name: str | None
    if path.name.isdigit():
        name = by_index.get(int(path.name))
    else:
        m = re.fullmatch(r"internal-[0-9a-f-]+-(.+)\.lease", path.name)
        name = m[1] if m else None
    if name is None:
        return []
    server = _ips(values.get("SERVER_ADDRESS", ""))
    return [
        Lease(
            name,
            server[0] if server else None,
            _ips(values.get("ROUTER", "")),
            _ips(values.get("DNS", "")),
            str(path),
        )
    ]
