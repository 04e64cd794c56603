"""Every invalid config file gives exactly its expected messages, all at once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sentinel.config import load_config
from sentinel.errors import ConfigError

DATA = Path(__file__).resolve().parents[1] / "data" / "config"
INVALID = sorted(DATA.glob("invalid-*.yaml"))


def expected(path: Path) -> list[str]:
    lines = [
        line.removeprefix("# expect: ")
        for line in path.read_text().splitlines()
        if line.startswith("# expect: ")
    ]
    return [line.replace("{file}", str(path)).replace("{dir}", str(DATA)) for line in lines]


def test_every_invalid_file_declares_its_messages() -> None:
    """Each fixture says what it expects, so none can pass vacuously."""
    assert len(INVALID) >= 15
    for path in INVALID:
        assert expected(path), path.name


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_config_messages(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """load_config reports every problem of the file, with file, line and key path."""
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    monkeypatch.delenv("SENTINEL_TEST_UNSET_KEY", raising=False)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert [str(i) for i in info.value.issues] == expected(path)


def test_check_config_cli_prints_every_error_and_exits_2() -> None:
    """`sentinel check-config` prints each error on stderr and exits 2."""
    path = DATA / "invalid-types.yaml"
    proc = subprocess.run(
        [sys.executable, "-m", "sentinel", "check-config", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == expected(path)
    assert proc.stdout == ""


def test_every_detector_number_must_be_positive() -> None:
    """Each int or float setting of every detector is a Count or Rate (or a Duration).

    A new detector's threshold written as plain ``int`` would accept 0 and -1 silently.
    """
    import dataclasses
    import typing

    from sentinel.config.detect import DetectConfig

    def check(cls: type, where: str) -> None:
        hints = typing.get_type_hints(cls, include_extras=True)
        for f in dataclasses.fields(cls):
            tp = hints[f.name]
            if tp in (int, float):
                raise AssertionError(f"{where}.{f.name} is a plain {tp.__name__}")
            if dataclasses.is_dataclass(tp) and isinstance(tp, type):
                check(tp, f"{where}.{f.name}")

    check(DetectConfig, "detect")
