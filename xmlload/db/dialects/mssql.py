"""SQL Server through pyodbc: fast_executemany for bulk rows, schemas created when
missing, a bounded lock wait (SET LOCK_TIMEOUT on every connection), transient errors by
SQLSTATE (deadlock 1205 is 40001; lost links are 08S01)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine

from xmlload.db.dialects.base import (
    ODBC_TRANSIENT,
    ODBC_UNAVAILABLE,
    Capabilities,
    DialectStrategy,
)


class MSSQLStrategy(DialectStrategy):
    capabilities = Capabilities(
        name="mssql",
        schemes=("mssql",),
        default_driver="pyodbc",
        driver_packages={"pyodbc": "pyodbc", "pymssql": "pymssql"},
        identifier_length=128,
        # DATETIME2 keeps microseconds; NVARCHAR(max) is unbounded (NTEXT is deprecated)
        column_types={
            "datetime": lambda: _types().DATETIME2(),
            "text": lambda: _types().NVARCHAR(None),
        },
        bulk_path="fast_executemany (pyodbc)",
        transient_codes=ODBC_TRANSIENT,
        unavailable_codes=ODBC_UNAVAILABLE,
    )

    def engine_options(self, client: str, url: URL | None = None) -> dict[str, Any]:
        return {"fast_executemany": True}

    def configure(self, engine: Engine) -> None:
        milliseconds = round(self.lock_wait_seconds * 1000)

        @event.listens_for(engine, "connect")
        def _lock_timeout(dbapi_connection: Any, record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute(f"SET LOCK_TIMEOUT {milliseconds}")
            cursor.close()

    def create_schema(self, connection: Connection, schema: str) -> None:
        """SQL Server has no CREATE SCHEMA IF NOT EXISTS; the name is a checked identifier."""
        connection.exec_driver_sql(self.create_schema_sql(schema))

    @staticmethod
    def create_schema_sql(schema: str) -> str:
        return f"IF SCHEMA_ID(N'{schema}') IS NULL EXEC(N'CREATE SCHEMA [{schema}]')"


def _types() -> Any:
    """SQLAlchemy's SQL Server types, imported when a table is built for SQL Server."""
    from sqlalchemy.dialects import mssql

    return mssql
