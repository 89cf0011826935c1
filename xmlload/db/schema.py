"""SQLAlchemy tables for a compiled plan: the DDL, and the column order rows are built in.
Database-specific types and table options come from the dialect registry."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.schema import CreateIndex, CreateTable

from xmlload.contract.compiler import CompiledTable, Plan
from xmlload.contract.types import ColumnType
from xmlload.db.dialects import DIALECTS, own_column_type


def _table_options() -> dict[str, str]:
    """Every dialect's table options as SQLAlchemy keywords (`mysql_engine`, ...); each
    backend reads its own and ignores the others."""
    return {
        f"{scheme}_{key}": value
        for strategy in DIALECTS.values()
        for scheme in strategy.capabilities.schemes
        for key, value in strategy.capabilities.table_options.items()
    }


TABLE_OPTIONS = _table_options()


class _DialectsOwn(sa.types.TypeDecorator[Any]):
    """A portable type that is, on a dialect overriding its column kind, that dialect's own
    type (`Capabilities.column_types`), made when a statement is first compiled for the
    dialect: a table built for one database imports no other database's SQLAlchemy module."""

    kind: str

    def load_dialect_impl(self, dialect: sa.engine.Dialect) -> sa.types.TypeEngine:
        own = own_column_type(self.kind, dialect.name)
        return self.impl_instance if own is None else dialect.type_descriptor(own())


class _DateTime(_DialectsOwn):
    impl, kind = sa.DateTime, "datetime"
    cache_ok = True  # no state: statements using it can be cached


class _Text(_DialectsOwn):
    impl, kind = sa.UnicodeText, "text"
    cache_ok = True


def datetime_type() -> sa.types.TypeEngine:
    """Timestamps with microseconds everywhere (each dialect says how)."""
    return _DateTime()


def text_type() -> sa.types.TypeEngine:
    """Unbounded text (each dialect says how)."""
    return _Text()


def dialect_type(kind: sa.types.TypeEngine, dialect: sa.engine.Dialect) -> sa.types.TypeEngine:
    """The type a column of this type has on the dialect (its own, where it has one)."""
    found = kind.dialect_impl(dialect)
    return found.impl_instance if isinstance(found, sa.types.TypeDecorator) else found


def sql_type(kind: ColumnType) -> sa.types.TypeEngine:
    """Portable SQL type; Unicode so SQL Server gets NVARCHAR."""
    if kind.kind == "string":
        return sa.Unicode(kind.length)
    if kind.kind == "decimal":
        return sa.DECIMAL(kind.precision, kind.scale, asdecimal=True)
    simple: dict[str, sa.types.TypeEngine] = {
        "text": text_type(),
        "tinyint": sa.SmallInteger(),
        "smallint": sa.SmallInteger(),
        "integer": sa.Integer(),
        "bigint": sa.BigInteger(),
        "float": sa.Double(),
        "boolean": sa.Boolean(),
        "date": sa.Date(),
        "datetime": datetime_type(),
    }
    return simple[kind.kind]


def _key_type(plan: Plan, name: str) -> sa.types.TypeEngine:
    if name == plan.contract.document.id.column:
        return sql_type(plan.id_kind)
    return sa.Integer()


def _table(plan: Plan, compiled: CompiledTable, metadata: sa.MetaData) -> sa.Table:
    schema = plan.contract.target_schema
    columns: list[sa.SchemaItem] = []
    for name in compiled.column_names[: len(compiled.column_names) - len(compiled.columns)]:
        columns.append(
            sa.Column(
                name,
                _key_type(plan, name),
                nullable=False,
                primary_key=name in compiled.key_columns,
                autoincrement=False,
            )
        )
    for column in compiled.columns:
        columns.append(sa.Column(column.name, sql_type(column.kind), nullable=column.nullable))
    keep = compiled.keeps_history
    columns += [_history_column(name, keep) for name in compiled.history_columns]
    if compiled.parent is not None:
        parent_ref = f"{schema}.{compiled.parent}" if schema else compiled.parent
        versioned = ["version"] if "version" in compiled.history_columns else []
        linked = [*compiled.parent_columns, *versioned]
        columns.append(
            sa.ForeignKeyConstraint(
                linked,
                [f"{parent_ref}.{name}" for name in linked],
                name=f"fk_{compiled.name}_{compiled.parent}"[:63],
            )
        )
    spec = plan.contract.tables[compiled.name]
    return sa.Table(
        compiled.name, metadata, *columns, schema=schema, comment=spec.description,
        info={HISTORY_INFO: compiled.history_columns}, **TABLE_OPTIONS,
    )  # fmt: skip


def _history_column(name: str, keep: bool) -> sa.Column:
    """A column the loader fills after the mapped ones (`version` is a key where the table
    keeps history, a link to the parent's version where it replaces under one that does)."""
    if name == "version":
        return sa.Column(name, sa.Integer(), nullable=False, primary_key=keep, autoincrement=False)
    return sa.Column(name, datetime_type(), nullable=name == "valid_to")


def history_columns(table: sa.Table) -> tuple[str, ...]:
    """The loader's history columns of a contract table, after its mapped columns."""
    return tuple(table.info.get(HISTORY_INFO, ()))


def keeps_history(table: sa.Table) -> bool:
    """The table keeps every version of a document's rows (history: keep)."""
    return "valid_to" in history_columns(table)


HISTORY_INFO = "xmlload_history_columns"  # the key in a contract table's Table.info


def build_metadata(plan: Plan) -> sa.MetaData:
    """The contract's tables, in insert order, on a fresh MetaData."""
    metadata = sa.MetaData()
    for compiled in plan.tables:
        _table(plan, compiled, metadata)
    return metadata


def ddl_statements(metadata: sa.MetaData, dialect: sa.engine.Dialect) -> list[str]:
    """CREATE TABLE and CREATE INDEX statements, parents first."""
    statements = []
    for table in metadata.sorted_tables:
        statements.append(str(CreateTable(table).compile(dialect=dialect)).strip() + ";")
        for index in sorted(table.indexes, key=lambda index: index.name or ""):
            statements.append(str(CreateIndex(index).compile(dialect=dialect)).strip() + ";")
    return statements
