"""brute_force from the servers' replies: refused logins and login forms, on any port."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from sentinel.capture import accounting
from sentinel.capture.accounting import Accounting
from sentinel.capture.decode import decode
from sentinel.config.detect import Allow, DetectConfig
from sentinel.detect import base
from sentinel.detect.brute_force import BruteForce
from sentinel.detect.engine import Engine, kinds
from sentinel.detect.logins import http_answer, login_post, refusal
from sentinel.packet import LOGIN_REPLY, login_prefix
from tests.detect.crafted import NETS, make, run, settings
from tests.detect.login_frames import (
    CLIENT,
    NOT_REFUSALS,
    REFUSALS,
    SERVER,
    answer,
    post,
    reply,
    segment,
)

if TYPE_CHECKING:
    from sentinel.packet import Packet

FAST = getattr(accounting, "FastAccounting", None)
ENGINES = [Accounting] + ([FAST] if FAST is not None else [])


def packets(frames: list[tuple[bytes, float]]) -> list[Packet]:
    out = []
    for frame, ts in frames:
        p = decode(frame, ts=ts)
        assert not p.error, p.error
        out.append(p)
    return out


@pytest.mark.parametrize(
    ("case", "service", "port", "payload"), REFUSALS, ids=[r[0] for r in REFUSALS]
)
def test_each_refusal_is_recognised(case: str, service: str, port: int, payload: bytes) -> None:
    """The capture's prefix check picks the refusal, the engine routes it, the parser names it."""
    (p,) = packets([reply(port, 40000, payload, 1.0)])
    assert (
        login_prefix(p.frame, p.payload_offset, p.payload_offset + p.payload_length) == LOGIN_REPLY
    )
    assert base.LOGIN in kinds(p)
    assert refusal(p.payload) == service


@pytest.mark.parametrize(("case", "payload"), NOT_REFUSALS, ids=[r[0] for r in NOT_REFUSALS])
def test_other_replies_are_no_refusal(case: str, payload: bytes) -> None:
    """A success, an unrelated error, TLS or a page: the parser names no refused login."""
    assert refusal(payload) == ""
    frames = [reply(8080, 40000 + i, payload, i * 0.5) for i in range(30)]
    assert run(make(BruteForce), packets(frames)) == []


@pytest.mark.parametrize(
    ("case", "service", "port", "payload"), REFUSALS, ids=[r[0] for r in REFUSALS]
)
def test_a_dozen_refusals_are_brute_force(
    case: str, service: str, port: int, payload: bytes
) -> None:
    """Twelve refused logins in 24 s from one server to one client: the client is guessing."""
    frames = [reply(port, 40000 + i, payload, i * 2.0) for i in range(12)]
    found = run(make(BruteForce), packets(frames))
    assert found
    f = found[0]
    assert (f.kind, f.src_ip, f.target) == (service, CLIENT, SERVER)
    assert f.src_mac == "02:77:00:00:66:66"
    assert f.identifier == f"{CLIENT}|{SERVER}|{port}"
    assert f.counts["failures"] == 10  # failures_threshold


@pytest.mark.parametrize(
    ("case", "service", "port", "payload"), REFUSALS, ids=[r[0] for r in REFUSALS]
)
def test_mistyping_a_few_times_is_nothing(
    case: str, service: str, port: int, payload: bytes
) -> None:
    """Three mistyped passwords in a minute, then three more an hour later: no alert."""
    times = [0.0, 8.0, 20.0, 3600.0, 3610.0, 3630.0]
    frames = [reply(port, 40000 + i, payload, t) for i, t in enumerate(times)]
    assert run(make(BruteForce), packets(frames)) == []


def test_six_refusals_a_minute_are_slow_guessing() -> None:
    """One refused login every 10 s on one kept-alive session (hydra -t 1 -c 10): never ten
    in a minute, so no critical; the 30th within failures_long_window is a warning with
    the minute rule's identifier."""
    payload = REFUSALS[0][3]
    frames = [reply(8080, 40000, payload, i * 10.0) for i in range(40)]
    found = run(make(BruteForce), packets(frames))
    assert found
    assert {f.severity.value for f in found} == {"warning"}
    f = found[0]
    assert (f.kind, f.src_ip, f.target, f.ts) == ("http_auth", CLIENT, SERVER, 290.0)
    assert f.identifier == f"{CLIENT}|{SERVER}|8080"
    assert f.counts["failures"] == 30  # failures_long_threshold
    assert "slowly" in f.summary
    assert "30 refused logins in 1800s, 6 in the last 60s" in f.summary


@pytest.mark.parametrize(
    ("case", "service", "port", "payload"), REFUSALS, ids=[r[0] for r in REFUSALS]
)
def test_three_refusals_a_minute_are_slow_guessing(
    case: str, service: str, port: int, payload: bytes
) -> None:
    """Every refusal the parser knows, one each 20 s for 12 minutes: a warning at the 30th."""
    frames = [reply(port, 40000 + i // 5, payload, i * 20.0) for i in range(36)]
    found = run(make(BruteForce, settings(BruteForce, ports=())), packets(frames))
    assert {(f.kind, f.severity.value, f.identifier) for f in found} == {
        (service, "warning", f"{CLIENT}|{SERVER}|{port}")
    }
    assert found[0].ts == 29 * 20.0


def test_slow_guessing_that_speeds_up_is_critical() -> None:
    """A slow guesser's warning, then ten refusals in a minute: the critical finding."""
    payload = REFUSALS[2][3]  # ftp 530
    frames = [reply(2121, 40000, payload, i * 10.0) for i in range(32)]
    frames += [reply(2121, 40001, payload, 320.0 + i) for i in range(10)]
    found = run(make(BruteForce), packets(frames))
    assert [f.severity.value for f in found][:3] == ["warning"] * 3
    assert found[-1].severity.value == "critical"
    assert len({f.identifier for f in found}) == 1


def test_a_stale_password_polled_every_two_minutes_is_nothing() -> None:
    """A phone's mail app or a printer retrying a stale password every two minutes for a
    school day (240 refusals over eight hours): at most 15 in any half hour, quiet."""
    for service, port, payload in (("imap", 143, REFUSALS[5][3]), ("smtp", 25, REFUSALS[3][3])):
        frames = [reply(port, 40000 + i, payload, i * 120.0) for i in range(240)]
        assert run(make(BruteForce), packets(frames)) == [], service


def test_a_mail_client_checking_four_folders_every_ten_minutes_is_nothing() -> None:
    """Four connections refused together per check, a check every ten minutes: twelve in
    half an hour at most (and four in a minute), quiet all morning."""
    payload = REFUSALS[5][3]
    frames = [
        reply(143, 40000 + 4 * i + k, payload, i * 600.0 + k * 0.2)
        for i in range(24)
        for k in range(4)
    ]
    assert run(make(BruteForce), packets(frames)) == []


@pytest.mark.parametrize(("every", "alerts"), [(65.0, False), (55.0, True)])
def test_the_long_bar_is_a_refusal_a_minute(every: float, alerts: bool) -> None:
    """A refused login every 65 s for an hour stays at 28 in any half hour; every 55 s
    reaches 30."""
    payload = REFUSALS[0][3]
    frames = [reply(8080, 40000 + i, payload, i * every) for i in range(int(3600 / every))]
    found = run(make(BruteForce), packets(frames))
    assert bool(found) is alerts
    assert {f.severity.value for f in found} <= {"warning"}


def test_refusals_kept_per_pair_are_bounded() -> None:
    """Two thousand refusals from one server to one client in a second: one critical
    finding's worth of times kept (the larger threshold), and the pair is dropped once
    quiet for failures_long_window."""
    bf = make(BruteForce)
    frames = [reply(21, 40000, b"530 Login incorrect.\r\n", i * 0.0005) for i in range(2000)]
    found = run(bf, packets(frames))
    assert {f.severity.value for f in found} == {"critical"}
    kept = bf.replies.get((CLIENT, SERVER, 21)).failures
    assert len(kept) == 30  # failures_long_threshold
    assert list(bf.tick(1000.0)) == []
    assert bf.stats()["replies"] == 1  # a slow guesser's pair outlives the minute
    assert list(bf.tick(1802.0)) == []
    assert bf.stats()["replies"] == 0


def test_a_browser_401_page_then_the_password_is_nothing() -> None:
    """A browser hits a protected page three times (401), a typo (401), then gets in."""
    basic = REFUSALS[0][3]
    frames = [reply(8080, 40000 + i, basic, i * 3.0) for i in range(4)]
    frames.append(answer(8080, 40005, "200 OK", 900, 13.0))
    assert run(make(BruteForce), packets(frames)) == []


def test_a_forbidden_directory_is_no_login() -> None:
    """Forty 403s to one browser's GETs in a second (a page of forbidden images): nothing."""
    frames = [answer(80, 41000 + i % 6, "403 Forbidden", 150, i * 0.02) for i in range(40)]
    assert run(make(BruteForce), packets(frames)) == []


def test_allowed_client_is_never_flagged() -> None:
    """A client on the brute_force allow-list (a monitoring probe) is not reported."""
    s = settings(BruteForce, allow=Allow(hosts=(CLIENT,)))
    frames = [reply(21, 40000 + i, b"530 Login incorrect.\r\n", i * 1.0) for i in range(20)]
    frames += form_guesses(20)
    assert run(make(BruteForce, s), packets(frames)) == []


def form_guesses(
    n: int, path: str = "/login", t0: float = 100.0, **kw: Any
) -> list[tuple[bytes, float]]:
    """hydra http-post-form: each guess a POST on its own connection, answered alike."""
    status, location = kw.get("status", "200 OK"), kw.get("location", "")
    frames = []
    for i in range(n):
        t = t0 + i * 0.5
        frames.append(post(8081, 42000 + i, path, f"user=admin&pass=guess{i}", t))
        frames.append(answer(8081, 42000 + i, status, 745 + i % 3, t + 0.01, location))
    return frames


def test_form_guessing_is_brute_force() -> None:
    """Twelve POSTs to /login answered with the same "wrong password" page: a form guesser."""
    found = run(make(BruteForce), packets(form_guesses(12)))
    assert [(f.kind, f.src_ip, f.target) for f in found][:1] == [("form", CLIENT, SERVER)]
    assert "POST /login" in found[0].summary


def test_form_redirecting_back_to_the_login_page_is_brute_force() -> None:
    """A form that answers 302 back to itself (wp-login.php?error) is guessed just the same."""
    frames = form_guesses(12, "/wp-login.php", status="302 Found", location="/wp-login.php?e=1")
    assert [f.kind for f in run(make(BruteForce), packets(frames))][:1] == ["form"]


def test_two_typos_then_in_on_a_form_is_nothing() -> None:
    """Two wrong passwords (200, the form again), then the right one (302 to /home)."""
    frames = form_guesses(2)
    frames += [post(8081, 43000, "/login", "user=admin&pass=right", 110.0)]
    frames += [answer(8081, 43000, "302 Found", 0, 110.01, "/home")]
    assert run(make(BruteForce), packets(frames)) == []


def test_an_app_posting_in_a_loop_is_no_login() -> None:
    """Thirty POSTs of an autosave to a path and body that name no login: nothing."""
    frames = []
    for i in range(30):
        frames.append(post(8081, 44000 + i, "/api/save", f"doc=7&text=draft{i}", i * 2.0))
        frames.append(answer(8081, 44000 + i, "200 OK", 20, i * 2.0 + 0.01))
    assert run(make(BruteForce), packets(frames)) == []


def test_form_answers_that_differ_are_no_guessing() -> None:
    """POSTs to a login path answered by pages of very different lengths: never alike."""
    frames = []
    for i in range(20):
        frames.append(post(8081, 45000 + i, "/login", "user=a&pass=b", i * 1.0))
        frames.append(answer(8081, 45000 + i, "200 OK", 300 * (i + 1), i * 1.0 + 0.01))
    assert run(make(BruteForce), packets(frames)) == []


def test_parsers_on_hostile_bytes() -> None:
    """Truncated and odd payloads: the parsers answer "not a login", never raise."""
    for data in (b"", b"POST", b"POST / HTTP/1.1", b"HTTP/1.1 4", b"HTTP/1.1 abc", b"\0\0\0\1\0"):
        assert refusal(data) in ("", "vnc")
        assert login_post(data) is None
        assert http_answer(data) is None or data.startswith(b"HTTP/1.1 ")
    assert http_answer(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\nabc") is not None


@pytest.mark.parametrize("engine", ENGINES, ids=lambda e: e.__name__)
def test_through_capture_and_engine(engine: Any) -> None:
    """Each capture engine copies refusals, login POSTs and their answers for the
    detectors, not an ordinary answer to a GET; the engine alerts on the guesser."""
    acc = engine(NETS)
    frames = [reply(21, 40000 + i, b"530 Login incorrect.\r\n", i * 1.0) for i in range(12)]
    frames += form_guesses(12, t0=50.0)
    plain = answer(8081, 46000, "200 OK", 745, 80.0)  # answers a GET: not wanted
    data = segment(SERVER, CLIENT, 8081, 46000, b"x" * 600, 80.1)
    for frame, ts in [*frames, plain, data]:
        acc.frame(frame, len(frame), ts)
    wanted = acc.detector_batch()
    assert [w[2] for w in wanted] == [f for f, _ in frames]
    det = Engine(DetectConfig(), networks=NETS)
    alerts = []
    for ts, _, frame in wanted:
        alerts += det.packet(decode(frame, ts=ts))
    alerts += det.finish()
    assert {(a.detector, a.kind, a.source.ip, a.target) for a in alerts} == {
        ("brute_force", "ftp", CLIENT, SERVER),
        ("brute_force", "form", CLIENT, SERVER),
    }


def test_tables_are_bounded() -> None:
    """Refusals to 500 clients and 500 unanswered login POSTs with a cap of 50: each table
    stays at the cap and the evictions are counted."""
    bf = make(BruteForce, max_tracked=50)
    frames = []
    for i in range(500):
        client = f"10.77.{1 + i // 250}.{i % 250}"
        frames.append(segment(SERVER, client, 21, 40000, b"530 Login incorrect.\r\n", i * 0.01))
        frames.append(
            segment(client, SERVER, 40000, 8081, b"POST /login HTTP/1.1\r\n\r\n", i * 0.01)
        )
    for p in packets(frames):
        assert list(bf.observe(p)) == []
    st = bf.stats()
    assert (st["replies"], st["posts"], st["sprays"]) == (50, 50, 50)
    assert st["evictions"] == 1350  # the refusals over every server are a table of their own


def test_recorded_ftp_guessing_is_seen_in_the_replies_alone() -> None:
    """hydra against vsftpd (tests/data/lab/ftp_guess.pcap) with the login ports emptied:
    the 530 replies alone name the guesser, with the same identifier as the port rule."""
    from sentinel.capture import pcapfile
    from tests.conftest import DATA

    frames = pcapfile.read(DATA / "lab" / "ftp_guess.pcap")
    ps = [decode(bytes(f), ts=ts) for ts, _, f, _ in frames]
    found = run(make(BruteForce, settings(BruteForce, ports=())), ps)
    assert {(f.kind, f.src_ip, f.target, f.identifier) for f in found} == {
        ("ftp", "10.77.0.66", SERVER, f"10.77.0.66|{SERVER}|21")
    }


def refused_by(server: str, cport: int, ts: float) -> tuple[bytes, float]:
    return segment(server, CLIENT, 21, cport, b"530 Login incorrect.\r\n", ts)


def test_two_refusals_from_each_of_nine_ftp_servers_are_spraying() -> None:
    """One account, two passwords, nine FTP servers: two 530s a server, none a brute
    force alone; eighteen refusals over nine servers in seconds are critical."""
    servers = [f"10.77.0.{11 + i}" for i in range(9)]
    frames = [refused_by(s, 40000 + i, i * 0.4 + k) for i, s in enumerate(servers) for k in (0, 1)]
    found = run(make(BruteForce, settings(BruteForce, ports=())), packets(frames))
    assert {(f.kind, f.src_ip, f.identifier, f.severity.value) for f in found} == {
        ("ftp", CLIENT, f"{CLIENT}|*|21", "critical")
    }
    assert "refused logins" in found[0].summary


def test_mistyping_on_three_servers_is_not_spraying() -> None:
    """Three refusals from each of three servers within a minute: nothing."""
    servers = [f"10.77.0.{11 + i}" for i in range(3)]
    frames = [
        refused_by(s, 40000 + i, i * 10 + k * 3) for i, s in enumerate(servers) for k in range(3)
    ]
    assert run(make(BruteForce, settings(BruteForce, ports=())), packets(frames)) == []
