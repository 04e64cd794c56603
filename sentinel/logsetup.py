"""Log lines for journald: ``key=value`` (logfmt) or JSON on stdout, never a secret."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import TextIO

from sentinel.config.secret import REDACTED, Secret

_RESERVED = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message"}


class Log:
    """A logger taking fields as keywords: ``log.info("switch down", switch="core")``."""

    __slots__ = ("_logger",)

    def __init__(self, name: str) -> None:
        self._logger = logging.getLogger(name)

    def debug(self, msg: str, **fields: object) -> None:
        if self._logger.isEnabledFor(logging.DEBUG):
            self._logger.debug(msg, extra={"kv": fields}, stacklevel=2)

    def info(self, msg: str, **fields: object) -> None:
        self._logger.info(msg, extra={"kv": fields}, stacklevel=2)

    def warning(self, msg: str, **fields: object) -> None:
        self._logger.warning(msg, extra={"kv": fields}, stacklevel=2)

    def error(self, msg: str, **fields: object) -> None:
        self._logger.error(msg, extra={"kv": fields}, stacklevel=2)


def get(name: str) -> Log:
    return Log(name)


def _text(value: object) -> str:
    if isinstance(value, Secret):
        return REDACTED
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, BaseException):
        return f"{type(value).__name__}: {value}" if str(value) else type(value).__name__
    return str(value)


def _quote(text: str) -> str:
    if text and not any(c in text for c in ' ="\\\n\t') and text.isprintable():
        return text
    return json.dumps(text, ensure_ascii=False)


class _Base(logging.Formatter):
    def __init__(self, timestamps: bool) -> None:
        super().__init__()
        self.timestamps = timestamps

    def fields(self, record: logging.LogRecord) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        if self.timestamps:
            ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            out.append(("ts", f"{ts}.{int(record.msecs):03d}Z"))
        out += [("level", record.levelname.lower()), ("logger", record.name)]
        out.append(("msg", record.getMessage()))
        kv: dict[str, object] = getattr(record, "kv", {})
        out += [(k, _text(v)) for k, v in kv.items() if k not in _RESERVED]
        if record.exc_info and record.exc_info[1] is not None:
            out.append(("error", _text(record.exc_info[1])))
        return out


class LogfmtFormatter(_Base):
    """``ts=... level=info logger=sentinel.daemon msg="reloaded" file=/etc/...``."""

    def format(self, record: logging.LogRecord) -> str:
        return " ".join(f"{k}={_quote(v)}" for k, v in self.fields(record))


class JsonFormatter(_Base):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(dict(self.fields(record)), ensure_ascii=False)


def setup(level: str = "info", fmt: str = "logfmt", stream: TextIO | None = None) -> None:
    """Configure the root logger; safe to call again on reload (replaces the handler)."""
    # journald stamps every line itself; JOURNAL_STREAM is set when stdout goes there.
    timestamps = "JOURNAL_STREAM" not in os.environ
    formatter: logging.Formatter = (
        JsonFormatter(timestamps) if fmt == "json" else LogfmtFormatter(timestamps)
    )
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_sentinel", False):
            root.removeHandler(h)
    handler = logging.StreamHandler(stream if stream is not None else sys.stdout)
    handler.setFormatter(formatter)
    handler._sentinel = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Library chatter stays out of the operator's log unless debugging.
    quiet = logging.DEBUG if level == "debug" else logging.WARNING
    for name in ("aiohttp", "asyncio"):
        logging.getLogger(name).setLevel(quiet)
