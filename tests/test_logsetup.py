"""Log lines: logfmt and JSON, quoting, and never a secret."""

from __future__ import annotations

import io
import json
import logging
from typing import TYPE_CHECKING

import pytest

from sentinel import logsetup
from sentinel.config import parse_config

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    out = io.StringIO()
    yield out
    logsetup.setup("info", "logfmt", io.StringIO())
    logging.getLogger().setLevel(logging.WARNING)


def test_logfmt_quotes_and_hides_secrets(stream: io.StringIO) -> None:
    """Values with spaces are quoted; a Secret field prints as <secret>."""
    logsetup.setup("info", "logfmt", stream)
    cfg = parse_config("privacy: {key: hunter2-hunter2}")
    logsetup.get("sentinel.test").info(
        "switch down", switch="core 1", key=cfg.privacy.key, up=False, count=3
    )
    line = stream.getvalue().strip()
    assert "hunter2" not in line
    assert 'msg="switch down" switch="core 1" key=<secret> up=false count=3' in line
    assert line.startswith("ts=")


def test_json_format(stream: io.StringIO, monkeypatch: pytest.MonkeyPatch) -> None:
    """JSON lines carry the same fields; under journald no timestamp is added."""
    monkeypatch.setenv("JOURNAL_STREAM", "8:1234")
    logsetup.setup("debug", "json", stream)
    logsetup.get("sentinel.test").debug("sampled", count=2)
    record = json.loads(stream.getvalue())
    assert record == {"level": "debug", "logger": "sentinel.test", "msg": "sampled", "count": "2"}


def test_debug_is_off_at_info(stream: io.StringIO) -> None:
    """Per-sample detail stays out of the log at info level."""
    logsetup.setup("info", "logfmt", stream)
    logsetup.get("sentinel.test").debug("sampled")
    assert stream.getvalue() == ""
