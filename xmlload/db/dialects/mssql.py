"""SQL Server through pyodbc: fast_executemany for bulk rows, schemas created when
missing, transient errors by SQLSTATE (deadlock 1205 is 40001; lost links are 08S01)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import DBAPIError

from xmlload.db.dialects.base import DialectStrategy

TRANSIENT_SQLSTATES = {"40001", "HYT00", "HYT01", "08S01", "08001", "08003", "08004", "08007"}


class MSSQLStrategy(DialectStrategy):
    backend = "mssql"

    def engine_options(self, client: str, url: URL | None = None) -> dict[str, Any]:
        return {"fast_executemany": True}

    def is_transient(self, error: DBAPIError) -> bool:
        args = getattr(error.orig, "args", ())
        return super().is_transient(error) or (bool(args) and args[0] in TRANSIENT_SQLSTATES)

    def create_schema(self, connection: Connection, schema: str) -> None:
        """SQL Server has no CREATE SCHEMA IF NOT EXISTS; the name is a checked identifier."""
        connection.exec_driver_sql(self.create_schema_sql(schema))

    @staticmethod
    def create_schema_sql(schema: str) -> str:
        return f"IF SCHEMA_ID(N'{schema}') IS NULL EXEC(N'CREATE SCHEMA [{schema}]')"
