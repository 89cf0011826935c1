"""How deeply a contract file nests: refused before a parser recurses into it."""

from __future__ import annotations

MAX_DEPTH = 64  # a real contract nests a handful of levels


def deepest_line(text: str, limit: int) -> int | None:
    """The line where `[`/`{` nesting (outside quoted strings) first passes `limit`, or
    None. Quotes are JSON's and YAML flow style's; good enough to refuse a hostile file
    before a recursive parser meets it, never to refuse a real contract."""
    depth, line, quote, escaped = 0, 1, "", False
    for char in text:
        if char == "\n":
            line += 1
        if quote:
            if escaped:
                escaped = False
            elif char == "\\" and quote == '"':
                escaped = True
            elif char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char in "[{":
            depth += 1
            if depth > limit:
                return line
        elif char in "]}":
            depth -= 1
    return None
