"""YAML for price sheets: floats read as Decimal, the line of every key, duplicates refused.

PyYAML turns ``0.1`` into a binary float and silently keeps the last of two equal keys;
a price sheet needs neither. Loading composes the node tree once, constructs the data
from it with floats as Decimal, and walks the same nodes for key paths and their lines.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import yaml

__all__ = ["load"]


class _Loader(yaml.SafeLoader):
    """SafeLoader whose floats are Decimal, taken from the text as written."""


def _decimal(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Decimal | str:
    text = str(loader.construct_scalar(node)).replace("_", "")
    try:
        return Decimal(text)
    except InvalidOperation:
        # .inf and .nan spellings: Decimal("Infinity") is refused later as not finite
        lowered = text.lower().lstrip("+")
        if lowered in (".inf", "-.inf"):
            return Decimal("-Infinity" if lowered.startswith("-") else "Infinity")
        return text


_Loader.add_constructor("tag:yaml.org,2002:float", _decimal)


def load(text: str, source: str, error: type[Exception]) -> tuple[Any, dict[str, int]]:
    """The data of one YAML document and ``{"a.b.c": line}`` for every key in it."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        raise error(_describe(exc, source)) from None
    finally:
        loader.dispose()
    lines: dict[str, int] = {}
    if node is not None:
        _walk(node, "", lines, source, error)
    return data, lines


def _walk(node: yaml.Node, path: str, lines: dict[str, int], source: str, error: type) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            name = str(key_node.value)
            key = f"{path}.{name}" if path else name
            line = key_node.start_mark.line + 1
            if name in seen:
                raise error(f"{source}:{line}: {key}: duplicate key")
            seen.add(name)
            lines[key] = line
            _walk(value_node, key, lines, source, error)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, f"{path}[{index}]", lines, source, error)


def _describe(exc: yaml.YAMLError, source: str) -> str:
    """One line from a YAML error: file, line and problem, without the quoted snippet."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    what = f"{context}, {problem}" if context else problem
    where = f"{source}:{mark.line + 1}" if mark is not None else source
    return f"{where}: invalid YAML: {what}"
