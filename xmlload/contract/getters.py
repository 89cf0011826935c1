"""Where each column's raw value comes from, for one row source.

A `SourceReader` is built per row source (and per template value): it parses every path
once, shares element lookups among the columns that read the same element (one `find`
per element per row), and returns getters `(elements, item) -> raw value`.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from xmlload.contract import xc_dialect
from xmlload.contract.expressions import Expression
from xmlload.contract.model import (
    VALUE_TAKES,
    ColumnSpec,
    FallbackSpec,
    InputSpec,
    ItemInput,
    PickSpec,
)
from xmlload.contract.paths import (
    Element,
    Locator,
    XmlPath,
    element_locator,
    other_spelling_reader,
)
from xmlload.contract.scope import Scope
from xmlload.contract.selection import build_pick_steps, build_value_picker
from xmlload.errors import ExpressionError

Location = tuple[str | int, ...]
# A locator finds one element per row: from the row element, or (with an anchor index)
# from the element an earlier locator found, so picks share their selection.
SourceLocator = tuple[Locator, "int | None"]
Item = tuple[str, Any, str]  # an unpivot row: (key, value, attribute name)
Getter = Callable[[list["Element | None"], "Item | None"], Any]
ITEM_POSITION = {"key": 0, "value": 1, "attribute": 2}


@dataclass
class Problems:
    """Contract problems (and warnings) with their place, collected while compiling."""

    items: list[tuple[Location, str]] = field(default_factory=list)
    warnings: list[tuple[Location, str]] = field(default_factory=list)

    def add(self, where: Location, message: str) -> None:
        self.items.append((where, message))

    def warn(self, where: Location, message: str) -> None:
        self.warnings.append((where, message))


def _nothing(elements: list[Element | None], item: Item | None) -> Any:
    return None


class SourceReader:
    """Builds the getters of one row source; `locators` run once per row."""

    def __init__(self, scope: Scope, problems: Problems, has_items: bool) -> None:
        self.scope, self.problems, self.has_items = scope, problems, has_items
        self.locators: list[SourceLocator] = []
        self._index: dict[str, int] = {}

    def _locate(self, key: str, make: Callable[[], Locator], anchor: int | None = None) -> int:
        if key not in self._index:
            self._index[key] = len(self.locators)
            self.locators.append((make(), anchor))
        return self._index[key]

    def column(self, spec: ColumnSpec, where: Location, constant: Any = None) -> Getter:
        """The getter for a column; `constant` is a row source's `set` value for it."""
        getter = self._main(spec, where, constant)
        if spec.fallback is None:
            return getter
        return self._with_fallback(getter, spec.fallback, (*where, "fallback"))

    def _with_fallback(self, getter: Getter, spec: FallbackSpec, where: Location) -> Getter:
        scope = self.scope
        if spec.pick is not None:
            second = self.pick(spec.pick, (*where, "pick"), scope)
        else:
            assert spec.path is not None
            second = self.value(spec.path, (*where, "path"), scope)
        lookup = scope.maps.get(spec.map) if spec.map else None
        if spec.map and lookup is None:
            self.problems.add((*where, "map"), f"unknown value map {spec.map!r}")

        def first_or_fallback(elements: list[Element | None], item: Item | None) -> Any:
            value = getter(elements, item)
            if value is not None and not (isinstance(value, str) and not value.strip()):
                return value
            value = second(elements, item)
            if lookup is None or value is None or not str(value).strip():
                return value
            return lookup(value)

        return first_or_fallback

    def _main(self, spec: ColumnSpec, where: Location, constant: Any) -> Getter:
        scope = self.scope
        if spec.ignore_attribute_case is not None:
            scope = replace(scope, ignore_attribute_case=spec.ignore_attribute_case)
        if spec.html_unescape is not None:
            scope = replace(scope, html_unescape=spec.html_unescape)
        if "const" in spec.model_fields_set:
            value = spec.const if constant is None else constant
            return lambda elements, item: value
        if spec.item is not None:
            return self.item(spec.item, (*where, "item"))
        if spec.path is not None:
            return self.value(spec.path, (*where, "path"), scope)
        if spec.paths is not None:
            getters = [self.value(p, (*where, "paths", i), scope) for i, p in enumerate(spec.paths)]
            return _first_present(getters)
        if spec.pick is not None:
            return self.pick(spec.pick, (*where, "pick"), scope)
        assert spec.expr is not None
        if spec.dialect == "xmlconversion":
            return self.reference_expression(spec.expr, spec.inputs, where, scope)
        return self.expression(spec.expr, spec.inputs, where, scope)

    def item(self, part: str, where: Location) -> Getter:
        if not self.has_items:
            self.problems.add(where, "item applies only to tables with rows.unpivot")
            return _nothing
        position = ITEM_POSITION[part]
        return lambda elements, item: None if item is None else item[position]

    def value(self, text: str, where: Location, scope: Scope | None = None) -> Getter:
        scope = scope or self.scope
        try:
            path = scope.path(text)
        except ValueError as error:
            self.problems.add(where, str(error))
            return _nothing
        index = self._locate(path.element_key, lambda: _shared_locator(path, scope))
        return _read_at(index, path, scope)

    def pick(self, pick: PickSpec, where: Location, scope: Scope) -> Getter:
        """Columns picking from the same elements share the selection: one locator for the
        steps, one per value element below it."""
        if pick.ignore_attribute_case is not None:
            scope = replace(scope, ignore_attribute_case=pick.ignore_attribute_case)
        try:
            value_path = scope.path(pick.value)
            steps_key = "pick:" + pick.model_copy(update={"value": ""}).model_dump_json()
            if pick.steps[-1].take in VALUE_TAKES:
                key = f"{steps_key}{value_path}"
                picker = scope.shared(key, build_value_picker(pick, value_path, scope))
                index = self._locate(key, lambda: picker)
                return _read_at(index, XmlPath(False, (), value_path.attribute), scope)
            picked = scope.shared(steps_key, build_pick_steps(pick, scope))
        except (ValueError, ExpressionError) as error:
            self.problems.add(where, str(error))
            return _nothing
        index = self._locate(steps_key, lambda: picked)
        if value_path.steps:
            below = XmlPath(False, value_path.steps, None)
            key = f"{steps_key}/{below.element_key}"
            index = self._locate(
                key, lambda: element_locator(below, scope.last_match), anchor=index
            )
        return _read_at(index, value_path, scope)

    def expression(
        self, source: str, inputs: dict[str, InputSpec], where: Location, scope: Scope
    ) -> Getter:
        try:
            expression = scope.expression(source)
        except ExpressionError as error:
            self.problems.add((*where, "expr"), f"expression does not parse: {error}")
            return _nothing
        bound = self.bind(expression, inputs, where, scope)
        return _evaluate(expression, bound)

    def reference_expression(
        self, source: str, inputs: dict[str, InputSpec], where: Location, scope: Scope
    ) -> Getter:
        """An `xmlconversion`-dialect expression: its names are exactly its inputs."""
        try:
            xc_dialect.check(source)
        except ExpressionError as error:
            self.problems.add((*where, "expr"), f"expression does not parse: {error}")
            return _nothing
        bound = [
            (name, self.input(spec, (*where, "inputs", name), scope))
            for name, spec in inputs.items()
        ]
        expression = xc_dialect.compiled(source, tuple(inputs))

        def evaluate(elements: list[Element | None], item: Item | None) -> Any:
            context = {}
            for name, get in bound:
                value = get(elements, item)
                if value is not None:
                    context[name] = value
            return expression(context)

        return evaluate

    def input(self, spec: InputSpec, place: Location, scope: Scope) -> Getter:
        if isinstance(spec, ItemInput):
            return self.item(spec.item, place)
        if isinstance(spec, PickSpec):
            return self.pick(spec, place, scope)
        return self.value(spec, place, scope)

    def bind(
        self, expression: Expression, inputs: dict[str, InputSpec], where: Location, scope: Scope
    ) -> list[tuple[str, Getter]]:
        """A getter per name the expression reads: its input, or the attribute of that name."""
        bound: list[tuple[str, Getter]] = []
        for name in sorted(expression.names):
            spec = inputs.get(name, f"@{name}")
            bound.append((name, self.input(spec, (*where, "inputs", name), scope)))
        for name in sorted(set(inputs) - expression.names):
            self.problems.warn((*where, "inputs", name), "input is not used by the expression")
        return bound


def _shared_locator(path: XmlPath, scope: Scope) -> Locator:
    """The element a value path names, looked up once per document and row element however
    many row sources read it (an imported contract's tables read `app_product` below the
    application six times a document)."""
    locate = element_locator(path, scope.last_match)
    if not path.steps:
        return locate  # the row element itself: nothing to look up
    found = scope.shared(f"element:{path.element_key}:{scope.last_match}", locate)
    if path.absolute:
        return lambda element, root: found(root, root)  # the same whatever the row
    return found


def _read_at(index: int, path: XmlPath, scope: Scope) -> Getter:
    """The text or attribute of the row's element at `index`: one function per value read,
    the commonest call of a mapping (an exact attribute name first, then, with
    `ignore_attribute_case`, another spelling; html-unescaped once more if asked)."""
    name = path.attribute
    other_spelling = None
    if name is not None and scope.ignore_attribute_case:
        other_spelling = other_spelling_reader(name, scope.memo)
    unescape = scope.html_unescape

    def value(elements: list[Element | None], item: Item | None) -> Any:
        element = elements[index]
        if element is None:
            return None
        found = element.text if name is None else element.get(name)
        if found is None:
            if other_spelling is None:
                return None
            found = other_spelling(element)
            if found is None:
                return None
        return html.unescape(found) if unescape and "&" in found else found

    return value


def _first_present(getters: list[Getter]) -> Getter:
    def first(elements: list[Element | None], item: Item | None) -> Any:
        for getter in getters:
            value = getter(elements, item)
            if value is not None and value.strip() != "":
                return value
        return None

    return first


def _evaluate(expression: Expression, bound: list[tuple[str, Getter]]) -> Getter:
    def evaluate(elements: list[Element | None], item: Item | None) -> Any:
        env = {name: getter(elements, item) for name, getter in bound}
        return expression.evaluate(env)

    return evaluate
