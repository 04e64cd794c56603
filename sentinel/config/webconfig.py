"""The web config file: TLS and basic auth in the Prometheus exporter-toolkit format.

Operators who run node_exporter or snmp_exporter reuse the same file; see
https://prometheus.io/docs/prometheus/latest/configuration/https/. Relative paths are
relative to the file, as in exporter-toolkit.
"""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Literal

from sentinel.config.validate import Check

TLSVersion = Literal["TLS10", "TLS11", "TLS12", "TLS13"]
ClientAuth = Literal[
    "NoClientCert",
    "RequestClientCert",
    "RequireAnyClientCert",
    "VerifyClientCertIfGiven",
    "RequireAndVerifyClientCert",
]
_BCRYPT = re.compile(r"\$2[abxy]?\$\d{2}\$[./A-Za-z0-9]{53}")


def _bcrypt_hash(text: str) -> str:
    if not _BCRYPT.fullmatch(text):
        raise ValueError("must be a bcrypt hash ($2y$...), e.g. from `htpasswd -nBC 10 USER`")
    return text


@dataclass(frozen=True, slots=True)
class TLSServerConfig:
    """``tls_server_config``: certificate, key and optional client certificates."""

    cert_file: Path
    key_file: Path
    client_auth_type: ClientAuth = "NoClientCert"
    client_ca_file: Path | None = None
    min_version: TLSVersion = "TLS12"
    max_version: TLSVersion = "TLS13"
    cipher_suites: tuple[str, ...] = ()
    prefer_server_cipher_suites: bool = True
    curve_preferences: tuple[str, ...] = ()

    def validate(self) -> list[tuple[str, str]]:
        issues = []
        # Python's TLS verifies every client certificate it asks for, so asking needs a CA.
        if self.client_auth_type != "NoClientCert" and self.client_ca_file is None:
            issues.append(
                ("client_ca_file", f"is required with client_auth_type {self.client_auth_type}")
            )
        if self.cipher_suites:
            issues.append(("cipher_suites", "is not supported: OpenSSL's secure defaults are used"))
        if self.curve_preferences:
            issues.append(
                ("curve_preferences", "is not supported: OpenSSL's secure defaults are used")
            )
        if _ORDER[self.min_version] > _ORDER[self.max_version]:
            issues.append(("min_version", "must not be above max_version"))
        for key in ("cert_file", "key_file", "client_ca_file"):
            path = getattr(self, key)
            if path is not None and not path.is_file():
                issues.append((key, f"file {path} does not exist"))
        if not issues:
            try:
                ssl_context(self)
            except (ssl.SSLError, OSError) as exc:
                issues.append(("cert_file", f"cannot load certificate and key: {exc}"))
        return issues


_ORDER = {"TLS10": 0, "TLS11": 1, "TLS12": 2, "TLS13": 3}
_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}


@dataclass(frozen=True, slots=True)
class HTTPServerConfig:
    """``http_server_config``: extra response headers (``http2`` accepted; HTTP/1.1 is served)."""

    http2: bool = True
    headers: MappingProxyType[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class WebConfig:
    """The whole web config file; the default serves plain HTTP with no authentication."""

    tls_server_config: TLSServerConfig | None = None
    http_server_config: HTTPServerConfig = field(default_factory=HTTPServerConfig)
    basic_auth_users: MappingProxyType[str, Annotated[str, Check(_bcrypt_hash)]] = field(
        default_factory=lambda: MappingProxyType({})
    )


def ssl_context(tls: TLSServerConfig) -> ssl.SSLContext:
    """A server-side SSL context for ``tls``; raises ``ssl.SSLError``/``OSError`` on bad files."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = _VERSIONS[tls.min_version]
    ctx.maximum_version = _VERSIONS[tls.max_version]
    ctx.load_cert_chain(tls.cert_file, tls.key_file)
    if tls.client_auth_type == "NoClientCert":
        ctx.verify_mode = ssl.CERT_NONE
    else:
        if tls.client_ca_file is not None:
            ctx.load_verify_locations(cafile=tls.client_ca_file)
        required = tls.client_auth_type in ("RequireAnyClientCert", "RequireAndVerifyClientCert")
        ctx.verify_mode = ssl.CERT_REQUIRED if required else ssl.CERT_OPTIONAL
    return ctx
