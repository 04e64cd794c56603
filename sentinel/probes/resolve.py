"""Names to addresses for the probes, timed, with the family the target asks for."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time

from sentinel.probes.outcome import ProbeFailure


async def resolve(host: str, ip_protocol: str = "auto") -> tuple[str, int, float]:
    """(address, family, seconds taken); ``ProbeFailure("resolve")`` when there is none."""
    start = time.perf_counter()
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    else:
        family = socket.AF_INET if literal.version == 4 else socket.AF_INET6
        return str(literal), family, time.perf_counter() - start
    wanted = {"ip4": socket.AF_INET, "ip6": socket.AF_INET6}.get(ip_protocol, socket.AF_UNSPEC)
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, None, family=wanted, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise ProbeFailure("resolve", f"cannot resolve {host}: {exc}") from None
    if not infos:
        raise ProbeFailure("resolve", f"no address for {host}")
    if ip_protocol == "auto":  # prefer IPv6 when the name has it, as blackbox_exporter does
        infos.sort(key=lambda i: i[0] != socket.AF_INET6)
    family, *_, sockaddr = infos[0]
    return str(sockaddr[0]), int(family), time.perf_counter() - start


def ip_hash(ip: str) -> int:
    """FNV-1a over the address bytes: blackbox_exporter's ``probe_ip_addr_hash``."""
    h = 2166136261
    for b in ipaddress.ip_address(ip).packed:
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h
