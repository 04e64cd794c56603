"""Pseudonyms: keyed, stable, and the site key kept private in the state directory."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sentinel.config import PrivacyConfig, parse_config
from sentinel.privacy import Pseudonymiser, site_key

if TYPE_CHECKING:
    from pathlib import Path


def test_pseudonyms_are_keyed_and_stable() -> None:
    """Same key, same name; another key, another name; clear text when allowed."""
    a = Pseudonymiser(b"k" * 32)
    b = Pseudonymiser(b"j" * 32)
    assert a("10.20.0.7") == a("10.20.0.7")
    assert a("10.20.0.7") != b("10.20.0.7")
    assert a("10.20.0.7").startswith("anon-")
    assert "10.20.0.7" not in a("10.20.0.7")
    assert Pseudonymiser(b"k" * 32, enabled=False)("10.20.0.7") == "10.20.0.7"


def test_generated_key_persists_with_mode_0600(tmp_path: Path) -> None:
    """Without a configured key one is generated once, 0600, and reused."""
    first = site_key(PrivacyConfig(), tmp_path)
    assert (tmp_path / "site.key").stat().st_mode & 0o777 == 0o600
    assert site_key(PrivacyConfig(), tmp_path) == first
    assert len(first) == 32


def test_configured_key_wins(tmp_path: Path) -> None:
    """privacy.key overrides the generated key."""
    cfg = parse_config("privacy: {key: a-site-key-of-enough-length}")
    assert site_key(cfg.privacy, tmp_path) == b"a-site-key-of-enough-length"
    assert not (tmp_path / "site.key").exists()
