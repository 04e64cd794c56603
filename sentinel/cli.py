"""The ``sentinel`` command: run the daemon, check config files."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sentinel import __version__, logsetup
from sentinel.config import default_config, load_config
from sentinel.config.schema import DEFAULT_PORT, HostPort, parse_host_port
from sentinel.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Sequence

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2  # also: invalid config

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
"""


def _listen(text: str) -> HostPort:
    try:
        return parse_host_port(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


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
        description="Validate config files and the web config files they name. Prints every "
        "error as FILE:LINE: key.path: message; exit 0 when all are valid, 2 otherwise.",
    )
    check.add_argument("files", type=Path, nargs="+", metavar="FILE")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "check-config":
        return check_config(args.files)
    return run(args.config, args.listen)


def check_config(files: Sequence[Path]) -> int:
    status = EXIT_OK
    for path in files:
        try:
            load_config(path)
        except ConfigError as exc:
            for issue in exc.issues:
                print(issue, file=sys.stderr)
            status = EXIT_USAGE
        else:
            print(f"{path}: valid")
    return status


def run(config_path: Path | None, listen: HostPort | None) -> int:
    try:
        cfg = load_config(config_path) if config_path else default_config()
    except ConfigError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        return EXIT_USAGE
    logsetup.setup(cfg.log.level, cfg.log.format)
    from sentinel.daemon import Daemon

    daemon = Daemon(cfg, config_path=config_path, listen=listen)
    try:
        return asyncio.run(daemon.run())
    except KeyboardInterrupt:  # a second Ctrl-C during shutdown
        return EXIT_FAILURE
