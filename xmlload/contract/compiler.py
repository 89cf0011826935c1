"""Compile a validated contract into a plan the mapper runs per document.

Everything that can be decided once is decided here: paths parsed into locators, columns
grouped by the element they read (one lookup per element per row), expressions parsed to
closures, value maps turned into dicts, defaults converted, insert order derived from the
parent links. Problems are collected with their place in the contract.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from xmlload.contract.expressions import Expression, compile_expression
from xmlload.contract.model import ColumnSpec, Contract, RowsSpec, TableSpec
from xmlload.contract.paths import Element, Locator, XmlPath, element_locator, parse_path
from xmlload.contract.selection import build_picker, build_selector
from xmlload.contract.transforms import (
    ColumnRules,
    Converter,
    Notes,
    build_converter,
    column_type,
    convert_default,
)
from xmlload.contract.types import ColumnType, parse_type
from xmlload.errors import ExpressionError

Location = tuple[str | int, ...]
Getter = Callable[[list["Element | None"], Any], Any]


@dataclass
class CompiledColumn:
    name: str
    kind: ColumnType
    source: str  # human description of where the value comes from, for messages
    get: Getter
    convert: Converter
    default: Any
    required: bool
    nullable: bool
    reads_document: bool


@dataclass
class CompiledTable:
    name: str
    parent: str | None
    key_columns: list[str]  # document id, then the row's sequence column if any
    parent_columns: list[str]  # the parent's key columns carried as a foreign key
    sequence_column: str | None
    select: Callable[[Element, Element], list[Element]] | None
    unpivot: list[tuple[str, str]]
    locators: list[Locator]
    columns: list[CompiledColumn]

    @property
    def column_names(self) -> list[str]:
        """Every column in row order: keys and parent link first, then mapped columns."""
        keys = [*self.parent_columns]
        for name in self.key_columns:
            if name not in keys:
                keys.append(name)
        return keys + [column.name for column in self.columns]


@dataclass
class Plan:
    contract: Contract
    id_path: XmlPath
    id_kind: ColumnType
    tables: list[CompiledTable]  # insert order: parents before children
    notes: Notes


@dataclass
class _Problems:
    items: list[tuple[Location, str]] = field(default_factory=list)

    def add(self, where: Location, message: str) -> None:
        self.items.append((where, message))


class _TableCompiler:
    """Compiles one table; shares element lookups among its columns."""

    def __init__(self, contract: Contract, name: str, notes: Notes, problems: _Problems) -> None:
        self.contract, self.name, self.notes, self.problems = contract, name, notes, problems
        self.spec: TableSpec = contract.tables[name]
        self.locators: list[Locator] = []
        self.locator_index: dict[str, int] = {}
        self.formats = contract.defaults.datetime_formats

    def locate(self, key: str, make: Callable[[], Locator]) -> int:
        if key not in self.locator_index:
            self.locator_index[key] = len(self.locators)
            self.locators.append(make())
        return self.locator_index[key]

    def value_getter(self, text: str, where: Location) -> Getter | None:
        try:
            path = parse_path(text)
        except ValueError as error:
            self.problems.add(where, str(error))
            return None
        index = self.locate(path.element_key, lambda: element_locator(path))
        attribute = path.attribute
        if attribute is None:
            return lambda elements, item: None if elements[index] is None else elements[index].text
        return lambda elements, item: (
            None if elements[index] is None else elements[index].get(attribute)
        )

    def compile_column(self, column: str, spec: ColumnSpec, where: Location) -> CompiledColumn:
        get = self.column_getter(column, spec, where)
        kind = column_type(spec)
        rules = ColumnRules(f"{self.name}.{column}", kind, spec, self.contract.defaults)
        if spec.map and spec.map not in self.contract.value_maps:
            self.problems.add(
                (*where, "map"),
                f"unknown value map {spec.map!r}; defined: {sorted(self.contract.value_maps)}",
            )
        if spec.item and (self.spec.rows is None or self.spec.rows.unpivot is None):
            self.problems.add((*where, "item"), "item applies only to tables with rows.unpivot")
        if spec.required and spec.default is not None:
            self.problems.add((*where, "default"), "a required column cannot have a default")
        default = None
        try:
            default = convert_default(rules)
        except ValueError as error:
            self.problems.add((*where, "default"), f"default does not fit {kind}: {error}")
        converter = (
            build_converter(rules, self.contract.value_maps, self.notes)
            if (not spec.map or spec.map in self.contract.value_maps)
            else (lambda value: value)
        )
        return CompiledColumn(
            name=column,
            kind=kind,
            source=_describe(spec),
            get=get or (lambda e, i: None),
            convert=converter,
            default=default,
            required=spec.required,
            nullable=spec.nullable,
            reads_document="const" not in spec.model_fields_set,
        )

    def column_getter(self, column: str, spec: ColumnSpec, where: Location) -> Getter | None:
        if "const" in spec.model_fields_set:
            value = spec.const
            return lambda elements, item: value
        if spec.item is not None:
            position = 0 if spec.item == "key" else 1
            return lambda elements, item: None if item is None else item[position]
        if spec.path is not None:
            return self.value_getter(spec.path, (*where, "path"))
        if spec.paths is not None:
            getters = [self.value_getter(p, (*where, "paths", i)) for i, p in enumerate(spec.paths)]
            return _first_present([g for g in getters if g is not None])
        if spec.pick is not None:
            return self.pick_getter(spec, (*where, "pick"))
        return self.expression_getter(spec, (*where, "expr"))

    def pick_getter(self, spec: ColumnSpec, where: Location) -> Getter | None:
        assert spec.pick is not None
        pick = spec.pick
        try:
            value_path = parse_path(pick.value)
            picker = build_picker(pick, self.formats)
        except (ValueError, ExpressionError) as error:
            self.problems.add(where, str(error))
            return None
        sub = element_locator(XmlPath(False, value_path.steps, None))
        key = f"pick:{pick.path}|{pick.where}|{pick.take}|{value_path.element_key}"

        def locate() -> Locator:
            def locator(element: Element, root: Element) -> Element | None:
                chosen = picker(element, root)
                return None if chosen is None else sub(chosen, root)

            return locator

        index = self.locate(key, locate)
        attribute = value_path.attribute
        if attribute is None:
            return lambda elements, item: None if elements[index] is None else elements[index].text
        return lambda elements, item: (
            None if elements[index] is None else elements[index].get(attribute)
        )

    def expression_getter(self, spec: ColumnSpec, where: Location) -> Getter | None:
        assert spec.expr is not None
        try:
            expression = compile_expression(spec.expr, self.formats)
        except ExpressionError as error:
            self.problems.add(where, f"expression does not parse: {error}")
            return None
        bound: list[tuple[str, Getter]] = []
        for name in sorted(expression.names):
            text = spec.inputs.get(name, f"@{name}")
            getter = self.value_getter(text, (*where[:-1], "inputs", name))
            if getter is not None:
                bound.append((name, getter))
        for name in set(spec.inputs) - expression.names:
            self.problems.add((*where[:-1], "inputs", name), "input is not used by expr")
        return _evaluate(expression, bound)


def _first_present(getters: list[Getter]) -> Getter:
    def first(elements: list[Element | None], item: Any) -> Any:
        for getter in getters:
            value = getter(elements, item)
            if value is not None and value.strip() != "":
                return value
        return None

    return first


def _evaluate(expression: Expression, bound: list[tuple[str, Getter]]) -> Getter:
    def evaluate(elements: list[Element | None], item: Any) -> Any:
        env = {name: getter(elements, item) for name, getter in bound}
        return expression.evaluate(env)

    return evaluate


def _describe(spec: ColumnSpec) -> str:
    if spec.path is not None:
        return f"path {spec.path}"
    if spec.paths is not None:
        return f"paths {spec.paths}"
    if spec.pick is not None:
        return f"pick {spec.pick.path} -> {spec.pick.value}"
    if spec.expr is not None:
        return "expr"
    return "item" if spec.item else "const"


def insert_order(contract: Contract, problems: _Problems) -> list[str]:
    """Tables with parents after their parents, otherwise in contract order."""
    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str, chain: tuple[str, ...]) -> None:
        if name in order:
            return
        if name in visiting:
            problems.add(("tables", name, "parent"), f"parent links form a cycle: {chain}")
            return
        visiting.add(name)
        parent = contract.tables[name].parent
        if parent is not None:
            if parent not in contract.tables:
                problems.add(("tables", name, "parent"), f"unknown parent table {parent!r}")
            else:
                visit(parent, (*chain, parent))
        visiting.discard(name)
        order.append(name)

    for name in contract.tables:
        visit(name, (name,))
    return order


def _compile_table(
    contract: Contract,
    name: str,
    tables: dict[str, CompiledTable],
    notes: Notes,
    problems: _Problems,
) -> CompiledTable:
    spec = contract.tables[name]
    where: Location = ("tables", name)
    id_column = contract.document.id.column
    parent = tables.get(spec.parent) if spec.parent else None
    parent_columns = list(parent.key_columns) if parent else []
    sequence = None
    if spec.rows is not None:
        sequence = spec.sequence_column or f"{name}_seq"
        key_columns = [id_column, sequence]
    elif parent is not None:
        key_columns = list(parent.key_columns)
    else:
        key_columns = [id_column]
    if spec.sequence_column and spec.rows is None:
        problems.add((*where, "sequence_column"), "only tables with rows have a sequence")
    compiler = _TableCompiler(contract, name, notes, problems)
    select, unpivot = _row_source(spec.rows, compiler, (*where, "rows"))
    reserved = set(key_columns) | set(parent_columns)
    columns = []
    for column, column_spec in spec.columns.items():
        if column in reserved:
            problems.add(
                (*where, "columns", column),
                f"{column!r} is a key column the loader fills in; rename it",
            )
        columns.append(compiler.compile_column(column, column_spec, (*where, "columns", column)))
    return CompiledTable(
        name,
        spec.parent,
        key_columns,
        parent_columns,
        sequence,
        select,
        unpivot,
        compiler.locators,
        columns,
    )


def _row_source(
    rows: RowsSpec | None, compiler: _TableCompiler, where: Location
) -> tuple[Callable[[Element, Element], list[Element]] | None, list[tuple[str, str]]]:
    if rows is None:
        return None, []
    try:
        select = build_selector(rows, compiler.formats)
    except (ValueError, ExpressionError) as error:
        compiler.problems.add(where, str(error))
        select = None
    return select, list((rows.unpivot or {}).items())


def compile_contract(contract: Contract) -> tuple[Plan | None, list[tuple[Location, str]]]:
    """Compile; return the plan, or None with every problem found and where it is."""
    problems = _Problems()
    try:
        id_path = parse_path(contract.document.id.path)
    except ValueError as error:
        problems.add(("document", "id", "path"), str(error))
        id_path = XmlPath(True, ("missing",), None)
    try:
        parse_path(contract.document.element, allow_attribute=False)
    except ValueError as error:
        problems.add(("document", "element"), str(error))
    if contract.document.element.strip("/").split("/")[0] != contract.document.root:
        problems.add(
            ("document", "element"), f"must start with the root element /{contract.document.root}"
        )
    notes = Notes()
    compiled: dict[str, CompiledTable] = {}
    for name in insert_order(contract, problems):
        compiled[name] = _compile_table(contract, name, compiled, notes, problems)
    if problems.items:
        return None, problems.items
    plan = Plan(
        contract, id_path, parse_type(contract.document.id.type), list(compiled.values()), notes
    )
    return plan, []
