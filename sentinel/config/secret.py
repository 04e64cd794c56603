"""Secrets in config: never printed, and loadable from a file, the environment or systemd."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

REDACTED = "<secret>"


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
    def load(cls, source: SecretSource, environ: Mapping[str, str], base_dir: Path) -> Secret:
        """Read the secret a file/env/credential reference names; ``ValueError`` says why not."""
        if source.kind == "env":
            value = environ.get(source.ref)
            if not value:
                raise ValueError(f"environment variable {source.ref} is not set or empty")
            return cls(value, source)
        if source.kind == "credential":
            creds = environ.get("CREDENTIALS_DIRECTORY")
            if not creds:
                raise ValueError(
                    f"credential {source.ref!r}: CREDENTIALS_DIRECTORY is not set "
                    "(credentials come from systemd's LoadCredential=)"
                )
            path = Path(creds) / source.ref
        else:
            path = Path(source.ref)
            if not path.is_absolute():
                path = base_dir / path
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"cannot read secret file {path}: {exc.strerror}") from None
        value = text.rstrip("\r\n")
        if not value:
            raise ValueError(f"secret file {path} is empty")
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
