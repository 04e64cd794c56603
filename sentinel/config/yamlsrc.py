"""YAML text to a tree of located nodes; the only module that imports PyYAML."""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml


@dataclass(frozen=True, slots=True)
class Node:
    """A YAML node with the line it starts on (1-based).

    ``kind`` is ``map`` (``items``: key, key line, value node), ``seq`` (``children``) or
    ``scalar`` (``value``: the plain Python value PyYAML's safe loader gives).
    """

    kind: str
    line: int
    value: object = None
    items: tuple[tuple[str, int, Node], ...] = ()
    children: tuple[Node, ...] = ()
    tag: str = field(default="")
    # The line of the key this node is the value of (0 for the root and list items): a
    # block mapping starts on the line below its key, where a missing key is reported.
    key_line: int = 0


class YamlSyntaxError(Exception):
    """The text is not YAML; ``line`` says where the parser gave up."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


class _Constructor(yaml.constructor.SafeConstructor):
    pass


def parse(text: str) -> Node | None:
    """Parse one YAML document; ``None`` for an empty document. A duplicate key is an error."""
    root, duplicates = parse_located(text)
    if duplicates:
        line, path, message = duplicates[0]
        raise YamlSyntaxError(line, f"{path}: {message}")
    return root


def parse_located(text: str) -> tuple[Node | None, list[tuple[int, str, str]]]:
    """Parse one YAML document, and list its duplicate keys as (line, key path, message).

    The first occurrence of a duplicated key is kept, so the rest of the file is still
    checked and the duplicate is reported beside every other problem.
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        raise YamlSyntaxError(line, f"invalid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(0, f"invalid YAML: {exc}") from None
    except RecursionError:
        raise YamlSyntaxError(0, "invalid YAML: nested too deeply") from None
    if root is None:
        return None, []
    duplicates: list[tuple[int, str, str]] = []
    try:
        return _convert(root, _Constructor(), "", duplicates), duplicates
    except yaml.MarkedYAMLError as exc:  # a tag with no constructor, a bad merge key
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        raise YamlSyntaxError(line, f"invalid YAML: {exc.problem or exc.context}") from None
    except RecursionError:
        raise YamlSyntaxError(0, "invalid YAML: nested too deeply") from None


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _convert(
    node: yaml.Node,
    ctor: _Constructor,
    path: str,
    duplicates: list[tuple[int, str, str]],
    parent_key_line: int = 0,
) -> Node:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        ctor.flatten_mapping(node)  # resolve YAML merge keys (<<)
        items: list[tuple[str, int, Node]] = []
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = ctor.construct_object(key_node, deep=True)
            key_text = key if isinstance(key, str) else str(key)
            key_line = key_node.start_mark.line + 1
            if key_text in seen:
                duplicates.append(
                    (
                        key_line,
                        _join(path, key_text),
                        f"duplicate key (first on line {seen[key_text]})",
                    )
                )
                continue
            seen[key_text] = key_line
            value = _convert(value_node, ctor, _join(path, key_text), duplicates, key_line)
            items.append((key_text, key_line, value))
        return Node("map", line, items=tuple(items), tag=node.tag, key_line=parent_key_line)
    if isinstance(node, yaml.SequenceNode):
        children = tuple(
            _convert(c, ctor, f"{path}[{i}]", duplicates) for i, c in enumerate(node.value)
        )
        return Node("seq", line, children=children, tag=node.tag, key_line=parent_key_line)
    try:
        value = ctor.construct_object(node, deep=True)
    except yaml.constructor.ConstructorError as exc:
        raise YamlSyntaxError(line, f"invalid YAML value: {exc.problem}") from None
    return Node("scalar", line, value=value, tag=node.tag, key_line=parent_key_line)


def plain(text: str) -> object:
    """One YAML document as plain Python data (no lines kept): for files sentinel only
    rewrites, such as the region's configs that ``sentinel demo --region`` adapts."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(0, f"invalid YAML: {exc}") from None
