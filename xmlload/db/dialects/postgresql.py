"""PostgreSQL through psycopg 3: COPY for bulk rows."""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
import sqlalchemy as sa
from psycopg import sql
from sqlalchemy.engine import Connection

from xmlload.db.dialects.base import DialectStrategy


class PostgreSQLStrategy(DialectStrategy):
    backend = "postgresql"

    def insert_rows(self, connection: Connection, table: sa.Table, rows: Sequence[tuple]) -> None:
        if not rows:
            return
        target = (
            sql.Identifier(table.schema, table.name) if table.schema else sql.Identifier(table.name)
        )
        columns = sql.SQL(", ").join(sql.Identifier(column.name) for column in table.columns)
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(target, columns)
        driver_connection = connection.connection.driver_connection
        try:
            with driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row(row)
        except psycopg.Error as error:
            # Raised by the driver directly: wrap it as SQLAlchemy would, so callers see one
            # exception hierarchy (IntegrityError, DataError, OperationalError, ...).
            raise sa.exc.DBAPIError.instance(
                statement.as_string(driver_connection), None, error, psycopg.Error
            ) from error
