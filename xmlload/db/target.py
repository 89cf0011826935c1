"""The target database as the contract sees it: its tables, the processing log, and the
check (or creation) done once before any document is read."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from xmlload.contract.compiler import Plan
from xmlload.contract.schema import build_metadata, sql_type
from xmlload.db.dialects import DialectStrategy, strategy_for
from xmlload.db.processing_log import log_table
from xmlload.db.urls import mask_url
from xmlload.errors import TargetError


@dataclass
class TargetSchema:
    metadata: sa.MetaData
    tables: list[sa.Table]  # the contract's tables, parents first
    log: sa.Table


def target_schema(plan: Plan) -> TargetSchema:
    metadata = build_metadata(plan)
    schema = plan.contract.target_schema
    tables = [metadata.tables[f"{schema}.{t.name}" if schema else t.name] for t in plan.tables]
    return TargetSchema(metadata, tables, log_table(metadata, sql_type(plan.id_kind), schema))


def describe_db_error(error: SQLAlchemyError) -> str:
    """First line of the driver's message, without SQL text or parameters."""
    original = getattr(error, "orig", None) or error
    text = str(original).strip().splitlines()
    return f"{type(original).__name__}: {text[0] if text else ''}"


def connect_engine(url: URL, client: str = "xmlload") -> tuple[DialectStrategy, Engine]:
    strategy = strategy_for(url)
    return strategy, strategy.create_engine(url, client)


def prepare_target(url: URL, plan: Plan, create: bool) -> None:
    """Create missing tables (create=True) or fail with the list of what is missing."""
    strategy, engine = connect_engine(url)
    schema = target_schema(plan)
    try:
        with engine.begin() as connection:
            if create:
                strategy.serialize_ddl(connection)
                if plan.contract.target_schema:
                    strategy.create_schema(connection, plan.contract.target_schema)
                schema.metadata.create_all(connection)
                return
            missing = _missing(connection, schema)
    except DBAPIError as error:
        raise TargetError(f"target {mask_url(url)}: {describe_db_error(error)}") from None
    finally:
        engine.dispose()
    if missing:
        listed = "; ".join(missing)
        raise TargetError(
            f"target {mask_url(url)} does not match the contract: {listed}. "
            "Run with --create-tables to create missing tables."
        )


def _missing(connection: sa.Connection, schema: TargetSchema) -> list[str]:
    inspector = sa.inspect(connection)
    problems = []
    for table in [*schema.tables, schema.log]:
        if not inspector.has_table(table.name, schema=table.schema):
            problems.append(f"table {table.fullname} is missing")
            continue
        present = {column["name"] for column in inspector.get_columns(table.name, table.schema)}
        absent = [column.name for column in table.columns if column.name not in present]
        if absent:
            problems.append(f"table {table.fullname} lacks columns {', '.join(absent)}")
    return problems
