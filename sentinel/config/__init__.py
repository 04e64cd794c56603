"""Load and validate config files; every problem is reported at once with file, line and key."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sentinel.config.schema import Config, HostPort, LocalConfig, LogConfig, PrivacyConfig
from sentinel.config.secret import REDACTED, Secret
from sentinel.config.validate import INVALID, Context, convert_dataclass
from sentinel.config.webconfig import TLSServerConfig, WebConfig, ssl_context
from sentinel.config.yamlsrc import Node, YamlSyntaxError, parse_located
from sentinel.errors import ConfigError, ConfigIssue, WebConfigError

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "REDACTED",
    "Config",
    "HostPort",
    "LocalConfig",
    "LogConfig",
    "PrivacyConfig",
    "Secret",
    "TLSServerConfig",
    "WebConfig",
    "default_config",
    "load_config",
    "load_web_config",
    "parse_config",
    "ssl_context",
]


def default_config() -> Config:
    """The built-in default: local interfaces on 127.0.0.1, nothing else configured."""
    return Config()


def load_config(
    path: str | Path,
    environ: Mapping[str, str] | None = None,
    credentials_dir: Path | None = None,
) -> Config:
    """Read and validate a config file; ``ConfigError`` lists every problem.

    ``{credential: NAME}`` is read from ``$CREDENTIALS_DIRECTORY`` (systemd), else from
    ``credentials_dir`` laid out as the unit's /etc/sentinel/credentials (the default).
    """
    result: Config = _load(Config, Path(path), environ, ConfigError, credentials_dir)
    if result.web_config_file is not None:
        try:
            load_web_config(result.web_config_file, environ, credentials_dir)
        except WebConfigError as exc:
            raise ConfigError(exc.issues) from None
    return result


def load_web_config(
    path: str | Path,
    environ: Mapping[str, str] | None = None,
    credentials_dir: Path | None = None,
) -> WebConfig:
    """Read and validate an exporter-toolkit web config file; ``WebConfigError`` on problems."""
    result: WebConfig = _load(WebConfig, Path(path), environ, WebConfigError, credentials_dir)
    return result


def parse_config(
    text: str, file: str = "<text>", environ: Mapping[str, str] | None = None
) -> Config:
    """Validate config text (for tests and tools); relative paths are relative to the cwd."""
    result: Config = _parse(Config, text, file, Path.cwd(), environ, ConfigError)
    return result


def _load(
    cls: type,
    path: Path,
    environ: Mapping[str, str] | None,
    error: type[ConfigError],
    credentials_dir: Path | None = None,
) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error([ConfigIssue(str(path), 0, "", f"cannot read file: {exc.strerror}")]) from None
    except UnicodeDecodeError:
        raise error([ConfigIssue(str(path), 0, "", "file is not UTF-8 text")]) from None
    return _parse(cls, text, str(path), path.resolve().parent, environ, error, credentials_dir)


def _parse(
    cls: type,
    text: str,
    file: str,
    base_dir: Path,
    environ: Mapping[str, str] | None,
    error: type[ConfigError],
    credentials_dir: Path | None = None,
) -> Any:
    try:
        root, duplicates = parse_located(text)
    except YamlSyntaxError as exc:
        raise error([ConfigIssue(file, exc.line, "", exc.message)]) from None
    ctx = Context(file, os.environ if environ is None else environ, base_dir, credentials_dir)
    for line, path, message in duplicates:  # reported beside every other problem
        ctx.error(line, path, message)
    if root is None:
        root = Node("map", 1)
    value = convert_dataclass(cls, root, "", ctx)
    if value is INVALID or ctx.issues:
        if not ctx.issues:  # pragma: no cover - convert never fails silently
            ctx.error(root.line, "", "invalid config")
        raise error(sorted(ctx.issues, key=lambda i: (i.line, i.path)))
    return value
