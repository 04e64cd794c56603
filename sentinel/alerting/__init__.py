"""Alert delivery: a router with a persistent outbox fanning alerts out to sinks.

Detectors and the daemon hand ``Alert`` values to ``Router.submit``; the router cleans
them (``clean``), suppresses repeats, rate-limits, stores each event once per sink in the
outbox (``outbox``) and delivers it at least once: Alertmanager (``alertmanager``), mail
(``email``), a signed webhook (``webhook``) and the event log (``eventlog``).
"""

from sentinel.alerting.router import Router
from sentinel.alerting.sink import Sink, SinkError
from sentinel.model import AlertingStats

__all__ = ["AlertingStats", "Router", "Sink", "SinkError"]
