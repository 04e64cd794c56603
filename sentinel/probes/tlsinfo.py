"""What the probes report about a TLS session: version and earliest certificate expiry."""

from __future__ import annotations

import ssl

from cryptography import x509

_VERSIONS = {"TLSv1": "TLS 1.0", "TLSv1.1": "TLS 1.1", "TLSv1.2": "TLS 1.2", "TLSv1.3": "TLS 1.3"}


def version(obj: ssl.SSLObject) -> str:
    """``TLS 1.3``, as blackbox_exporter's ``probe_tls_version_info{version}`` spells it."""
    v = obj.version() or ""
    return _VERSIONS.get(v, v)


def earliest_expiry(obj: ssl.SSLObject) -> float | None:
    """The earliest notAfter (unix time) of the certificates the server sent.

    Python 3.13 hands out the whole chain; before that only the leaf, which is almost
    always the first to expire.
    """
    chain: list[bytes] = []
    get_chain = getattr(obj, "get_unverified_chain", None)
    if get_chain is not None:
        try:
            chain = [c if isinstance(c, bytes) else c.public_bytes() for c in get_chain() or []]
        except (ssl.SSLError, AttributeError, TypeError):
            chain = []
    if not chain:
        leaf = obj.getpeercert(binary_form=True)
        chain = [leaf] if leaf else []
    times = []
    for der in chain:
        try:
            times.append(x509.load_der_x509_certificate(der).not_valid_after_utc.timestamp())
        except ValueError:
            continue
    return min(times) if times else None
