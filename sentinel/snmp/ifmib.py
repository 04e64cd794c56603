"""IF-MIB and SNMPv2-MIB object identifiers sentinel reads (RFC 2863, RFC 3418)."""

from __future__ import annotations

OID = tuple[int, ...]

SYS_UPTIME: OID = (1, 3, 6, 1, 2, 1, 1, 3, 0)
IF_NUMBER: OID = (1, 3, 6, 1, 2, 1, 2, 1, 0)

_IF = (1, 3, 6, 1, 2, 1, 2, 2, 1)  # ifEntry
_IFX = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)  # ifXEntry

IF_DESCR = (*_IF, 2)
IF_TYPE = (*_IF, 3)
IF_SPEED = (*_IF, 5)
IF_ADMIN_STATUS = (*_IF, 7)
IF_OPER_STATUS = (*_IF, 8)
IF_IN_OCTETS = (*_IF, 10)
IF_IN_UCAST = (*_IF, 11)
IF_IN_NUCAST = (*_IF, 12)
IF_IN_DISCARDS = (*_IF, 13)
IF_IN_ERRORS = (*_IF, 14)
IF_OUT_OCTETS = (*_IF, 16)
IF_OUT_UCAST = (*_IF, 17)
IF_OUT_NUCAST = (*_IF, 18)
IF_OUT_DISCARDS = (*_IF, 19)
IF_OUT_ERRORS = (*_IF, 20)

IF_NAME = (*_IFX, 1)
IF_HC_IN_OCTETS = (*_IFX, 6)
IF_HC_IN_UCAST = (*_IFX, 7)
IF_HC_IN_MCAST = (*_IFX, 8)
IF_HC_IN_BCAST = (*_IFX, 9)
IF_HC_OUT_OCTETS = (*_IFX, 10)
IF_HC_OUT_UCAST = (*_IFX, 11)
IF_HC_OUT_MCAST = (*_IFX, 12)
IF_HC_OUT_BCAST = (*_IFX, 13)
IF_HIGH_SPEED = (*_IFX, 15)
IF_ALIAS = (*_IFX, 18)
IF_COUNTER_DISCONTINUITY = (*_IFX, 19)

# Read on a slow timer or when the switch says its interfaces changed.
LABEL_COLUMNS = (IF_DESCR, IF_TYPE, IF_SPEED, IF_NAME, IF_HIGH_SPEED, IF_ALIAS)

# Counter slots kept per interface: (column, 64-bit?)
COUNTERS: tuple[tuple[OID, bool], ...] = (
    (IF_HC_IN_OCTETS, True),
    (IF_HC_OUT_OCTETS, True),
    (IF_IN_OCTETS, False),
    (IF_OUT_OCTETS, False),
    (IF_HC_IN_UCAST, True),
    (IF_HC_IN_MCAST, True),
    (IF_HC_IN_BCAST, True),
    (IF_HC_OUT_UCAST, True),
    (IF_HC_OUT_MCAST, True),
    (IF_HC_OUT_BCAST, True),
    (IF_IN_UCAST, False),
    (IF_IN_NUCAST, False),
    (IF_OUT_UCAST, False),
    (IF_OUT_NUCAST, False),
    (IF_IN_ERRORS, False),
    (IF_OUT_ERRORS, False),
    (IF_IN_DISCARDS, False),
    (IF_OUT_DISCARDS, False),
)
SLOT = {col: i for i, (col, _) in enumerate(COUNTERS)}
OCTET_SLOTS = 4  # the first four: HC and 32-bit octets in and out (the lean tier)
WIDE = tuple(w for _, w in COUNTERS)

# Columns per exported quantity: HC first, 32-bit fallback.
RX_BYTES = ((IF_HC_IN_OCTETS,), (IF_IN_OCTETS,))
TX_BYTES = ((IF_HC_OUT_OCTETS,), (IF_OUT_OCTETS,))
RX_PACKETS = ((IF_HC_IN_UCAST, IF_HC_IN_MCAST, IF_HC_IN_BCAST), (IF_IN_UCAST, IF_IN_NUCAST))
TX_PACKETS = ((IF_HC_OUT_UCAST, IF_HC_OUT_MCAST, IF_HC_OUT_BCAST), (IF_OUT_UCAST, IF_OUT_NUCAST))

FULL_COLUMNS = (
    IF_ADMIN_STATUS,
    IF_HC_IN_UCAST,
    IF_HC_IN_MCAST,
    IF_HC_IN_BCAST,
    IF_HC_OUT_UCAST,
    IF_HC_OUT_MCAST,
    IF_HC_OUT_BCAST,
    IF_IN_UCAST,
    IF_IN_NUCAST,
    IF_OUT_UCAST,
    IF_OUT_NUCAST,
    IF_IN_ERRORS,
    IF_OUT_ERRORS,
    IF_IN_DISCARDS,
    IF_OUT_DISCARDS,
)
PACKETS_32 = (IF_IN_UCAST, IF_IN_NUCAST, IF_OUT_UCAST, IF_OUT_NUCAST)
FULL_COLUMNS_HC = tuple(c for c in FULL_COLUMNS if c not in PACKETS_32)
SPEED_UNKNOWN_32 = 4294967295  # ifSpeed saturates here; ifHighSpeed has the value
