"""Compare the contract with a live database, column by column, and say which differences
would make loads fail: `xmlload contract check`, and the check every run makes (after
creating what is missing, with --create-tables) before any document is read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL
from sqlalchemy.engine.reflection import ObjectKind
from sqlalchemy.exc import DBAPIError
from sqlalchemy.schema import CreateColumn

from xmlload.contract.compiler import Plan
from xmlload.db.schema import dialect_type
from xmlload.db.target import connect_engine, describe_db_error, target_schema
from xmlload.db.urls import mask_url
from xmlload.errors import TargetError

_INTEGER_BYTES = {sa.SmallInteger: 2, sa.Integer: 4, sa.BigInteger: 8}


@dataclass(frozen=True)
class Difference:
    table: str
    column: str | None
    problem: str
    fatal: bool  # True: loads would fail; False: works, but is not what the contract says

    def __str__(self) -> str:
        where = f"{self.table}.{self.column}" if self.column else self.table
        return f"{'ERROR' if self.fatal else 'note '} {where}: {self.problem}"


@dataclass(frozen=True)
class _Shape:
    category: str
    size: int | None = None  # string length, integer bytes, decimal precision
    scale: int | None = None


def _shape(kind: sa.types.TypeEngine) -> _Shape:
    if isinstance(kind, sa.Boolean):
        return _Shape("boolean")
    if isinstance(kind, sa.DateTime):
        return _Shape("datetime")
    if isinstance(kind, sa.Date):
        return _Shape("date")
    if isinstance(kind, sa.Float):
        return _Shape("float")
    if isinstance(kind, sa.Numeric):
        return _Shape("decimal", kind.precision, kind.scale)
    if isinstance(kind, sa.Integer):
        size = next((n for cls, n in reversed(_INTEGER_BYTES.items()) if isinstance(kind, cls)), 4)
        return _Shape("integer", size)
    if isinstance(kind, sa.String):
        length = getattr(kind, "length", None)
        return (
            _Shape("text") if isinstance(kind, sa.Text) or not length else _Shape("string", length)
        )
    return _Shape(type(kind).__name__.lower())


def _compare_types(expected: _Shape, found: _Shape, found_text: str) -> tuple[str, bool] | None:
    """A problem and whether it is fatal, or None when the column fits."""
    if expected.category == "boolean" and found.category == "integer":
        return None  # MySQL/MariaDB store booleans as TINYINT(1)
    if expected.category == "string" and found.category == "text":
        return None
    if expected.category != found.category:
        return f"is {found_text}, the contract needs {expected.category}", True
    if expected.category == "string" and found.size is not None and expected.size is not None:
        if found.size < expected.size:
            return f"is {found_text}, shorter than string({expected.size})", True
        if found.size > expected.size:
            return f"is {found_text}, longer than string({expected.size})", False
    if expected.category == "integer" and (found.size or 0) < (expected.size or 0):
        return f"is {found_text}, smaller than the contract's integer type", True
    if expected.category == "decimal" and (found.size, found.scale) != (
        expected.size,
        expected.scale,
    ):
        narrower = (found.size or 0) - (found.scale or 0) < (expected.size or 0) - (
            expected.scale or 0
        )
        return (
            f"is {found_text}, the contract says decimal({expected.size},{expected.scale})",
            narrower or (found.scale or 0) < (expected.scale or 0),
        )
    return None


def _table_differences(
    live_columns: list[dict[str, Any]] | None, table: sa.Table, dialect: sa.Dialect
) -> list[Difference]:
    if live_columns is None:
        return [Difference(table.fullname, None, "table is missing", True)]
    present = {c["name"]: c for c in live_columns}
    found: list[Difference] = []
    for column in table.columns:
        live = present.pop(column.name, None)
        if live is None:
            found.append(Difference(table.fullname, column.name, "column is missing", True))
            continue
        expected = _shape(dialect_type(column.type, dialect))
        text = str(live["type"].compile(dialect=dialect))
        problem = _compare_types(expected, _shape(live["type"]), text)
        if problem:
            found.append(Difference(table.fullname, column.name, *problem))
        if column.nullable and not live["nullable"]:
            found.append(
                Difference(
                    table.fullname,
                    column.name,
                    "is NOT NULL; the contract writes NULL when a value is missing",
                    True,
                )
            )
        elif not column.nullable and live["nullable"]:
            found.append(
                Difference(
                    table.fullname, column.name, "allows NULL; the contract says NOT NULL", False
                )
            )
    for name, live in present.items():
        if not live["nullable"] and live.get("default") is None and not live.get("autoincrement"):
            found.append(
                Difference(
                    table.fullname,
                    name,
                    "is NOT NULL without a default and not in the contract: inserts would fail",
                    True,
                )
            )
        else:
            found.append(Difference(table.fullname, name, "is not in the contract", False))
    return found


def _differences(connection: sa.Connection, plan: Plan) -> list[Difference]:
    schema = target_schema(plan)
    tables = [*schema.tables, schema.log]
    live = _live_columns(sa.inspect(connection), tables)
    return [
        difference
        for table in tables
        for difference in _table_differences(
            live.get((table.schema, table.name)), table, connection.dialect
        )
    ]


def _live_columns(
    inspector: Any, tables: list[sa.Table]
) -> dict[tuple[str | None, str], list[dict[str, Any]]]:
    """The live columns of these tables (and views), asked once per schema; a missing
    table has no entry."""
    found: dict[tuple[str | None, str], list[dict[str, Any]]] = {}
    for schema in {table.schema for table in tables}:
        names = [table.name for table in tables if table.schema == schema]
        found.update(
            inspector.get_multi_columns(schema=schema, filter_names=names, kind=ObjectKind.ANY)
        )
    return found


def upgrade_log(connection: sa.Connection, log: sa.Table) -> list[str]:
    """Add the processing log's nullable columns an older xmlload did not have (the
    fingerprint); returns their names. Nothing when the log does not exist yet."""
    inspector = sa.inspect(connection)
    if not inspector.has_table(log.name, schema=log.schema):
        return []
    present = {column["name"] for column in inspector.get_columns(log.name, schema=log.schema)}
    added = []
    quote = connection.dialect.identifier_preparer
    for column in log.columns:
        if column.name in present or not column.nullable:
            continue
        definition = str(CreateColumn(column).compile(dialect=connection.dialect)).strip()
        connection.exec_driver_sql(f"ALTER TABLE {quote.format_table(log)} ADD {definition}")
        added.append(column.name)
    return added


def prepare_target(url: URL, plan: Plan, create: bool) -> None:
    """Create missing tables (create=True) and upgrade an older processing log, then refuse
    (TargetError) a target whose tables differ from the contract in a way that would fail
    loads, listing every difference."""
    strategy, engine = connect_engine(url)
    try:
        with engine.begin() as connection:
            strategy.serialize_ddl(connection)  # two runs starting together take turns
            if create:
                if plan.contract.target_schema:
                    strategy.create_schema(connection, plan.contract.target_schema)
                target_schema(plan).metadata.create_all(connection)
            upgrade_log(connection, target_schema(plan).log)
        with engine.connect() as connection:
            fatal = [d for d in _differences(connection, plan) if d.fatal]
    except DBAPIError as error:
        raise TargetError(f"target {mask_url(url)}: {describe_db_error(error)}") from None
    finally:
        engine.dispose()
    if fatal:
        listed = "\n  ".join(str(d) for d in fatal)
        advice = (
            "existing tables are never altered: fix or drop them"
            if create
            else "run with --create-tables to create missing tables"
        )
        raise TargetError(
            f"target {mask_url(url)} does not match the contract ({advice}; "
            f"`xmlload contract check` lists every difference):\n  {listed}"
        )


def check_target(url: URL, plan: Plan) -> list[Difference]:
    """Every difference between the contract's tables (and the processing log) and the
    live database."""
    _, engine = connect_engine(url)
    try:
        with engine.connect() as connection:
            return _differences(connection, plan)
    except DBAPIError as error:
        raise TargetError(f"target {mask_url(url)}: {describe_db_error(error)}") from None
    finally:
        engine.dispose()
