"""Make alert text safe to pass on: no control characters, every field bounded in length.

Host names, DNS names and DHCP fields come from the network, so an attacker chooses them.
Every sink gets alerts through ``clean()`` first; HTML escaping is the mail template's job.
"""

from __future__ import annotations

import dataclasses
import unicodedata

from sentinel.model import Alert, Endpoint

FIELD_MAX = 256  # identifiers, addresses, names, evidence
SUMMARY_MAX = 512
DESCRIPTION_MAX = 2048
COUNTS_MAX = 16  # (name, value) pairs kept
ELLIPSIS = "…"

# Cc: control characters (newlines forge log lines and mail headers); Cf: format characters
# such as U+202E RIGHT-TO-LEFT OVERRIDE, which make a name read differently than it is.
_DROP = frozenset(("Cc", "Cf", "Cs", "Co", "Cn"))


def text(value: str, limit: int = FIELD_MAX, *, multiline: bool = False) -> str:
    """``value`` without control/format characters, at most ``limit`` characters long."""
    keep = []
    for ch in value[: limit * 4]:  # bound the work before filtering
        if multiline and ch == "\n":
            keep.append(ch)
        elif ch in "\t\r\n":
            keep.append(" ")
        elif unicodedata.category(ch) not in _DROP:
            keep.append(ch)
    out = "".join(keep).strip()
    return out if len(out) <= limit else out[: limit - 1] + ELLIPSIS


def clean(alert: Alert) -> Alert:
    """A copy of ``alert`` whose every string is cleaned and bounded."""
    return dataclasses.replace(
        alert,
        detector=text(alert.detector, 64),
        identifier=text(alert.identifier),
        summary=text(alert.summary, SUMMARY_MAX),
        description=text(alert.description, DESCRIPTION_MAX, multiline=True),
        evidence=text(alert.evidence),
        target=text(alert.target),
        source=Endpoint(ip=text(alert.source.ip), mac=text(alert.source.mac)),
        counts=tuple((text(k, 64), int(v)) for k, v in alert.counts[:COUNTS_MAX]),
    )
