"""Run one probe of one target within its deadline; failures become results, never raise."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import TYPE_CHECKING

from sentinel import logsetup
from sentinel.config.probes import IcmpSettings, split_host_port
from sentinel.model import ProbeResult
from sentinel.probes import dns, http, icmp, tcp
from sentinel.probes.outcome import ProbeFailure, classify
from sentinel.probes.resolve import resolve

if TYPE_CHECKING:
    from sentinel.config.probes import (
        DnsSettings,
        HttpSettings,
        ProbeSettings,
        ProbeTarget,
        TcpSettings,
    )

log = logsetup.get(__name__)


def deadline(
    settings: ProbeSettings, pings: int | None = None, spacing: float | None = None
) -> float:
    """Seconds one round may take before it is cut off."""
    if isinstance(settings, IcmpSettings):
        n = settings.pings if pings is None else pings
        gap = settings.spacing if spacing is None else spacing
        return gap * max(0, n - 1) + settings.timeout + 1.0
    return float(settings.timeout)


async def probe(
    target: ProbeTarget,
    settings: ProbeSettings,
    pingers: icmp.Pingers,
    *,
    pings: int | None = None,
    spacing: float | None = None,
    limit: float | None = None,
) -> ProbeResult:
    """One round. ``CancelledError`` propagates; anything else is a failed result."""
    fields: dict[str, object] = {}
    phases: dict[str, float] = {}
    start = time.perf_counter()
    budget = deadline(settings, pings, spacing) if limit is None else limit
    try:
        async with asyncio.timeout(budget):
            await _RUNNERS[target.module](target, settings, pingers, fields, phases, pings, spacing)  # type: ignore[operator]
    except Exception as exc:  # every failure is a result with a reason
        failure = classify(exc)
        if failure.reason == "error":
            log.debug("probe error", target=target.name, exc_info=exc)
        return _result(target, start, phases, fields, failure)
    return _result(target, start, phases, fields, None)


def _result(
    target: ProbeTarget,
    start: float,
    phases: dict[str, float],
    fields: dict[str, object],
    failure: ProbeFailure | None,
) -> ProbeResult:
    return ProbeResult(
        probe=target.module,
        target=target.name,
        address=target.address,
        success=failure is None,
        duration=time.perf_counter() - start,
        time=time.time(),
        reason=failure.reason if failure else "",
        detail=failure.detail if failure else "",
        phases=tuple(phases.items()),
        **fields,  # type: ignore[arg-type]
    )


async def _resolved(
    host: str, target: ProbeTarget, fields: dict[str, object], phases: dict[str, float]
) -> tuple[str, int]:
    """Resolve ``host`` as the target asks, timing the resolve phase; record the address."""
    ip, family, took = await resolve(host, target.ip_protocol)
    phases["resolve"] = took
    fields.update(ip=ip, ip_protocol=4 if family == socket.AF_INET else 6)
    return ip, family


async def _icmp(
    target: ProbeTarget,
    s: IcmpSettings,
    pingers: icmp.Pingers,
    fields: dict[str, object],
    phases: dict[str, float],
    pings: int | None,
    spacing: float | None,
) -> None:
    ip, family = await _resolved(target.address, target, fields, phases)
    t = time.perf_counter()
    try:
        pinger = pingers.get(family)
    except icmp.IcmpUnavailable as exc:
        raise ProbeFailure("permission", exc.strerror or str(exc)) from None
    phases["setup"] = time.perf_counter() - t
    count = s.pings if pings is None else pings
    echoes = await icmp.burst(
        pinger, ip, count, s.spacing if spacing is None else spacing, s.timeout, s.payload
    )
    rtts = tuple(e.rtt for e in echoes if e.rtt is not None)
    hops = [e.hop_limit for e in echoes if e.hop_limit is not None]
    fields.update(sent=count, rtts=rtts, hop_limit=hops[-1] if hops else None)
    if rtts:
        phases["rtt"] = sorted(rtts)[len(rtts) // 2]
    if not rtts:
        raise ProbeFailure("loss", f"none of {count} echo requests was answered")


async def _dns(
    target: ProbeTarget,
    s: DnsSettings,
    _p: icmp.Pingers,
    fields: dict[str, object],
    phases: dict[str, float],
    _n: int | None,
    _s: float | None,
) -> None:
    host, port = split_host_port(target.address, 53)
    ip, family = await _resolved(host, target, fields, phases)
    answer, _ = await dns.query(ip, port, family, s.query_name, s.query_type, s.transport, phases)
    fields.update(
        rcode=answer.rcode,
        answers=answer.answers,
        authority=answer.authority,
        additional=answer.additional,
    )
    valid = {dns.RCODES.get(r.upper(), -1) for r in s.valid_rcodes}
    if answer.rcode not in valid:
        name = dns.RCODE_NAMES.get(answer.rcode, str(answer.rcode))
        raise ProbeFailure("dns_rcode", f"rcode {name}")


async def _tcp(
    target: ProbeTarget,
    _c: TcpSettings,
    _p: icmp.Pingers,
    fields: dict[str, object],
    phases: dict[str, float],
    _n: int | None,
    _s: float | None,
) -> None:
    host, port = split_host_port(target.address, None)
    ip, family = await _resolved(host, target, fields, phases)
    await tcp.connect(ip, port, family, phases)


async def _http(
    target: ProbeTarget,
    s: HttpSettings,
    _p: icmp.Pingers,
    fields: dict[str, object],
    phases: dict[str, float],
    _n: int | None,
    _s: float | None,
) -> None:
    f = http.Fetch()
    try:
        await http.fetch(
            target.address,
            f,
            body_limit=s.body_limit,
            max_redirects=s.max_redirects,
            verify=s.verify_tls,
            ip_protocol=target.ip_protocol,
        )
    finally:
        phases.update(f.phases)
        fields.update(
            ip=f.ip,
            ip_protocol=(4 if f.family == socket.AF_INET else 6) if f.ip else 0,
            status=f.status,
            http_version=f.version,
            final_url=f.final_url,
            redirects=f.redirects,
            content_length=f.content_length,
            body_length=f.body_length,
            tls_version=f.tls_version,
            cert_expiry=f.cert_expiry,
        )
    valid = s.valid_status_codes
    if f.status is not None and not (f.status in valid if valid else 200 <= f.status < 300):
        raise ProbeFailure("http_status", f"HTTP status {f.status}")


_RUNNERS = {"icmp": _icmp, "dns": _dns, "tcp": _tcp, "http": _http}
