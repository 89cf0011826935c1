"""Oracle through python-oracledb in thin mode (no client libraries): executemany with
array binding for bulk rows, error classification by ORA- number, schemas as users."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from xmlload.db.dialects.base import Capabilities, DialectStrategy, ErrorCode
from xmlload.errors import TargetError


class OracleStrategy(DialectStrategy):
    capabilities = Capabilities(
        name="oracle",
        schemes=("oracle",),
        default_driver="oracledb",
        driver_packages={"oracledb": "oracledb", "cx_oracle": "cx_Oracle"},
        identifier_length=128,
        # TIMESTAMP(6) keeps microseconds (DATE has none); CLOB for unbounded text
        column_types={"datetime": lambda: _types().TIMESTAMP(), "text": lambda: _types().NCLOB()},
        bulk_path="executemany with array binding (python-oracledb, thin)",
        # deadlock, resource busy (NOWAIT / WAIT timeout), lost or refused connection
        transient_codes=frozenset(
            {60, 54, 30006, 3113, 3114, 3135, 12170, 12514, 12541, 12543, 12537, 12547}
        ),
        # tablespace full (table, index, quota), read-only database or tablespace
        unavailable_codes=frozenset({1653, 1654, 1688, 1536, 16000, 372}),
    )

    @staticmethod
    def error_code(error: DBAPIError) -> ErrorCode | None:
        """The ORA- number: python-oracledb wraps it in the exception's first argument."""
        args = getattr(error.orig, "args", ())
        return getattr(args[0], "code", None) if args else None

    def configure(self, engine: Engine) -> None:
        seconds = round(self.lock_wait_seconds)

        @event.listens_for(engine, "connect")
        def _session(dbapi_connection: Any, record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute(f"ALTER SESSION SET DDL_LOCK_TIMEOUT = {seconds}")
            cursor.close()

    def lock_table(self, connection: Connection, table: sa.Table) -> None:
        """Locks on Oracle wait forever unless the statement bounds them."""
        name = connection.dialect.identifier_preparer.format_table(table)
        seconds = round(self.lock_wait_seconds)
        connection.exec_driver_sql(f"LOCK TABLE {name} IN EXCLUSIVE MODE WAIT {seconds}")

    def create_schema(self, connection: Connection, schema: str) -> None:
        """An Oracle schema is a user, which xmlload does not create (that needs DBA
        rights and a tablespace quota): it must exist."""
        found = connection.execute(
            sa.text("SELECT 1 FROM all_users WHERE username = :name"), {"name": schema.upper()}
        ).first()
        if found is None:
            raise TargetError(
                f"Oracle user (schema) {schema!r} does not exist: create it with a quota, "
                "or remove target_schema"
            )

    def drop_schema(self, connection: Connection, schema: str) -> None:
        connection.exec_driver_sql(f'DROP USER "{schema.upper()}" CASCADE')

    def insert_rows(self, connection: Connection, table: sa.Table, rows: Sequence[tuple]) -> None:
        """One executemany: python-oracledb binds the rows as arrays in one round trip."""
        if rows:
            self.executemany(connection, table, rows, ":{}")


def _types() -> Any:
    """SQLAlchemy's Oracle types, imported when a table is built for Oracle."""
    from sqlalchemy.dialects import oracle

    return oracle
