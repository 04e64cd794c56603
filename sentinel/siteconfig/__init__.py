"""``sentinel init-config``: a config file for the school this box sits in.

deploy/install.sh and the Debian package's postinst call it; its flags are a stable
interface (see README.md, "Installing for a school"). It looks at the box (``discover``),
chooses (``render.plan``), writes the text (``render.render``), checks the result with the
same validator as ``check-config`` and, with ``--credentials-dir``, creates the site key.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

from sentinel.config import parse_config
from sentinel.config.secret import UNIT_CREDENTIAL_PREFIX
from sentinel.errors import ConfigError
from sentinel.siteconfig.discover import Facts, discover
from sentinel.siteconfig.render import (
    SITE_KEY_CREDENTIAL,
    Options,
    Plan,
    PlanError,
    SwitchOption,
    plan,
    render,
)

__all__ = [
    "Facts",
    "Options",
    "Plan",
    "PlanError",
    "SwitchOption",
    "discover",
    "ensure_site_key",
    "plan",
    "render",
    "self_check",
    "write_config",
]


def self_check(text: str, p: Plan) -> None:
    """Validate the generated text as check-config would, with stand-in credentials.

    ``ConfigError`` here is a bug in the generator, never the user's: it writes nothing.
    """
    with tempfile.TemporaryDirectory(prefix="sentinel-init-") as creds:
        for name in p.credentials():
            Path(creds, name).write_text("stand-in-for-the-check\n")
        parse_config(text, "<generated>", environ={"CREDENTIALS_DIRECTORY": creds})


def write_config(path: Path, text: str, *, force: bool) -> bool:
    """Write ``path`` (mode 0644) atomically; an existing file stays unless ``force``."""
    if path.exists() and not force:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def ensure_site_key(credentials_dir: Path) -> Path:
    """``site-key`` in the unit's credentials directory: 32 random bytes as hex, 0600.

    The directory is created 0700; files and directory belong to the user running this
    (root when installing: systemd reads LoadCredential= as root). An existing key stays.
    """
    credentials_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(credentials_dir, 0o700)
    path = credentials_dir / SITE_KEY_CREDENTIAL.removeprefix(UNIT_CREDENTIAL_PREFIX)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32) + "\n")
    return path


def generate(facts: Facts, options: Options, generator: str) -> tuple[str, Plan]:
    """The config text and the plan behind it; ``PlanError`` when options cannot be met."""
    p = plan(facts, options)
    text = render(p, generator)
    try:
        self_check(text, p)
    except ConfigError as exc:  # pragma: no cover - a generator bug
        issues = "; ".join(str(i) for i in exc.issues)
        raise RuntimeError(f"generated config is invalid: {issues}") from None
    return text, p
