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

from xmlload.db.dialects.base import Capabilities, DialectStrategy, ErrorCode, as_text
from xmlload.errors import TargetError


class SQLiteStrategy(DialectStrategy):
    capabilities = Capabilities(
        name="sqlite",
        schemes=("sqlite",),
        default_driver=None,  # `sqlite://` is pysqlite already
        identifier_length=1000,
        bulk_path="executemany (sqlite3)",
        transient_codes=frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}),
        # disk full, I/O error, read-only database or file, cannot open
        unavailable_codes=frozenset(
            {
                sqlite3.SQLITE_FULL,
                sqlite3.SQLITE_IOERR,
                sqlite3.SQLITE_READONLY,
                sqlite3.SQLITE_CANTOPEN,
            }
        ),
    )

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

    @staticmethod
    def error_code(error: DBAPIError) -> ErrorCode | None:
        """The primary result code (extended codes carry it in their low byte)."""
        code = getattr(error.orig, "sqlite_errorcode", None)
        return None if code is None else code & 0xFF

    def lock_table(self, connection: Connection, table: sa.Table) -> None:
        """Transactions begin IMMEDIATE: one writer at a time already."""

    def missing_database(self, url: URL) -> str | None:
        database = url.database or ""
        if database in ("", ":memory:") or database.startswith("file:"):
            return None
        if not Path(database).expanduser().is_file():
            return f"no SQLite database file at {database}"
        return None

    def create_schema(self, connection: Connection, schema: str) -> None:
        raise TargetError(f"SQLite has no schemas: remove target_schema ({schema!r}) for SQLite")

    def insert_rows(self, connection: Connection, table: sa.Table, rows: Sequence[tuple]) -> None:
        if rows:
            self.executemany(connection, table, rows, "?", as_text)
