#!/usr/bin/env python3
"""Write man pages for ``sentinel`` and each of its subcommands from the argparse parser.

Usage: make-manpages.py OUTDIR

Writes OUTDIR/sentinel.1 and OUTDIR/sentinel-COMMAND.1, so the pages never drift from
``sentinel --help``: every option, its metavar, choices, default and help text come from
sentinel/cli.py.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from sentinel import __version__
from sentinel.cli import build_parser

SEE_ALSO = "systemd.exec(5), systemd-creds(1), vmagent"
# dpkg-buildpackage sets SOURCE_DATE_EPOCH (from debian/changelog): reproducible pages.
DATE = time.strftime("%Y-%m-%d", time.gmtime(int(os.environ.get("SOURCE_DATE_EPOCH", "0")) or None))
FILES = """\
.SH FILES
.TP
/etc/sentinel/sentinel.yaml
the site's config (/etc/sentinel/sentinel.example.yaml documents every option)
.TP
/etc/sentinel/credentials/
secrets, handed to the service by systemd's LoadCredential=
.TP
/var/lib/sentinel/
state: SNMP counters, the alert outbox, the site key, evidence"""


def roff(text: str) -> str:
    """Text safe for roff: backslashes and hyphens escaped, no line starting with a dot."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join(("\\&" + ln) if ln.startswith((".", "'")) else ln for ln in text.splitlines())


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # argparse has no public accessor for these
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def help_of(parser: argparse.ArgumentParser, name: str) -> str:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                if choice.dest == name:
                    return choice.help or ""
    return ""


def option_lines(parser: argparse.ArgumentParser) -> list[str]:
    out: list[str] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) or action.help == argparse.SUPPRESS:
            continue
        formatter = parser._get_formatter()
        if action.option_strings:
            invocation = formatter._format_action_invocation(action)
        else:
            invocation = formatter._metavar_formatter(action, action.dest)(1)[0]
        out += [".TP", f"\\fB{roff(invocation)}\\fR"]
        text = action.help or ""
        if action.choices and "{" not in invocation:
            text += f" One of: {', '.join(map(str, action.choices))}."
        out.append(roff(text % {"default": action.default} if "%(" in text else text))
    return out


def page(name: str, summary: str, parser: argparse.ArgumentParser, extra: list[str]) -> str:
    usage = parser.format_usage().removeprefix("usage: ").strip()
    lines = [
        f'.TH {roff(name.upper())} 1 "{DATE}" "sentinel {__version__}" "Sentinel"',
        ".SH NAME",
        f"{roff(name)} \\- {roff(summary)}",
        ".SH SYNOPSIS",
        roff(" ".join(usage.split())),
        ".SH DESCRIPTION",
        roff(" ".join((parser.description or summary).split())),
        ".SH OPTIONS",
        *option_lines(parser),
        *extra,
    ]
    if parser.epilog:
        lines += [".SH EXAMPLES", ".nf", roff(parser.epilog.removeprefix("examples:\n")), ".fi"]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    parser = build_parser()
    commands = subparsers(parser)
    listing = [".SH COMMANDS"]
    for name in commands:
        see = f". See \\fBsentinel\\-{roff(name)}\\fR(1)."
        listing += [".TP", f"\\fB{roff(name)}\\fR", roff(help_of(parser, name)) + see]
    see_also = [
        ".SH SEE ALSO",
        roff(", ".join([*(f"sentinel-{c}(1)" for c in commands), SEE_ALSO])),
    ]
    summary = "network and security monitoring daemon for school sites"
    text = page("sentinel", summary, parser, [*listing, FILES, *see_also])
    (out / "sentinel.1").write_text(text, encoding="utf-8")
    for name, sub in commands.items():
        text = page(f"sentinel-{name}", help_of(parser, name), sub, [".SH SEE ALSO", "sentinel(1)"])
        (out / f"sentinel-{name}.1").write_text(text, encoding="utf-8")
    print(f"make-manpages: {len(commands) + 1} pages in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
