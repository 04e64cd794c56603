"""The demo's local page: the alert sink the user can see, and a summary of /metrics.

One small HTTP server on loopback (standard library, in a thread):

- ``POST /alerts`` is the daemon's webhook sink: each signed event is checked, labelled
  as a demo, appended to ``alerts.jsonl`` and logged;
- ``GET /`` is a page (refreshing itself) that says in its title and banner that it is a
  demo, and shows the switches, their uplink bandwidth, the capture counters, the
  detections, the probes and the latest alerts, read from the daemon's own /metrics;
- ``GET /alerts.json`` the latest alerts, ``GET /metrics`` the demo's info metric.
"""

from __future__ import annotations

import collections
import html
import json
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from sentinel import __version__, logsetup
from sentinel.metrics import DemoMetrics, parse_exposition

if TYPE_CHECKING:
    from pathlib import Path

log = logsetup.get("sentinel.demo")

DEMO = "[DEMO]"
MAX_ALERTS = 200  # kept in memory for the page; the file has them all
MAX_BODY = 256 * 1024
MAX_AGE = 300  # seconds: an older signed timestamp is refused (a replayed request)


class Summary:
    """What the page shows, computed from two successive scrapes of the daemon."""

    def __init__(self) -> None:
        self.samples: list[tuple[str, dict[str, str], float]] = []
        self.previous: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self.current: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self.interval = 0.0
        self.at = 0.0

    def update(self, text: str, now: float) -> None:
        self.samples = parse_exposition(text)
        self.previous, self.interval = self.current, now - self.at
        self.current = {(n, tuple(sorted(lab.items()))): v for n, lab, v in self.samples}
        self.at = now

    def values(self, name: str) -> list[tuple[dict[str, str], float]]:
        return [(lab, v) for n, lab, v in self.samples if n == name]

    def rate(self, name: str, labels: dict[str, str]) -> float | None:
        key = (name, tuple(sorted(labels.items())))
        if key not in self.previous or self.interval <= 0:
            return None
        return max(self.current.get(key, 0.0) - self.previous[key], 0.0) / self.interval


class Page:
    """The server; ``start`` binds it (port 0: any free port), ``close`` stops it."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        site: str,
        alerts_file: Path,
        secret: bytes,
        metrics_url: str,
    ) -> None:
        self.site = site
        self.alerts_file = alerts_file
        self.secret = secret
        self.metrics_url = metrics_url
        self.metrics = DemoMetrics()
        self.metrics.info.labels(site, __version__).set(1)
        self.alerts: collections.deque[dict[str, Any]] = collections.deque(maxlen=MAX_ALERTS)
        self.notifications: collections.deque[dict[str, Any]] = collections.deque(maxlen=MAX_ALERTS)
        self.notifications_file = alerts_file.with_name("notifications.jsonl")
        self.summary = Summary()
        self.lock = threading.Lock()
        self._stop = threading.Event()
        page = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return  # the demo logs alerts itself; no access log

            def do_GET(self) -> None:
                page.get(self)

            def do_POST(self) -> None:
                page.post(self)

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        host = str(host)
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def start(self) -> None:
        for target in (self.server.serve_forever, self._scrape_loop):
            t = threading.Thread(target=target, name=f"demo-{target.__name__}", daemon=True)
            t.start()
            self.threads.append(t)

    def close(self) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()
        for t in self.threads:
            t.join(timeout=5)

    # -- the alert sink ----------------------------------------------------------------
    def post(self, req: BaseHTTPRequestHandler) -> None:
        from sentinel.alerting.webhook import SIGNATURE, TIMESTAMP, verify

        if req.path.startswith("/notify/"):
            return self.notified(req, req.path.removeprefix("/notify/"))
        if req.path != "/alerts":
            return _reply(req, 404, b"not found\n", "text/plain")
        length = int(req.headers.get("Content-Length") or 0)
        if not 0 < length <= MAX_BODY:
            return _reply(req, 413, b"body too large\n", "text/plain")
        body = req.rfile.read(length)
        ts = req.headers.get(TIMESTAMP, "")
        fresh = ts.isdigit() and abs(time.time() - int(ts)) < MAX_AGE
        if not fresh or not verify(self.secret, ts, body, req.headers.get(SIGNATURE, "")):
            return _reply(req, 401, b"bad signature\n", "text/plain")
        try:
            event = json.loads(body)
            alert = event["alert"]
            status = str(event["status"])
        except (ValueError, KeyError, TypeError):
            return _reply(req, 400, b"not a sentinel webhook event\n", "text/plain")
        alert["summary"] = f"{DEMO} {alert.get('summary', '')}"
        record = {"demo": True, "received": time.time(), "status": status, **event}
        with self.lock:
            self.alerts.appendleft(record)
            with self.alerts_file.open("a", encoding="utf-8") as f:
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.metrics.alerts.labels(status).inc()
        log.warning(
            "demo alert",
            demo=True,
            status=status,
            detector=alert.get("detector", ""),
            severity=alert.get("severity", ""),
            source=(alert.get("source") or {}).get("ip", ""),
            summary=alert["summary"],
            findings=",".join(alert.get("findings") or ()),
        )
        _reply(req, 200, b"ok\n", "text/plain")

    def notified(self, req: BaseHTTPRequestHandler, receiver: str) -> None:
        """An Alertmanager webhook notification (the region's routing, with --region)."""
        length = int(req.headers.get("Content-Length") or 0)
        if not 0 < length <= MAX_BODY:
            return _reply(req, 413, b"body too large\n", "text/plain")
        try:
            doc = json.loads(req.rfile.read(length))
            alerts = doc["alerts"]
            group = dict(doc.get("groupLabels") or {})
        except (ValueError, KeyError, TypeError):
            return _reply(req, 400, b"not an Alertmanager notification\n", "text/plain")
        names = sorted({str(a.get("labels", {}).get("alertname", "")) for a in alerts})
        record = {
            "demo": True,
            "received": time.time(),
            "receiver": receiver,
            "status": str(doc.get("status", "")),
            "group": group,
            "alertnames": names,
            "alerts": len(alerts),
        }
        with self.lock:
            self.notifications.appendleft(record)
            with self.notifications_file.open("a", encoding="utf-8") as f:
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
        log.warning(
            "demo region notification",
            demo=True,
            receiver=receiver,
            status=record["status"],
            site=group.get("site", ""),
            alertnames=",".join(names),
            alerts=len(alerts),
        )
        _reply(req, 200, b"ok\n", "text/plain")

    def replayed(self, capture: str) -> None:
        self.metrics.replayed.labels(capture).inc()

    # -- the page ----------------------------------------------------------------------
    def _scrape_loop(self) -> None:
        while not self._stop.wait(5.0):
            try:
                with urllib.request.urlopen(self.metrics_url, timeout=4) as rsp:  # noqa: S310
                    text = rsp.read().decode()
            except (OSError, ValueError):
                continue
            with self.lock:
                self.summary.update(text, time.monotonic())

    def get(self, req: BaseHTTPRequestHandler) -> None:
        if req.path == "/metrics":
            body, ctype = self.metrics.render()
            return _reply(req, 200, body, ctype)
        if req.path == "/alerts.json":
            with self.lock:
                body = json.dumps(list(self.alerts), ensure_ascii=False).encode()
            return _reply(req, 200, body, "application/json")
        if req.path not in ("/", "/index.html"):
            return _reply(req, 404, b"not found\n", "text/plain")
        with self.lock:
            body = self.render().encode()
        _reply(req, 200, body, "text/html; charset=utf-8")

    def render(self) -> str:
        s = self.summary
        rows = []
        for lab, up in sorted(s.values("sentinel_switch_up"), key=lambda x: x[0]["switch"]):
            sw = lab["switch"]
            infos = [x for x, _ in s.values("sentinel_interface_info") if x.get("switch") == sw]
            uplinks = [x for x in infos if x.get("role") == "uplink"]
            rx = tx = 0.0
            for u in uplinks:
                port = {k: u[k] for k in ("switch", "ifindex", "ifname")}
                rx += s.rate("sentinel_interface_receive_bytes_total", port) or 0.0
                tx += s.rate("sentinel_interface_transmit_bytes_total", port) or 0.0
            rows.append(
                f"<tr><td>{_e(sw)}</td><td>{'up' if up else 'DOWN'}</td><td>{len(infos)}</td>"
                f"<td>{len(uplinks)}</td><td>{rx * 8 / 1e6:.1f}</td>"
                f"<td>{tx * 8 / 1e6:.1f}</td></tr>"
            )
        lan = sum(v for _, v in s.values("sentinel_lan_packets_total"))
        detections = [
            f"<tr><td>{_e(lab['detector'])}</td><td>{_e(lab['severity'])}</td><td>{v:.0f}</td></tr>"
            for lab, v in s.values("sentinel_detections_total")
        ]
        probes = [
            f"<tr><td>{_e(' '.join(f'{k}={v}' for k, v in sorted(lab.items())))}</td>"
            f"<td>{v:g}</td></tr>"
            for n, lab, v in s.samples
            if n.startswith("sentinel_probe_") and n.endswith("_success")
        ]
        alerts = [
            f"<tr><td>{time.strftime('%H:%M:%S', time.localtime(a['received']))}</td>"
            f"<td>{_e(a['status'])}</td><td>{_e(_detectors(a['alert']))}</td>"
            f"<td>{_e(a['alert'].get('severity', ''))}</td>"
            f"<td>{_e(a['alert'].get('summary', ''))}</td></tr>"
            for a in list(self.alerts)[:50]
        ]
        notes = [
            f"<tr><td>{time.strftime('%H:%M:%S', time.localtime(n['received']))}</td>"
            f"<td>{_e(n['receiver'])}</td><td>{_e(n['status'])}</td>"
            f"<td>{_e(n['group'].get('site', ''))}</td><td>{_e(', '.join(n['alertnames']))}</td>"
            "</tr>"
            for n in list(self.notifications)[:50]
        ]
        none = "<tr><td colspan=6>none yet</td></tr>"
        return _PAGE.format(
            site=_e(self.site),
            metrics=_e(self.metrics_url),
            switches="".join(rows) or none,
            lan=f"{lan:,.0f}",
            detections="".join(detections) or none,
            probes="".join(probes) or "<tr><td colspan=2>no probes configured</td></tr>",
            alerts="".join(alerts) or none,
            alerts_file=_e(str(self.alerts_file)),
            notifications="".join(notes) or "<tr><td colspan=5>none (only with --region)</td></tr>",
        )


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _detectors(alert: dict[str, Any]) -> str:
    """The detector, or every finding of the alert's incident."""
    findings = alert.get("findings") or ()
    return ", ".join(map(str, findings)) if len(findings) > 1 else str(alert.get("detector", ""))


def _reply(req: BaseHTTPRequestHandler, code: int, body: bytes, ctype: str) -> None:
    req.send_response(code)
    req.send_header("Content-Type", ctype)
    req.send_header("Content-Length", str(len(body)))
    req.send_header("Cache-Control", "no-store")
    req.end_headers()
    req.wfile.write(body)


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">
<title>DEMO - sentinel at {site}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; }}
.banner {{ background: #b45309; color: white; padding: .6em 1em; font-weight: bold; }}
table {{ border-collapse: collapse; margin-bottom: 1.2em; }}
td, th {{ border: 1px solid #ccc; padding: .25em .6em; text-align: left; }}
</style></head><body>
<div class="banner">DEMO: simulated switches and recorded attack captures, not a real
school network. Site "{site}".</div>
<p>Everything below comes from the daemon's own <a href="{metrics}">{metrics}</a>
(refreshed every 5 s; rates over the last 5 s).</p>
<h2>Switches (SNMP, from recordings of real devices)</h2>
<table><tr><th>switch</th><th>state</th><th>interfaces</th><th>uplinks</th>
<th>uplinks in Mbit/s</th><th>uplinks out Mbit/s</th></tr>{switches}</table>
<h2>LAN capture</h2><p>{lan} packets counted on the demo LAN interface.</p>
<h2>Detections</h2><table><tr><th>detector</th><th>severity</th><th>count</th></tr>
{detections}</table>
<h2>Probes</h2><table><tr><th>probe</th><th>success</th></tr>{probes}</table>
<h2>Alerts (newest first; all in {alerts_file})</h2>
<table><tr><th>received</th><th>status</th><th>detector</th><th>severity</th>
<th>summary</th></tr>{alerts}</table>
<h2>Region: Alertmanager notifications (the per-school routing)</h2>
<table><tr><th>received</th><th>receiver</th><th>status</th><th>site</th><th>alerts</th></tr>
{notifications}</table>
</body></html>
"""
