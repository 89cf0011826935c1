"""DialectStrategy: how xmlload talks to one kind of database. The base works for any
SQLAlchemy backend; subclasses override only what differs (bulk path, pragmas, schemas)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.schema import CreateSchema


class DialectStrategy:
    backend = "default"

    def create_engine(self, url: URL) -> Engine:
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool, **self.engine_options())
        self.configure(engine)
        return engine

    def engine_options(self) -> dict[str, Any]:
        return {}

    def configure(self, engine: Engine) -> None:
        """Hook for connection-level settings (pragmas, session variables)."""

    def create_schema(self, connection: Connection, schema: str) -> None:
        connection.execute(CreateSchema(schema, if_not_exists=True))

    def insert_rows(self, connection: Connection, table: sa.Table, rows: Sequence[tuple]) -> None:
        """Bulk insert row tuples in the table's column order."""
        if not rows:
            return
        names = [column.name for column in table.columns]
        connection.execute(table.insert(), [dict(zip(names, row, strict=True)) for row in rows])

    def delete_documents(
        self, connection: Connection, table: sa.Table, id_column: str, ids: Sequence[Any]
    ) -> None:
        """Delete every row of the given documents (replace semantics)."""
        for start in range(0, len(ids), 500):
            batch = list(ids[start : start + 500])
            connection.execute(table.delete().where(table.c[id_column].in_(batch)))

    def is_transient(self, error: DBAPIError) -> bool:
        """Worth retrying: the connection was lost. Subclasses add their driver codes."""
        return bool(error.connection_invalidated)
