"""Unpivot: many attributes of one element become one key/value row each."""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass

from xmlload.contract.getters import Item
from xmlload.contract.model import UnpivotSpec
from xmlload.contract.paths import Element, attribute_reader, element_locator
from xmlload.contract.scope import Scope
from xmlload.contract.values import truth

Reader = Callable[[Element, Element], "str | None"]


@dataclass
class Unpivot:
    """Readers per attribute, and the rules that decide which values make rows."""

    readers: list[tuple[Reader, str, str]]  # (read, key, attribute name)
    skip: frozenset[str]
    keep: Callable[[dict[str, str]], object] | None
    html_unescape: bool = False  # values are html-unescaped once more (defaults.html_unescape)

    def items(self, element: Element, root: Element) -> list[Item]:
        found: list[Item] = []
        for read, key, attribute in self.readers:
            value = read(element, root)
            if value is None:
                continue
            if self.html_unescape and "&" in value:
                value = html.unescape(value)
            trimmed = value.strip()
            if not trimmed or trimmed.casefold() in self.skip:
                continue
            if self.keep is not None and not truth(self.keep({"key": key, "value": value})):
                continue
            found.append((key, value, attribute))
        return found


def _reader(text: str, scope: Scope) -> tuple[Reader, str]:
    """An attribute name, or a relative path to one (`child/@name`)."""
    path = scope.path(text if ("/" in text or text.startswith("@")) else f"@{text}")
    if path.attribute is None:
        raise ValueError(f"unpivot reads attributes; {text!r} names an element")
    read = attribute_reader(path.attribute, scope.ignore_attribute_case, scope.memo)
    if not path.steps:
        return (lambda element, root: read(element)), path.attribute
    locate = element_locator(path, scope.last_match)

    def read_below(element: Element, root: Element) -> str | None:
        found = locate(element, root)
        return None if found is None else read(found)

    return read_below, path.attribute


def build_unpivot(spec: UnpivotSpec | None, scope: Scope) -> Unpivot:
    assert spec is not None
    readers = []
    for text, key in spec.attributes.items():
        read, attribute = _reader(text, scope)
        readers.append((read, key, attribute))
    keep = None
    if spec.where:
        expression = scope.expression(spec.where)
        unknown = expression.names - {"key", "value"}
        if unknown:
            raise ValueError(f"unpivot.where may read only key and value, not {sorted(unknown)}")
        keep = expression.evaluate
    skip = frozenset(value.strip().casefold() for value in spec.skip_values)
    unescape = scope.html_unescape if spec.html_unescape is None else spec.html_unescape
    return Unpivot(readers, skip, keep, unescape)
