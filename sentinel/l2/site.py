"""What the switches' layer 2 says about the whole site: the census, unconfigured switches."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sentinel import logsetup

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from sentinel.config.snmp import Resolved
    from sentinel.l2.census import Census
    from sentinel.l2.reader import Reading
    from sentinel.metrics import Metrics

log = logsetup.get(__name__)
MAX_UNCONFIGURED = 256  # a site with more unknown switches than this has a bigger problem


@dataclass(frozen=True, slots=True)
class Unconfigured:
    """A switch neighbour that is not in ``snmp.switches``."""

    name: str
    address: str
    seen_by: str
    ifname: str


def _short(name: str) -> str:
    return name.lower().split(".")[0]


class Site:
    """Collects every switch's reading; publishes the census and unknown switches."""

    def __init__(
        self,
        metrics: Metrics,
        census: Census,
        switches: Iterable[Resolved] = (),
        *,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.metrics = metrics
        self.census = census
        self.wall = wall
        self._names: set[str] = set()
        self._hosts: set[str] = set()
        self._by_switch: dict[str, dict[str, Unconfigured]] = {}
        self._reported: set[str] = set()
        self.configure(switches)

    def configure(self, switches: Iterable[Resolved]) -> None:
        sw = list(switches)
        self._names = {_short(s.name) for s in sw}
        self._hosts = {s.host for s in sw}
        self._publish_unconfigured()

    def seen(self, switch: str, reading: Reading) -> None:
        now = self.wall()
        self.census.add(reading.devices, now, wireless=reading.wireless)
        found: dict[str, Unconfigured] = {}
        for r in reading.remotes:
            if r.kind != "bridge" or not r.named:
                continue
            if _short(r.name) in self._names or (r.address and r.address in self._hosts):
                continue
            key = _short(r.name)
            ifname = next(
                (n.ifname for n in reading.snapshot.neighbors if n.name == r.name),
                str(r.local_port),
            )
            found.setdefault(key, Unconfigured(r.name, r.address, switch, ifname))
        self._by_switch[switch] = dict(list(found.items())[:MAX_UNCONFIGURED])
        for key, u in found.items():
            if key not in self._reported and len(self._reported) < MAX_UNCONFIGURED:
                self._reported.add(key)
                log.warning(
                    "switch neighbour not configured",
                    neighbor=u.name,
                    address=u.address or "unknown",
                    seen_by=u.seen_by,
                    ifname=u.ifname,
                )
        self._publish_unconfigured()
        self.publish(now)

    def forget(self, switch: str) -> None:
        self._by_switch.pop(switch, None)
        self._publish_unconfigured()

    def unconfigured(self) -> list[Unconfigured]:
        out: dict[str, Unconfigured] = {}
        for found in self._by_switch.values():
            for key, u in found.items():
                out.setdefault(key, u)
        return sorted(out.values(), key=lambda u: u.name)

    def _publish_unconfigured(self) -> None:
        self.metrics.l2.unconfigured_switches = len(self.unconfigured())

    def publish(self, now: float | None = None) -> None:
        self.metrics.l2.publish_census(self.census.counts(self.wall() if now is None else now))
