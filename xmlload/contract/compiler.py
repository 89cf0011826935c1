"""Compile a validated contract into a plan the mapper runs per document.

Everything that can be decided once is decided here: templates expanded, paths parsed
into locators, columns grouped by the element they read (one lookup per element per
row), expressions parsed to closures, value maps turned into dicts, defaults converted,
insert order derived from the parent links. Problems are collected with their place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import ValidationError

from xmlload.contract.functions import function_table
from xmlload.contract.getters import Getter, Location, Problems, SourceLocator, SourceReader
from xmlload.contract.model import (
    XML_NAMESPACE,
    ColumnSpec,
    Contract,
    PickSpec,
    ReadSpec,
    RowsSpec,
    TableSpec,
    Template,
    check_identifier,
)
from xmlload.contract.paths import Element, XmlPath
from xmlload.contract.scope import Scope
from xmlload.contract.selection import Selector, build_selector
from xmlload.contract.templates import Bindings, bindings, fill, instantiate, unfilled
from xmlload.contract.transforms import (
    ColumnRules,
    Converter,
    InvalidKeptNull,
    Notes,
    build_converter,
    column_type,
    convert_default,
    value_map_lookup,
)
from xmlload.contract.types import ColumnType, parse_type
from xmlload.contract.unpivot import Unpivot, build_unpivot
from xmlload.errors import ExpressionError, ValueProblem


@dataclass
class CompiledColumn:
    """How one column's value is converted and checked (where it comes from is per source)."""

    name: str
    table: str
    kind: ColumnType
    source: str  # human description of where the value comes from, for messages
    convert: Converter
    default: Any
    required: bool
    nullable: bool
    counts_as_data: bool | str  # True, False or "nonzero"
    lenient: bool  # a value that does not convert is NULL and counted (`invalid: null`)
    notes: Notes
    default_on_invalid: bool = True  # that NULL then takes the column's default

    def invalid(self, problem: Exception) -> None:
        """A value (an expression's result or input included) that does not convert: NULL
        and counted when the column is lenient (InvalidKeptNull where the default must
        not replace it), else ValueProblem (the document fails)."""
        if not self.lenient:
            raise ValueProblem(str(problem))
        self.notes.add("invalid set to NULL", f"{self.table}.{self.name}")
        if not self.default_on_invalid:
            raise InvalidKeptNull


@dataclass
class CompiledSource:
    """One row source: which elements give rows, and each column's getter for them.

    `select` None means one row from the parent row's element (a one-row table)."""

    select: Selector | None
    unpivot: Unpivot | None
    condition: Getter | None
    locators: list[SourceLocator]
    pairs: list[tuple[CompiledColumn, Getter]]  # each column with its getter, in order


@dataclass
class CompiledTable:
    name: str
    parent: str | None
    key_columns: list[str]  # document id, then the row's sequence column if any
    parent_columns: list[str]  # the parent's key columns carried as a foreign key
    sequence_column: str | None
    sources: list[CompiledSource]
    columns: list[CompiledColumn]
    keep_empty: bool
    # columns the loader appends after the mapped ones: with history: keep, `version`,
    # `valid_from`, `valid_to`; a table that replaces under a parent that keeps, `version`
    history_columns: tuple[str, ...] = ()
    unique_by: tuple[int, ...] = ()  # positions of mapped columns whose values repeat no row
    checked: list[tuple[int, CompiledColumn]] = field(default_factory=list)

    def __post_init__(self) -> None:
        """Columns that need a look when their value is NULL: required, default, NOT NULL."""
        self.checked = [
            (position, column)
            for position, column in enumerate(self.columns)
            if column.required or column.default is not None or not column.nullable
        ]

    @property
    def keeps_history(self) -> bool:
        return "valid_to" in self.history_columns

    @property
    def column_names(self) -> list[str]:
        """Every column in row order: keys and parent link first, then mapped columns."""
        keys = [*self.parent_columns]
        for name in self.key_columns:
            if name not in keys:
                keys.append(name)
        return keys + [column.name for column in self.columns]


HISTORY_COLUMNS = ("version", "valid_from", "valid_to")  # a table with history: keep


@dataclass
class Plan:
    contract: Contract
    id_path: XmlPath | None  # None: the id comes from the source key
    id_kind: ColumnType
    tables: list[CompiledTable]  # insert order: parents before children
    notes: Notes
    scope: Scope
    warnings: list[str]  # "place: message", "FILE:LINE: place: message" from the loader
    records: XmlPath | None = None  # document.records: each element there is a document
    # what other layers derive from the plan once (the target's SQLAlchemy tables)
    derived: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


def _describe(spec: ColumnSpec) -> str:
    if spec.path is not None:
        return f"path {spec.path}"
    if spec.paths is not None:
        return f"paths {spec.paths}"
    if spec.pick is not None:
        return f"pick {spec.pick.path} -> {spec.pick.value}"
    if spec.expr is not None:
        return "expr"
    return f"item {spec.item}" if spec.item else "const"


def insert_order(contract: Contract, problems: Problems) -> list[str]:
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


def _instantiated(
    spec: Any, values: Bindings, where: Location, problems: Problems, complete: bool = True
) -> Any | None:
    """`spec` with template values filled in, or None (problem recorded). `complete`:
    no `{name}` may be left (columns of a templated row source are filled later)."""
    try:
        filled = instantiate(spec, values)
    except (ValueError, ValidationError) as error:
        problems.add(where, f"template does not give a valid spec: {error}")
        return None
    left = unfilled(filled.model_dump_json()) if complete else None
    if left is not None:
        problems.add(where, f"unknown template name {left}: declare it in 'for'")
        return None
    return filled


class _TableCompiler:
    def __init__(self, contract: Contract, name: str, scope: Scope, notes: Notes,
                 problems: Problems) -> None:  # fmt: skip
        self.contract, self.name, self.scope = contract, name, scope
        self.notes, self.problems = notes, problems
        self.spec: TableSpec = contract.tables[name]
        self.where: Location = ("tables", name)
        self.compiled: list[CompiledColumn] = []

    def template_values(self, template: Template | None, place: Location) -> list[Bindings]:
        """Each set of template values; none (problem recorded) when the template is bad."""
        try:
            return bindings(template)
        except ValueError as error:
            self.problems.add((*place, "for"), str(error))
            return []

    def column_specs(self) -> list[tuple[str, ColumnSpec, Location]]:
        """Columns with column templates expanded: (name, spec, place in the contract)."""
        expanded = []
        templated_rows = any(rows.for_ for rows in self.spec.row_sources)
        for name, spec in self.spec.columns.items():
            place = (*self.where, "columns", name)
            for values in self.template_values(spec.for_, place):
                filled = _instantiated(spec, values, place, self.problems, not templated_rows)
                if filled is None:
                    continue
                column = fill(name, values)
                try:
                    check_identifier(column)
                except ValueError as error:
                    self.problems.add(place, str(error))
                    continue
                expanded.append((column, filled, place))
        return expanded

    def column(self, name: str, spec: ColumnSpec, where: Location) -> CompiledColumn:
        kind = column_type(spec)
        rules = ColumnRules(f"{self.name}.{name}", kind, spec, self.contract.defaults)
        maps = self.contract.value_maps
        if spec.map and spec.map not in maps:
            self.problems.add(
                (*where, "map"), f"unknown value map {spec.map!r}; defined: {sorted(maps)}"
            )
        if spec.required and spec.default is not None:
            self.problems.add((*where, "default"), "a required column cannot have a default")
        default = None
        try:
            default = convert_default(rules)
        except ValueError as error:
            self.problems.add((*where, "default"), f"default does not fit {kind}: {error}")
        usable = not spec.map or spec.map in maps
        converter = build_converter(rules, maps, self.notes) if usable else (lambda value: value)
        read = any(name in rows.read for rows in self.spec.row_sources)
        constant = "const" in spec.model_fields_set and not read
        return CompiledColumn(
            name=name,
            table=self.name,
            kind=kind,
            source=_describe(spec),
            convert=converter,
            default=default,
            required=spec.required,
            nullable=spec.nullable,
            counts_as_data=False if constant else spec.counts_as_data,
            lenient=rules.lenient,
            notes=self.notes,
            default_on_invalid=rules.default_on_invalid,
        )

    def paired(self, getters: list[Getter]) -> list[tuple[CompiledColumn, Getter]]:
        return list(zip(self.compiled, getters, strict=True))

    def sources(self, columns: list[tuple[str, ColumnSpec, Location]]) -> list[CompiledSource]:
        if not self.spec.row_sources:
            return [self.single_source(columns)]
        compiled = []
        for position, rows in enumerate(self.spec.row_sources):
            place = (
                (*self.where, "rows", position)
                if isinstance(self.spec.rows, list)
                else (*self.where, "rows")
            )
            for values in self.template_values(rows.for_, place):
                source = self.row_source(rows, values, columns, place)
                if source is not None:
                    compiled.append(source)
        return compiled

    def single_source(self, columns: list[tuple[str, ColumnSpec, Location]]) -> CompiledSource:
        reader = SourceReader(self.scope, self.problems, has_items=False)
        getters = [reader.column(spec, place) for _, spec, place in columns]
        condition = None
        if self.spec.where is not None:
            condition = self.condition(reader)
        return CompiledSource(None, None, condition, reader.locators, self.paired(getters))

    def condition(self, reader: SourceReader) -> Getter | None:
        assert self.spec.where is not None
        try:
            expression = self.scope.expression(self.spec.where)
        except ExpressionError as error:
            self.problems.add((*self.where, "where"), f"expression does not parse: {error}")
            return None
        bound = reader.bind(expression, self.spec.inputs, self.where, self.scope)

        def holds(elements: list[Element | None], item: Any) -> Any:
            return expression.evaluate({name: getter(elements, item) for name, getter in bound})

        return holds

    def row_source(
        self,
        rows: RowsSpec,
        values: Bindings,
        columns: list[tuple[str, ColumnSpec, Location]],
        place: Location,
    ) -> CompiledSource | None:
        rows = _instantiated(rows, values, place, self.problems)
        if rows is None:
            return None
        names = {name: spec for name, spec, _ in columns}
        for column in [*rows.set, *rows.read]:
            if column not in names or "const" not in names[column].model_fields_set:
                part = "set" if column in rows.set else "read"
                self.problems.add(
                    (*place, part, column),
                    f"{column!r} must be a column of {self.name} with a const value",
                )
        try:
            selection = rows.model_dump_json(include=SELECTION_FIELDS)
            scope = self.scope
            if rows.ignore_attribute_case is not None:
                scope = replace(scope, ignore_attribute_case=rows.ignore_attribute_case)
            select = scope.shared(f"rows:{selection}", build_selector(rows, scope))
            unpivot = build_unpivot(rows.unpivot_spec, self.scope) if rows.unpivot else None
        except (ValueError, ExpressionError) as error:
            self.problems.add(place, str(error))
            return None
        reader = SourceReader(self.scope, self.problems, has_items=unpivot is not None)
        getters = []
        for name, spec, where in columns:
            filled = _instantiated(spec, values, where, self.problems) or spec
            if name in rows.read:
                filled = _reading(filled, rows.read[name], (*place, "read", name), self.problems)
            getters.append(reader.column(filled, where, rows.set.get(name)))
        return CompiledSource(select, unpivot, None, reader.locators, self.paired(getters))


# what decides a row source's elements: sources equal in these share one selection
SELECTION_FIELDS = {"path", "where", "inputs", "link", "distinct_by", "priority", "keep", "take",
                    "then", "ignore_attribute_case"}  # fmt: skip
_VALUE_SOURCES = {"path", "paths", "const", "expr", "pick", "item", "inputs", "dialect"}


def _reading(spec: ColumnSpec, read: ReadSpec, place: Location, problems: Problems) -> ColumnSpec:
    """The column as one row source reads it: its source replaced by the source's `read`."""
    data = spec.model_dump(exclude_unset=True, by_alias=True, exclude=_VALUE_SOURCES)
    if isinstance(read, str):
        data["path"] = read
    elif isinstance(read, PickSpec):
        data["pick"] = read
    else:
        data.update(read.model_dump(exclude_unset=True))
    try:
        return ColumnSpec.model_validate(data)
    except ValidationError as error:
        problems.add(place, str(error.errors()[0]["msg"]))
        return spec


def _compile_table(
    contract: Contract,
    name: str,
    tables: dict[str, CompiledTable],
    scope: Scope,
    notes: Notes,
    problems: Problems,
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
    compiler = _TableCompiler(contract, name, scope, notes, problems)
    column_specs = compiler.column_specs()
    reserved = set(key_columns) | set(parent_columns)
    history_columns = _history_columns(contract, name, parent, problems)
    reserved |= set(history_columns)
    columns = []
    seen: set[str] = set()
    for column, column_spec, place in column_specs:
        if column in reserved:
            problems.add(place, f"{column!r} is a key column the loader fills in; rename it")
        if column in seen:
            problems.add(place, f"column {column!r} is defined twice (check templates)")
        seen.add(column)
        columns.append(compiler.column(column, column_spec, place))
    compiler.compiled = columns
    sources = compiler.sources(column_specs)
    return CompiledTable(
        name, spec.parent, key_columns, parent_columns, sequence, sources, columns,
        spec.keep_empty, history_columns, _unique_by(spec.unique_by, columns, where, problems),
    )  # fmt: skip


def _unique_by(
    names: list[str], columns: list[CompiledColumn], where: Location, problems: Problems
) -> tuple[int, ...]:
    positions = {column.name: position for position, column in enumerate(columns)}
    unknown = [name for name in names if name not in positions]
    if unknown:
        problems.add((*where, "unique_by"), f"not columns of this table: {unknown}")
    return tuple(positions[name] for name in names if name in positions)


def _history_columns(
    contract: Contract, name: str, parent: CompiledTable | None, problems: Problems
) -> tuple[str, ...]:
    """A table's history is its own, else its parent's, else the contract's. A table keeps
    history only under a parent that does (its rows point at one version of the parent);
    a table that replaces under one that keeps carries the version its rows belong to."""
    own = contract.tables[name].history
    parent_keeps = parent is not None and parent.keeps_history
    inherited = contract.history if parent is None else "keep" if parent_keeps else "replace"
    keep = (own or inherited) == "keep"
    if parent is not None and keep and not parent_keeps:
        problems.add(
            ("tables", name, "history"),
            f"'keep' needs its parent {parent.name!r} to keep history too: its rows "
            "point at one version of the parent",
        )
    if keep:
        return HISTORY_COLUMNS
    return ("version",) if parent_keeps else ()


def _scope(contract: Contract, notes: Notes, problems: Problems) -> Scope:
    maps: dict[str, Callable[[Any], Any]] = {
        name: value_map_lookup(spec, notes, f"MAP('{name}')")
        for name, spec in contract.value_maps.items()
    }
    try:
        functions = function_table(contract.extensions)
    except ValueError as error:
        problems.add(("extensions",), str(error))
        functions = function_table()
    return Scope(
        formats=contract.defaults.datetime_formats,
        namespaces={"xml": XML_NAMESPACE, **contract.namespaces},
        maps=maps,
        functions=functions,
        ignore_attribute_case=contract.defaults.ignore_attribute_case,
        html_unescape=contract.defaults.html_unescape,
        last_match=contract.defaults.path_match == "last",
    )


def compile_contract(contract: Contract) -> tuple[Plan | None, Problems]:
    """Compile; return the plan (None when there are problems) and every problem and
    warning found, with where it is."""
    problems = Problems()
    notes = Notes()
    scope = _scope(contract, notes, problems)
    id_path = None
    try:
        if contract.document.id.path is not None:
            id_path = scope.path(contract.document.id.path)
    except ValueError as error:
        problems.add(("document", "id", "path"), str(error))
    records = None
    try:
        element = scope.path(contract.document.element, allow_attribute=False)
        root = scope.path("/" + contract.document.root, allow_attribute=False)
        if element.steps[:1] != root.steps:
            problems.add(
                ("document", "element"),
                f"must start with the root element /{contract.document.root}",
            )
        records = _records_path(contract, scope, element, problems)
    except ValueError as error:
        problems.add(("document", "element"), str(error))
    compiled: dict[str, CompiledTable] = {}
    for name in insert_order(contract, problems):
        compiled[name] = _compile_table(contract, name, compiled, scope, notes, problems)
    problems.warnings = list(dict.fromkeys(problems.warnings))
    if problems.items:
        return None, problems
    id_kind = parse_type(contract.document.id.type)
    tables = list(compiled.values())
    warnings = [f"{'.'.join(map(str, place))}: {message}" for place, message in problems.warnings]
    return Plan(contract, id_path, id_kind, tables, notes, scope, warnings, records), problems


def _records_path(
    contract: Contract, scope: Scope, element: XmlPath, problems: Problems
) -> XmlPath | None:
    """document.records: the record elements, at or above the document element."""
    if contract.document.records is None:
        return None
    try:
        records = scope.path(contract.document.records, allow_attribute=False)
    except ValueError as error:
        problems.add(("document", "records"), str(error))
        return None
    if any(step in ("//", "*") for step in records.steps):
        problems.add(("document", "records"), "must name each element from the root (no // or *)")
    elif element.steps[: len(records.steps)] != records.steps:
        problems.add(
            ("document", "element"),
            f"must be the record ({contract.document.records}) or inside it",
        )
    return records
