"""SQLAlchemy tables for a compiled plan: the DDL, and the column order rows are built in."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.schema import CreateTable

from xmlload.contract.compiler import CompiledTable, Plan
from xmlload.contract.types import ColumnType


def sql_type(kind: ColumnType) -> sa.types.TypeEngine:
    """Portable SQL type; Unicode so SQL Server gets NVARCHAR."""
    if kind.kind == "string":
        return sa.Unicode(kind.length)
    if kind.kind == "decimal":
        return sa.Numeric(kind.precision, kind.scale, asdecimal=True)
    simple: dict[str, sa.types.TypeEngine] = {
        "text": sa.UnicodeText(),
        "tinyint": sa.SmallInteger(),
        "smallint": sa.SmallInteger(),
        "integer": sa.Integer(),
        "bigint": sa.BigInteger(),
        "float": sa.Float(),
        "boolean": sa.Boolean(),
        "date": sa.Date(),
        "datetime": sa.DateTime(),
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
    if compiled.parent is not None:
        parent_ref = f"{schema}.{compiled.parent}" if schema else compiled.parent
        columns.append(
            sa.ForeignKeyConstraint(
                compiled.parent_columns,
                [f"{parent_ref}.{name}" for name in compiled.parent_columns],
                name=f"fk_{compiled.name}_{compiled.parent}"[:63],
            )
        )
    spec = plan.contract.tables[compiled.name]
    return sa.Table(compiled.name, metadata, *columns, schema=schema, comment=spec.description)


def build_metadata(plan: Plan) -> sa.MetaData:
    """The contract's tables, in insert order, on a fresh MetaData."""
    metadata = sa.MetaData()
    for compiled in plan.tables:
        _table(plan, compiled, metadata)
    return metadata


def ddl_statements(metadata: sa.MetaData, dialect: sa.engine.Dialect) -> list[str]:
    return [
        str(CreateTable(table).compile(dialect=dialect)).strip() + ";"
        for table in metadata.sorted_tables
    ]
