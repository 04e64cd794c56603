"""Secrets in config: never printed, and loadable from a file, the environment or systemd."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

REDACTED = "<secret>"

# What deploy/systemd/sentinel.service does with LoadCredential=sentinel:DIR: each file
# FILE in DIR becomes the credential sentinel_FILE in $CREDENTIALS_DIRECTORY.
UNIT_CREDENTIALS_DIR = Path("/etc/sentinel/credentials")
UNIT_CREDENTIAL_PREFIX = "sentinel_"


def credential_path(
    name: str, environ: Mapping[str, str], credentials_dir: Path | None = None
) -> Path:
    """The file credential ``name`` is read from.

    Under systemd (``$CREDENTIALS_DIRECTORY`` set, no ``credentials_dir``) it is
    ``$CREDENTIALS_DIRECTORY/name``. Elsewhere it is the file the unit would load it from:
    ``sentinel_FILE`` is ``FILE`` in ``credentials_dir``, default /etc/sentinel/credentials.
    """
    creds = environ.get("CREDENTIALS_DIRECTORY")
    if creds and credentials_dir is None:
        return Path(creds) / name
    directory = credentials_dir or UNIT_CREDENTIALS_DIR
    if not name.startswith(UNIT_CREDENTIAL_PREFIX) or name == UNIT_CREDENTIAL_PREFIX:
        raise ValueError(
            f"credential {name!r} is not one the unit loads: a file FILE in {directory} "
            f"becomes the credential {UNIT_CREDENTIAL_PREFIX}FILE"
        )
    file = name.removeprefix(UNIT_CREDENTIAL_PREFIX)
    if "/" in file or file in (".", ".."):
        raise ValueError(f"credential {name!r} is not a file name")
    return directory / file


def _unreadable(source: SecretSource, path: Path, exc: OSError) -> str:
    what = f"credential {source.ref!r}" if source.kind == "credential" else "secret file"
    if isinstance(exc, FileNotFoundError):
        if source.kind == "credential":
            return f"{what}: {path} does not exist (create it with mode 0600)"
        return f"cannot read secret file {path}: {exc.strerror}"
    if isinstance(exc, PermissionError) and source.kind == "credential":
        return (
            f"{what}: cannot read {path}: permission denied (check as root, or point "
            "--credentials-dir at a directory you can read)"
        )
    return f"{what}: cannot read {path}: {exc.strerror}"


def _loose(name: str, path: Path) -> str:
    """Why a credential file's permissions are unsafe, or empty when they are fine."""
    try:
        mode = path.stat().st_mode & 0o777
    except OSError:
        return ""
    if mode & 0o077:
        return (
            f"credential {name!r}: {path} has mode {mode:04o}, so others than its owner "
            f"can reach it (chmod 600 {path})"
        )
    return ""


@dataclass(frozen=True, slots=True)
class SecretSource:
    """Where a secret came from: ``inline``, ``file`` (a path), ``env`` or ``credential``."""

    kind: str
    ref: str


class Secret:
    """A value that is never shown: ``str()`` and ``repr()`` give ``<secret>``."""

    __slots__ = ("_source", "_value")

    def __init__(self, value: str, source: SecretSource) -> None:
        self._value = value
        self._source = source

    @classmethod
    def load(
        cls,
        source: SecretSource,
        environ: Mapping[str, str],
        base_dir: Path,
        credentials_dir: Path | None = None,
    ) -> Secret:
        """Read the secret a file/env/credential reference names; ``ValueError`` says why not.

        A credential comes from ``$CREDENTIALS_DIRECTORY`` under systemd; elsewhere (or with
        ``credentials_dir``) from the directory the unit loads them from (``credential_path``).
        """
        if source.kind == "env":
            value = environ.get(source.ref)
            if not value:
                raise ValueError(f"environment variable {source.ref} is not set or empty")
            return cls(value, source)
        if source.kind == "credential":
            path = credential_path(source.ref, environ, credentials_dir)
        else:
            path = Path(source.ref)
            if not path.is_absolute():
                path = base_dir / path
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(_unreadable(source, path, exc)) from None
        # systemd's own copy is private to the service; the unit's source files must be too.
        systemd = bool(environ.get("CREDENTIALS_DIRECTORY")) and credentials_dir is None
        if source.kind == "credential" and not systemd and (unsafe := _loose(source.ref, path)):
            raise ValueError(unsafe)
        value = text.rstrip("\r\n")
        if not value:
            what = f"credential {source.ref!r}: " if source.kind == "credential" else ""
            raise ValueError(f"{what}secret file {path} is empty")
        return cls(value, source)

    def reveal(self) -> str:
        """The secret itself: pass it on to the library that needs it, never to a log."""
        return self._value

    @property
    def source(self) -> SecretSource:
        return self._source

    def __repr__(self) -> str:
        return REDACTED

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)
