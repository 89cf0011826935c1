"""Write an imported contract as YAML people read: one line per column with its comment,
fragments as anchors, long expressions as folded blocks.

Text from the JSON never shapes the YAML: scalars are plain only when they read back as
themselves, otherwise JSON-quoted (which YAML reads as a double-quoted scalar); comments
escape every character that is not printable, so no line break reaches the output."""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from xmlload.contract.importing.fields import Alias, Column
from xmlload.contract.importing.tables import Table

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PLAIN_TEXT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./()-]*$")
INDENT = "  "


def comment(text: str) -> str:
    """`# text` on one line: line breaks and other control characters escaped."""
    shown = "".join(
        char if char.isprintable() else char.encode("unicode_escape").decode("ascii")
        for char in text
    )
    return f"# {shown}"


def scalar(value: Any) -> str:
    if isinstance(value, Alias):
        return f"*{value}"
    if value is None:
        return "null"
    if isinstance(value, str):
        if _PLAIN_TEXT.match(value) and yaml.safe_load(value) == value:
            return value
        return json.dumps(value, ensure_ascii=not value.isprintable())
    return json.dumps(value)


def key(name: str) -> str:
    if name == "<<" or (_PLAIN_KEY.match(name) and yaml.safe_load(name) == name):
        return name
    return json.dumps(name, ensure_ascii=not name.isprintable())


def flow(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key(k)}: {flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(flow(item) for item in value) + "]"
    return scalar(value)


def block(value: dict[str, Any], depth: int) -> list[str]:
    """A mapping in block style; `#` entries become comments above the mapping."""
    pad = INDENT * depth
    lines = []
    for name, item in value.items():
        if name == "#":
            continue
        if isinstance(item, list) and item and all(isinstance(x, dict) for x in item):
            lines.append(f"{pad}{key(name)}:")
            for entry in item:
                lines += [f"{pad}{INDENT}{comment(note)}" for note in entry.get("#", [])]
                inner = block(entry, depth + 2)
                lines.append(f"{pad}{INDENT}- {inner[0].strip()}")
                lines += inner[1:]
        elif isinstance(item, dict) and len(flow(item)) + len(pad) > 100:
            lines.append(f"{pad}{key(name)}:")
            lines += block(item, depth + 1)
        elif isinstance(item, str) and len(item) > 90 and item.isprintable():
            lines.append(f"{pad}{key(name)}: >-")
            lines += [f"{pad}{INDENT}{line}" for line in _wrap(item)]
        else:
            lines.append(f"{pad}{key(name)}: {flow(item)}")
    return lines


def _wrap(text: str, width: int = 88) -> list[str]:
    """Split at WHEN/ELSE for CASE expressions, else at spaces, keeping folded semantics."""
    words, lines, line = text.split(" "), [], ""
    for word in words:
        if line and (len(line) + 1 + len(word) > width or word.upper() in ("WHEN", "ELSE")):
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return [*lines, line] if line else lines


def column_lines(column: Column, depth: int) -> list[str]:
    pad = INDENT * depth
    lines = [f"{pad}{comment(column.comment)}"]
    lines += [f"{pad}{comment('differs from the reference: ' + note)}" for note in column.notes]
    spec = dict(column.spec)
    long = {k: v for k, v in spec.items() if isinstance(v, str) and len(v) > 90 and v.isprintable()}
    if not long and len(flow(spec)) + len(pad) + len(column.name) < 140:
        return [*lines, f"{pad}{key(column.name)}: {flow(spec)}"]
    return [*lines, f"{pad}{key(column.name)}:", *block(spec, depth + 1)]


def table_lines(table: Table) -> list[str]:
    lines = [f"  {key(table.name)}:"]
    lines += [f"    {comment(text)}" for text in table.comments]
    lines += block(table.header, 2)
    lines.append("    columns:")
    for column in table.columns:
        lines += column_lines(column, 3)
    return lines


def anchored(fragments: dict[str, dict[str, Any]]) -> list[str]:
    if not fragments:
        return []
    lines = ["fragments:"]
    for name, value in fragments.items():
        lines.append(f"  {name}: &{name} {flow(value)}")
    return lines


def value_map_lines(maps: dict[str, dict[str, Any]], comments: dict[str, str]) -> list[str]:
    lines = ["value_maps:"]
    for name, spec in maps.items():
        if name in comments:
            lines.append(f"  {comment(comments[name])}")
        lines.append(f"  {key(name)}: {flow(spec)}")
    return lines if maps else []
