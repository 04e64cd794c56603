"""Alerts to JSON and back, for the outbox (the stored form outlives one daemon version)."""

from __future__ import annotations

import json
from typing import Any

from sentinel.model import Alert, Endpoint, Severity


def to_dict(alert: Alert) -> dict[str, Any]:
    """The JSON-ready form of ``alert``; also what the webhook and event log carry."""
    return {
        "detector": alert.detector,
        "severity": alert.severity.value,
        "identifier": alert.identifier,
        "summary": alert.summary,
        "description": alert.description,
        "first_seen": alert.first_seen,
        "last_seen": alert.last_seen,
        "source": {"ip": alert.source.ip, "mac": alert.source.mac},
        "target": alert.target,
        "counts": dict(alert.counts),
        "evidence": alert.evidence,
        "resolved": alert.resolved,
        "kind": alert.kind,
        "incident": alert.incident,
        "findings": list(alert.findings),
        "escalated_from": None if alert.escalated_from is None else alert.escalated_from.value,
    }


def dumps(alert: Alert) -> str:
    return json.dumps(to_dict(alert), ensure_ascii=False, separators=(",", ":"))


def loads(data: str) -> Alert:
    """The alert ``dumps`` wrote; unknown keys (from a newer version) are ignored, missing
    optional ones (from an older version) take their defaults."""
    d = json.loads(data)
    src = d.get("source") or {}
    resolved = d.get("resolved")
    was = d.get("escalated_from")  # absent in outboxes written before escalations were named
    return Alert(
        detector=str(d["detector"]),
        severity=Severity(d["severity"]),
        identifier=str(d["identifier"]),
        summary=str(d.get("summary", "")),
        first_seen=float(d["first_seen"]),
        last_seen=float(d["last_seen"]),
        source=Endpoint(ip=str(src.get("ip", "")), mac=str(src.get("mac", ""))),
        target=str(d.get("target", "")),
        counts=tuple((str(k), int(v)) for k, v in dict(d.get("counts") or {}).items()),
        description=str(d.get("description", "")),
        evidence=str(d.get("evidence", "")),
        resolved=None if resolved is None else float(resolved),
        kind=str(d.get("kind", "")),
        incident=str(d.get("incident", "")),
        findings=tuple(str(f) for f in d.get("findings") or ()),
        escalated_from=None if was is None else Severity(was),
    )
