"""SQLite: WAL, immediate write transactions (no 'database is locked' on upgrade),
foreign keys on, executemany with values adapted to what sqlite3 stores."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import DBAPIError

from xmlload.db.dialects.base import DialectStrategy, as_text
from xmlload.errors import TargetError

SQLITE_BUSY_OR_LOCKED = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}
# disk full, I/O error, read-only database or file, cannot open (primary result codes)
SQLITE_UNAVAILABLE = {sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_READONLY,
                      sqlite3.SQLITE_CANTOPEN}  # fmt: skip


class SQLiteStrategy(DialectStrategy):
    backend = "sqlite"

    def engine_options(self, client: str, url: URL | None = None) -> dict[str, Any]:
        return {"connect_args": {"timeout": self.lock_wait_seconds}}

    def configure(self, engine: Engine) -> None:
        timeout = round(self.lock_wait_seconds * 1000)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, record: Any) -> None:
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_connection.cursor()
            for pragma in (
                "journal_mode=WAL",
                "synchronous=NORMAL",
                "foreign_keys=ON",
                f"busy_timeout={timeout}",
            ):
                cursor.execute(f"PRAGMA {pragma}")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(connection: Connection) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    def is_transient(self, error: DBAPIError) -> bool:
        code = getattr(error.orig, "sqlite_errorcode", None)
        return super().is_transient(error) or code in SQLITE_BUSY_OR_LOCKED

    def lock_table(self, connection: Connection, table: sa.Table) -> None:
        """Transactions begin IMMEDIATE: one writer at a time already."""

    def missing_database(self, url: URL) -> str | None:
        database = url.database or ""
        if database in ("", ":memory:") or database.startswith("file:"):
            return None
        if not Path(database).expanduser().is_file():
            return f"no SQLite database file at {database}"
        return None

    def is_unavailable(self, error: DBAPIError) -> bool:
        code = getattr(error.orig, "sqlite_errorcode", None)
        return code is not None and code & 0xFF in SQLITE_UNAVAILABLE  # extended -> primary

    def create_schema(self, connection: Connection, schema: str) -> None:
        raise TargetError(f"SQLite has no schemas: remove target_schema ({schema!r}) for SQLite")

    def insert_rows(self, connection: Connection, table: sa.Table, rows: Sequence[tuple]) -> None:
        if rows:
            self.executemany(connection, table, rows, "?", as_text)
