"""DataMapper: a parsed document -> `{table: [row tuples]}` in column order."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from xmlload.contract.compiler import CompiledSource, CompiledTable, Plan
from xmlload.contract.getters import Item
from xmlload.contract.paths import Element
from xmlload.contract.transforms import InvalidKeptNull
from xmlload.contract.values import truth
from xmlload.errors import DocumentError, ExpressionError, ValueProblem
from xmlload.states import Stage


@dataclass
class MappedDocument:
    document_id: Any
    rows: dict[str, list[tuple[Any, ...]]]
    notes: Counter[str] = field(default_factory=Counter)


@dataclass
class _RowContext:
    """A written row that child tables hang from: its element and its key values."""

    element: Element
    key: tuple[Any, ...]


def _candidates(
    source: CompiledSource, element: Element, root: Element
) -> Iterator[tuple[Element, Item | None]]:
    assert source.select is not None
    for chosen in source.select(element, root):
        if source.unpivot is None:
            yield chosen, None
        else:
            for item in source.unpivot.items(chosen, root):
                yield chosen, item


class _Unique:
    """`unique_by`: which rows repeat the values of an earlier row of the document."""

    def __init__(self, positions: tuple[int, ...]) -> None:
        self.positions = positions
        self.seen: set[tuple[Any, ...]] = set()

    def repeats(self, values: list[Any]) -> bool:
        if not self.positions:
            return False
        key = tuple(values[position] for position in self.positions)
        if key in self.seen:
            return True
        self.seen.add(key)
        return False


class DataMapper:
    """Runs a compiled plan over one document. Holds no per-document state between calls."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan

    @property
    def searches_text(self) -> bool:
        """Whether a search of the plan reads the document's text (`map`'s `text`)."""
        return self.plan.scope.text.searched

    def map(
        self, root: Element, document_element: Element, document_id: Any, text: str | None = None
    ) -> MappedDocument:
        """The document's rows; `text`, what it was parsed from (decoded, as the validator
        returns it), speeds up searches of the whole tree."""
        self.plan.notes.take()
        memo, text_index = self.plan.scope.memo, self.plan.scope.text
        memo.clear()
        text_index.hold(root, text)
        rows: dict[str, list[tuple[Any, ...]]] = {}
        contexts: dict[str, list[_RowContext]] = {}
        top = [_RowContext(document_element, (document_id,))]
        try:
            for table in self.plan.tables:
                parents = contexts[table.parent] if table.parent else top
                table_rows, table_contexts = self._map_table(table, parents, root, document_id)
                rows[table.name] = table_rows
                contexts[table.name] = table_contexts
        finally:
            memo.clear()  # holds elements: let the tree go with the document
            text_index.release()
        return MappedDocument(document_id, rows, self.plan.notes.take())

    def _map_table(
        self, table: CompiledTable, parents: list[_RowContext], root: Element, document_id: Any
    ) -> tuple[list[tuple[Any, ...]], list[_RowContext]]:
        rows: list[tuple[Any, ...]] = []
        contexts: list[_RowContext] = []
        unique = _Unique(table.unique_by)
        for parent in parents:
            link = parent.key if table.parent_columns else (document_id,)
            if table.sequence_column is None:
                keep = table.keep_empty or table.parent is None
                source = table.sources[0]
                values = self._row_values(table, source, parent.element, root, None, keep)
                if values is not None:
                    rows.append((*link, *values))
                    contexts.append(_RowContext(parent.element, link))
                continue
            for source in table.sources:
                for element, item in _candidates(source, parent.element, root):
                    values = self._row_values(table, source, element, root, item, table.keep_empty)
                    if values is None or unique.repeats(values):
                        continue
                    sequence = len(rows) + 1
                    rows.append((*link, sequence, *values))
                    contexts.append(_RowContext(element, (document_id, sequence)))
        return rows, contexts

    def _row_values(
        self,
        table: CompiledTable,
        source: CompiledSource,
        element: Element,
        root: Element,
        item: Item | None,
        keep_empty: bool,
    ) -> list[Any] | None:
        """Converted column values, or None when the row is not written: its `where` does
        not hold, or no value that counts as data is present (unless `keep_empty`)."""
        elements: list[Element | None] = []
        for locate, anchor in source.locators:
            base = element if anchor is None else elements[anchor]
            elements.append(None if base is None else locate(base, root))
        if source.condition is not None and not self._holds(table, source, elements):
            return None
        values: list[Any] = []
        has_data = False
        kept_null: list[int] = []  # invalid values whose column's default must not apply
        for column, get in source.pairs:
            try:
                try:
                    raw = get(elements, item)
                except (ExpressionError, ArithmeticError) as problem:
                    raw = column.invalid(problem)  # an expression fed junk: NULL, counted
                value = None if raw is None else column.convert(raw)
            except InvalidKeptNull:
                kept_null.append(len(values))
                value = None
            except (ValueProblem, ExpressionError, ArithmeticError) as problem:
                raise DocumentError(
                    Stage.MAP, f"{table.name}.{column.name} ({column.source}): {problem}"
                ) from None
            if value is not None and not has_data and column.counts_as_data is not False:
                has_data = column.counts_as_data is True or value != 0
            values.append(value)
        if not has_data and not keep_empty:
            return None
        for position, column in table.checked:
            if values[position] is not None or position in kept_null:
                continue
            if column.required:
                raise DocumentError(
                    Stage.MAP,
                    f"required value missing: {table.name}.{column.name} ({column.source})",
                )
            if column.default is not None:
                values[position] = column.default
            elif not column.nullable:
                raise DocumentError(
                    Stage.MAP,
                    f"no value for NOT NULL column {table.name}.{column.name} "
                    f"({column.source}) and no default",
                )
        return values

    def _holds(self, table: CompiledTable, source: CompiledSource, elements: list[Any]) -> bool:
        """Whether the row's `where` holds; junk it reads makes it unknown (no row, counted)
        under `defaults.invalid: null`, else fails the document."""
        assert source.condition is not None
        try:
            return truth(source.condition(elements, None))
        except (ExpressionError, ArithmeticError) as problem:
            if self.plan.contract.defaults.invalid != "null":
                raise DocumentError(Stage.MAP, f"{table.name} (where): {problem}") from None
            self.plan.notes.add("invalid: where unknown, no row", table.name)
            return False
