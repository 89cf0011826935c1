"""What every path and expression of one contract is compiled against."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from xmlload.contract.expressions import Expression, compile_expression
from xmlload.contract.paths import XmlPath, parse_path


@dataclass(frozen=True)
class Scope:
    formats: list[str]
    namespaces: Mapping[str, str] = field(default_factory=dict)
    maps: Mapping[str, Callable[[Any], Any]] = field(default_factory=dict)
    ignore_attribute_case: bool = False

    def path(self, text: str, allow_attribute: bool = True) -> XmlPath:
        return parse_path(text, allow_attribute, self.namespaces)

    def expression(self, source: str) -> Expression:
        return compile_expression(source, self.formats, self.maps)
