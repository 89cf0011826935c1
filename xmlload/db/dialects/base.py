"""DialectStrategy: how xmlload talks to one kind of database. The base works for any
SQLAlchemy backend; subclasses override only what differs (bulk path, pragmas, schemas)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.schema import CreateSchema, DropSchema

from xmlload.db.urls import check_driver


class DialectStrategy:
    backend = "default"

    # How long one statement may wait for a lock another connection holds before the
    # database gives up (then the retry policy applies, then the run stops: exit 4).
    lock_wait_seconds: float = 120.0

    def create_engine(self, url: URL, client: str = "xmlload") -> Engine:
        """An engine whose connections name themselves `client` where the server shows it
        (a run's connections carry its run id, so an operator can tell runs apart)."""
        check_driver(url)
        options = self.engine_options(client, url)
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool, **options)
        self.configure(engine)
        return engine

    def engine_options(self, client: str, url: URL | None = None) -> dict[str, Any]:
        """Keyword arguments for `create_engine`; `url` is the target's, for what it sets."""
        return {}

    def configure(self, engine: Engine) -> None:
        """Hook for connection-level settings (pragmas, session variables)."""

    def lock_table(self, connection: Connection, table: sa.Table) -> None:
        """Within a transaction: make concurrent readers-then-writers of `table` take turns."""
        connection.execute(sa.select(table).with_for_update())

    def serialize_ddl(self, connection: Connection) -> None:
        """Within a transaction: one loader at a time creates tables (two `--create-tables`
        at once must not collide). Backends whose DDL is already serialized do nothing."""

    def create_schema(self, connection: Connection, schema: str) -> None:
        connection.execute(CreateSchema(schema, if_not_exists=True))

    def drop_schema(self, connection: Connection, schema: str) -> None:
        """Remove a schema and everything in it (benchmarks and tests use throw-away ones)."""
        connection.execute(DropSchema(schema, cascade=True, if_exists=True))

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

    def executemany(
        self,
        connection: Connection,
        table: sa.Table,
        rows: Sequence[tuple],
        marker: str,
        adapt: Callable[[Any], Any] | None = None,
        prepare: Callable[[Any], None] | None = None,
    ) -> None:
        """Positional executemany on the raw DBAPI cursor (`marker` is the driver's
        placeholder); driver errors come back wrapped as SQLAlchemy's DBAPIError."""
        quote = connection.dialect.identifier_preparer
        columns = ", ".join(quote.quote(column.name) for column in table.columns)
        statement = (
            f"INSERT INTO {quote.format_table(table)} ({columns}) "
            f"VALUES ({', '.join([marker] * len(table.columns))})"
        )
        values = [tuple(map(adapt, row)) for row in rows] if adapt else list(rows)
        dbapi_error = connection.dialect.loaded_dbapi.Error
        cursor = connection.connection.cursor()
        try:
            if prepare is not None:
                prepare(cursor)
            cursor.executemany(statement, values)
        except dbapi_error as error:
            raise DBAPIError.instance(statement, None, error, dbapi_error) from error
        finally:
            cursor.close()

    def is_transient(self, error: DBAPIError) -> bool:
        """Worth retrying: the connection was lost. Subclasses add their driver codes."""
        return bool(error.connection_invalidated)

    def missing_database(self, url: URL) -> str | None:
        """Why the URL names no existing database, for read-only commands that must not
        create one; None when it may exist (servers say so when connected to)."""
        return None

    def is_unavailable(self, error: DBAPIError) -> bool:
        """The target cannot take writes at all (disk full, read-only, I/O error): no
        document is to blame, so the run stops. Subclasses add their driver codes."""
        return False


def as_text(value: Any) -> Any:
    """Decimals, datetimes (with microseconds) and dates as text, for drivers that would
    otherwise store them lossily; other values unchanged."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    return value
