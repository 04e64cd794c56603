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


class YamlSyntaxError(Exception):
    """The text is not YAML; ``line`` says where the parser gave up."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


class _Constructor(yaml.constructor.SafeConstructor):
    pass


def parse(text: str) -> Node | None:
    """Parse one YAML document; ``None`` for an empty document."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        raise YamlSyntaxError(line, f"invalid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(0, f"invalid YAML: {exc}") from None
    if root is None:
        return None
    return _convert(root, _Constructor())


def _convert(node: yaml.Node, ctor: _Constructor) -> Node:
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
                raise YamlSyntaxError(
                    key_line, f"duplicate key {key_text!r} (first on line {seen[key_text]})"
                )
            seen[key_text] = key_line
            items.append((key_text, key_line, _convert(value_node, ctor)))
        return Node("map", line, items=tuple(items), tag=node.tag)
    if isinstance(node, yaml.SequenceNode):
        return Node(
            "seq", line, children=tuple(_convert(c, ctor) for c in node.value), tag=node.tag
        )
    try:
        value = ctor.construct_object(node, deep=True)
    except yaml.constructor.ConstructorError as exc:
        raise YamlSyntaxError(line, f"invalid YAML value: {exc.problem}") from None
    return Node("scalar", line, value=value, tag=node.tag)
