"""Pseudonymous device identifiers: HMAC-SHA256 under the site key.

Why and where: docs/ARCHITECTURE.md, State and privacy.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sentinel.config import PrivacyConfig

KEY_FILE = "site.key"
MIN_KEY = 16  # bytes


class SiteKeyError(ValueError):
    """The site key is empty, too short or unreadable: no pseudonyms can be made, so nothing
    that names a device may run (it fails closed, never falling back to clear text)."""


class Pseudonymiser:
    """Names a device by a keyed hash, or in clear text when the site's config allows it.

    An unkeyed hash would not do: a school's whole address range is hashed in under a second.
    """

    def __init__(self, key: bytes, *, enabled: bool = True) -> None:
        if len(key) < MIN_KEY:
            raise SiteKeyError(f"the site key must be at least {MIN_KEY} bytes")
        self._key = key
        self.enabled = enabled

    def __call__(self, value: str) -> str:
        if not self.enabled:
            return value
        digest = hmac.new(self._key, value.encode(), hashlib.sha256).hexdigest()
        return f"anon-{digest[:16]}"


def census_key(site_key: bytes) -> bytes:
    """The key of the device census's hashes, derived from the site key (never stored)."""
    return hmac.new(site_key, b"sentinel census v1", hashlib.sha256).digest()


def device_hash(key: bytes, mac: bytes) -> int:
    """A MAC address as the census keeps it: BLAKE2b-64 under ``census_key``."""
    return int.from_bytes(hashlib.blake2b(mac, key=key, digest_size=8).digest(), "little")


def site_key(cfg: PrivacyConfig, state_dir: Path) -> bytes:
    """The configured key, else one generated once and kept (mode 0600) in the state directory.

    Raises ``SiteKeyError`` for a key that is empty, shorter than 16 bytes, not hex (the
    file) or unreadable: a key file that cannot be read is never replaced by a new key
    (every pseudonym would change) and never by clear text.
    """
    if cfg.key is not None:
        key = cfg.key.reveal().encode()
        if len(key) < MIN_KEY:
            what = "is empty" if not key else f"has {len(key)} bytes"
            raise SiteKeyError(
                f"privacy.key {what}; the site key needs at least {MIN_KEY} "
                "(devices are never named in clear text for want of one)"
            )
        return key
    path = state_dir / KEY_FILE
    try:
        text = path.read_text()
    except FileNotFoundError:
        return _generate(path)
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not text"
        raise SiteKeyError(f"{path}: cannot read the site key: {reason}") from None
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        raise SiteKeyError(f"{path} is not a hex key; delete it to generate a new one") from None
    if len(key) < MIN_KEY:
        what = "is empty" if not key else f"holds only {len(key)} bytes"
        raise SiteKeyError(
            f"{path} {what}; the site key needs at least {MIN_KEY} (delete the file to "
            "generate a new one: pseudonyms then change)"
        )
    return key


def _generate(path: Path) -> bytes:
    """A new key, written whole or not at all: a full or read-only disk must not leave an
    empty key file behind, which would stop every later start."""
    key = secrets.token_bytes(32)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, (key.hex() + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.link(tmp, path)  # never replaces a key another process wrote meanwhile
    except OSError as exc:
        raise SiteKeyError(f"{path}: cannot write a new site key: {exc.strerror}") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    return key


def daemon_state_dir(configured: Path | None, environ: dict[str, str] | None = None) -> Path:
    """Where the daemon keeps its state and its site key: ``state_dir``, else the default."""
    return configured if configured is not None else default_state_dir(environ)


def default_state_dir(environ: dict[str, str] | None = None) -> Path:
    """systemd's ``STATE_DIRECTORY``, else /var/lib/sentinel for root, else the user's state dir."""
    env = dict(os.environ) if environ is None else environ
    if env.get("STATE_DIRECTORY"):
        return Path(env["STATE_DIRECTORY"].split(":")[0])
    if os.geteuid() == 0:
        return Path("/var/lib/sentinel")
    base = env.get("XDG_STATE_HOME") or str(Path.home() / ".local/state")
    return Path(base) / "sentinel"
