"""Incidents: findings of one source within one time window belong together.

A student who sweeps the LAN for hosts and then scans the ports of what answered raises
two detectors, a spoofer who poisons ARP and relays the traffic raises several. The
admin should read one incident that names every finding, not a stream of alerts.

``Incidents.place`` is asked for every new alert (a detector and identifier not active
yet) with the finding's source in clear text. It answers with the incident the alert
belongs to: the key of the incident's first alert (its *lead*), which may be the alert
itself. The engine writes that key into the alert; the router delivers one notification
per incident and folds later findings into it (see ``alerting/router.py``).

Sources are matched by IP address, and by MAC address unless the MAC is the gateway's
(every routed packet carries it) or both findings name different IP addresses. An
incident stays open while any of its findings repeats within ``window``. The table is
bounded: a flood of spoofed sources evicts the oldest incidents, it never grows.
"""

from __future__ import annotations

from dataclasses import dataclass

from sentinel.detect.base import Bounded

MAX_INCIDENTS = 10000


@dataclass(slots=True)
class _Incident:
    lead: tuple[str, str]  # (detector, identifier) of its first alert
    ip: str
    last: float  # packet time of the latest finding


class Incidents:
    """Which open incident a new finding joins; bounded, packet-time driven."""

    def __init__(self, window: float, *, gateway_mac: str = "", cap: int = MAX_INCIDENTS) -> None:
        self.window = window
        self.gateway_mac = gateway_mac
        self.by_ip: Bounded[str, _Incident] = Bounded(cap)
        self.by_mac: Bounded[str, _Incident] = Bounded(cap)
        self.joined = 0  # findings that joined an incident another alert opened

    def place(self, key: tuple[str, str], ts: float, ip: str, mac: str) -> tuple[str, str]:
        """The lead key of the incident that the new alert ``key`` belongs to."""
        mac = "" if mac == self.gateway_mac else mac
        inc = self._open(self.by_ip, ip, ts)
        if inc is None and mac:
            inc = self._open(self.by_mac, mac, ts)
            if inc is not None and ip and inc.ip and inc.ip != ip:
                inc = None  # one MAC, two addresses: a router or a relay, not one source
        if inc is None:
            if not (ip or mac):
                return key
            inc = _Incident(key, ip, ts)
        elif inc.lead != key:
            self.joined += 1
        inc.last = max(inc.last, ts)
        if ip:
            inc.ip = inc.ip or ip
            self.by_ip.put(ip, inc)
        if mac:
            self.by_mac.put(mac, inc)
        return inc.lead

    def seen(self, ts: float, ip: str, mac: str) -> None:
        """A repeat of an alert in an incident: the incident stays open."""
        for table, k in ((self.by_ip, ip), (self.by_mac, mac)):
            inc = table.get(k) if k else None
            if inc is not None:
                inc.last = max(inc.last, ts)

    def _open(self, table: Bounded[str, _Incident], k: str, ts: float) -> _Incident | None:
        if not k:
            return None
        inc = table.get(k)
        if inc is None or ts - inc.last > self.window:
            return None
        return inc

    def stats(self) -> dict[str, int]:
        return {
            "sources": len(self.by_ip) + len(self.by_mac),
            "joined": self.joined,
            "evictions": self.by_ip.evictions + self.by_mac.evictions,
        }
