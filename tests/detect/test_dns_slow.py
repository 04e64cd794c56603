"""dns_tunnel's slow test: tunnels too slow for the other tests flagged over hours; a
laptop's school day, repeated names, relays and spoofed floods not."""

from __future__ import annotations

import random
import struct
import uuid
from typing import TYPE_CHECKING

import pytest

from sentinel.config.detect import DnsTunnel
from sentinel.detect.dns_slow import ADMIT, BITS
from sentinel.model import Severity
from tests.detect.test_dns_clients import (
    AAAA,
    C2,
    CLIENT,
    CNAME,
    HTTPS,
    MX,
    RESOLVER,
    TXT,
    A,
    _detector,
    _feed,
    _query,
)
from tests.lab.dnscat import encode

if TYPE_CHECKING:
    from sentinel.detect.base import Finding
    from sentinel.packet import Packet

HOUR = 3600.0


def _dnscat_slow(
    interval: float,
    seconds: float,
    rng: random.Random,
    types: tuple[int, ...] = (TXT, CNAME, MX),
    src: str = CLIENT,
    start: float = 100.0,
) -> list[Packet]:
    """dnscat2 in direct mode with ``--delay``: one MSG packet (empty polls and data
    chunks, dnscat2's header and hex names) every ``interval`` s, straight to C2."""
    pid, session, seq = rng.randrange(65536), rng.randrange(65536), rng.randrange(65536)
    out = []
    for i in range(int(seconds / interval)):
        pid = (pid + 1) & 0xFFFF
        chunk = rng.randbytes(rng.choice((0, 0, 0, 40, 106)))
        packet = struct.pack(">HBHHH", pid, 1, session, seq, 0) + chunk
        seq = (seq + len(chunk)) & 0xFFFF
        out.append(_query(encode(packet), start + i * interval, rng.choice(types), src, C2))
    return out


def _slow_found(found: list[Finding]) -> list[Finding]:
    return [f for f in found if f.kind == "slow"]


@pytest.mark.parametrize("interval", [6.0, 20.0])
def test_slow_dnscat2_direct_mode_is_flagged(interval: float) -> None:
    """dnscat2 --delay 6000 / 20000 straight to its server, 3 h: flagged as a warning."""
    d = _detector()
    found = _feed(d, _dnscat_slow(interval, 3 * HOUR, random.Random(1)))
    assert found
    assert {f.severity for f in found} == {Severity.WARNING}
    assert {(f.identifier, f.target_name) for f in found} == {(CLIENT, C2)}
    if interval == 20.0:  # 30 names and carriers in client_window: only the slow test
        assert {f.kind for f in found} == {"slow"}
        first = found[0]
        assert first.counts["slow_names"] >= 200
        assert first.ts <= 100.0 + 240 * interval  # some empty polls look tame
        assert "21600s" in first.summary
        assert len(found) <= 3 * HOUR / 60  # once a minute at most


def test_slow_direct_mode_with_ordinary_types_at_7_s() -> None:
    """Direct mode asking A (no carriers), one query every 7 s: 86 names in client_window
    miss the client test; the slow test names it after 200 names (about 24 minutes)."""
    d = _detector()
    found = _feed(d, _dnscat_slow(7.0, HOUR, random.Random(2), types=(A,)))
    assert found
    assert {f.kind for f in found} == {"slow"}
    assert found[0].ts <= 100.0 + 240 * 7.0
    assert found[0].counts["encoded_names"] < 100


def test_below_the_bar_is_not_flagged() -> None:
    """The same tunnel at one query every 2 minutes (180 names in 6 h): below the bar,
    and raising the window to 12 h catches it (the trade-off the setting documents)."""
    packets = _dnscat_slow(120.0, 12 * HOUR, random.Random(3))
    assert _feed(_detector(), packets) == []
    longer = _detector(DnsTunnel(slow_window=12 * HOUR, slow_names_threshold=300))
    assert _slow_found(_feed(longer, packets))


def test_long_names_rotated_over_domains_are_flagged() -> None:
    """iodine-like 60-character labels rotated over five domains, one every 40 s: 18 an
    hour per domain (under long_names_threshold), flagged by the slow test."""
    d = _detector()
    rng = random.Random(4)
    domains = [f"t.relay{i}-example.net" for i in range(5)]
    packets = [
        _query(f"{rng.randbytes(30).hex()}.{domains[i % 5]}", 10.0 + i * 40.0)
        for i in range(int(4 * HOUR / 40))
    ]
    found = _feed(d, packets)
    assert {f.kind for f in found} == {"slow"}
    assert found[0].counts["slow_names"] >= 200


def test_slow_tunnel_on_a_browsing_laptop_is_flagged() -> None:
    """A laptop browsing ordinary sites while dnscat2 runs slowly in the background."""
    d = _detector()
    rng = random.Random(5)
    packets = _dnscat_slow(20.0, 2 * HOUR, rng)
    packets += [
        _query(f"www.site{rng.randrange(60)}.com", 101.0 + i * 7.0, A)
        for i in range(int(2 * HOUR / 7))
    ]
    packets.sort(key=lambda p: p.ts)
    assert _slow_found(_feed(d, packets))


def _school_day(rng: random.Random, seconds: float, every: float) -> list[tuple[str, int]]:
    """A busy laptop's names: ordinary sites, hashed ad-frame and CDN host names, GUID
    telemetry, updates, local printers and file shares."""
    sites = [f"www.site{i}.{('com', 'be', 'nl', 'org', 'co.uk')[i % 5]}" for i in range(150)]
    names = []
    for i in range(int(seconds / every)):
        r = i % 20
        if r == 0:  # hashed ad-frame host names: a hundred and more an hour
            names.append((f"{rng.randbytes(16).hex()}.safeframe.googlesyndication.com", A))
        elif r == 1:
            names.append((f"{uuid.UUID(int=rng.getrandbits(128))}.fp.measure.office.com", A))
        elif r == 2:
            names.append((f"d{rng.randbytes(7).hex()}.cloudfront.net", A))  # allow-listed
        elif r == 3:
            names.append((f"{rng.randbytes(12).hex()}.g.doubleclick.net", A))
        elif r == 4:
            names.append((f"printer{i % 3}.school.lan", A))
        elif r == 5:
            names.append((f"ecs-{rng.randbytes(4).hex()}.eu-west-1.compute.amazonaws.com", A))
        elif r == 6:
            names.append(("settings-win.data.microsoft.com", A))
        elif r == 7:  # local servers with long names, under the school's own label
            local = ("fileserver01.students", "moodle-cache02.staff", "intranet-proxy.admin")
            names.append((f"{local[i % 3]}.school.lan", A))
        else:
            names.append((rng.choice(sites), (A, AAAA, HTTPS)[i % 3]))
    return names


def test_a_laptops_school_day_is_not_flagged() -> None:
    """Eight hours of a busy laptop, a query every 4 s (hashed names among them): no
    finding; the slow test counts only its three long local names, each once."""
    d = _detector()
    names = _school_day(random.Random(6), 8 * HOUR, 4.0)
    packets = [_query(n, 1.0 + i * 4.0, t) for i, (n, t) in enumerate(names)]
    assert _feed(d, packets) == []
    counted = d.clients.slow.table.get(CLIENT)
    assert counted is None or counted.total <= 3


def test_random_local_names_asked_again_count_once() -> None:
    """A device cycling through 140 random-looking names under a local top-level label
    all day (as a domain controller's GUID records): 140 different names, no finding,
    although the client test's own memory of them holds only 100."""
    d = _detector()
    rng = random.Random(7)
    guids = [f"{uuid.UUID(int=rng.getrandbits(128))}._msdcs.school.lan" for _ in range(140)]
    packets = [_query(guids[i % 140], 1.0 + i * 10.0, A) for i in range(int(8 * HOUR / 10))]
    assert _feed(d, packets) == []
    counted = d.clients.slow.table.get(CLIENT)
    assert counted is not None
    assert 130 <= counted.total <= 140  # two names sharing a bit count once


def test_resolver_relaying_a_slow_tunnel_is_not_the_source() -> None:
    """The school's resolver forwarding a slow long-name tunnel upstream: not judged."""
    rng = random.Random(8)
    domains = [f"t.relay{i}-example.net" for i in range(5)]
    relayed = [
        _query(f"{rng.randbytes(30).hex()}.{domains[i % 5]}", 10.0 + i * 40.0, A, RESOLVER, C2)
        for i in range(int(3 * HOUR / 40))
    ]
    assert _feed(_detector(resolvers=(RESOLVER,)), relayed) == []
    assert _slow_found(_feed(_detector(), relayed)), "the same queries from a client flag"


def test_spoofed_sources_are_not_counted() -> None:
    """A flood of tunnel-shaped names from spoofed sources, two each: nothing is let into
    the slow table; sources that go on fill it only to its cap, evictions counted."""
    d = _detector()
    rng = random.Random(9)
    flood = [
        _query(f"dnscat.{rng.randbytes(20).hex()}", 1.0 + i * 0.001, src=f"10.77.{i % 200}.{k}")
        for k in range(1, ADMIT)
        for i in range(200)
    ]
    _feed(d, flood)
    assert len(d.clients.slow.table) == 0
    d.clients.slow.table.cap = 10
    more = [
        _query(f"dnscat.{rng.randbytes(20).hex()}", 5.0 + i * 0.001, src=f"10.77.1.{i % 30}")
        for i in range(30 * (ADMIT + 1))
    ]
    _feed(d, more)
    assert len(d.clients.slow.table) == 10
    assert d.stats()["slow_clients"] == 10
    assert d.clients.slow.table.evictions >= 20


def test_memory_per_client_is_bounded_and_forgotten() -> None:
    """Thousands of names from one client: a fixed number of running counts and bits;
    the count falls after slow_window and the client is forgotten once quiet."""
    d = _detector(DnsTunnel(slow_window=2 * HOUR))
    packets = _dnscat_slow(3.0, 3 * HOUR, random.Random(10))
    _feed(d, packets)
    c = d.clients.slow.table.get(CLIENT)
    assert c is not None
    assert len(c.buckets) <= d.clients.slow.span + 1
    assert len(c.young) == len(c.older) == BITS // 8
    assert c.total <= 2 * HOUR / 3.0
    later = 100.0 + 3 * HOUR + 2 * HOUR + 120.0
    _feed(d, [_query("www.example.com", later, src="10.77.0.101")])
    _feed(d, [_query("www.example.com", later + 61.0, src="10.77.0.101")])
    assert CLIENT not in d.clients.slow.table
