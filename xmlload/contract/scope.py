"""What every path and expression of one contract is compiled against."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from xmlload.contract.document_text import DocumentText
from xmlload.contract.expressions import Expression, compile_expression
from xmlload.contract.functions import FunctionTable, function_table
from xmlload.contract.paths import XmlPath, parse_path

Result = TypeVar("Result")


@dataclass(frozen=True)
class Scope:
    formats: list[str]
    namespaces: Mapping[str, str] = field(default_factory=dict)
    maps: Mapping[str, Callable[[Any], Any]] = field(default_factory=dict)
    functions: FunctionTable = field(default_factory=function_table)
    ignore_attribute_case: bool = False
    html_unescape: bool = False  # values read from the XML are html-unescaped once more
    last_match: bool = False  # a path naming several elements reads the last one
    # Per-document results of selections, shared by every table that makes the same one;
    # the mapper clears it before and after each document.
    memo: dict[tuple[str, Any], Any] = field(default_factory=dict, compare=False)
    # The text of the document being mapped, when searches may use it (the mapper sets it).
    text: DocumentText = field(default_factory=DocumentText, compare=False)

    def shared(
        self, key: str, function: Callable[[Any, Any], Result]
    ) -> Callable[[Any, Any], Result]:
        """`function(element, root)`, computed once per element and document."""
        memo = self.memo

        def once(element: Any, root: Any) -> Result:
            slot = (key, element)
            if slot in memo:
                return memo[slot]  # type: ignore[no-any-return]
            found = memo[slot] = function(element, root)
            return found

        return once

    def path(self, text: str, allow_attribute: bool = True) -> XmlPath:
        return parse_path(text, allow_attribute, self.namespaces)

    def expression(self, source: str) -> Expression:
        return compile_expression(source, self.formats, self.maps, self.functions)
