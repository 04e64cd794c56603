"""``sentinel probe``: one target probed from the command line, printed with the metric names.

Each row is named as the metric that carries the figure, without its ``sentinel_probe_``
(or blackbox_exporter's ``probe_``) prefix, so what the admin reads on the box is what the
region graphs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import time
from typing import TYPE_CHECKING

from sentinel.config.probes import MODULES, IcmpSettings, ProbeTarget, check_address
from sentinel.probemetrics import PHASES, jitter, median
from sentinel.probes.dns import RCODE_NAMES
from sentinel.probes.icmp import Pingers
from sentinel.probes.run import probe

if TYPE_CHECKING:
    from collections.abc import Callable

    from sentinel.config.probes import ProbesConfig, ProbeSettings
    from sentinel.model import ProbeResult


def guess_module(target: str) -> str:
    """``http(s)://`` is http, ``host:port`` or ``[v6]:port`` is tcp, anything else icmp."""
    if target.startswith(("http://", "https://")):
        return "http"
    if target.startswith("[") and "]:" in target:
        return "tcp"
    if target.count(":") == 1:
        return "tcp"
    return "icmp"


def ad_hoc(module: str, address: str, ip_protocol: str = "auto") -> ProbeTarget:
    """A target from the command line; ``ValueError`` (one line) when ``module`` cannot
    probe ``address``."""
    if module not in MODULES:
        raise ValueError(f"unknown module {module!r} (one of {', '.join(MODULES)})")
    if module == "http" and "://" not in address:
        address = "http://" + address
    check_address(module, address)
    return ProbeTarget(address, module, address, ip_protocol=ip_protocol)  # type: ignore[arg-type]


def settings_for(
    cfg: ProbesConfig,
    module: str,
    *,
    timeout: float | None = None,
    query_name: str | None = None,
    query_type: str | None = None,
    insecure: bool = False,
) -> ProbeSettings:
    """The config's settings for ``module`` with the command line's overrides."""
    s: ProbeSettings = getattr(cfg, module)
    changes: dict[str, object] = {}
    if timeout is not None:
        changes["timeout"] = timeout
    if module == "dns":
        if query_name:
            changes["query_name"] = query_name
        if query_type:
            changes["query_type"] = query_type
    if module == "http" and insecure:
        changes["verify_tls"] = False
    return dataclasses.replace(s, **changes)  # type: ignore[arg-type]


async def rounds(
    target: ProbeTarget,
    settings: ProbeSettings,
    count: int,
    interval: float,
    socket_mode: str,
    show: Callable[[ProbeResult], None],
) -> bool:
    """ICMP: one burst of ``count`` echo requests ``interval`` apart. Other modules:
    ``count`` rounds ``interval`` apart. ``show`` gets each result; True if all succeeded."""
    pingers = Pingers(socket_mode)
    ok = True
    try:
        if isinstance(settings, IcmpSettings):
            r = await probe(target, settings, pingers, pings=count, spacing=interval)
            show(r)
            return r.success
        loop = asyncio.get_running_loop()
        start = loop.time()
        for i in range(count):
            if i:
                await asyncio.sleep(max(0.0, start + i * interval - loop.time()))
            r = await probe(target, settings, pingers)
            show(r)
            ok = ok and r.success
        return ok
    finally:
        pingers.close()


def failure_line(r: ProbeResult) -> str:
    """The one line that says what went wrong: module, target, reason, detail."""
    return f"{r.probe} {r.address}: {r.reason}: {r.detail}"


def _seconds(value: float) -> tuple[str, str]:
    return f"{value:.6f}", f"{value * 1000:.3f} ms"


def table(r: ProbeResult, now: float | None = None) -> str:
    """The figures of one successful round, one row per metric (name, value, readable)."""
    rows: list[tuple[str, str, str]] = [("success", "1" if r.success else "0", "")]
    family = {4: "IPv4", 6: "IPv6"}.get(r.ip_protocol, "")
    head = f"{r.probe} {r.address}" + (f" ({r.ip}, {family})" if r.ip else "")
    if r.probe == "icmp":
        received = len(r.rtts)
        head += f": {r.sent} echo requests, {received} replies"
        lost = r.sent - received
        rows.append(("icmp_loss_ratio", f"{r.loss_ratio:.4g}", f"{lost} of {r.sent} lost"))
        if r.rtts:
            for stat, seconds in (
                ("min", min(r.rtts)),
                ("median", median(r.rtts)),
                ("max", max(r.rtts)),
            ):
                rows.append((f"icmp_round_rtt_seconds{{stat={stat}}}", *_seconds(seconds)))
            rows.append(("icmp_jitter_seconds", *_seconds(jitter(r.rtts))))
        if r.hop_limit is not None:
            rows.append(("icmp_reply_hop_limit", str(r.hop_limit), ""))
    if r.probe == "dns" and r.rcode is not None:
        rows.append(("dns_rcode", str(r.rcode), RCODE_NAMES.get(r.rcode, "")))
        rows.append(("dns_answer_rrs", str(r.answers), ""))
        rows.append(("dns_authority_rrs", str(r.authority), ""))
        rows.append(("dns_additional_rrs", str(r.additional), ""))
    if r.probe == "http" and r.status is not None:
        rows.append(("http_status_code", str(r.status), ""))
        rows.append(("http_final_url", r.final_url, ""))
        rows.append(("http_redirects", str(r.redirects), ""))
        rows.append(("http_version", f"{r.http_version:g}", ""))
        rows.append(("http_content_length", str(r.content_length), ""))
        rows.append(("http_uncompressed_body_length", str(r.body_length), "bytes"))
        if r.tls_version:
            rows.append((f"tls_version_info{{version={r.tls_version}}}", "1", ""))
        if r.cert_expiry is not None:
            when = dt.datetime.fromtimestamp(r.cert_expiry, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
            days = (r.cert_expiry - (time.time() if now is None else now)) / 86400
            rows.append(
                (
                    "tls_cert_expiry_timestamp_seconds",
                    f"{r.cert_expiry:.0f}",
                    f"{when}, in {days:.1f} days",
                )
            )
    rows.extend(
        (f"duration_seconds{{phase={phase}}}", *_seconds(r.phase(phase)))
        for phase in PHASES[r.probe]
    )
    rows.append(("last_duration_seconds", *_seconds(r.duration)))
    width = max(len(name) for name, _, _ in rows)
    vwidth = max(len(value) for _, value, _ in rows if len(value) < 24)  # not the URL
    lines = [head]
    for name, value, note in rows:
        lines.append(f"  {name:<{width}}  {value:<{vwidth}}  {note}".rstrip())
    return "\n".join(lines) + "\n"
