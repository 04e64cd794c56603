"""The ``alerting`` section: where alerts go (every sink optional), the outbox, rate limits."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from sentinel.config.secret import Secret
from sentinel.config.validate import Check, Duration, check_host


def _url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL")
    if parts.username or parts.password:
        raise ValueError("must not carry credentials (use username/password or bearer_token)")
    return text


def _smtp(text: str) -> tuple[str, int]:
    m = re.fullmatch(
        r"\[(?P<v6>[0-9A-Fa-f:.]+)\](?::(?P<p1>\d+))?|(?P<h>[^:\[\]]+)(?::(?P<p2>\d+))?", text
    )
    if m is None:
        raise ValueError("must be HOST or HOST:PORT (IPv6 as [ADDR]:PORT)")
    given = m["p1"] or m["p2"]
    port = int(given) if given else 0  # 0: EmailConfig picks 587 or 465 by its tls mode
    if given and not 0 < port < 65536:
        raise ValueError(f"port {port} is out of range 1-65535")
    return (check_host(m["v6"] or m["h"]), port)


def _mailbox(text: str) -> str:
    if not re.fullmatch(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+", text):
        raise ValueError("must be an e-mail address such as ict@school.example")
    return text


def _plain_http(urls: tuple[str, ...], what: str) -> list[tuple[str, str]]:
    """An issue for each ``http://`` URL that ``what`` (a credential) would be sent to."""
    return [
        (
            f"[{i}]",
            f"is plain http:// and {what} would be sent in clear: use https://, "
            "or set insecure: true on this receiver if the network path is trusted",
        )
        for i, url in enumerate(urls)
        if urlsplit(url).scheme == "http"
    ]


Url = Annotated[str, Check(_url)]
Mailbox = Annotated[str, Check(_mailbox)]


@dataclass(frozen=True, slots=True)
class AlertmanagerConfig:
    """Push to Alertmanager's API v2, as Prometheus does.

    ``urls``: every Alertmanager of an HA pair/cluster; each gets every alert (Alertmanager
    deduplicates within its cluster). ``resend`` (default 1m): active alerts are posted again
    this often, with ``endsAt`` 4 x ``resend`` ahead, so Alertmanager resolves them by itself
    if sentinel goes away. ``timeout`` (default 10s) bounds one POST. Either ``username`` +
    ``password`` (basic auth) or ``bearer_token``; ``ca_file`` for a private CA. Credentials
    are never sent to an ``http://`` URL: that is a config error unless ``insecure: true``.
    """

    urls: tuple[Url, ...]
    resend: Annotated[float, Duration(min=5, max=3600)] = 60.0
    timeout: Annotated[float, Duration(min=0.1, max=120)] = 10.0
    username: str = ""
    password: Secret | None = None
    bearer_token: Secret | None = None
    ca_file: Path | None = None
    insecure: bool = False  # allow credentials over plain http:// (a trusted path only)

    def validate(self) -> list[tuple[str, str]]:
        issues = []
        if not self.urls:
            issues.append(("urls", "needs at least one Alertmanager URL"))
        if bool(self.username) != (self.password is not None):
            issues.append(("password", "username and password go together (basic auth)"))
        if self.password is not None and self.bearer_token is not None:
            issues.append(("bearer_token", "use either basic auth or a bearer token, not both"))
        if self.timeout >= self.resend:
            issues.append(("timeout", f"must be shorter than resend ({self.resend:g}s)"))
        if not self.insecure:
            what = (
                "the bearer token"
                if self.bearer_token is not None
                else "the basic-auth password"
                if self.password is not None
                else ""
            )
            if what:
                issues += [("urls" + k, m) for k, m in _plain_http(self.urls, what)]
        return issues


@dataclass(frozen=True, slots=True)
class EmailConfig:
    """Mail to the school's admin over SMTP: plain text and HTML, Dutch or English.

    ``smtp`` is HOST or HOST:PORT (default port 587, or 465 with ``tls: implicit``).
    ``tls``: ``starttls`` (default: upgrade the connection before anything else is said,
    and fail if the server cannot), ``implicit`` (TLS from the first byte, "SMTPS", usually
    port 465) or ``none``; login needs TLS. ``starttls: false`` is the older spelling of
    ``tls: none``. ``sender`` is the From address, ``to`` the recipients. ``timeout``
    (default 30s) is the deadline of one delivery, connection and login included: at the
    deadline the connection is closed and nothing more is sent; the mail is retried later.
    """

    smtp: Annotated[tuple[str, int], Check(_smtp, source=str)]
    sender: Mailbox
    to: tuple[Mailbox, ...]
    tls: Literal["starttls", "implicit", "none"] = "starttls"
    starttls: bool | None = None
    username: str = ""
    password: Secret | None = None
    language: Literal["nl", "en"] = "nl"
    timeout: Annotated[float, Duration(min=1, max=300)] = 30.0
    ca_file: Path | None = None

    def __post_init__(self) -> None:
        host, port = self.smtp
        if port == 0:  # not given: the mode's usual port
            object.__setattr__(self, "smtp", (host, 465 if self.tls == "implicit" else 587))

    @property
    def mode(self) -> Literal["starttls", "implicit", "none"]:
        """The TLS mode in effect (``starttls: false`` means none)."""
        return "none" if self.starttls is False else self.tls

    def validate(self) -> list[tuple[str, str]]:
        issues = []
        if not self.to:
            issues.append(("to", "needs at least one recipient"))
        if bool(self.username) != (self.password is not None):
            issues.append(("password", "username and password go together"))
        if self.starttls is not None and self.tls != "starttls":
            issues.append(("starttls", "is the older spelling of tls: give only tls"))
        elif self.username and self.mode == "none":
            if self.starttls is False:
                issues.append(
                    (
                        "starttls",
                        "must be true when logging in (the password would be sent in clear)",
                    )
                )
            else:
                issues.append(
                    (
                        "tls",
                        "must be starttls or implicit when logging in "
                        "(the password would be sent in clear)",
                    )
                )
        return issues


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    """POST each alert as JSON to ``url``, signed with HMAC-SHA256 under ``secret``.

    Headers: ``X-Sentinel-Timestamp`` (unix seconds) and ``X-Sentinel-Signature:
    sha256=<hex of HMAC(secret, timestamp + "." + body)>``; receivers reject old timestamps
    to stop replays. ``timeout`` (default 10s) bounds one POST. A signed webhook on an
    ``http://`` URL is a config error unless ``insecure: true``: anyone on the path could
    read the alerts and replay the signed requests within the receiver's window.
    """

    url: Url
    secret: Secret | None = None
    timeout: Annotated[float, Duration(min=0.1, max=120)] = 10.0
    ca_file: Path | None = None
    insecure: bool = False  # allow a signed webhook over plain http:// (a trusted path only)

    def validate(self) -> list[tuple[str, str]]:
        issues = []
        if self.secret is not None and len(self.secret.reveal()) < 16:
            issues.append(("secret", "must be at least 16 characters"))
        if self.secret is not None and not self.insecure:
            issues += [("url", m) for _, m in _plain_http((self.url,), "its signed requests")]
        return issues


@dataclass(frozen=True, slots=True)
class EventLogConfig:
    """One log record per alert event on stdout (journald), in the daemon's log format."""

    enabled: bool = True


@dataclass(frozen=True, slots=True)
class OutboxConfig:
    """The persistent queue in the state directory.

    ``max_entries`` (default 10000) bounds it: when full, the lowest severity goes first,
    oldest first within it, and is counted. Entries older than ``max_age`` (default 7d) are
    dropped and counted. Failed deliveries are retried with exponential backoff and jitter
    from ``retry_initial`` (default 1s) up to ``retry_max`` (default 5m).
    """

    max_entries: int = 10000
    max_age: Annotated[float, Duration(min=60)] = 7 * 86400.0
    retry_initial: Annotated[float, Duration(min=0.05, max=60)] = 1.0
    retry_max: Annotated[float, Duration(min=1, max=3600)] = 300.0

    def validate(self) -> list[tuple[str, str]]:
        issues = []
        if not 10 <= self.max_entries <= 1_000_000:
            issues.append(("max_entries", "must be between 10 and 1000000"))
        if self.retry_max < self.retry_initial:
            issues.append(("retry_max", "must not be shorter than retry_initial"))
        return issues


@dataclass(frozen=True, slots=True)
class RateLimitConfig:
    """At most ``per_detector`` new alerts per detector and ``per_site`` in all per ``window``.

    Defaults: 30 per detector and 100 in all per hour. Alerts over the limit are dropped and
    counted; resolutions are never limited.
    """

    window: Annotated[float, Duration(min=1, max=86400)] = 3600.0
    per_detector: int = 30
    per_site: int = 100

    def validate(self) -> list[tuple[str, str]]:
        return [
            (key, "must be between 1 and 100000")
            for key in ("per_detector", "per_site")
            if not 1 <= getattr(self, key) <= 100_000
        ]


@dataclass(frozen=True, slots=True)
class AlertingConfig:
    """The ``alerting`` section. Every sink is off unless configured; the event log is on.

    ``resolve_after`` (default 2h): an alert its detector has not repeated for this long is
    resolved by the router (detectors suppress repeats for 1h, so keep it longer than that).
    ``generator_url``: link put in each alert (e.g. the site's Grafana dashboard); empty: none.
    ``incident_hold`` (default 5s): a new incident's first notification waits this long,
    so that the source's findings that follow at once (a sweep, then its port scan) are
    named in it; later ones are folded into the incident without a notification of their
    own (``detect.incidents``).
    """

    alertmanager: AlertmanagerConfig | None = None
    email: EmailConfig | None = None
    webhook: WebhookConfig | None = None
    event_log: EventLogConfig = field(default_factory=EventLogConfig)
    outbox: OutboxConfig = field(default_factory=OutboxConfig)
    rate_limit: RateLimitConfig = field(default_factory=RateLimitConfig)
    resolve_after: Annotated[float, Duration(min=60)] = 7200.0
    incident_hold: Annotated[float, Duration(min=0, max=300)] = 5.0
    generator_url: Annotated[str, Check(lambda s: _url(s) if s else s)] = ""
