"""A document's rows as the target holds them now (with history: keep, its current
version, without the history columns), normalised so that they compare with what the
mapper gives: `verify` checks them, a kept-history load decides whether a new version is
needed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from xmlload.db.schema import history_columns, keeps_history

Rows = dict[Any, dict[str, list[tuple[Any, ...]]]]  # document id -> table -> rows


def normalise(value: Any) -> Any:
    """One representation per value whatever the database returned."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, Decimal | float):
        return format(Decimal(str(value)).normalize(), "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def normalised(rows: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
    return [tuple(normalise(value) for value in row) for row in rows]


def current_rows(
    connection: sa.Connection, tables: Sequence[sa.Table], id_column: str, ids: Sequence[Any]
) -> Rows:
    """Every table's current rows of these documents, in the mapper's column order."""
    found: Rows = {}
    for table in tables:
        added, keep = history_columns(table), keeps_history(table)
        mapped = [column for column in table.columns if column.name not in added]
        position = [column.name for column in mapped].index(id_column)
        for start in range(0, len(ids), 500):
            statement = sa.select(*mapped).where(table.c[id_column].in_(ids[start : start + 500]))
            if keep:
                statement = statement.where(table.c.valid_to.is_(None))
            for row in connection.execute(statement):
                values = tuple(normalise(value) for value in row)
                found.setdefault(row[position], {}).setdefault(table.name, []).append(values)
    return found
