"""Password guessing recognised from the servers' replies, live: hydra on ports that are
not login ports, captured by ``sentinel run`` on the lab gateway (its 256-byte header
snap length included); a student's 401s and typos raise nothing."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest

from tests.lab.scenarios import SCENARIOS
from tests.lab.test_attacks_live import attack, need

if TYPE_CHECKING:
    from tests.lab.lan import Host, SchoolLan, Sentinel

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def test_a_students_401s_and_typos_raise_nothing(lab: SchoolLan, sentinel: Sentinel) -> None:
    """Three 401s, a mistyped password, a login; two typos on a form, then in: nothing."""
    need("login_mistyped")
    t0 = time.monotonic()
    SCENARIOS["login_mistyped"].run(lab, False)
    time.sleep(4)
    found = sentinel.findings(t0)
    assert found == [], "\n".join(str(d.fields) for d in found)


def test_hydra_http_basic_auth(lab: SchoolLan, sentinel: Sentinel, attacker: Host) -> None:
    """hydra http-get against busybox httpd's basic auth on port 8080: from the 401s."""
    attack("http_basic_guess", lab, sentinel, attacker)


def test_hydra_login_form(lab: SchoolLan, sentinel: Sentinel, attacker: Host) -> None:
    """hydra http-post-form against POST /login on port 8081: the answers are alike."""
    attack("http_form_guess", lab, sentinel, attacker)


def test_hydra_redis_password(lab: SchoolLan, sentinel: Sentinel, attacker: Host) -> None:
    """hydra against redis-server's requirepass: from the -WRONGPASS replies."""
    attack("redis_guess", lab, sentinel, attacker)


def test_hydra_ftp(lab: SchoolLan, sentinel: Sentinel, attacker: Host) -> None:
    """hydra against vsftpd: the connections to port 21 and the 530 replies, one alert."""
    attack("ftp_guess", lab, sentinel, attacker)
