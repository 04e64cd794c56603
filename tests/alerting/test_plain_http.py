"""Credentials are never sent over plain http:// unless the receiver says ``insecure: true``."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING

import pytest

from sentinel.config import load_config
from sentinel.errors import ConfigError
from tests.conftest import DATA

if TYPE_CHECKING:
    from pathlib import Path

PLAIN = DATA / "config" / "invalid-alerting-plain-http.yaml"


def issues(tmp_path: Path, alerting: str) -> list[str]:
    path = tmp_path / "s.yaml"
    path.write_text("site: s\nalerting:\n" + textwrap.indent(textwrap.dedent(alerting), "  "))
    try:
        load_config(path)
    except ConfigError as exc:
        return [str(i).removeprefix(f"{path}:") for i in exc.issues]
    return []


def test_check_config_names_the_key_and_line() -> None:
    """`sentinel check-config` reports each http:// receiver with credentials and exits 2."""
    proc = subprocess.run(
        [sys.executable, "-m", "sentinel", "check-config", str(PLAIN)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert [line.split(" is plain")[0] for line in lines] == [
        f"{PLAIN}:8: alerting.alertmanager.urls[1]:",
        f"{PLAIN}:12: alerting.webhook.url:",
    ]
    assert "not-sent-in-clear" not in proc.stderr + proc.stdout


@pytest.mark.parametrize(
    ("auth", "what"),
    [
        ("username: u\npassword: pw", "the basic-auth password"),
        ("bearer_token: tok", "the bearer token"),
    ],
)
def test_alertmanager_credentials_over_http(tmp_path: Path, auth: str, what: str) -> None:
    """Basic auth or a bearer token to an http:// Alertmanager: an error naming the URL."""
    am = "alertmanager:\n  urls: [http://am.example/]\n" + textwrap.indent(auth, "  ") + "\n"
    assert issues(tmp_path, am) == [
        f"4: alerting.alertmanager.urls[0]: is plain http:// and {what} would be sent in "
        "clear: use https://, or set insecure: true on this receiver if the network path "
        "is trusted"
    ]
    assert issues(tmp_path, am + "  insecure: true\n") == []
    assert issues(tmp_path, am.replace("http://", "https://")) == []


def test_insecure_is_per_receiver(tmp_path: Path) -> None:
    """``insecure: true`` on the Alertmanager does not let the webhook send in clear."""
    found = issues(
        tmp_path,
        """
        alertmanager: {urls: ["http://am.example/"], username: u, password: pw, insecure: true}
        webhook: {url: "http://hook.example/", secret: 0123456789abcdef}
        """,
    )
    assert [i.split(" is plain")[0] for i in found] == ["5: alerting.webhook.url:"]


def test_without_credentials_http_is_allowed(tmp_path: Path) -> None:
    """Nothing secret to protect: an unauthenticated http:// receiver stays valid."""
    assert (
        issues(
            tmp_path,
            """
            alertmanager: {urls: ["http://am.example/"]}
            webhook: {url: "http://hook.example/"}
            """,
        )
        == []
    )
