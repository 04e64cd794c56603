"""Mail texts in Dutch and English: a subject, a plain-text body and an HTML body.

Every value put into the HTML goes through ``html.escape``: a DNS name such as
``<img src=x onerror=...>.evil.example`` must show as text, never as markup. Values come
from ``clean.clean`` already, so they hold no control characters and are bounded.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import UTC, datetime
from string import Template
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from sentinel.model import Alert, Severity

Language = Literal["nl", "en"]


@dataclass(frozen=True, slots=True)
class Texts:
    """The words of one language."""

    firing: str
    resolved: str
    severity: dict[str, str]
    fields: dict[str, str]
    intro: str
    outro: str
    escalated: str  # after the severity in the subject: the severity it was notified at
    escalation: str  # the body's row: from the old severity to the new one


TEXTS: dict[Language, Texts] = {
    "en": Texts(
        firing="ALERT",
        resolved="RESOLVED",
        severity={"info": "info", "warning": "warning", "critical": "critical"},
        fields={
            "site": "Site",
            "detector": "Detector",
            "severity": "Severity",
            "escalated": "Escalated",
            "summary": "Summary",
            "source": "Source",
            "target": "Target",
            "first_seen": "First seen",
            "last_seen": "Last seen",
            "resolved": "Resolved",
            "counts": "Counts",
            "findings": "Incident",
            "evidence": "Evidence",
            "description": "Details",
        },
        intro="Sentinel on site $site reports:",
        outro=(
            "Devices are named by pseudonym where the site's privacy settings ask for it. "
            "The evidence file is in the state directory of the site's sentinel box."
        ),
        escalated="escalated from $was",
        escalation="from $was to $now",
    ),
    "nl": Texts(
        firing="MELDING",
        resolved="OPGELOST",
        severity={"info": "info", "warning": "waarschuwing", "critical": "kritiek"},
        fields={
            "site": "School",
            "detector": "Detector",
            "severity": "Ernst",
            "escalated": "Escalatie",
            "summary": "Samenvatting",
            "source": "Bron",
            "target": "Doel",
            "first_seen": "Eerst gezien",
            "last_seen": "Laatst gezien",
            "resolved": "Opgelost",
            "counts": "Aantallen",
            "findings": "Incident",
            "evidence": "Bewijs",
            "description": "Details",
        },
        intro="Sentinel op school $site meldt:",
        outro=(
            "Apparaten worden met een pseudoniem benoemd waar de privacy-instellingen van de "
            "school dat vragen. Het bewijsbestand staat in de statusmap van de sentinel-box."
        ),
        escalated="geëscaleerd van $was",
        escalation="van $was naar $now",
    ),
}

_HTML = Template(
    """<!DOCTYPE html>
<html lang="$lang"><head><meta charset="utf-8"><title>$title</title></head>
<body style="font-family: sans-serif">
<p>$intro</p>
<table cellpadding="4" style="border-collapse: collapse">
$rows
</table>
<p style="color: #555">$outro</p>
</body></html>
"""
)


def _time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _severity(t: Texts, severity: Severity) -> str:
    return t.severity.get(severity.value, severity.value)


def _escalation(t: Texts, alert: Alert, words: str) -> str:
    """``words`` filled in for an escalated alert; "" for any other (and for an end)."""
    if alert.escalated_from is None or alert.resolved is not None:
        return ""
    return Template(words).substitute(
        was=_severity(t, alert.escalated_from), now=_severity(t, alert.severity)
    )


def rows(alert: Alert, site: str, lang: Language) -> list[tuple[str, str]]:
    """(label, value) pairs shown in both bodies, in order; empty values left out."""
    t = TEXTS[lang]
    f = t.fields
    source = " ".join(x for x in (alert.source.ip, alert.source.mac) if x)
    items = [
        (f["site"], site),
        (f["detector"], alert.detector),
        (f["severity"], _severity(t, alert.severity)),
        (f["escalated"], _escalation(t, alert, t.escalation)),
        (f["summary"], alert.summary),
        (f["source"], source),
        (f["target"], alert.target),
        (f["first_seen"], _time(alert.first_seen)),
        (f["last_seen"], _time(alert.last_seen)),
        (f["resolved"], _time(alert.resolved) if alert.resolved is not None else ""),
        (f["counts"], ", ".join(f"{k}={v}" for k, v in alert.counts)),
        (f["findings"], ", ".join(alert.findings) if len(alert.findings) > 1 else ""),
        (f["evidence"], alert.evidence),
        (f["description"], alert.description),
    ]
    return [(k, v) for k, v in items if v]


def subject(alert: Alert, site: str, lang: Language) -> str:
    t = TEXTS[lang]
    state = t.resolved if alert.resolved is not None else t.firing
    sev = _severity(t, alert.severity)
    escalated = _escalation(t, alert, t.escalated)
    if escalated:  # before the detector: a long summary cuts the subject, never this
        sev = f"{sev} ({escalated})"
    return f"[{state}] {site}: {sev} {alert.detector}: {alert.summary}"[:200]


def plain(alert: Alert, site: str, lang: Language) -> str:
    t = TEXTS[lang]
    pairs = rows(alert, site, lang)
    width = max(len(k) for k, _ in pairs)
    body = "\n".join(f"{k + ':':<{width + 1}} {v}" for k, v in pairs)
    intro = Template(t.intro).substitute(site=site)
    return f"{intro}\n\n{body}\n\n{t.outro}\n"


def html_body(alert: Alert, site: str, lang: Language) -> str:
    t = TEXTS[lang]
    e = html.escape
    trs = "\n".join(
        f'<tr><th align="left" valign="top">{e(k)}</th>'
        f'<td style="white-space: pre-wrap">{e(v)}</td></tr>'
        for k, v in rows(alert, site, lang)
    )
    return _HTML.substitute(
        lang=lang,
        title=e(subject(alert, site, lang)),
        intro=e(Template(t.intro).substitute(site=site)),
        rows=trs,
        outro=e(t.outro),
    )
