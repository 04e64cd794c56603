"""The services a school probes, for the central pipeline tests: HTTP, HTTPS and a resolver.

Run as ``python -m tests.central.probeservers FILE`` inside the pipeline's namespace: serves
the test paths of tests/probes/servers.py over HTTP and over HTTPS (a certificate made here
that expires in ``CERT_DAYS`` days, so the expiry alert fires) and runs dnsmasq, all on
127.0.0.1; writes their addresses to FILE as JSON and prints ``ready``. Stops on SIGTERM or
after an hour.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import tempfile
import threading
from pathlib import Path

from tests.probes.servers import dnsmasq, make_cert, web_server

CERT_DAYS = 3.0
LIFETIME = 3600.0  # seconds: forgotten servers do not live for ever


def main(out: Path) -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        cert = make_cert(tmp, "portal", days=CERT_DAYS)
        found = {
            "http": stack.enter_context(web_server()),
            "https": stack.enter_context(web_server(cert=cert)),
            "dns": stack.enter_context(dnsmasq()),
            "not_after": cert.not_after,
        }
        out.write_text(json.dumps(found))
        print("ready", flush=True)
        stop.wait(LIFETIME)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
