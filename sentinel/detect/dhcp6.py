"""DHCPv6 messages (RFC 8415) to the few fields detectors need: never raises.

``parse()`` takes the UDP payload of a DHCPv6 message between a client and a server
(ports 546 and 547) and returns a ``Dhcp6`` whose ``error`` is empty when the message
made sense, or a reason (``truncated``, ``bad_option``) when it did not. Options are
read up to the first malformed one. Relay messages (RELAY-FORW, RELAY-REPL) are not
opened: a relay agent delivers the server's reply to the client as a plain message, and
that is the one judged.
"""

from __future__ import annotations

from dataclasses import dataclass

from sentinel.detect.base import ip_text

SOLICIT, ADVERTISE, REQUEST, CONFIRM, RENEW, REBIND, REPLY = 1, 2, 3, 4, 5, 6, 7
RELEASE, DECLINE, RECONFIGURE, INFORMATION_REQUEST = 8, 9, 10, 11
RELAY_FORW, RELAY_REPL = 12, 13
SERVER_MESSAGES = frozenset({ADVERTISE, REPLY, RECONFIGURE})
DUID_LLT, DUID_LL = 1, 3  # DUID types that carry a link-layer address (RFC 8415)
OPT_CLIENTID, OPT_SERVERID, OPT_IA_NA, OPT_IA_TA, OPT_IAADDR = 1, 2, 3, 4, 5
OPT_DNS_SERVERS, OPT_IA_PD, OPT_IAPREFIX = 23, 25, 26
MAX_LIST = 16  # addresses kept per list
MAX_DUID = 130  # RFC 8415: a DUID is at most 128 bytes after its 2-byte type


@dataclass(frozen=True, slots=True)
class Dhcp6:
    """One DHCPv6 message; addresses in text form, ``()`` when absent."""

    message_type: int = 0
    transaction: int = 0
    client_duid: bytes = b""  # option 1
    server_duid: bytes = b""  # option 2
    addresses: tuple[str, ...] = ()  # IA_NA and IA_TA addresses handed out (option 5)
    prefixes: tuple[str, ...] = ()  # IA_PD prefixes delegated (option 26), "addr/len"
    dns_servers: tuple[str, ...] = ()  # option 23
    error: str = ""


def _options(data: bytes, start: int, end: int) -> tuple[list[tuple[int, int, int]], bool]:
    """(code, start, end) of each option in data[start:end]; False if one was cut short."""
    out: list[tuple[int, int, int]] = []
    i = start
    while i + 4 <= end:
        code = int.from_bytes(data[i : i + 2], "big")
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if i + 4 + length > end:
            return out, False
        out.append((code, i + 4, i + 4 + length))
        i += 4 + length
    return out, i == end


def parse(data: bytes) -> Dhcp6:
    """Parse a DHCPv6 client/server message; problems in ``error``, never raised."""
    if len(data) < 4:
        return Dhcp6(error="truncated")
    kind = data[0]
    transaction = int.from_bytes(data[1:4], "big")
    if kind in (RELAY_FORW, RELAY_REPL):
        return Dhcp6(message_type=kind, error="" if len(data) >= 34 else "truncated")
    options, whole = _options(data, 4, len(data))
    duid = client = b""
    addresses: list[str] = []
    prefixes: list[str] = []
    dns: list[str] = []
    for code, start, end in options:
        if code == OPT_SERVERID:
            duid = data[start : min(end, start + MAX_DUID)]
        elif code == OPT_CLIENTID:
            client = data[start : min(end, start + MAX_DUID)]
        elif code == OPT_DNS_SERVERS:
            for i in range(start, end - 15, 16):
                if len(dns) < MAX_LIST:
                    dns.append(ip_text(data[i : i + 16]))
        elif code in (OPT_IA_NA, OPT_IA_TA, OPT_IA_PD):
            head = 4 if code == OPT_IA_TA else 12  # IAID, and T1, T2 but in IA_TA
            inner, ok = _options(data, start + head, end) if end - start >= head else ([], False)
            whole = whole and ok
            for icode, istart, iend in inner:
                if icode == OPT_IAADDR and iend - istart >= 24 and len(addresses) < MAX_LIST:
                    addresses.append(ip_text(data[istart : istart + 16]))
                elif icode == OPT_IAPREFIX and iend - istart >= 25 and len(prefixes) < MAX_LIST:
                    length = data[istart + 8]
                    prefixes.append(f"{ip_text(data[istart + 9 : istart + 25])}/{length}")
    return Dhcp6(
        message_type=kind,
        transaction=transaction,
        client_duid=client,
        server_duid=duid,
        addresses=tuple(addresses),
        prefixes=tuple(prefixes),
        dns_servers=tuple(dns),
        error="" if whole else "bad_option",
    )


def duid_mac(duid: bytes) -> bytes:
    """The Ethernet address in a DUID-LLT or DUID-LL (hardware type 1), else b""."""
    if len(duid) < 4 or int.from_bytes(duid[2:4], "big") != 1:
        return b""
    kind = int.from_bytes(duid[:2], "big")
    if kind == DUID_LLT and len(duid) == 14:
        return duid[8:14]
    if kind == DUID_LL and len(duid) == 10:
        return duid[4:10]
    return b""
