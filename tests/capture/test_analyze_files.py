"""`sentinel analyze` reads capture files the way tcpdump and Wireshark read them: cut
files up to the damage, several files as one timeline, standard input, every pcapng block,
link types it does not decode named. Files come from the real tools (tcpdump killed
mid-write, editcap, mergecap)."""

from __future__ import annotations

import gzip
import json
import lzma
import struct
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether

from sentinel.capture.decode import LINK_ETHERNET, LINK_LINUX_SLL, LINK_RAW
from sentinel.capture.offline import Analysis
from sentinel.capture.pcapfile import Capture, PcapError, read
from sentinel.capture.pipeline import Settings
from sentinel.config.detect import DetectConfig
from tests.capture.test_pcapfile import block
from tests.conftest import DATA, needs_netns, require_tools

if TYPE_CHECKING:
    from pathlib import Path

LAB = DATA / "lab"
SCAN = LAB / "connect_scan.pcap"
EXIT_DAMAGED = 3


def run(
    state: Path, *files: str | Path, stdin: bytes | None = None, extra: tuple[str, ...] = ()
) -> tuple[int, list[dict[str, Any]], str]:
    """`sentinel analyze --format json`: exit status, alerts, stderr."""
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "sentinel", "analyze", "--format", "json", "--reveal"),
            *("--state-dir", str(state), *extra, *map(str, files)),
        ],
        input=stdin,
        capture_output=True,
        check=False,
        timeout=120,
    )
    alerts = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    return proc.returncode, alerts, proc.stderr.decode()


def key(alerts: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """What must agree between two runs (evidence file names aside)."""
    return [(a["detector"], a["identifier"], a["first_seen"], a["summary"]) for a in alerts]


def record_ends(path: Path) -> list[int]:
    """Offsets where each whole record of a little-endian pcap file ends."""
    data = path.read_bytes()
    ends, off = [], 24
    while off + 16 <= len(data):
        incl = struct.unpack_from("<I", data, off + 8)[0]
        if off + 16 + incl > len(data):
            break
        off += 16 + incl
        ends.append(off)
    return ends


CAPTURE_SCRIPT = """
ip link set lo up
tcpdump -i lo -s 0 -w "$1" 2>/dev/null &
T=$!
sleep 1
nmap -sT -p 1-1200 -T5 -n 127.0.0.1 >/dev/null 2>&1
python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(400): s.sendto(b"x" * (i % 700 + 1), ("127.0.0.1", 9))
'
sleep 0.3
kill -9 $T
wait $T
true
"""


@pytest.fixture(scope="module")
def cut_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A port scan on the loopback of a namespace of its own, captured by tcpdump that is
    then killed with SIGKILL while writing: the file ends inside a record."""
    require_tools("tcpdump", package="tcpdump")
    require_tools("nmap", package="nmap")
    require_tools("unshare", package="util-linux")
    d = tmp_path_factory.mktemp("cut")
    script = d / "capture.sh"
    script.write_text(CAPTURE_SCRIPT)
    for attempt in range(5):
        path = d / f"cut{attempt}.pcap"
        subprocess.run(["unshare", "-n", "sh", str(script), str(path)], check=True, timeout=60)
        size = path.stat().st_size
        if size > 24 and record_ends(path)[-1] != size:  # cut inside a record
            return path
    pytest.fail("tcpdump killed five times, never mid-record")


@needs_netns
def test_tcpdump_killed_mid_write(tmp_path: Path, cut_capture: Path) -> None:
    """The cut file is analysed up to the damage: the damage is named (file, offset, what)
    and the alerts are those of its intact part."""
    last = record_ends(cut_capture)[-1]
    status, alerts, err = run(tmp_path / "s1", cut_capture)
    assert status == EXIT_DAMAGED, err
    assert f"{cut_capture}: damaged record" in err
    assert f"at offset {last}" in err
    assert "port_scan" in {a["detector"] for a in alerts}
    intact = tmp_path / "intact.pcap"
    intact.write_bytes(cut_capture.read_bytes()[:last])
    status, whole, err = run(tmp_path / "s2", intact)
    assert status == 0, err
    assert key(alerts) == key(whole)


@needs_netns
def test_damaged_file_among_others(tmp_path: Path, cut_capture: Path) -> None:
    """A cut file between two good ones: all three analysed, the status says damaged."""
    status, alerts, err = run(tmp_path / "s", SCAN, cut_capture, LAB / "syn_flood.pcap")
    assert status == EXIT_DAMAGED
    assert err.count("damaged record") == 1
    detectors = {a["detector"] for a in alerts}
    assert {"port_scan", "syn_flood"} <= detectors
    # the loopback scan of the cut file (127.0.0.1) is there too
    assert any(a["source"]["ip"] == "127.0.0.1" for a in alerts)


@needs_netns
def test_stdin_cut_stream(tmp_path: Path, cut_capture: Path) -> None:
    """The cut capture piped through standard input: the same alerts and damage offset."""
    status, alerts, err = run(tmp_path / "s1", "-", stdin=cut_capture.read_bytes())
    assert status == EXIT_DAMAGED
    assert f"at offset {record_ends(cut_capture)[-1]}" in err
    _s, from_file, _e = run(tmp_path / "s2", cut_capture)
    assert key(alerts) == key(from_file)


def split_alternating(src: Path, d: Path, chunk: int) -> tuple[Path, Path]:
    """editcap: packets 1..chunk, 2chunk+1..3chunk, ... to one file, the rest to another."""
    require_tools("editcap", "capinfos", package="tshark")
    total = int(
        subprocess.run(
            ["capinfos", "-M", "-c", "-r", "-T", str(src)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()[-1]
    )
    a_ranges = [f"{i + 1}-{i + chunk}" for i in range(0, total, 2 * chunk)]
    a, b = d / "a.pcap", d / "b.pcap"
    subprocess.run(["editcap", "-r", str(src), str(a), *a_ranges], check=True)
    subprocess.run(["editcap", str(src), str(b), *a_ranges], check=True)  # the others
    return a, b


@pytest.mark.parametrize("capture", ["connect_scan", "syn_flood", "arp_spoof"])
def test_files_form_one_timeline(tmp_path: Path, capture: str) -> None:
    """A capture split by editcap into two interleaved halves, given in reverse order:
    the same alerts as the whole capture."""
    src = LAB / f"{capture}.pcap"
    a, b = split_alternating(src, tmp_path, 37)
    assert 0 < len(list(read(a))) < len(list(read(src)))
    status, whole, err = run(tmp_path / "s1", src)
    assert status == 0, err
    status, merged, err = run(tmp_path / "s2", b, a)
    assert status == 0, err
    assert whole
    assert key(merged) == key(whole)
    status, globbed, err = run(tmp_path / "s3", str(tmp_path / "?.pcap"))  # quoted glob
    assert status == 0, err
    assert key(globbed) == key(whole)


def test_stdin_pcap_and_pcapng(tmp_path: Path) -> None:
    """`-` reads pcap and pcapng (written by tcpdump and editcap to a pipe)."""
    require_tools("tcpdump", package="tcpdump")
    require_tools("editcap", package="tshark")
    _s, want, _e = run(tmp_path / "s0", SCAN)
    tcpdump = subprocess.run(
        ["tcpdump", "-r", str(SCAN), "-w", "-"], capture_output=True, check=True
    ).stdout
    status, got, err = run(tmp_path / "s1", "-", stdin=tcpdump)
    assert (status, key(got)) == (0, key(want)), err
    ng = tmp_path / "scan.pcapng"
    subprocess.run(["editcap", "-F", "pcapng", str(SCAN), str(ng)], check=True)
    status, got, err = run(tmp_path / "s2", "-", stdin=ng.read_bytes())
    assert (status, key(got)) == (0, key(want)), err


def sll_copy(src: Path, dst: Path) -> None:
    """The Ethernet frames of ``src`` as Linux cooked (SLL) frames, as `tcpdump -i any`
    writes them."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, LINK_LINUX_SLL)]
    for ts, _lt, f, wirelen in read(src):
        f = bytes(f)
        head = struct.pack("!HHH8sH", 0, 1, 6, f[6:12] + b"\0\0", struct.unpack("!H", f[12:14])[0])
        frame = head + f[14:]
        sec = int(ts)
        out.append(
            struct.pack("<IIII", sec, round((ts - sec) * 1e6), len(frame), wirelen + 2) + frame
        )
    dst.write_bytes(b"".join(out))


def test_mergecap_interfaces_of_different_link_types(tmp_path: Path) -> None:
    """mergecap of an Ethernet half and a Linux-cooked half: one pcapng, two interfaces;
    its alerts are those of the two files given to analyze, and the SLL half's evidence
    file keeps link type 113."""
    require_tools("mergecap", "editcap", package="tshark")
    a, b = split_alternating(SCAN, tmp_path, 50)
    sll = tmp_path / "b-sll.pcap"
    sll_copy(b, sll)
    merged = tmp_path / "merged.pcapng"
    subprocess.run(["mergecap", "-F", "pcapng", "-w", str(merged), str(a), str(sll)], check=True)
    cap = Capture(merged)
    list(cap.items())
    assert [i.linktype for i in cap.interfaces] == [LINK_ETHERNET, LINK_LINUX_SLL]
    status, from_pcapng, err = run(tmp_path / "s1", merged)
    assert status == 0, err
    status, from_two, err = run(tmp_path / "s2", sll, a)
    assert status == 0, err
    assert "port_scan" in {x["detector"] for x in from_pcapng}
    assert key(from_pcapng) == key(from_two)
    # the scan's SYNs came through both interfaces: evidence in pcapng, both link types
    evidence = [x["evidence"] for x in from_pcapng if x["evidence"]]
    assert evidence
    files = list((tmp_path / "s1" / "evidence").iterdir())
    assert files
    linktypes = set()
    for f in files:
        c = Capture(f)
        list(c.items())
        linktypes |= {i.linktype for i in c.interfaces}
    assert linktypes == {LINK_ETHERNET, LINK_LINUX_SLL}
    # the Linux-cooked file alone: its evidence is a pcap of link type 113
    status, alone, err = run(tmp_path / "s3", sll)
    assert status == 0, err
    (ev,) = {x["evidence"] for x in alone if x["evidence"]}
    assert ev.endswith(".pcap")
    assert struct.unpack_from("<I", (tmp_path / "s3" / "evidence" / ev).read_bytes(), 20)[0] == 113


def test_link_type_not_decoded(tmp_path: Path) -> None:
    """editcap -T ieee-802-11: a clear error naming the link type, exit 1, never a silent
    0; merged with an Ethernet file, a warning for that interface and the other's alerts."""
    require_tools("mergecap", "editcap", package="tshark")
    wifi = tmp_path / "wifi.pcap"
    subprocess.run(["editcap", "-T", "ieee-802-11", str(SCAN), str(wifi)], check=True)
    status, alerts, err = run(tmp_path / "s1", wifi)
    assert (status, alerts) == (1, [])
    assert "link type 105 (IEEE802_11) is not decoded by sentinel" in err
    merged = tmp_path / "both.pcapng"
    scan2 = LAB / "syn_scan.pcap"
    subprocess.run(["mergecap", "-w", str(merged), str(wifi), str(scan2)], check=True)
    status, alerts, err = run(tmp_path / "s2", merged)
    assert status == 0, err
    assert "interface 0 has link type 105 (IEEE802_11), not decoded by sentinel" in err
    assert f"its {len(list(read(SCAN)))} packets skipped" in err
    assert "port_scan" in {a["detector"] for a in alerts}


def test_summary_table(tmp_path: Path) -> None:
    """--summary: every file with its packets and status, then alerts by detector."""
    cut = tmp_path / "cut.pcap"
    cut.write_bytes((LAB / "syn_flood.pcap").read_bytes()[:-5])
    status, _alerts, err = run(tmp_path / "s", SCAN, cut, extra=("--summary",))
    assert status == EXIT_DAMAGED
    lines = err.splitlines()
    (row,) = [line for line in lines if line.startswith(str(cut))]
    assert "damaged record" in row
    assert any(line.split()[:2] == ["port_scan", "1"] for line in lines), err
    assert any(line.split()[:2] == ["syn_flood", "1"] for line in lines), err
    total = next(line for line in lines if line.startswith("total"))
    assert total.split()[1] == f"{2024 + 9026 - 1:,}"


# -- pcapng block types, on the reader ------------------------------------------------------


def ng_file(*blocks: bytes) -> bytes:
    shb = block("<", 0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    return shb + b"".join(blocks)


def idb(linktype: int = LINK_ETHERNET) -> bytes:
    return block("<", 1, struct.pack("<HHI", linktype, 0, 65535))


def epb(iface: int, us: int, frame: bytes) -> bytes:
    return block(
        "<",
        6,
        struct.pack("<IIIII", iface, us >> 32, us & 0xFFFFFFFF, len(frame), len(frame)) + frame,
    )


def pb(iface: int, us: int, frame: bytes) -> bytes:
    head = struct.pack("<HHIIII", iface, 0, us >> 32, us & 0xFFFFFFFF, len(frame), len(frame))
    return block("<", 2, head + frame)


def spb(frame: bytes) -> bytes:
    return block("<", 3, struct.pack("<I", len(frame)) + frame)


F = bytes(Ether() / IP(src="10.77.0.5", dst="10.77.0.6") / TCP(flags="S"))


def test_obsolete_and_simple_packet_blocks(tmp_path: Path) -> None:
    """Packet blocks (obsolete) are read; simple packet blocks get the previous packet's
    time, or the next one's when they come first; never 0."""
    path = tmp_path / "blocks.pcapng"
    path.write_bytes(
        ng_file(idb(), spb(F), spb(F), pb(0, 5_000_000, F), spb(F), epb(0, 7_500_000, F), spb(F))
    )
    got = [(ts, lt, bytes(f)) for ts, lt, f, _w in read(path)]
    assert [ts for ts, _lt, _f in got] == [5.0, 5.0, 5.0, 5.0, 7.5, 7.5]
    assert {(lt, f) for _ts, lt, f in got} == {(LINK_ETHERNET, F)}


def test_skipped_blocks_are_counted(tmp_path: Path) -> None:
    path = tmp_path / "skip.pcapng"
    path.write_bytes(
        ng_file(idb(), block("<", 4, b"\0" * 4), epb(0, 1, F), block("<", 5, b"\0" * 12))
        + block("<", 0x12345, b"x")
    )
    cap = Capture(path)
    assert len(list(cap.items())) == 1
    assert cap.skipped == {4: 1, 5: 1, 0x12345: 1}


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (ng_file(block("<", 1, b"\0" * 4)), "damaged block (type 0x1, length 16)"),
        (ng_file(idb(), block("<", 6, b"\0" * 16)), "damaged block (type 0x6, length 28)"),
        (ng_file(idb(), block("<", 2, b"\0" * 8)), "damaged block (type 0x2, length 20)"),
        (ng_file(idb(), block("<", 3, b"")), "damaged block (type 0x3, length 12)"),
        (ng_file(idb(), epb(0, 1, F)[:-4] + b"\0\0\0\0"), "lengths differ"),
        (ng_file(idb(), epb(3, 1, F)), "interface 3 was not described"),
        (ng_file(spb(F)), "simple packet block before any interface"),
        (
            block("<", 0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 2, 0, -1)),
            "unsupported pcapng version 2",
        ),
        (block("<", 0x0A0D0D0A, b"\0" * 16), "byte-order magic"),
    ],
    ids=[
        "short-idb",
        "short-epb",
        "short-pb",
        "short-spb",
        "trailer",
        "iface",
        "spb",
        "ver",
        "bom",
    ],
)
def test_block_lengths_checked_before_unpacking(tmp_path: Path, data: bytes, what: str) -> None:
    """A block too short for its type, with a trailer that disagrees, or naming an
    interface never described: PcapError saying so, not a struct.error."""
    path = tmp_path / "bad.pcapng"
    path.write_bytes(data)
    with pytest.raises(PcapError, match=what.replace("(", r"\(").replace(")", r"\)")):
        list(read(path))


def test_link_types_keep_packet_order(tmp_path: Path) -> None:
    """Ethernet and raw-IP interfaces alternating: the detectors see the packets in file
    order (Ethernet frames go through the accounting first, and are drained before)."""
    raw = bytes(IP(src="10.77.0.5", dst="10.77.0.6") / TCP(flags="S", dport=81))
    blocks = [idb(LINK_ETHERNET), idb(LINK_RAW)]
    blocks += [epb(i % 2, 1_000_000 + i * 1000, F if i % 2 == 0 else raw) for i in range(40)]
    path = tmp_path / "mixed.pcapng"
    path.write_bytes(ng_file(*blocks))
    job = Analysis([path], Settings(detect=DetectConfig()))
    seen: list[float] = []
    real = job.engine.packet

    def spy(p: Any) -> Any:
        seen.append(p.ts)
        return real(p)

    job.engine.packet = spy  # type: ignore[method-assign]
    list(job.run())
    assert seen == sorted(seen)
    assert len(seen) == 40


def test_pcap_stream_chunks(tmp_path: Path) -> None:
    """A stream read a few bytes at a time gives the file's packets."""
    import io

    class Trickle(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self.data, self.pos = data, 0

        def readable(self) -> bool:
            return True

        def read1(self, n: int = -1) -> bytes:
            out = self.data[self.pos : self.pos + 7]
            self.pos += len(out)
            return out

    for name in ("syn_scan.pcap",):
        data = (LAB / name).read_bytes()
        want = [(ts, bytes(f)) for ts, _lt, f, _w in read(LAB / name)]
        got = []
        for item in Capture("-", stdin=Trickle(data)).items():  # type: ignore[arg-type]
            for ts, _lt, f, _w in item.records() if hasattr(item, "records") else [item]:
                got.append((ts, bytes(f)))
        assert got == want
    ng = ng_file(idb(), *(epb(0, i * 10, F) for i in range(20)))
    got2 = list(Capture("-", stdin=Trickle(ng)).items())  # type: ignore[arg-type]
    assert len(got2) == 20


def test_terminal_gets_progress_and_summary(tmp_path: Path) -> None:
    """stderr a terminal (a pty): the summary table without asking; the progress line
    counts packets and says how much is left."""
    import os
    import pty

    from sentinel.capture import progress

    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "sentinel", "analyze", "--state-dir", str(tmp_path), str(SCAN)],
        stdout=subprocess.DEVNULL,
        stderr=slave,
    )
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the child closed the pty
            break
        if not chunk:
            break
        out += chunk
    assert proc.wait(timeout=60) == 0
    os.close(master)
    text = out.decode()
    assert "connect_scan.pcap" in text
    assert "port_scan" in text

    job = Analysis([SCAN], Settings(detect=DetectConfig()))
    it = job.run()
    next(it)  # the first alert: part of the file read
    report = job.reports[0]
    assert report.packets > 0
    shown = progress.line(job, job.started + 2.0)
    assert f"{job.packets:,} packets" in shown
    assert "left" in shown
    list(it)
    assert (report.done, report.bytes) == (True, SCAN.stat().st_size)


# -- compressed captures --------------------------------------------------------------------


def test_compressed_captures_give_the_same_alerts(tmp_path: Path) -> None:
    """A gzip file, an xz file and a gzip stream on stdin: the alerts of the plain
    capture, and several compressed files still form one timeline."""
    status, plain, err = run(tmp_path / "s0", SCAN, LAB / "syn_flood.pcap")
    assert status == 0, err
    gz, xz = tmp_path / "scan.pcap.gz", tmp_path / "flood.pcap.xz"
    gz.write_bytes(gzip.compress(SCAN.read_bytes()))
    xz.write_bytes(lzma.compress((LAB / "syn_flood.pcap").read_bytes()))
    status, alerts, err = run(tmp_path / "s1", gz, xz)
    assert status == 0, err
    assert key(alerts) == key(plain)
    status, alone, err = run(tmp_path / "s2", "-", stdin=gz.read_bytes())
    assert status == 0, err
    assert {a["detector"] for a in alone} >= {"port_scan"}


def test_compressed_capture_cut_off(tmp_path: Path) -> None:
    """A gzip capture cut off: analysed up to the cut, the cut named, exit status 3."""
    data = gzip.compress((LAB / "syn_flood.pcap").read_bytes())
    cut = tmp_path / "flood.pcap.gz"
    cut.write_bytes(data[: len(data) * 3 // 4])
    status, alerts, err = run(tmp_path / "s", cut)
    assert status == EXIT_DAMAGED, err
    assert f"{cut}: compressed data cut off (gzip) at offset" in err
    assert "syn_flood" in {a["detector"] for a in alerts}
