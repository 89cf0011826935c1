"""Column type declarations: parse `string(50)`, `decimal(12,2)`, ... into `ColumnType`."""

from __future__ import annotations

import re
from dataclasses import dataclass

INTEGER_RANGES: dict[str, tuple[int, int]] = {
    "tinyint": (0, 255),
    "smallint": (-(2**15), 2**15 - 1),
    "integer": (-(2**31), 2**31 - 1),
    "bigint": (-(2**63), 2**63 - 1),
}
SIMPLE_TYPES = {"text", "float", "boolean", "date", "datetime", *INTEGER_RANGES}
_PARAMETRIC = re.compile(r"^(string|decimal)\((\d+)(?:\s*,\s*(\d+))?\)$")


@dataclass(frozen=True)
class ColumnType:
    """A parsed SQL type: `kind` plus length (string) or precision/scale (decimal)."""

    kind: str
    length: int | None = None
    precision: int | None = None
    scale: int | None = None

    def __str__(self) -> str:
        if self.kind == "string":
            return f"string({self.length})"
        if self.kind == "decimal":
            return f"decimal({self.precision},{self.scale})"
        return self.kind


def parse_type(text: str) -> ColumnType:
    """Parse a type declaration; raise ValueError naming what is accepted."""
    spec = text.strip().lower()
    if spec in SIMPLE_TYPES:
        return ColumnType(spec)
    match = _PARAMETRIC.match(spec)
    if match:
        kind, first, second = match.group(1), int(match.group(2)), match.group(3)
        if kind == "string" and second is None and 0 < first <= 8000:
            return ColumnType("string", length=first)
        if kind == "decimal" and second is not None and 0 < first <= 38 and int(second) <= first:
            return ColumnType("decimal", precision=first, scale=int(second))
    accepted = "string(N), text, " + ", ".join(sorted(SIMPLE_TYPES - {"text"}))
    raise ValueError(f"unknown type {text!r}; accepted: {accepted}, decimal(P,S)")
