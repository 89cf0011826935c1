"""SQLAlchemy tables for a compiled plan: the DDL, and the column order rows are built in."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mssql, mysql
from sqlalchemy.schema import CreateIndex, CreateTable

from xmlload.contract.compiler import CompiledTable, Plan
from xmlload.contract.types import ColumnType

# Per-backend table options: MySQL/MariaDB need InnoDB (transactions, foreign keys) and
# utf8mb4 (all of Unicode); other backends ignore these keywords.
TABLE_OPTIONS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mariadb_engine": "InnoDB",
                 "mariadb_charset": "utf8mb4"}  # fmt: skip


def datetime_type() -> sa.types.TypeEngine:
    """Timestamps with microseconds everywhere: DATETIME(6) on MySQL/MariaDB (plain DATETIME
    drops them), DATETIME2 on SQL Server."""
    return (
        sa.DateTime()
        .with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
        .with_variant(mssql.DATETIME2(), "mssql")
    )


def text_type() -> sa.types.TypeEngine:
    """Unbounded text: NVARCHAR(max) on SQL Server (NTEXT is deprecated), LONGTEXT on
    MySQL/MariaDB (TEXT stops at 64 KB)."""
    return (
        sa.UnicodeText()
        .with_variant(mssql.NVARCHAR(None), "mssql")
        .with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
    )


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
    return sa.Table(
        compiled.name, metadata, *columns, schema=schema, comment=spec.description, **TABLE_OPTIONS
    )


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
