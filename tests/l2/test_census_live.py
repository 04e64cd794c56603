"""The census from live capture: ARP, DHCP and ND senders on the LAN reach the metrics."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from scapy.utils import wrpcap

from tests.capture.test_live import config, run_daemon, scrape, sh, wait_metric
from tests.capture.test_live import lan as lan  # the namespaces fixture
from tests.conftest import needs_netns, require_tools
from tests.helpers import free_port, sample
from tests.l2.test_census import frames

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [needs_netns, pytest.mark.timeout(90)]


@pytest.fixture
def tmp_path() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="sentinel-census-"))
    d.chmod(0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_live_devices_counted_once_each(lan: tuple[str, str], tmp_path: Path) -> None:
    """30 ARP, 10 DHCP and 5 ND senders, each sending twice: 45 devices, 10 randomised."""
    require_tools("tcpreplay", package="tcpreplay")
    a, b = lan
    port = free_port()
    kinds = {f"00:16:3e:10:00:{i:02x}": "arp" for i in range(30)}
    kinds |= {f"02:16:3e:20:00:{i:02x}": "dhcp" for i in range(10)}
    kinds |= {f"00:16:3e:30:00:{i:02x}": "nd" for i in range(5)}
    pcap = tmp_path / "join.pcap"
    wrpcap(str(pcap), [*(f := frames(kinds)), *f])
    pcap.chmod(0o644)
    d = run_daemon(a, config(tmp_path, port), [])
    try:
        wait_metric(a, port, "sentinel_lan_kernel_drops_total", 0.0)
        sh("ip", "netns", "exec", b, "tcpreplay", "-q", "-i", "peer0", "--pps=500", str(pcap))
        deadline = time.monotonic() + 30  # the worker hands hashes over every 10 s
        body = ""
        while time.monotonic() < deadline:
            body = scrape(a, port)
            if sample(body, "sentinel_devices_active", window="1h") is not None:
                break
            time.sleep(0.5)
        assert sample(body, "sentinel_devices_active", window="1h") == 45, body[-2000:]
        assert sample(body, "sentinel_devices_active", window="1d") == 45
        ratio = sample(body, "sentinel_devices_locally_administered_ratio", window="1h")
        assert ratio == pytest.approx(10 / 45)
        for mac in kinds:  # no device identifier in the exposition
            assert mac not in body
            assert mac.replace(":", "") not in body
    finally:
        d.terminate()
        out, _ = d.communicate(timeout=20)
    assert d.returncode == 0, out[-3000:]
    assert os.path.getsize(tmp_path / "state" / "census.bin") == 8 + 13 * 45
