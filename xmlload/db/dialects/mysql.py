"""MySQL and MariaDB: multi-row INSERT batches sized to max_allowed_packet (PyMySQL), or
plain executemany through ODBC; transient errors by server/client error number."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.schema import DropSchema

from xmlload.db.dialects.base import (
    ODBC_TRANSIENT,
    ODBC_UNAVAILABLE,
    Capabilities,
    DialectStrategy,
    as_text,
)

MYSQL = Capabilities(
    name="mysql",
    schemes=("mysql", "mariadb"),
    default_driver="pymysql",
    driver_packages={
        "pymysql": "PyMySQL",
        "mysqldb": "mysqlclient",
        "mysqlconnector": "mysql-connector-python",
        "mariadbconnector": "mariadb",
    },
    identifier_length=64,
    # DATETIME(6) keeps microseconds (DATETIME drops them); LONGTEXT (TEXT stops at 64 KB)
    column_types={
        "datetime": lambda: _types().DATETIME(fsp=6),
        "text": lambda: _types().LONGTEXT(),
    },
    # InnoDB: transactions and foreign keys; utf8mb4: all of Unicode
    table_options={"engine": "InnoDB", "charset": "utf8mb4"},
    bulk_path="multi-row INSERT sized to max_allowed_packet (PyMySQL)",
    # deadlock, lock wait timeout, server gone away, lost connection, can't connect,
    # too many connections, server shutdown in progress
    transient_codes=frozenset({1213, 1205, 2006, 2013, 2003, 1040, 1053}),
    # disk full, table full, running --read-only, read-only transaction
    unavailable_codes=frozenset({1021, 1114, 1290, 1792}),
)


class MySQLStrategy(DialectStrategy):
    capabilities = MYSQL
    packet_margin = 64 * 1024  # room for the statement text around the values

    def engine_options(self, client: str, url: URL | None = None) -> dict[str, Any]:
        return {"connect_args": {"charset": "utf8mb4", "init_command": self.lock_wait_sql()}}

    def lock_wait_sql(self) -> str:
        return f"SET SESSION innodb_lock_wait_timeout = {self.lock_wait_seconds:.0f}"

    def drop_schema(self, connection: Connection, schema: str) -> None:
        """A MySQL schema is a database; DROP DATABASE takes its tables with it."""
        connection.execute(DropSchema(schema, if_exists=True))

    def serialize_ddl(self, connection: Connection) -> None:
        """A named lock held until the connection closes (MySQL DDL commits implicitly)."""
        connection.exec_driver_sql("SELECT GET_LOCK('xmlload ddl', 60)")

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
    """MySQL/MariaDB through pyodbc (e.g. Debian's odbc-mariadb): errors carry SQLSTATEs;
    the charset and lock wait are set on each connection."""

    capabilities = replace(
        MYSQL,
        name="mysql+pyodbc",
        default_driver="pyodbc",
        drivers=("pyodbc",),
        driver_packages={"pyodbc": "pyodbc"},
        bulk_path="executemany, values as text (pyodbc)",
        transient_codes=ODBC_TRANSIENT,
        unavailable_codes=ODBC_UNAVAILABLE,
    )

    def engine_options(self, client: str, url: URL | None = None) -> dict[str, Any]:
        return {}

    def prepare_url(self, url: URL) -> URL:
        """utf8mb4 unless the URL says otherwise (it becomes CHARSET= of the ODBC string)."""
        if "charset" in url.query or "odbc_connect" in url.query:
            return url
        return url.update_query_dict({"charset": "utf8mb4"})

    def configure(self, engine: Engine) -> None:
        statement = self.lock_wait_sql()

        @event.listens_for(engine, "connect")
        def _session(dbapi_connection: Any, record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute(statement)
            cursor.close()

    def insert_rows(self, connection: Connection, table: sa.Table, rows: Sequence[tuple]) -> None:
        """Values as text: the ODBC driver would drop the microseconds of DATETIME(6).
        (pyodbc's fast_executemany fails with MariaDB Connector/ODBC 3.1, so rows go one
        execution each, inside the chunk's transaction.)"""
        if rows:
            self.executemany(connection, table, rows, "?", as_text)


def _types() -> Any:
    """SQLAlchemy's MySQL types, imported when a statement is compiled for MySQL."""
    from sqlalchemy.dialects import mysql

    return mysql
