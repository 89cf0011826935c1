"""MySQL and MariaDB: multi-row INSERT batches sized to max_allowed_packet (PyMySQL), or
plain executemany through ODBC; transient errors by server/client error number."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.schema import DropSchema

from xmlload.db.dialects.base import DialectStrategy, as_text

# deadlock, lock wait timeout, server gone away, lost connection, can't connect,
# too many connections, server shutdown in progress
TRANSIENT_ERRORS = {1213, 1205, 2006, 2013, 2003, 1040, 1053}
# disk full, table full, running --read-only, read-only transaction
UNAVAILABLE_ERRORS = {1021, 1114, 1290, 1792}
# ODBC SQLSTATEs: serialization failure/deadlock, timeouts, connection failures
TRANSIENT_SQLSTATES = {"40001", "HYT00", "HYT01", "08S01", "08001", "08003", "08004", "08007"}


class MySQLStrategy(DialectStrategy):
    backend = "mysql"
    packet_margin = 64 * 1024  # room for the statement text around the values

    def engine_options(self, client: str, url: URL | None = None) -> dict[str, Any]:
        wait = f"SET SESSION innodb_lock_wait_timeout = {self.lock_wait_seconds:.0f}"
        return {"connect_args": {"charset": "utf8mb4", "init_command": wait}}

    def drop_schema(self, connection: Connection, schema: str) -> None:
        """A MySQL schema is a database; DROP DATABASE takes its tables with it."""
        connection.execute(DropSchema(schema, if_exists=True))

    def is_transient(self, error: DBAPIError) -> bool:
        args = getattr(error.orig, "args", ())
        code = args[0] if args else None
        return super().is_transient(error) or code in TRANSIENT_ERRORS

    def serialize_ddl(self, connection: Connection) -> None:
        """A named lock held until the connection closes (MySQL DDL commits implicitly)."""
        connection.exec_driver_sql("SELECT GET_LOCK('xmlload ddl', 60)")

    def is_unavailable(self, error: DBAPIError) -> bool:
        args = getattr(error.orig, "args", ())
        return bool(args) and args[0] in UNAVAILABLE_ERRORS

    def insert_rows(self, connection: Connection, table: sa.Table, rows: Sequence[tuple]) -> None:
        """PyMySQL turns executemany of `INSERT ... VALUES (%s, ...)` into multi-row INSERTs
        up to `max_stmt_length`; set that just under the server's max_allowed_packet."""
        if not rows:
            return
        limit = self._packet_limit(connection)

        def size_statements(cursor: Any) -> None:
            cursor.max_stmt_length = limit

        self.executemany(connection, table, rows, "%s", prepare=size_statements)

    def _packet_limit(self, connection: Connection) -> int:
        info = connection.info
        if "max_allowed_packet" not in info:
            packet = connection.exec_driver_sql("SELECT @@max_allowed_packet").scalar_one()
            info["max_allowed_packet"] = int(packet)
        return max(info["max_allowed_packet"] - self.packet_margin, 16 * 1024)


class MySQLODBCStrategy(MySQLStrategy):
    """MySQL/MariaDB through pyodbc (e.g. Debian's odbc-mariadb): errors carry SQLSTATEs."""

    def engine_options(self, client: str, url: URL | None = None) -> dict[str, Any]:
        return {}

    def is_transient(self, error: DBAPIError) -> bool:
        args = getattr(error.orig, "args", ())
        state = args[0] if args else None
        return DialectStrategy.is_transient(self, error) or state in TRANSIENT_SQLSTATES

    def insert_rows(self, connection: Connection, table: sa.Table, rows: Sequence[tuple]) -> None:
        """Values as text: the ODBC driver would drop the microseconds of DATETIME(6).
        (pyodbc's fast_executemany fails with MariaDB Connector/ODBC 3.1, so rows go one
        execution each, inside the chunk's transaction.)"""
        if rows:
            self.executemany(connection, table, rows, "?", as_text)
