"""DataMapper: a parsed document -> `{table: [row tuples]}` in column order."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from xmlload.contract.compiler import CompiledTable, Plan
from xmlload.contract.paths import Element
from xmlload.errors import DocumentError, ExpressionError, ValueProblem


@dataclass
class MappedDocument:
    document_id: Any
    rows: dict[str, list[tuple[Any, ...]]]
    notes: Counter[str] = field(default_factory=Counter)

    @property
    def row_count(self) -> int:
        return sum(len(rows) for rows in self.rows.values())


@dataclass
class _RowContext:
    """A written row that child tables hang from: its element and its key values."""

    element: Element
    key: tuple[Any, ...]


class DataMapper:
    """Runs a compiled plan over one document. Holds no per-document state between calls."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan

    def map(self, root: Element, document_element: Element, document_id: Any) -> MappedDocument:
        self.plan.notes.take()
        rows: dict[str, list[tuple[Any, ...]]] = {}
        contexts: dict[str, list[_RowContext]] = {}
        top = [_RowContext(document_element, (document_id,))]
        for table in self.plan.tables:
            parents = contexts[table.parent] if table.parent else top
            table_rows, table_contexts = self._map_table(table, parents, root, document_id)
            rows[table.name] = table_rows
            contexts[table.name] = table_contexts
        return MappedDocument(document_id, rows, self.plan.notes.take())

    def _map_table(
        self, table: CompiledTable, parents: list[_RowContext], root: Element, document_id: Any
    ) -> tuple[list[tuple[Any, ...]], list[_RowContext]]:
        rows: list[tuple[Any, ...]] = []
        contexts: list[_RowContext] = []
        for parent in parents:
            link = parent.key if table.parent_columns else (document_id,)
            if table.select is None:
                values = self._row_values(table, parent.element, root, None, table.parent is None)
                if values is not None:
                    rows.append((*link, *values))
                    contexts.append(_RowContext(parent.element, link))
                continue
            for element, item in self._candidates(table, parent.element, root):
                values = self._row_values(table, element, root, item)
                if values is None:
                    continue
                sequence = len(rows) + 1
                rows.append((*link, sequence, *values))
                contexts.append(_RowContext(element, (document_id, sequence)))
        return rows, contexts

    @staticmethod
    def _candidates(
        table: CompiledTable, element: Element, root: Element
    ) -> list[tuple[Element, tuple[str, str] | None]]:
        assert table.select is not None
        selected = table.select(element, root)
        if not table.unpivot:
            return [(chosen, None) for chosen in selected]
        found = []
        for chosen in selected:
            for attribute, key in table.unpivot:
                value = chosen.get(attribute)
                if value is not None and value.strip():
                    found.append((chosen, (key, value)))
        return found

    def _row_values(
        self,
        table: CompiledTable,
        element: Element,
        root: Element,
        item: tuple[str, str] | None,
        keep_empty: bool = False,
    ) -> list[Any] | None:
        """Converted column values, or None when every document-sourced value is empty.

        A top-level one-row-per-document table stands for the document: always kept.
        """
        elements = [locate(element, root) for locate in table.locators]
        values: list[Any] = []
        has_data = False
        for column in table.columns:
            try:
                value = column.convert(column.get(elements, item))
            except (ValueProblem, ExpressionError, ArithmeticError) as problem:
                raise DocumentError(
                    "map", f"{table.name}.{column.name} ({column.source}): {problem}"
                ) from None
            if value is not None and column.reads_document:
                has_data = True
            values.append(value)
        if not has_data and not keep_empty:
            return None
        for position, column in enumerate(table.columns):
            if values[position] is not None:
                continue
            if column.required:
                raise DocumentError(
                    "map", f"required value missing: {table.name}.{column.name} ({column.source})"
                )
            if column.default is not None:
                values[position] = column.default
            elif not column.nullable:
                raise DocumentError(
                    "map",
                    f"no value for NOT NULL column {table.name}.{column.name} "
                    f"({column.source}) and no default",
                )
        return values
