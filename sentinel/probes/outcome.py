"""How a probe fails: a reason from the fixed set and one line for humans."""

from __future__ import annotations

import errno
import ssl

from sentinel.model import PROBE_REASONS


class ProbeFailure(Exception):
    """Raised inside a probe; the runner turns it into a failed ``ProbeResult``."""

    def __init__(self, reason: str, detail: str) -> None:
        assert reason in PROBE_REASONS, reason
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


_UNREACHABLE = {
    errno.ENETUNREACH,
    errno.EHOSTUNREACH,
    errno.EHOSTDOWN,
    errno.ENETDOWN,
    errno.EADDRNOTAVAIL,
}


def classify(exc: BaseException) -> ProbeFailure:
    """Any exception a probe met, as a failure with a reason."""
    if isinstance(exc, ProbeFailure):
        return exc
    if isinstance(exc, TimeoutError):
        return ProbeFailure("timeout", "no answer before the deadline")
    if isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_message:
        return ProbeFailure("tls", f"TLS: certificate verify failed: {exc.verify_message}")
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return ProbeFailure("tls", f"TLS: {getattr(exc, 'reason', None) or exc}")
    if isinstance(exc, ConnectionRefusedError):
        return ProbeFailure("refused", "connection refused")
    if isinstance(exc, PermissionError):
        return ProbeFailure("permission", str(exc))
    if isinstance(exc, OSError) and exc.errno in _UNREACHABLE:
        return ProbeFailure("unreachable", exc.strerror or str(exc))
    if isinstance(exc, ConnectionError | EOFError):
        return ProbeFailure("protocol", f"connection closed early: {exc}")
    if isinstance(exc, OSError):
        return ProbeFailure("error", exc.strerror or str(exc))
    return ProbeFailure("error", f"{type(exc).__name__}: {exc}")
