"""Real servers for the probe tests: HTTP and HTTPS on loopback, dnsmasq as a resolver."""

from __future__ import annotations

import contextlib
import datetime as dt
import http.server
import ipaddress
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import require_tools

if TYPE_CHECKING:
    from collections.abc import Iterator

BIG = 2 * 1024 * 1024


@dataclass(frozen=True)
class Cert:
    cert: Path
    key: Path
    not_after: float  # unix time


def make_cert(directory: Path, name: str, days: float) -> Cert:
    """A self-signed certificate for 127.0.0.1, localhost and ::1, valid for ``days``."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    not_after = now + dt.timedelta(days=days)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(not_after)
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.IPAddress(ipaddress.ip_address("::1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Cert(cert_path, key_path, not_after.timestamp())


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:
        path = self.path
        if path == "/redirect":
            self._send(302, b"", [("Location", "/hop")])
        elif path == "/hop":
            self._send(301, b"moved", [("Location", "/ok")])
        elif path == "/ok":
            self._send(200, b"hello school\n")
        elif path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"abc", b"defgh"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        elif path == "/big":
            self._send(200, b"x" * BIG)
        elif path == "/slow":
            time.sleep(0.3)
            self._send(200, b"slow\n")
        elif path == "/error":
            self._send(500, b"broken\n")
        else:
            self._send(404, b"no\n")

    def _send(self, code: int, body: bytes, headers: list[tuple[str, str]] | None = None) -> None:
        self.send_response(code)
        for k, v in headers or []:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, context: ssl.SSLContext | None) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__((host, 0), _Handler)
        if context is not None:
            self.socket = context.wrap_socket(self.socket, server_side=True)


@contextlib.contextmanager
def web_server(host: str = "127.0.0.1", cert: Cert | None = None) -> Iterator[str]:
    """Serve the test paths; yields the base URL (``http://`` or ``https://``)."""
    context = None
    if cert is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert.cert, cert.key)
    server = _Server(host, context)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    port = server.server_address[1]
    scheme = "https" if cert else "http"
    shown = f"[{host}]" if ":" in host else host
    try:
        yield f"{scheme}://{shown}:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def free_udp_tcp_port(host: str = "127.0.0.1") -> int:
    """A port free for both UDP and TCP on ``host``."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind((host, 0))
            port: int = u.getsockname()[1]
            with socket.socket() as t:
                try:
                    t.bind((host, port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port")


@contextlib.contextmanager
def dnsmasq(
    host: str = "127.0.0.1", port: int | None = None, netns: str | None = None
) -> Iterator[int]:
    """dnsmasq answering example.com (A), big.example.com (a TXT too big for UDP)."""
    require_tools("dnsmasq", package="dnsmasq-base")
    port = port or free_udp_tcp_port(host)
    big = ",".join(["x" * 200] * 4)  # four 200-byte strings: more than 512 bytes
    argv = [
        "dnsmasq",
        "--no-daemon",
        f"--listen-address={host}",
        f"--port={port}",
        "--bind-interfaces",
        "--no-resolv",
        "--no-hosts",
        "--pid-file=",
        "--address=/example.com/192.0.2.10",
        "--address=/example.org/192.0.2.11",
        f"--txt-record=big.example.com,{big}",
        "--log-facility=-",
        "--user=root",
    ]
    if netns:
        argv = ["ip", "netns", "exec", netns, *argv]
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, text=True)
        try:
            _wait_udp(host, port, proc, netns)
            yield port
        except RuntimeError:
            err.seek(0)
            raise RuntimeError(f"dnsmasq: {err.read()[-2000:]}") from None
        finally:
            stop(proc)


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(3)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(3)


def _wait_udp(host: str, port: int, proc: subprocess.Popen[str], netns: str | None) -> None:
    end = time.monotonic() + 5
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError("dnsmasq exited")
        if netns is None:
            with socket.socket() as s:
                if s.connect_ex((host, port)) == 0:
                    return
        else:
            r = subprocess.run(
                ["ip", "netns", "exec", netns, "ss", "-Hltn", f"sport = :{port}"],
                capture_output=True,
                text=True,
                check=False,
            )
            if r.stdout.strip():
                return
        time.sleep(0.05)
    raise RuntimeError("dnsmasq did not start listening")
