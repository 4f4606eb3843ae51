"""A configuration as a commented YAML file: every key with the reason it has its value.

PyYAML writes no comments, so :func:`render` lays the file out itself from :class:`Node`
trees: a mapping key with a value (``key: value  # why``), a nested block of keys, or a block
list whose items each carry their own comment. Scalars and inline lists go through
``yaml.safe_dump``, so every value reads back exactly as it was proposed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

COMMENT_COLUMN = 34  # where comments start, as in the repository's challenger.yaml


@dataclass(frozen=True)
class Node:
    """One key of the file.

    Attributes:
        key: The key.
        value: A scalar or an inline list/mapping (unused when ``children`` or ``items`` is set).
        comment: Why the key has this value (one line; empty: no comment).
        children: A nested block of keys.
        items: A block list, each item with its comment.
    """

    key: str
    value: Any = None
    comment: str = ""
    children: tuple[Node, ...] | None = None
    items: tuple[tuple[Any, str], ...] | None = None


@dataclass(frozen=True)
class Document:
    """A whole file: header comment lines and the top-level sections."""

    header: tuple[str, ...]
    sections: tuple[Node, ...]
    footer: tuple[str, ...] = field(default=())


def inline(value: Any) -> str:
    """One value as YAML on one line (flow style), quoted where YAML needs it."""
    text = yaml.safe_dump(
        value, default_flow_style=True, width=10**9, allow_unicode=True, sort_keys=False
    ).strip()
    return text.removesuffix("\n...").removesuffix("...").strip()


def _line(indent: int, text: str, comment: str) -> str:
    out = " " * indent + text
    if comment:
        out = out.ljust(COMMENT_COLUMN - 1) + " # " + comment
    return out


def _key(key: str) -> str:
    return inline(key)


def _render(node: Node, indent: int) -> list[str]:
    key = _key(node.key)
    if node.children is not None:
        if not node.children:
            return [_line(indent, f"{key}: {{}}", node.comment)]
        lines = [_line(indent, f"{key}:", node.comment)]
        for child in node.children:
            lines += _render(child, indent + 2)
        return lines
    if node.items is not None:
        if not node.items:
            return [_line(indent, f"{key}: []", node.comment)]
        lines = [_line(indent, f"{key}:", node.comment)]
        for value, comment in node.items:
            if isinstance(value, dict) and value:
                # A mapping item is a block under its comment: one key per line.
                if comment:
                    lines.append(" " * (indent + 2) + f"# {comment}")
                for i, (k, v) in enumerate(value.items()):
                    lead = "- " if i == 0 else "  "
                    lines.append(" " * (indent + 2) + f"{lead}{_key(k)}: {inline(v)}")
            else:
                lines.append(_line(indent + 2, f"- {inline(value)}", comment))
        return lines
    return [_line(indent, f"{key}: {inline(node.value)}", node.comment)]


def render(doc: Document) -> str:
    """The file's text."""
    lines = [f"# {h}" if h else "#" for h in doc.header]
    for section in doc.sections:
        lines.append("")
        lines += _render(section, 0)
    if doc.footer:
        lines.append("")
        lines += [f"# {f}" if f else "#" for f in doc.footer]
    return "\n".join(lines) + "\n"
