"""Turn a located YAML tree into frozen dataclasses, collecting every problem at once.

The schema is the dataclasses themselves: field types drive the conversion, defaults are
the field defaults, and ``Annotated[T, check]`` attaches a check that returns the converted
value or raises ``ValueError`` with the message the user sees. A dataclass may define
``validate(self) -> list[tuple[str, str]]`` for checks across fields (key, message).
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import re
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin, get_type_hints

from sentinel.config.secret import Secret, SecretSource
from sentinel.config.yamlsrc import Node
from sentinel.errors import ConfigIssue

INVALID: Any = object()  # marks a value that failed; the caller keeps going


class Context:
    """Where errors go while one file is converted."""

    def __init__(
        self,
        file: str,
        environ: Mapping[str, str],
        base_dir: Path,
        credentials_dir: Path | None = None,
    ) -> None:
        self.file = file
        self.environ = environ
        self.base_dir = base_dir
        self.credentials_dir = credentials_dir  # None: $CREDENTIALS_DIRECTORY, else the unit's
        self.issues: list[ConfigIssue] = []

    def error(self, line: int, path: str, message: str) -> Any:
        self.issues.append(ConfigIssue(self.file, line, path, message))
        return INVALID


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


_DURATION = re.compile(r"(?P<num>\d+(?:\.\d+)?)(?P<unit>ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """``90s``, ``5m``, ``1h30m``, ``250ms`` to seconds."""
    pos, total = 0, 0.0
    text = text.strip()
    while pos < len(text):
        m = _DURATION.match(text, pos)
        if m is None:
            raise ValueError(f"invalid duration {text!r} (examples: 500ms, 30s, 5m, 1h)")
        total += float(m["num"]) * _UNITS[m["unit"]]
        pos = m.end()
    if not text:
        raise ValueError("empty duration")
    return total


@dataclasses.dataclass(frozen=True, slots=True)
class Duration:
    """Annotated marker: a duration in seconds, from ``30s``/``5m``/``1h30m``; never bare."""

    min: float = 0.0
    max: float | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Check:
    """Annotated marker: a function from the converted value to the final value."""

    fn: Callable[[Any], Any]
    source: Any = None  # the type read from YAML when it differs from the annotated one


def _regex(text: str) -> re.Pattern[str]:
    try:
        return re.compile(text)
    except re.error as exc:
        raise ValueError(f"invalid regular expression: {exc}") from None


def _network(text: str) -> str:
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        raise ValueError(f"{text!r} is not an address or network such as 10.20.0.0/16") from None


def _positive(value: float) -> float:
    if value <= 0:
        raise ValueError(f"must be greater than 0, not {value:g}")
    return value


def _port(value: int) -> int:
    if not 0 < value < 65536:
        raise ValueError(f"port {value} is out of range 1-65535")
    return value


def _address(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise ValueError(f"{text!r} is not an IP address") from None


_HOSTNAME = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?")


def check_host(host: str) -> str:
    """An IP address or a DNS name; ``ValueError`` for an impossible one (``10.20.0.300``)."""
    if ":" in host or re.fullmatch(r"[\d.]+", host):
        try:
            return str(ipaddress.ip_address(host))
        except ValueError:
            raise ValueError(f"{host!r} is not an IP address") from None
    if len(host) > 253 or not _HOSTNAME.fullmatch(host):
        raise ValueError(f"{host!r} is not an IP address or host name")
    return host


# Value types the config sections share.
Pattern = Annotated[re.Pattern[str], Check(_regex, source=str)]
Network = Annotated[str, Check(_network)]  # an address or a network, normalised
Ip = Annotated[str, Check(_address)]  # one address, normalised
Count = Annotated[int, Check(_positive)]  # thresholds, sizes: zero or less is impossible
Rate = Annotated[float, Check(_positive)]
Port = Annotated[int, Check(_port)]


def convert(tp: Any, node: Node, path: str, ctx: Context) -> Any:
    """Convert ``node`` to type ``tp``; on failure record an issue and return INVALID."""
    origin = get_origin(tp)
    if origin is typing.Annotated:
        base, *marks = get_args(tp)
        if any(isinstance(m, Duration) for m in marks):
            value = _duration(node, path, ctx, next(m for m in marks if isinstance(m, Duration)))
        else:
            source = next((m.source for m in marks if isinstance(m, Check) and m.source), base)
            value = convert(source, node, path, ctx)
        for mark in marks:
            if value is INVALID:
                break
            if isinstance(mark, Check):
                try:
                    value = mark.fn(value)
                except ValueError as exc:
                    return ctx.error(node.line, path, str(exc))
        return value
    if origin in (typing.Union, types.UnionType):
        options = [a for a in get_args(tp) if a is not type(None)]
        if node.kind == "scalar" and node.value is None:
            if len(options) < len(get_args(tp)):
                return None
            return ctx.error(node.line, path, "must not be empty")
        if len(options) == 1:
            return convert(options[0], node, path, ctx)
        raise TypeError(f"unsupported union {tp}")
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return convert_dataclass(tp, node, path, ctx)
    if origin is Literal:
        allowed = get_args(tp)
        value = node.value if node.kind == "scalar" else INVALID
        if value in allowed and type(value) is type(allowed[0]):
            return value
        choices = ", ".join(str(a) for a in allowed)
        return ctx.error(node.line, path, f"must be one of: {choices}")
    if origin in (tuple, list):
        args = get_args(tp)
        if node.kind == "scalar" and node.value is None:
            return ()
        if node.kind != "seq":
            return ctx.error(node.line, path, "must be a list")
        items = [convert(args[0], c, f"{path}[{i}]", ctx) for i, c in enumerate(node.children)]
        return INVALID if any(i is INVALID for i in items) else tuple(items)
    if origin in (dict, Mapping, typing.Mapping, types.MappingProxyType):
        _, value_tp = get_args(tp)
        if node.kind == "scalar" and node.value is None:
            return {}
        if node.kind != "map":
            return ctx.error(node.line, path, "must be a mapping")
        out = {k: convert(value_tp, v, join(path, k), ctx) for k, _, v in node.items}
        return INVALID if any(v is INVALID for v in out.values()) else types.MappingProxyType(out)
    if tp is Secret:
        return _secret(node, path, ctx)
    if tp is Path:
        value = _scalar(str, node, path, ctx, "a path")
        if value is INVALID:
            return value
        p = Path(value)
        return p if p.is_absolute() else ctx.base_dir / p
    if tp in (str, int, float, bool):
        return _scalar(tp, node, path, ctx, _NAMES[tp])
    if tp is object:  # any scalar; an Annotated Check decides
        if node.kind != "scalar" or node.value is None:
            return ctx.error(node.line, path, "must be a single value")
        return node.value
    raise TypeError(f"unsupported config type {tp!r} at {path}")


_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}


def _scalar(tp: type, node: Node, path: str, ctx: Context, what: str) -> Any:
    if node.kind != "scalar" or node.value is None:
        return ctx.error(node.line, path, f"must be {what}")
    value = node.value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is str and isinstance(value, int | float) and not isinstance(value, bool):
        return ctx.error(node.line, path, f'must be {what} (quote it: "{value}")')
    if type(value) is not tp:
        return ctx.error(node.line, path, f"must be {what}")
    return value


def _duration(node: Node, path: str, ctx: Context, spec: Duration) -> Any:
    value = node.value if node.kind == "scalar" else None
    if isinstance(value, bool) or value is None:
        return ctx.error(node.line, path, "must be a duration such as 30s, 5m or 1h")
    # One rule everywhere: a duration carries its unit. A bare number is refused rather
    # than guessed (is `max_age: 7` seven seconds or seven days?).
    bare = value if isinstance(value, int | float) else None
    if bare is None and re.fullmatch(r"\s*\d+(?:\.\d+)?\s*", str(value)):
        bare = float(str(value))
    if bare is not None:
        return ctx.error(
            node.line, path, f"{bare:g} has no unit: write {bare:g}s, {bare:g}m or {bare:g}h"
        )
    try:
        seconds = parse_duration(str(value))
    except ValueError as exc:
        return ctx.error(node.line, path, str(exc))
    if seconds < spec.min or (spec.max is not None and seconds > spec.max):
        upper = f" and at most {spec.max:g}s" if spec.max is not None else ""
        return ctx.error(node.line, path, f"must be at least {spec.min:g}s{upper}")
    return seconds


def _secret(node: Node, path: str, ctx: Context) -> Any:
    if node.kind == "scalar" and isinstance(node.value, str) and node.value:
        return Secret(node.value, SecretSource("inline", ""))
    if node.kind != "map" or len(node.items) != 1:
        return ctx.error(
            node.line,
            path,
            "must be a string or one of {file: PATH}, {env: NAME}, {credential: NAME}",
        )
    kind, line, value_node = node.items[0]
    where = join(path, kind)
    if kind not in ("file", "env", "credential"):
        return ctx.error(line, where, "unknown secret source (use file, env or credential)")
    ref = _scalar(str, value_node, where, ctx, "a string")
    if ref is INVALID:
        return ref
    try:
        return Secret.load(SecretSource(kind, ref), ctx.environ, ctx.base_dir, ctx.credentials_dir)
    except ValueError as exc:
        return ctx.error(line, where, str(exc))


def convert_dataclass(cls: type, node: Node, path: str, ctx: Context) -> Any:
    """Build ``cls`` from a mapping node: unknown keys, missing keys and field errors reported."""
    if node.kind == "scalar" and node.value is None:
        node = Node("map", node.line)
    if node.kind != "map":
        return ctx.error(node.line, path, "must be a mapping")
    hints = get_type_hints(cls, include_extras=True)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    given = {key: (line, value) for key, line, value in node.items}
    values: dict[str, Any] = {}
    failed = False
    for key, line, _ in node.items:
        if key not in fields:
            close = difflib.get_close_matches(key, fields, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            ctx.error(line, join(path, key), f"unknown key{hint}")
            failed = True
    for name, f in fields.items():
        if name in given:
            value = convert(hints[name], given[name][1], join(path, name), ctx)
            if value is INVALID:
                failed = True
            else:
                values[name] = value
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            ctx.error(node.key_line or node.line, join(path, name), "required key is missing")
            failed = True
    if failed:
        return INVALID
    obj = cls(**values)
    check = getattr(obj, "validate", None)
    if check is not None:
        # Problems found here are recorded, but the value is well-formed, so the checks of
        # the sections around it still run: the user sees every problem at once.
        for key, message in check():
            ctx.error(_locate(node, key), join(path, key) if key else path, message)
    return obj


_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _locate(node: Node, relpath: str) -> int:
    """The line of ``relpath`` (``switches[1].auth``) below ``node``; the nearest one found."""
    line = node.line
    for m in _STEP.finditer(relpath):
        key, index = m.group(1), m.group(2)
        found = None
        if key is not None and node.kind == "map":
            found = next(((kl, v) for k, kl, v in node.items if k == key), None)
        elif index is not None and node.kind == "seq" and int(index) < len(node.children):
            child = node.children[int(index)]
            found = (child.line, child)
        if found is None:
            break
        line, node = found
    return line
