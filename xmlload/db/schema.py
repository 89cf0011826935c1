"""SQLAlchemy tables for a compiled plan: the DDL, and the column order rows are built in.
Database-specific types and table options come from the dialect registry."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.schema import CreateIndex, CreateTable

from xmlload.contract.compiler import CompiledTable, Plan
from xmlload.contract.types import ColumnType
from xmlload.db.dialects import DIALECTS, column_type_variants


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


def _with_variants(portable: sa.types.TypeEngine, kind: str) -> sa.types.TypeEngine:
    """The portable type, with each dialect's own type for this column kind."""
    for capabilities, factory in column_type_variants(kind):
        portable = portable.with_variant(factory(), *capabilities.schemes)
    return portable


def datetime_type() -> sa.types.TypeEngine:
    """Timestamps with microseconds everywhere (each dialect says how)."""
    return _with_variants(sa.DateTime(), "datetime")


def text_type() -> sa.types.TypeEngine:
    """Unbounded text (each dialect says how)."""
    return _with_variants(sa.UnicodeText(), "text")


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
