"""Lab scenarios of password guessing recognised from the servers' replies.

Real servers in the server namespace and hydra on the attacker laptop, a bounded
wordlist that never holds the password: busybox httpd with basic auth, a small
http.server login form, lighttpd with digest auth and redis-server with a password, on
ports that are not login ports; on their own ports vsftpd (530), dovecot's IMAP
(``NO [AUTHENTICATIONFAILED]``) and POP3 (``-ERR [AUTH]``), PostgreSQL 15 (28P01),
MariaDB (error 1045), netkit telnetd under inetd (login(1): ``Login incorrect``),
TigerVNC's Xvnc (security result failed, then its blacklist's "Too many security
failures") and postfix with dovecot SASL (SMTP AUTH, 535). And the benign case: a
student who fetches a protected page a few times, mistypes a password, then logs in.
"""

from __future__ import annotations

import hashlib
import shutil
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING

from tests.lab.lan import LAN
from tests.lab.scenarios import PASSWORDS, Outcome, _bounded

if TYPE_CHECKING:
    from pathlib import Path

    from tests.lab.lan import SchoolLan

BASIC_PORT, FORM_PORT, REDIS_PORT, DIGEST_PORT = 8080, 8081, 6379, 8082
REDIRECT_PORT = 8083  # the login form that redirects a wrong password
VNC_DISPLAY = 77  # Xvnc's display (its lock and socket are in /tmp)
PG_BIN = "/usr/lib/postgresql/15/bin"
IN_TELNETD = "/usr/sbin/in.telnetd"  # netkit telnetd, from the telnetd-ssl package
SECRET = "Blackboard-7"  # not in PASSWORDS: every guess fails

FORM_APP = '''\
"""A school web app's login form: POST /login, 302 to /home for the right password; a
wrong one answered 200 "wrong password", or with argument "redirect" 302 back to the
form (/login?error=1), which then says so."""
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs

REDIRECT = sys.argv[4:] == ["redirect"]
FORM = (b"<html><body><h1>%s</h1>%s<form method=post action=/login>"
        b"<input name=user><input name=pass type=password><button>Log in</button>"
        b"</form></body></html>\\n")
TITLE = b"Staff portal" if REDIRECT else b"Homework portal"


class Login(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def send(self, status, body, location=None):
        self.send_response(status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        if location:
            self.send_header("Location", location)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/home":
            self.send(200, b"<html><body>Your homework</body></html>\\n")
        elif REDIRECT:
            wrong = b"Wrong user name or password" if "error" in self.path else b""
            self.send(200, FORM % (TITLE, b"<p>%s</p>" % wrong))
        else:
            self.send(200, FORM % (TITLE, b""))

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(min(n, 4096)).decode(errors="replace"))
        if form.get("user") == ["admin"] and form.get("pass") == [sys.argv[3]]:
            self.send(302, b"", "/home")
        elif REDIRECT:
            self.send(302, b"", "/login?error=1")
        else:
            self.send(200, b"<p>wrong password</p>" + FORM % (TITLE, b""))

    def log_message(self, *args):
        pass


HTTPServer((sys.argv[1], int(sys.argv[2])), Login).serve_forever()
'''


def _wordlist(lan: SchoolLan) -> str:
    path = lan.work / "passwords.txt"
    path.write_text("\n".join(PASSWORDS) + "\n")
    return str(path)


def _basic_httpd(lan: SchoolLan) -> subprocess.Popen[bytes]:
    """busybox httpd on the server, every page behind basic auth (admin / SECRET)."""
    home = lan.work / "www-basic"
    home.mkdir(exist_ok=True)
    (home / "index.html").write_text("<html><body>Marks of class 4B</body></html>\n")
    conf = lan.work / "httpd-basic.conf"
    conf.write_text(f"/:admin:{SECRET}\n")
    proc = lan.start(
        lan.srv.ns,
        "httpd-basic",
        "busybox",
        "httpd",
        "-f",
        "-p",
        f"{lan.srv.ip}:{BASIC_PORT}",
        "-h",
        str(home),
        "-c",
        str(conf),
        "-r",
        "marks",
    )
    lan.wait_port(lan.srv, BASIC_PORT)
    return proc


def _form_app(lan: SchoolLan, redirect: bool = False) -> subprocess.Popen[bytes]:
    """The login form on the server (admin / SECRET), on FORM_PORT; ``redirect``: on
    REDIRECT_PORT, a wrong password answered with 302 to /login?error=1."""
    app = lan.work / "login_app.py"
    app.write_text(FORM_APP)
    port = REDIRECT_PORT if redirect else FORM_PORT
    args = [lan.srv.ip, str(port), SECRET, *(["redirect"] if redirect else [])]
    name = "login-redirect" if redirect else "login-app"
    proc = lan.start(lan.srv.ns, name, sys.executable, str(app), *args)
    lan.wait_port(lan.srv, port)
    return proc


def http_basic_guess(lan: SchoolLan, small: bool = False) -> Outcome:
    a = lan.attacker
    server = _basic_httpd(lan)
    try:
        args = ["-I", "-t", "4", "-l", "admin", "-P", _wordlist(lan), "-s", str(BASIC_PORT)]
        args += [lan.srv.ip, "http-get", "/"]
        out = _bounded(lan, a.ns, 60, "hydra", *args)
    finally:
        lan.stop(server)
    return Outcome(
        "http_basic_guess",
        ("brute_force",),
        "hydra " + " ".join(args).replace(str(lan.work / "passwords.txt"), "passwords.txt"),
        f"hydra guessing HTTP basic-auth passwords on busybox httpd (port {BASIC_PORT}), "
        f"{len(PASSWORDS)} passwords, 4 tasks",
        a,
        "hydra",
        notes={"output_tail": out[-300:]},
    )


def http_basic_slow_guess(lan: SchoolLan, small: bool = False) -> Outcome:
    """hydra with one task and 10 s per guess (-c 10) against busybox httpd's basic auth:
    six refused logins a minute, under failures_threshold's ten; the long window's."""
    a = lan.attacker
    server = _basic_httpd(lan)
    try:
        args = ["-I", "-t", "1", "-c", "10", "-l", "admin", "-P", _wordlist(lan)]
        args += ["-s", str(BASIC_PORT), lan.srv.ip, "http-get", "/"]
        out = _bounded(lan, a.ns, 420, "hydra", *args)
    finally:
        lan.stop(server)
    return Outcome(
        "http_basic_slow_guess",
        ("brute_force",),
        "hydra " + " ".join(args).replace(str(lan.work / "passwords.txt"), "passwords.txt"),
        f"hydra guessing HTTP basic-auth passwords on busybox httpd (port {BASIC_PORT}) "
        f"slowly: one task, 10 s per guess (-c 10, six a minute), {len(PASSWORDS)} passwords",
        a,
        "hydra",
        fast=False,
        notes={"output_tail": out[-300:], "expected_severity": {"brute_force": "warning"}},
    )


def http_form_guess(lan: SchoolLan, small: bool = False) -> Outcome:
    a = lan.attacker
    server = _form_app(lan)
    try:
        args = ["-I", "-t", "4", "-l", "admin", "-P", _wordlist(lan), "-s", str(FORM_PORT)]
        args += [lan.srv.ip, "http-post-form", "/login:user=^USER^&pass=^PASS^:F=wrong password"]
        out = _bounded(lan, a.ns, 60, "hydra", *args)
    finally:
        lan.stop(server)
    return Outcome(
        "http_form_guess",
        ("brute_force",),
        "hydra " + " ".join(args).replace(str(lan.work / "passwords.txt"), "passwords.txt"),
        f"hydra guessing passwords on a web login form (POST /login, port {FORM_PORT}, "
        f'200 "wrong password"), {len(PASSWORDS)} passwords, 4 tasks',
        a,
        "hydra",
        notes={"output_tail": out[-300:]},
    )


def redis_guess(lan: SchoolLan, small: bool = False) -> Outcome:
    a = lan.attacker
    server = lan.start(
        lan.srv.ns,
        "redis",
        "redis-server",
        "--bind",
        lan.srv.ip,
        "--port",
        str(REDIS_PORT),
        "--requirepass",
        SECRET,
        "--save",
        "",
        "--appendonly",
        "no",
        "--protected-mode",
        "no",
        "--dir",
        str(lan.work),
    )
    try:
        lan.wait_port(lan.srv, REDIS_PORT)
        args = ["-I", "-t", "4", "-P", _wordlist(lan), f"redis://{lan.srv.ip}"]
        out = _bounded(lan, a.ns, 60, "hydra", *args)
    finally:
        lan.stop(server)
    return Outcome(
        "redis_guess",
        ("brute_force",),
        "hydra " + " ".join(args).replace(str(lan.work / "passwords.txt"), "passwords.txt"),
        f"hydra guessing the redis-server password (port {REDIS_PORT}), "
        f"{len(PASSWORDS)} passwords, 4 tasks",
        a,
        "hydra",
        notes={"output_tail": out[-300:]},
    )


def _vsftpd(lan: SchoolLan, every_address: bool = False) -> subprocess.Popen[bytes]:
    """vsftpd on the server's address, or on all of them (local users through PAM: every
    guess gets 530)."""
    name = "vsftpd-all" if every_address else "vsftpd"
    conf = lan.work / f"{name}.conf"
    where = "" if every_address else f"listen_address={lan.srv.ip}\n"
    conf.write_text(
        "listen=YES\nlisten_ipv6=NO\nbackground=NO\n"
        f"{where}listen_port=21\n"
        "anonymous_enable=NO\nlocal_enable=YES\nseccomp_sandbox=NO\n"
        "secure_chroot_dir=/var/run/vsftpd/empty\npam_service_name=vsftpd\n"
        f"vsftpd_log_file={lan.work / 'logs' / 'vsftpd-xfer.log'}\n"
    )
    proc = lan.start(lan.srv.ns, name, "vsftpd", str(conf))
    lan.wait_port(lan.srv, 21)
    return proc


def ftp_guess(lan: SchoolLan, small: bool = False) -> Outcome:
    """hydra against vsftpd (local users through PAM: every guess gets 530)."""
    a = lan.attacker
    server = _vsftpd(lan)
    try:
        args = ["-I", "-t", "4", "-l", "teacher", "-P", _wordlist(lan), f"ftp://{lan.srv.ip}"]
        out = _bounded(lan, a.ns, 90, "hydra", *args)
    finally:
        lan.stop(server)
    return Outcome(
        "ftp_guess",
        ("brute_force",),
        "hydra " + " ".join(args).replace(str(lan.work / "passwords.txt"), "passwords.txt"),
        f"hydra guessing FTP passwords on vsftpd (530 Login incorrect), {len(PASSWORDS)} "
        "passwords, 4 tasks",
        a,
        "hydra",
        notes={"output_tail": out[-300:]},
    )


def login_mistyped(lan: SchoolLan, small: bool = False) -> Outcome:
    """A student's browser: the protected page three times without a password (401), a
    mistyped password, then the right one; on the form: two wrong passwords, then in."""
    stu = lan.students[0]
    basic, form = _basic_httpd(lan), _form_app(lan)
    base = f"http://{lan.srv.ip}:{BASIC_PORT}/"
    curl = ["curl", "-4", "-s", "-m", "5", "-o", "/dev/null"]
    try:
        for _ in range(3):
            lan.run(stu.ns, *curl, base, timeout=10)
            time.sleep(0.5)
        for password in ("Blackbaord-7", SECRET):
            lan.run(stu.ns, *curl, "-u", f"admin:{password}", base, timeout=10)
            time.sleep(1)
        login = f"http://{lan.srv.ip}:{FORM_PORT}/login"
        lan.run(stu.ns, *curl, f"http://{lan.srv.ip}:{FORM_PORT}/", timeout=10)
        for password in ("blackboard-7", "Blackboard7", SECRET):
            lan.run(stu.ns, *curl, "-d", f"user=admin&pass={password}", login, timeout=10)
            time.sleep(1)
    finally:
        lan.stop(basic)
        lan.stop(form)
    return Outcome(
        "login_mistyped",
        (),
        f"curl {base} x3 (401); curl -u admin:<typo> then admin:<right>; curl -d "
        "user=admin&pass=<typo> x2 then the right password to POST /login",
        "A student opens a protected page three times before typing a password, mistypes "
        "it once, then logs in; on the login form two mistyped passwords, then in. No "
        "detector may fire.",
        None,
        "curl",
    )


def _hydra(name: str, args: list[str], description: str, lan: SchoolLan, out: str) -> Outcome:
    """The Outcome of one hydra run from the attacker laptop (the wordlist named short)."""
    return Outcome(
        name,
        ("brute_force",),
        "hydra " + " ".join(args).replace(str(lan.work / "passwords.txt"), "passwords.txt"),
        description,
        lan.attacker,
        "hydra",
        notes={"output_tail": out[-300:]},
    )


DOVECOT_CONF = """\
protocols = {protocols}
listen = {ip}
base_dir = {home}/run
state_dir = {home}/state
log_path = {logs}/dovecot-mail.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {home}/users
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={home}/mail/%u
}}
mail_location = maildir:~/Maildir
"""


def _dovecot(lan: SchoolLan, protocol: str, port: int) -> subprocess.Popen[bytes]:
    """The school's mail server: dovecot with one mailbox (teacher / SECRET)."""
    home = lan.work / f"dovecot-{protocol}"
    home.mkdir(mode=0o755, exist_ok=True)
    (home / "users").write_text(f"teacher:{{PLAIN}}{SECRET}::::::\n")
    conf = home / "dovecot.conf"
    conf.write_text(
        DOVECOT_CONF.format(protocols=protocol, ip=lan.srv.ip, home=home, logs=lan.work / "logs")
    )
    proc = lan.start(lan.srv.ns, f"dovecot-{protocol}", "dovecot", "-F", "-c", str(conf))
    lan.wait_port(lan.srv, port)
    return proc


def imap_guess(lan: SchoolLan, small: bool = False) -> Outcome:
    """hydra against dovecot's IMAP (every guess: ``<tag> NO [AUTHENTICATIONFAILED]``)."""
    server = _dovecot(lan, "imap", 143)
    try:
        args = ["-I", "-t", "4", "-l", "teacher", "-P", _wordlist(lan), f"imap://{lan.srv.ip}"]
        out = _bounded(lan, lan.attacker.ns, 90, "hydra", *args)
    finally:
        lan.stop(server)
    return _hydra(
        "imap_guess",
        args,
        "hydra guessing IMAP passwords on dovecot (port 143, NO [AUTHENTICATIONFAILED]; dovecot "
        "holds refusals back, so hydra is stopped after 90 s), "
        f"{len(PASSWORDS)} passwords, 4 tasks",
        lan,
        out,
    )


def pop3_guess(lan: SchoolLan, small: bool = False) -> Outcome:
    """hydra against dovecot's POP3 (every guess: ``-ERR [AUTH] Authentication failed``)."""
    server = _dovecot(lan, "pop3", 110)
    try:
        args = ["-I", "-t", "4", "-l", "teacher", "-P", _wordlist(lan), f"pop3://{lan.srv.ip}"]
        out = _bounded(lan, lan.attacker.ns, 90, "hydra", *args)
    finally:
        lan.stop(server)
    return _hydra(
        "pop3_guess",
        args,
        "hydra guessing POP3 passwords on dovecot (port 110, -ERR [AUTH]; dovecot holds "
        "refusals back, so hydra is stopped after 90 s), "
        f"{len(PASSWORDS)} passwords, 4 tasks",
        lan,
        out,
    )


def _as(user: str, path: Path) -> None:
    """Give ``path`` (a directory the server writes) to the server's system account."""
    shutil.chown(path, user, user)


def postgres_guess(lan: SchoolLan, small: bool = False) -> Outcome:
    """hydra against PostgreSQL 15 (scram-sha-256 over TCP: every guess gets 28P01)."""
    home = lan.work / "postgres"
    home.mkdir(mode=0o755, exist_ok=True)
    _as("postgres", home)
    pwfile = home / "pw"
    pwfile.write_text(SECRET + "\n")
    _as("postgres", pwfile)
    data = home / "data"
    initdb = [PG_BIN + "/initdb", "-D", str(data), "-U", "postgres", f"--pwfile={pwfile}"]
    initdb += ["--auth-host=scram-sha-256", "--auth-local=peer", "--no-sync", "-E", "UTF8"]
    r = lan.run(lan.srv.ns, "runuser", "-u", "postgres", "--", *initdb, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"initdb: {r.stdout}{r.stderr}")
    (data / "pg_hba.conf").write_text(f"local all all peer\nhost all all {LAN} scram-sha-256\n")
    server = lan.start(
        lan.srv.ns,
        "postgres",
        "runuser",
        "-u",
        "postgres",
        "--",
        PG_BIN + "/postgres",
        "-D",
        str(data),
        "-c",
        f"listen_addresses={lan.srv.ip}",
        "-c",
        f"unix_socket_directories={home}",
        "-c",
        "fsync=off",
    )
    try:
        lan.wait_port(lan.srv, 5432, 20)
        args = ["-I", "-t", "4", "-l", "postgres", "-P", _wordlist(lan), f"postgres://{lan.srv.ip}"]
        out = _bounded(lan, lan.attacker.ns, 90, "hydra", *args)
    finally:
        lan.stop(server, signal.SIGINT, 10)
    return _hydra(
        "postgres_guess",
        args,
        "hydra guessing PostgreSQL passwords (port 5432, scram-sha-256, FATAL 28P01 "
        f"password authentication failed), {len(PASSWORDS)} passwords, 4 tasks",
        lan,
        out,
    )


def mariadb_guess(lan: SchoolLan, small: bool = False) -> Outcome:
    """hydra against MariaDB (an account teacher@'%': every guess gets error 1045)."""
    home = lan.work / "mariadb"
    home.mkdir(mode=0o755, exist_ok=True)
    _as("mysql", home)
    data, sock = home / "data", home / "mysqld.sock"
    r = lan.run(
        lan.srv.ns,
        "mariadb-install-db",
        "--no-defaults",
        f"--datadir={data}",
        "--user=mysql",
        "--skip-test-db",
        timeout=120,
    )
    if r.returncode != 0:
        raise RuntimeError(f"mariadb-install-db: {r.stdout}{r.stderr}")
    server = lan.start(
        lan.srv.ns,
        "mariadb",
        "mariadbd",
        "--no-defaults",
        f"--datadir={data}",
        "--user=mysql",
        f"--bind-address={lan.srv.ip}",
        "--port=3306",
        f"--socket={sock}",
        f"--pid-file={home / 'mariadb.pid'}",
        "--skip-name-resolve",
        "--skip-log-bin",
    )
    try:
        lan.wait_port(lan.srv, 3306, 30)
        sql = f"CREATE USER 'teacher'@'%' IDENTIFIED BY '{SECRET}'"
        r = lan.run(lan.srv.ns, "mariadb", f"--socket={sock}", "-u", "root", "-e", sql)
        if r.returncode != 0:
            raise RuntimeError(f"mariadb: {r.stdout}{r.stderr}")
        args = ["-I", "-t", "4", "-l", "teacher", "-P", _wordlist(lan), f"mysql://{lan.srv.ip}"]
        out = _bounded(lan, lan.attacker.ns, 90, "hydra", *args)
    finally:
        lan.stop(server, signal.SIGTERM, 20)
    return _hydra(
        "mariadb_guess",
        args,
        "hydra guessing MariaDB passwords (port 3306, error 1045 access denied), "
        f"{len(PASSWORDS)} passwords, 4 tasks",
        lan,
        out,
    )


def telnet_guess(lan: SchoolLan, small: bool = False) -> Outcome:
    """hydra against netkit telnetd (Debian's telnetd-ssl, plain telnet here) under inetd:
    login(1) answers Login incorrect. (hydra does not answer inetutils telnetd's option
    negotiation, which then never prompts.)"""
    conf = lan.work / "inetd.conf"
    conf.write_text(f"{lan.srv.ip}:telnet stream tcp nowait root {IN_TELNETD} in.telnetd\n")
    server = lan.start(
        lan.srv.ns,
        "inetd",
        "inetutils-inetd",
        "-d",
        f"--pidfile={lan.work / 'inetd.pid'}",
        str(conf),
    )
    try:
        lan.wait_port(lan.srv, 23)
        args = ["-I", "-t", "4", "-l", "teacher", "-P", _wordlist(lan), f"telnet://{lan.srv.ip}"]
        out = _bounded(lan, lan.attacker.ns, 90, "hydra", *args)
    finally:
        lan.stop(server)
    return _hydra(
        "telnet_guess",
        args,
        "hydra guessing telnet passwords (netkit telnetd under inetd, login(1): Login "
        f"incorrect), {len(PASSWORDS)} passwords, 4 tasks",
        lan,
        out,
    )


def http_digest_guess(lan: SchoolLan, small: bool = False) -> Outcome:
    """hydra against lighttpd with mod_auth digest (every guess: 401 with a new nonce)."""
    home = lan.work / "www-digest"
    home.mkdir(mode=0o755, exist_ok=True)
    (home / "index.html").write_text("<html><body>Timetable of class 4B</body></html>\n")
    ha1 = hashlib.md5(f"admin:marks:{SECRET}".encode()).hexdigest()  # noqa: S324 (htdigest)
    users = lan.work / "htdigest"
    users.write_text(f"admin:marks:{ha1}\n")
    users.chmod(0o644)
    conf = lan.work / "lighttpd.conf"
    conf.write_text(
        f'server.document-root = "{home}"\n'
        f'server.bind = "{lan.srv.ip}"\nserver.port = {DIGEST_PORT}\n'
        'server.username = "www-data"\nserver.groupname = "www-data"\n'
        'server.modules = ("mod_auth", "mod_authn_file")\n'
        'auth.backend = "htdigest"\n'
        f'auth.backend.htdigest.userfile = "{users}"\n'
        'auth.require = ("/" => ("method" => "digest", "realm" => "marks", '
        '"require" => "valid-user"))\n'
        'index-file.names = ("index.html")\n'
    )
    server = lan.start(lan.srv.ns, "lighttpd", "lighttpd", "-D", "-f", str(conf))
    try:
        lan.wait_port(lan.srv, DIGEST_PORT)
        args = ["-I", "-t", "4", "-l", "admin", "-P", _wordlist(lan), "-s", str(DIGEST_PORT)]
        args += [lan.srv.ip, "http-get", "/"]
        out = _bounded(lan, lan.attacker.ns, 60, "hydra", *args)
    finally:
        lan.stop(server)
    return _hydra(
        "http_digest_guess",
        args,
        f"hydra guessing HTTP digest-auth passwords on lighttpd (port {DIGEST_PORT}), "
        f"{len(PASSWORDS)} passwords, 4 tasks",
        lan,
        out,
    )


def vnc_guess(lan: SchoolLan, small: bool = False) -> Outcome:
    """hydra against TigerVNC's Xvnc with a VNC password (its default blacklist on)."""
    passwd = lan.work / "vncpasswd"
    r = subprocess.run(
        ["vncpasswd", "-f"], input=SECRET.encode(), capture_output=True, check=True, timeout=10
    )
    passwd.write_bytes(r.stdout)
    server = lan.start(
        lan.srv.ns,
        "xvnc",
        "Xvnc",
        f":{VNC_DISPLAY}",
        "-rfbport",
        "5900",
        "-interface",
        lan.srv.ip,
        "-SecurityTypes",
        "VncAuth",
        "-PasswordFile",
        str(passwd),
        "-nolisten",
        "tcp",
        "-geometry",
        "640x480",
    )
    try:
        lan.wait_port(lan.srv, 5900, 20)
        args = ["-I", "-t", "4", "-P", _wordlist(lan), f"vnc://{lan.srv.ip}"]
        out = _bounded(lan, lan.attacker.ns, 90, "hydra", *args)
    finally:
        lan.stop(server)
    return _hydra(
        "vnc_guess",
        args,
        "hydra guessing the VNC password of TigerVNC's Xvnc (port 5900, VncAuth: security "
        "result failed; after five failures the host is blacklisted and turned away with "
        '"Too many security failures"), '
        f"{len(PASSWORDS)} passwords, 4 tasks",
        lan,
        out,
    )


def _postfix(lan: SchoolLan) -> tuple[subprocess.Popen[bytes], subprocess.Popen[bytes]]:
    """postfix on the SMTP port, AUTH through dovecot's SASL (teacher / SECRET), no TLS."""
    top = lan.work / "postfix"
    home, queue, data, sock = top / "etc", top / "spool", top / "data", top / "sasl"
    for d in (top, home, queue, data, sock):
        d.mkdir(mode=0o755, exist_ok=True)
    _as("postfix", data)
    auth = lan.work / "dovecot-sasl"
    auth.mkdir(mode=0o755, exist_ok=True)
    (auth / "users").write_text(f"teacher:{{PLAIN}}{SECRET}::::::\n")
    (auth / "dovecot.conf").write_text(
        DOVECOT_CONF.format(protocols="", ip=lan.srv.ip, home=auth, logs=lan.work / "logs")
        + "service auth {\n  unix_listener "
        + f"{sock / 'auth'}"
        + " {\n    mode = 0660\n    user = postfix\n    group = postfix\n  }\n}\n"
    )
    sasl = lan.start(lan.srv.ns, "dovecot-sasl", "dovecot", "-F", "-c", str(auth / "dovecot.conf"))
    shutil.copy("/etc/postfix/master.cf", home / "master.cf")
    (home / "main.cf").write_text(
        "compatibility_level = 3.6\n"
        f"queue_directory = {queue}\ndata_directory = {data}\n"
        "mail_owner = postfix\nsetgid_group = postdrop\n"
        f"inet_interfaces = {lan.srv.ip}\ninet_protocols = ipv4\n"
        "myhostname = mail.school.lan\nmydestination =\nalias_maps =\nalias_database =\n"
        "maillog_file = /dev/stdout\n"
        "smtpd_sasl_auth_enable = yes\nsmtpd_sasl_type = dovecot\n"
        f"smtpd_sasl_path = {sock / 'auth'}\n"
        "smtpd_tls_security_level = none\n"
        "smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination\n"
    )
    postconf = ["postconf", "-c", str(home)]
    r = lan.run(lan.srv.ns, *postconf, "-F", "*/*/chroot = n", timeout=20)
    if r.returncode != 0:
        raise RuntimeError(f"postconf: {r.stdout}{r.stderr}")
    server = lan.start(lan.srv.ns, "postfix", "postfix", "-c", str(home), "start-fg")
    try:
        lan.wait_port(lan.srv, 25, 20)
    except RuntimeError:
        lan.stop(server)
        lan.stop(sasl)
        raise RuntimeError(f"postfix: {lan.log('postfix')}{lan.log('dovecot-sasl')}") from None
    return server, sasl


def smtp_guess(lan: SchoolLan, small: bool = False) -> Outcome:
    """hydra against postfix with dovecot SASL (every AUTH LOGIN: 535 5.7.8)."""
    server, sasl = _postfix(lan)
    try:
        args = ["-I", "-t", "4", "-l", "teacher", "-P", _wordlist(lan), f"smtp://{lan.srv.ip}"]
        out = _bounded(lan, lan.attacker.ns, 90, "hydra", *args)
    finally:
        lan.stop(server)
        lan.stop(sasl)
    return _hydra(
        "smtp_guess",
        args,
        "hydra guessing SMTP AUTH passwords on postfix with dovecot SASL (port 25, 535 "
        "5.7.8 authentication failed; dovecot holds refusals back, and an AUTH that waits "
        "too long gets 454 temporary failure from postfix), "
        f"{len(PASSWORDS)} passwords, 4 tasks",
        lan,
        out,
    )


# ------------------------------------------------------------ other guessing tools
def _guesser(name: str, tool: str, args: list[str], description: str, lan: SchoolLan) -> Outcome:
    out = _bounded(lan, lan.attacker.ns, 90, tool, *args)
    return Outcome(
        name,
        ("brute_force",),
        f"{tool} " + " ".join(args).replace(str(lan.work / "passwords.txt"), "passwords.txt"),
        description,
        lan.attacker,
        tool,
        notes={"output_tail": out[-300:]},
    )


def medusa_ssh(lan: SchoolLan, small: bool = False) -> Outcome:
    args = ["-h", lan.srv.ip, "-u", "admin", "-P", _wordlist(lan), "-M", "ssh", "-t", "4"]
    return _guesser(
        "medusa_ssh",
        "medusa",
        args,
        f"medusa SSH password guessing, {len(PASSWORDS)} passwords, 4 threads",
        lan,
    )


def medusa_ssh_serial(lan: SchoolLan, small: bool = False) -> Outcome:
    """One thread (-t 1): its connections still overlap, each opened before the last
    one has closed."""
    args = ["-h", lan.srv.ip, "-u", "admin", "-P", _wordlist(lan), "-M", "ssh", "-t", "1"]
    return _guesser(
        "medusa_ssh_serial",
        "medusa",
        args,
        f"medusa SSH password guessing with one thread, {len(PASSWORDS)} passwords (each "
        "connection opened before the last one has closed)",
        lan,
    )


def ncrack_ssh(lan: SchoolLan, small: bool = False) -> Outcome:
    args = ["-T4", "--user", "admin", "-P", _wordlist(lan), f"ssh://{lan.srv.ip}"]
    return _guesser(
        "ncrack_ssh",
        "ncrack",
        args,
        f"ncrack SSH password guessing (several passwords per connection), "
        f"{len(PASSWORDS)} passwords, -T4",
        lan,
    )


def ncrack_ftp(lan: SchoolLan, small: bool = False) -> Outcome:
    server = _vsftpd(lan)
    try:
        args = ["-T4", "--user", "teacher", "-P", _wordlist(lan), f"ftp://{lan.srv.ip}"]
        return _guesser(
            "ncrack_ftp",
            "ncrack",
            args,
            f"ncrack guessing FTP passwords on vsftpd (530 Login incorrect), "
            f"{len(PASSWORDS)} passwords, -T4",
            lan,
        )
    finally:
        lan.stop(server)


def medusa_http_basic(lan: SchoolLan, small: bool = False) -> Outcome:
    server = _basic_httpd(lan)
    try:
        args = ["-h", lan.srv.ip, "-n", str(BASIC_PORT), "-u", "admin", "-P", _wordlist(lan)]
        args += ["-M", "http", "-m", "DIR:/", "-t", "4"]
        return _guesser(
            "medusa_http_basic",
            "medusa",
            args,
            f"medusa guessing HTTP basic-auth passwords on busybox httpd (port {BASIC_PORT}), "
            f"{len(PASSWORDS)} passwords, 4 threads",
            lan,
        )
    finally:
        lan.stop(server)
