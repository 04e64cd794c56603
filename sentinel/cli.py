"""The ``sentinel`` command: run the daemon, check config files."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sentinel import __version__, logsetup
from sentinel.config import default_config, load_config
from sentinel.config.schema import DEFAULT_PORT, HostPort, parse_host_port
from sentinel.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from sentinel.model import ProbeResult

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2  # also: invalid config
EXIT_DAMAGED = 3  # analyze: an input file was damaged; it was analysed up to the damage
DEFAULT_PINGS = 5  # sentinel probe: echo requests when -c is not given
INSTALLED_CONFIG = Path("/etc/sentinel/sentinel.yaml")  # the config the unit runs

DESCRIPTION = """\
Network and security monitoring for a school site: polls the school's switches,
samples bandwidth, watches the LAN for attacks, serves Prometheus metrics and
sends alerts. Run by systemd as `sentinel run --config /etc/sentinel/sentinel.yaml`.
"""

EPILOG = f"""\
examples:
  sentinel run                          built-in default: local interfaces, 127.0.0.1:{DEFAULT_PORT}
  sentinel run --config site.yaml       with a config file (SIGHUP reloads it)
  sentinel check-config site.yaml       validate before deploying (exit 2 on errors)
  sentinel probe https://portal.example/   one probe, as ping, dig or curl -w would
"""


def _listen(text: str) -> HostPort:
    try:
        return parse_host_port(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _demo_listen(text: str) -> HostPort:
    """An IPv4 loopback HOST:PORT (127.0.0.0/8), where port 0 asks for any free port."""
    import ipaddress

    hp = HostPort(_listen(text[:-2] + ":1").host, 0) if text.endswith(":0") else _listen(text)
    try:
        loopback = ipaddress.IPv4Address(hp.host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise argparse.ArgumentTypeError(f"{text}: the demo listens on 127.0.0.0/8 only")
    return hp


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sentinel",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"sentinel {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = sub.add_parser(
        "run",
        help="run the daemon",
        description="Run the daemon in the foreground. Without --config it runs on the "
        "built-in default: it samples this box's interfaces and serves metrics on "
        f"127.0.0.1:{DEFAULT_PORT}. SIGHUP reloads the config file; SIGTERM stops.",
    )
    run.add_argument("--config", type=Path, metavar="FILE", help="YAML config file")
    run.add_argument(
        "--listen",
        type=_listen,
        metavar="HOST:PORT",
        help=f"address for /metrics (overrides the config; default 127.0.0.1:{DEFAULT_PORT})",
    )

    check = sub.add_parser(
        "check-config",
        help="validate config files",
        description="Validate config files and the web config files they name, and read "
        "every secret they reference as the daemon would: a credential that is missing, "
        "unreadable or readable by others than its owner is an error (its value is never "
        "printed). Prints every error as FILE:LINE: key.path: message; exit 0 when all are "
        "valid, 2 otherwise.",
    )
    check.add_argument("files", type=Path, nargs="+", metavar="FILE")
    check.add_argument(
        "--credentials-dir",
        type=Path,
        metavar="DIR",
        help="where {credential: sentinel_FILE} is read from, as FILE (default: "
        "$CREDENTIALS_DIRECTORY under systemd, else /etc/sentinel/credentials, the "
        "directory the unit loads)",
    )

    analyze = sub.add_parser(
        "analyze",
        help="look for attacks in pcap files",
        description="Run the detectors on pcap or pcapng files, as live capture would; time "
        "comes from the packets, so a replay gives the same alerts every time. Device "
        "identifiers are pseudonymised unless --reveal. Evidence goes to --state-dir.",
        epilog="Several files (or a quoted glob) form one timeline in packet-time order. "
        "FILE '-' reads a pcap or pcapng stream from standard input. gzip, xz and bzip2 "
        "captures (files or the stream) are decompressed as they are read. A damaged file "
        "is analysed up to the damage, which is reported.\n"
        "exit status: 0 all read; 1 a file could not be read or decoded at all; 2 bad "
        "config; 3 a file was damaged (analysed up to the damage)\n\n"
        "examples:\n"
        "  sentinel analyze lan.pcap\n"
        "  sentinel analyze --format json --reveal monday-*.pcap | jq .detector\n"
        "  tcpdump -i eth0 -w - -U | sentinel analyze -\n"
        "  sentinel analyze rotated-*.pcap.gz",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    analyze.add_argument("files", type=Path, nargs="+", metavar="FILE.pcap")
    analyze.add_argument(
        "--summary",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="a summary table on stderr at the end (default: when stderr is a terminal)",
    )
    analyze.add_argument(
        "--config", type=Path, metavar="FILE", help="thresholds and allow-lists (default: built-in)"
    )
    analyze.add_argument("--format", choices=["text", "json"], default="text")
    analyze.add_argument(
        "--reveal",
        action="store_true",
        help="print device addresses in clear text (your own capture)",
    )
    analyze.add_argument(
        "--state-dir",
        type=Path,
        metavar="DIR",
        help="evidence and the site key (default: evidence in $STATE_DIRECTORY, else "
        "~/.cache/sentinel; the daemon's site key, so pseudonyms are the daemon's)",
    )

    poll = sub.add_parser(
        "poll",
        help="poll one switch once and print its series",
        description="Poll one switch once over SNMP and print the series the daemon would "
        "export for it, in Prometheus text format. Takes net-snmp's flags, or --config FILE "
        "with the name of a switch from that file. Exit 1 with a message on failure.",
        epilog="examples:\n"
        "  sentinel poll 10.20.0.2 -v 2c -c public\n"
        "  sentinel poll 10.20.0.2 -v 3 -l authPriv -u sentinel -a SHA-256 -A AUTHPASS "
        "-x AES -X PRIVPASS\n"
        "  sentinel poll --config /etc/sentinel/sentinel.yaml core",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    poll.add_argument(
        "target", metavar="HOST[:PORT]|SWITCH", help="agent address, or a switch name with --config"
    )
    poll.add_argument("--config", type=Path, metavar="FILE", help="take the switch from FILE")
    poll.add_argument(
        "-v",
        dest="version",
        choices=["1", "2c", "3"],
        default="2c",
        help="SNMP version (default 2c)",
    )
    poll.add_argument(
        "-c",
        dest="community",
        default="public",
        metavar="COMMUNITY",
        help="v1/v2c community (default public)",
    )
    poll.add_argument("-u", dest="user", default="", metavar="USER", help="v3 user")
    poll.add_argument(
        "-l",
        dest="level",
        choices=["noAuthNoPriv", "authNoPriv", "authPriv"],
        help="v3 security level",
    )
    poll.add_argument(
        "-a",
        dest="auth_protocol",
        choices=["MD5", "SHA", "SHA-224", "SHA-256", "SHA-384", "SHA-512"],
        help="v3 auth protocol (default MD5, as net-snmp)",
    )
    poll.add_argument("-A", dest="auth_passphrase", metavar="PASSPHRASE", help="v3 auth passphrase")
    poll.add_argument(
        "-x",
        dest="priv_protocol",
        choices=["DES", "AES", "AES-128", "AES-192", "AES-256", "AES-192-C", "AES-256-C"],
        help="v3 privacy protocol (default DES, as net-snmp)",
    )
    poll.add_argument(
        "-X", dest="priv_passphrase", metavar="PASSPHRASE", help="v3 privacy passphrase"
    )
    poll.add_argument("-n", dest="context", default="", metavar="CONTEXT", help="v3 context name")
    poll.add_argument(
        "-t",
        dest="timeout",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="timeout of one request (default 2)",
    )
    poll.add_argument(
        "-r",
        dest="retries",
        type=int,
        default=2,
        metavar="N",
        help="retries after a timeout (default 2)",
    )
    poll.add_argument(
        "--max-repetitions",
        type=int,
        default=25,
        metavar="N",
        help="GETBULK max-repetitions (default 25)",
    )
    poll.add_argument("--name", help="the switch label (default HOST, or HOST:PORT)")
    poll.add_argument(
        "--tier",
        choices=["full", "lean"],
        help="export the full tier on every interface (default: full on "
        "uplinks, lean on access ports)",
    )
    poll.add_argument(
        "--walk-l2",
        action="store_true",
        help="print the raw LLDP/CDP neighbour, FDB and PoE rows instead of metrics",
    )
    demo = sub.add_parser(
        "demo",
        help="show the whole product working, on simulated switches and recorded attacks",
        description="As root: simulated switches (snmpsim serving recordings of real "
        "devices) on loopback, the project's recorded attack captures replayed at their "
        "pace into a network namespace that sentinel captures on, alerts in the log, in a "
        "file and on a local page, and /metrics. Everything is labelled DEMO. Ctrl-C "
        "(or SIGTERM) stops it and removes everything it started.",
    )
    demo.add_argument(
        "--listen",
        type=_demo_listen,
        default=HostPort("127.0.0.1", DEFAULT_PORT),
        metavar="HOST:PORT",
        help=f"the daemon's /metrics (default 127.0.0.1:{DEFAULT_PORT}; port 0: any free)",
    )
    demo.add_argument(
        "--page",
        type=_demo_listen,
        default=HostPort("127.0.0.1", DEFAULT_PORT + 1),
        metavar="HOST:PORT",
        help=f"the demo's page and alert sink (default 127.0.0.1:{DEFAULT_PORT + 1})",
    )
    demo.add_argument(
        "--duration",
        type=float,
        default=3600.0,
        metavar="SECONDS",
        help="stop by itself after this long (default 3600)",
    )
    demo.add_argument(
        "--region",
        action="store_true",
        help="also run the region on loopback: VictoriaMetrics, vmalert with the project's "
        "rules, Alertmanager with the per-school routing, vmagent pushing the demo's metrics",
    )
    demo.add_argument(
        "--region-free-ports",
        action="store_true",
        help="with --region: any free ports instead of 8428, 8880, 9093 and 8429",
    )
    _init_config_parser(sub)
    _probe_parser(sub)
    return parser


def _positive(kind: type[int] | type[float], low: float, high: float) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text} is not between {low:g} and {high:g}")
        return value

    return parse


def _probe_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "probe",
        help="probe one target now (instead of ping, dig and curl -w)",
        description="Probe one target now, as the daemon's probes do, and print every "
        "figure under the name of the metric that carries it (without its sentinel_probe_ "
        "prefix): ICMP loss, round trip min/median/max and jitter; DNS rcode, record "
        "counts and time; HTTP phases, status, final URL, TLS version and certificate "
        "expiry. Without --module the module comes from TARGET: http:// or https:// is "
        "http, HOST:PORT is tcp, anything else icmp; dns is asked for with --module dns "
        "(TARGET is the resolver, HOST[:PORT]). Settings are the defaults, or the probes "
        "section of --config FILE, where TARGET may also be a configured target's name.",
        epilog="exit status: 0 every round succeeded; 1 a round failed (one line on stderr "
        "says why: resolve, timeout, refused, unreachable, permission, tls, http_status, "
        "dns_rcode, protocol, body_too_large, loss or error); 2 bad arguments or config\n\n"
        "examples:\n"
        "  sentinel probe 193.190.0.1 -c 20\n"
        "  sentinel probe --module dns 192.168.1.1 --query-name smartschool.be\n"
        "  sentinel probe smtp.school.example:587\n"
        "  sentinel probe https://login.microsoftonline.com/\n"
        "  sentinel probe --config /etc/sentinel/sentinel.yaml portal",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "target",
        metavar="TARGET",
        help="host (icmp), HOST[:PORT] resolver (dns), HOST:PORT (tcp), URL (http), "
        "or with --config a configured target's name",
    )
    p.add_argument("-m", "--module", choices=["icmp", "dns", "tcp", "http"], help="the probe")
    p.add_argument(
        "-c",
        "--count",
        type=_positive(int, 1, 1000),
        metavar="COUNT",
        help=f"icmp: echo requests in the burst (default {DEFAULT_PINGS}); other modules: "
        "rounds (default 1)",
    )
    p.add_argument(
        "-i",
        "--interval",
        type=_positive(float, 0.01, 60),
        metavar="SECONDS",
        help="between echo requests or rounds (default: probes.icmp.spacing, 1)",
    )
    p.add_argument(
        "-t",
        "--timeout",
        type=_positive(float, 0.01, 120),
        metavar="SECONDS",
        help="icmp: wait for each reply; other modules: the round's deadline "
        "(default: the module's timeout in the config)",
    )
    family = p.add_mutually_exclusive_group()
    family.add_argument("-4", dest="ip_protocol", action="store_const", const="ip4", help="IPv4")
    family.add_argument("-6", dest="ip_protocol", action="store_const", const="ip6", help="IPv6")
    p.add_argument("--query-name", metavar="NAME", help="dns: the name asked for")
    p.add_argument(
        "--query-type",
        choices=["A", "AAAA", "NS", "MX", "TXT", "SOA", "CNAME", "PTR", "SRV"],
        help="dns: the record type (default A)",
    )
    p.add_argument(
        "-k", "--insecure", action="store_true", help="http: do not verify the certificate"
    )
    p.add_argument("--config", type=Path, metavar="FILE", help="take the probe settings from FILE")


def _init_config_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "init-config",
        help="write a config file for the school this box sits in",
        description="Look at this box (the LAN interface: up, Ethernet, not the default "
        "route's; the LAN's gateway, DHCP and DNS servers from leases, routes and "
        "resolv.conf; a local snmpd) and write a config that captures and runs every "
        "detector on the LAN, polls the local snmpd and the switch given, and has commented "
        "blocks for more switches, probes and alert receivers. The config is checked before "
        "it is written; credentials it needs and does not find are named. Called by "
        "deploy/install.sh and the Debian package; these flags are kept stable.",
        epilog="examples:\n"
        "  sentinel init-config                                  print it\n"
        "  sentinel init-config --site bs-de-linde-gent --lan enp2s0 \\\n"
        "      --switch 10.20.0.2 --output /etc/sentinel/sentinel.yaml \\\n"
        "      --credentials-dir /etc/sentinel/credentials\n"
        "  sentinel init-config --switch 10.20.0.2 --switch-version 3 --switch-user sentinel",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--site", help="the school's id (default: the host name)")
    p.add_argument("--lan", metavar="IFACE", help="the LAN interface (default: found)")
    p.add_argument("--switch", metavar="HOST[:PORT]", help="one switch to poll over SNMP")
    p.add_argument("--switch-name", metavar="NAME", help="its name (default: its address)")
    p.add_argument("--switch-version", choices=["1", "2c", "3"], default="2c")
    p.add_argument(
        "--switch-credential",
        metavar="NAME",
        help="credential with the community (default sentinel_snmp-community), or for v3 "
        "the prefix of NAME-auth and NAME-priv (default sentinel_snmp)",
    )
    p.add_argument("--switch-user", metavar="USER", default="sentinel", help="v3 user")
    p.add_argument(
        "--switch-auth-protocol",
        choices=["MD5", "SHA", "SHA-224", "SHA-256", "SHA-384", "SHA-512"],
        default="SHA-256",
    )
    p.add_argument(
        "--switch-priv-protocol",
        choices=["DES", "AES", "AES-128", "AES-192", "AES-256", "AES-192-C", "AES-256-C"],
        default="AES",
    )
    p.add_argument("--output", type=Path, metavar="FILE", help="write FILE (default: stdout)")
    p.add_argument("--force", action="store_true", help="replace an existing --output FILE")
    p.add_argument(
        "--credentials-dir",
        type=Path,
        metavar="DIR",
        help="create DIR (0700) and a site key DIR/site-key (0600) if absent, and check "
        "the config's credentials there (install: /etc/sentinel/credentials)",
    )
    p.add_argument(
        "--lease-file",
        action="append",
        metavar="FILE",
        help="read this DHCP lease file instead of the usual places (repeatable)",
    )
    p.add_argument(
        "--no-snmp-probe", action="store_true", help="do not look for an snmpd on 127.0.0.1"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "check-config":
        return check_config(args.files, args.credentials_dir)
    if args.command == "poll":
        return poll(args)
    if args.command == "analyze":
        return analyze(args)
    if args.command == "demo":
        return demo(args)
    if args.command == "init-config":
        return init_config(args)
    if args.command == "probe":
        return probe(args)
    return run(args.config, args.listen)


def print_issues(exc: ConfigError) -> None:
    """Every problem of a config file, one ``FILE:LINE: key.path: message`` line each."""
    for issue in exc.issues:
        print(issue, file=sys.stderr)


def check_config(files: Sequence[Path], credentials_dir: Path | None = None) -> int:
    status = EXIT_OK
    for path in files:
        try:
            load_config(path, credentials_dir=credentials_dir)
        except ConfigError as exc:
            print_issues(exc)
            status = EXIT_USAGE
        else:
            print(f"{path}: valid")
    return status


def run(config_path: Path | None, listen: HostPort | None) -> int:
    try:
        if config_path:
            cfg = load_config(config_path)
        else:
            from sentinel.builtin import builtin_config
            from sentinel.privileges import cap_net_raw

            cfg = builtin_config(capture=cap_net_raw())
    except ConfigError as exc:
        print_issues(exc)
        return EXIT_USAGE
    logsetup.setup(cfg.log.level, cfg.log.format)
    from sentinel.daemon import Daemon

    daemon = Daemon(cfg, config_path=config_path, listen=listen)
    try:
        return asyncio.run(daemon.run())
    except KeyboardInterrupt:  # a second Ctrl-C during shutdown
        return EXIT_FAILURE


def demo(args: argparse.Namespace) -> int:
    from sentinel.demo.run import Options
    from sentinel.demo.run import main as demo_main

    logsetup.setup("info")
    return demo_main(
        Options(
            listen=(args.listen.host, args.listen.port),
            page=(args.page.host, args.page.port),
            duration=args.duration,
            region=args.region,
            region_free_ports=args.region_free_ports,
        )
    )


def poll(args: argparse.Namespace) -> int:
    from sentinel.config.snmp import _address
    from sentinel.errors import SnmpError
    from sentinel.l2.once import poll_once, walk_l2
    from sentinel.snmp.once import resolved_from_flags

    try:
        if args.config:
            cfg = load_config(args.config)
            matches = [s for s in cfg.snmp.switches if s.name == args.target]
            if not matches:
                names = ", ".join(s.name for s in cfg.snmp.switches) or "none"
                print(
                    f"sentinel poll: no switch {args.target!r} in {args.config} "
                    f"(switches: {names})",
                    file=sys.stderr,
                )
                return EXIT_USAGE
            target = cfg.snmp.resolve(matches[0])
        else:
            host, port = _address(args.target)
            target = resolved_from_flags(
                host,
                port,
                name=args.name or (host if port == 161 else f"{host}:{port}"),
                version=args.version,
                community=args.community,
                user=args.user,
                level=args.level,
                auth_protocol=args.auth_protocol,
                auth_passphrase=args.auth_passphrase,
                priv_protocol=args.priv_protocol,
                priv_passphrase=args.priv_passphrase,
                context=args.context,
                timeout=args.timeout,
                retries=args.retries,
                max_repetitions=args.max_repetitions,
                tier=args.tier,
            )
    except ConfigError as exc:
        print_issues(exc)
        return EXIT_USAGE
    except ValueError as exc:
        print(f"sentinel poll: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        if args.walk_l2:
            sys.stdout.write(asyncio.run(walk_l2(target)))
            return EXIT_OK
        text = asyncio.run(poll_once(target))
    except SnmpError as exc:
        print(f"sentinel poll: {target.host}:{target.port}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    sys.stdout.write(text.decode())
    return EXIT_OK


def analyze(args: argparse.Namespace) -> int:
    import json
    import os
    import time

    from sentinel.capture.offline import Analysis
    from sentinel.capture.pipeline import Settings
    from sentinel.capture.progress import Progress, summary
    from sentinel.privacy import daemon_state_dir, site_key

    try:
        cfg = load_config(args.config) if args.config else default_config()
    except ConfigError as exc:
        print_issues(exc)
        return EXIT_USAGE
    # The daemon's site key, so a device has one pseudonym in its alerts and here:
    # --config's, else the installed config's, else the daemon's default state directory.
    key_cfg = cfg
    if args.config is None and args.state_dir is None and INSTALLED_CONFIG.is_file():
        try:
            key_cfg = load_config(INSTALLED_CONFIG)
        except ConfigError as exc:
            print(
                f"sentinel analyze: cannot read the daemon's site key ({exc.issues[0]}); "
                "pseudonyms will differ from the daemon's (run as root, or pass --config "
                "or --state-dir)",
                file=sys.stderr,
            )
    key_dir = args.state_dir or daemon_state_dir(key_cfg.state_dir)
    state = args.state_dir or (
        Path(os.environ["STATE_DIRECTORY"].split(":")[0])
        if os.environ.get("STATE_DIRECTORY")
        else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sentinel"
    )
    try:
        for d in (key_dir, state):
            d.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = site_key(key_cfg.privacy, key_dir)
    except (OSError, ValueError) as exc:
        print(f"sentinel analyze: state directory {key_dir}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    settings = Settings(
        networks=cfg.capture.networks,
        detect=cfg.detect,
        site_key=key,
        pseudonymise=cfg.privacy.pseudonymise and not args.reveal,
        evidence_dir=str(state / "evidence"),
    )
    tty = sys.stderr.isatty()
    progress = Progress(sys.stderr) if tty else None

    def warn(message: str) -> None:
        if progress:
            progress.clear()
        print(f"sentinel analyze: {message}", file=sys.stderr)

    job = Analysis(expand(args.files), settings, warn=warn, progress=progress)
    try:
        for alert in job.run():
            if progress:
                progress.clear()
            if args.format == "json":
                print(json.dumps(alert_json(alert), sort_keys=True))
            else:
                when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(alert.first_seen))
                joined = f" (incident {alert.incident})" if alert.lead != alert.key else ""
                print(
                    f"{when} {alert.severity.value:8} {alert.detector:12} {alert.summary}{joined}"
                )
    except OSError as exc:
        warn(str(exc))
        return EXIT_FAILURE
    if progress:
        progress.clear()
    if args.summary or (args.summary is None and tty):
        sys.stdout.flush()
        sys.stderr.write(summary(job))
    if any(r.failed for r in job.reports):
        return EXIT_FAILURE
    return EXIT_DAMAGED if any(r.damaged for r in job.reports) else EXIT_OK


def expand(files: Sequence[Path]) -> list[Path]:
    """Arguments as given; one naming no file but holding a glob is expanded (sorted; the
    timeline is ordered by packet time anyway)."""
    import glob

    out: list[Path] = []
    for f in files:
        text = str(f)
        if text != "-" and not f.exists() and glob.has_magic(text):
            out += [Path(p) for p in sorted(glob.glob(text))] or [f]
        else:
            out.append(f)
    return out


def alert_json(alert: object) -> dict[str, object]:
    """One alert as the JSON object ``analyze --format json`` prints (README, The LAN)."""
    from sentinel.model import Alert

    assert isinstance(alert, Alert)
    return {
        "detector": alert.detector,
        "severity": alert.severity.value,
        "identifier": alert.identifier,
        "kind": alert.kind,
        "source": {"ip": alert.source.ip, "mac": alert.source.mac},
        "target": alert.target,
        "first_seen": alert.first_seen,
        "last_seen": alert.last_seen,
        "summary": alert.summary,
        "description": alert.description,
        "counts": dict(alert.counts),
        "evidence": alert.evidence,
        "incident": alert.incident,
    }


def init_config(args: argparse.Namespace) -> int:
    from sentinel import siteconfig
    from sentinel.builtin import local_agent
    from sentinel.config.schema import default_site

    def note(text: str) -> None:
        print(f"sentinel init-config: {text}", file=sys.stderr)

    if args.switch_version == "3" and not args.switch:
        note("--switch-version needs --switch")
        return EXIT_USAGE
    switch = None
    if args.switch:
        switch = siteconfig.SwitchOption(
            address=args.switch,
            name=args.switch_name or "",
            version=args.switch_version,
            credential=args.switch_credential or "",
            user=args.switch_user,
            auth_protocol=args.switch_auth_protocol,
            priv_protocol=args.switch_priv_protocol,
        )
    community = None if args.no_snmp_probe else asyncio.run(local_agent())
    facts = siteconfig.discover(
        lease_files=tuple(args.lease_file) if args.lease_file else None,
        snmp_community=community,
    )
    options = siteconfig.Options(site=args.site or default_site(), lan=args.lan, switch=switch)
    generator = "sentinel init-config"
    try:
        text, plan = siteconfig.generate(facts, options, generator)
    except (siteconfig.PlanError, ValueError) as exc:
        note(str(exc))
        return EXIT_USAGE
    except RuntimeError as exc:
        note(str(exc))
        return EXIT_FAILURE
    for line in plan.notes:
        note(line)
    if community is not None:
        note(f"local snmpd answers on 127.0.0.1 (community {community!r}): polled as localhost")
    if args.credentials_dir is not None:
        key = siteconfig.ensure_site_key(args.credentials_dir)
        note(f"site key: {key}")
    if args.output is None:
        sys.stdout.write(text)
        return EXIT_OK
    if siteconfig.write_config(args.output, text, force=args.force):
        note(f"wrote {args.output}")
    else:
        note(f"{args.output} exists and is left as it is (--force replaces it)")
    try:
        load_config(args.output, credentials_dir=args.credentials_dir)
    except ConfigError as exc:
        for issue in exc.issues:
            note(f"to do: {issue}")
    return EXIT_OK


def probe(args: argparse.Namespace) -> int:
    import logging

    from sentinel.config.probes import ProbesConfig
    from sentinel.probes import report

    def say(text: str) -> None:
        print(f"sentinel probe: {text}", file=sys.stderr)

    cfg = ProbesConfig()
    try:
        if args.config:
            cfg = load_config(args.config).probes
    except ConfigError as exc:
        print_issues(exc)
        return EXIT_USAGE
    configured = {t.name: t for t in cfg.targets}
    try:
        if args.config and args.target in configured and args.module is None:
            target = configured[args.target]
            if args.ip_protocol:
                target = dataclasses.replace(target, ip_protocol=args.ip_protocol)
        else:
            module = args.module or report.guess_module(args.target)
            target = report.ad_hoc(module, args.target, args.ip_protocol or "auto")
    except ValueError as exc:
        say(f"{args.target}: {exc}")
        return EXIT_USAGE
    settings = report.settings_for(
        cfg,
        target.module,
        timeout=args.timeout,
        query_name=args.query_name,
        query_type=args.query_type,
        insecure=args.insecure,
    )
    icmp = target.module == "icmp"
    count = args.count or (DEFAULT_PINGS if icmp else 1)
    interval = args.interval or (cfg.icmp.spacing if icmp else 1.0)
    first = True

    def show(r: ProbeResult) -> None:
        nonlocal first
        if r.success:
            sys.stdout.write(("" if first else "\n") + report.table(r))
            sys.stdout.flush()
            first = False
        else:
            say(report.failure_line(r))

    logging.disable(logging.CRITICAL)  # the failure line says it; no log lines around it
    try:
        ok = asyncio.run(report.rounds(target, settings, count, interval, cfg.icmp.socket, show))
    except KeyboardInterrupt:
        return EXIT_FAILURE
    return EXIT_OK if ok else EXIT_FAILURE
