"""TCP probe: the time to complete a connection to host:port."""

from __future__ import annotations

import asyncio
import socket
import time


async def connect(ip: str, port: int, family: int, phases: dict[str, float]) -> None:
    """Open and close one connection; phase ``connect``. Errors go to the caller."""
    loop = asyncio.get_running_loop()
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setblocking(False)
        t = time.perf_counter()
        await loop.sock_connect(sock, (ip, port))
        phases["connect"] = time.perf_counter() - t
