"""CAP_NET_RAW: used once at start, then given up.

The systemd unit runs sentinel as an unprivileged user with one capability, CAP_NET_RAW,
which LAN capture needs to create its packet socket (and ICMP probes, where the kernel
does not allow unprivileged ICMP sockets). Only creating the socket needs it: binding,
the ring, the filter and promiscuous mode do not. So at start the daemon creates the one
packet socket every capture worker will use (a worker is handed it, and never holds the
capability), then removes CAP_NET_RAW from its effective, permitted, inheritable and
ambient sets. Code that takes over the process afterwards cannot open raw sockets, and
the unit's ``NoNewPrivileges=yes`` stops it from gaining the capability back.

It is kept only when something still needs it: ICMP probes configured with
``probes.icmp.socket: raw``, or a kernel whose ``net.ipv4.ping_group_range`` excludes
this group (then ICMP probes need raw sockets); the start log says which. Run as root
(a lab, ``sentinel demo``) nothing is dropped: root holds every capability anyway.

Capabilities belong to threads; the drop runs before the daemon starts any thread.
"""

from __future__ import annotations

import ctypes
import os
import socket
from dataclasses import dataclass

from sentinel.capture.ring import new_socket

CAP_NET_RAW = 13
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_LOWER = 4


class _Header(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _Data(ctypes.Structure):
    _fields_ = (
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    )


def capabilities(pid: int | str = "self") -> dict[str, int]:
    """The capability sets of a process (``CapEff``, ``CapPrm``, ``CapInh``, ``CapAmb``,
    ``CapBnd`` of /proc/PID/status) as integers; empty when it cannot be read."""
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("Cap"):
                    name, value = line.split(":", 1)
                    out[name] = int(value, 16)
    except (OSError, ValueError):
        pass
    return out


def cap_net_raw() -> bool:
    """Whether this process holds CAP_NET_RAW (in its effective set)."""
    return bool(capabilities().get("CapEff", 0) & (1 << CAP_NET_RAW))


def unprivileged_icmp() -> bool:
    """Whether this process may open ICMP datagram sockets (``ping_group_range``)."""
    try:
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP).close()
    except OSError:
        return False
    return True


def drop_net_raw() -> None:
    """Remove CAP_NET_RAW from this thread's effective, permitted, inheritable and ambient
    sets (and so from every thread and process it starts later). Raises OSError."""
    libc = ctypes.CDLL(None, use_errno=True)
    # The ambient set first: the kernel keeps a capability there only while it is
    # permitted and inheritable, and lowering it needs neither.
    libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_LOWER, CAP_NET_RAW, 0, 0)
    header = _Header(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_Data * 2)()
    if libc.capget(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capget failed")
    bit = ~(1 << CAP_NET_RAW) & 0xFFFFFFFF
    data[0].effective &= bit
    data[0].permitted &= bit
    data[0].inheritable &= bit
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset failed")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What ``settle`` did, for the start log."""

    capture_socket: socket.socket | None
    dropped: bool
    why: str


def settle(icmp_socket_mode: str) -> Outcome:
    """At start: make the capture socket while CAP_NET_RAW is held, then give it up when
    nothing else needs it. Never raises: what it could not do is in ``why``."""
    sock: socket.socket | None = None
    try:
        sock = new_socket()
    except OSError as exc:
        reason = f"no packet socket: {exc.strerror}"
    else:
        reason = ""
    if not cap_net_raw():
        return Outcome(sock, False, reason or "CAP_NET_RAW not held")
    if os.geteuid() == 0:
        return Outcome(sock, False, "running as root: capabilities are not dropped")
    if icmp_socket_mode == "raw":
        return Outcome(sock, False, "kept for ICMP probes (probes.icmp.socket: raw)")
    if icmp_socket_mode == "auto" and not unprivileged_icmp():
        return Outcome(
            sock,
            False,
            "kept for ICMP probes: net.ipv4.ping_group_range excludes this group",
        )
    try:
        drop_net_raw()
    except OSError as exc:
        return Outcome(sock, False, f"cannot drop CAP_NET_RAW: {exc.strerror or exc}")
    return Outcome(sock, True, "dropped once the capture socket was made")
