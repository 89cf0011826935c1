"""DialectStrategy: how xmlload talks to one kind of database. What a database *is* —
URL schemes, default driver, column types, identifier length, table options, bulk path,
lock timeout, transient and unavailable error codes — is data, its `Capabilities`; what
it *does* differently (bulk insert, pragmas, schemas) are the few methods a subclass
overrides. The base works for any SQLAlchemy backend."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.schema import CreateSchema, DropSchema

from xmlload.errors import SettingsError
from xmlload.states import Fault

ErrorCode = int | str  # a driver error number, or an SQLSTATE


@dataclass(frozen=True)
class Capabilities:
    """One database as data. `column_types` overrides the portable type of a column kind
    ("datetime", "text") on this database; `transient_codes` are worth a retry (deadlock,
    lock timeout, lost connection), `unavailable_codes` mean no write can succeed (disk
    full, read-only): the run stops and no document is blamed."""

    name: str  # the registry key, also `contract ddl --dialect NAME`
    schemes: tuple[str, ...]  # SQLAlchemy backend names this serves
    default_driver: str | None  # what `scheme://` without `+driver` means
    drivers: tuple[str, ...] = ()  # only these drivers (empty: any)
    driver_packages: Mapping[str, str] = field(default_factory=dict)  # module -> package
    identifier_length: int = 63
    column_types: Mapping[str, Callable[[], sa.types.TypeEngine]] = field(default_factory=dict)
    table_options: Mapping[str, str] = field(default_factory=dict)
    bulk_path: str = "executemany"
    lock_wait_seconds: float = 120.0  # a statement waits this long for a lock, then fails
    transient_codes: frozenset[ErrorCode] = frozenset()
    unavailable_codes: frozenset[ErrorCode] = frozenset()


# ODBC SQLSTATEs: serialization failure/deadlock, timeouts, connection failures
ODBC_TRANSIENT = frozenset({"40001", "HYT00", "HYT01", "08S01", "08001", "08003", "08004",
                            "08007"})  # fmt: skip
# ODBC SQLSTATEs: disk full / out of space (HY000 is too general to count)
ODBC_UNAVAILABLE = frozenset({"HY001", "25006"})


class DialectStrategy:
    capabilities: ClassVar[Capabilities] = Capabilities("default", (), None)

    @property
    def backend(self) -> str:
        return self.capabilities.name

    @property
    def lock_wait_seconds(self) -> float:
        return self.capabilities.lock_wait_seconds

    def create_engine(self, url: URL, client: str = "xmlload") -> Engine:
        """An engine whose connections name themselves `client` where the server shows it
        (a run's connections carry its run id, so an operator can tell runs apart)."""
        self.check_driver(url)
        url = self.prepare_url(url)
        options = self.engine_options(client, url)
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool, **options)
        self.configure(engine)
        return engine

    def prepare_url(self, url: URL) -> URL:
        """The URL the engine connects with (a subclass adds what the driver needs)."""
        return url

    def reader_engine(self, url: URL) -> Engine:
        """An engine for reading a source table: no session settings, no write locks."""
        self.check_driver(url)
        return sa.create_engine(url, poolclass=sa.pool.NullPool)

    def check_driver(self, url: URL) -> None:
        """SettingsError naming the package to install when the URL's driver is missing."""
        dialect = url.get_dialect()
        try:
            dialect.import_dbapi()
        except ImportError as error:
            module = dialect.driver
            package = self.capabilities.driver_packages.get(module, module)
            default = self.capabilities.default_driver
            instead = ""
            if default and default != module:
                instead = f", or use {url.get_backend_name()}+{default}://"
            raise SettingsError(
                f"the driver {module!r} for {url.drivername}:// is not installed "
                f"({error}): pip install {package}{instead}"
            ) from None

    def engine_options(self, client: str, url: URL | None = None) -> dict[str, Any]:
        """Keyword arguments for `create_engine`; `url` is the target's, for what it sets."""
        return {}

    def configure(self, engine: Engine) -> None:
        """Hook for connection-level settings (pragmas, session variables)."""

    def refresh_statistics(self, connection: Connection, tables: Sequence[sa.Table]) -> None:
        """Tell the query planner what the tables hold now, where it plans from statistics
        that a load outgrows (a plan made for an empty table scans it whole). Backends
        that keep their statistics current themselves do nothing."""

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
        placeholder; with `{}` in it, numbered from 1, as Oracle's `:1`); driver errors
        come back wrapped as SQLAlchemy's DBAPIError."""
        quote = connection.dialect.identifier_preparer
        columns = ", ".join(quote.quote(column.name) for column in table.columns)
        markers = [marker.format(position + 1) for position in range(len(table.columns))]
        statement = (
            f"INSERT INTO {quote.format_table(table)} ({columns}) VALUES ({', '.join(markers)})"
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

    def classify(self, error: DBAPIError) -> Fault:
        """What this error means: retry it, stop the run, or fail the document."""
        if self.is_transient(error):
            return Fault.TRANSIENT
        if self.is_unavailable(error):
            return Fault.UNAVAILABLE
        return Fault.REJECTED

    @staticmethod
    def error_code(error: DBAPIError) -> ErrorCode | None:
        """The driver's code for this error: the first argument (an error number or an
        ODBC SQLSTATE); drivers that carry it elsewhere override this."""
        args = getattr(error.orig, "args", ())
        return args[0] if args and isinstance(args[0], int | str) else None

    def is_transient(self, error: DBAPIError) -> bool:
        """Worth retrying: the connection was lost, or a code the database calls transient."""
        return bool(error.connection_invalidated) or (
            self.error_code(error) in self.capabilities.transient_codes
        )

    def missing_database(self, url: URL) -> str | None:
        """Why the URL names no existing database, for read-only commands that must not
        create one; None when it may exist (servers say so when connected to)."""
        return None

    def is_unavailable(self, error: DBAPIError) -> bool:
        """The target cannot take writes at all (disk full, read-only, I/O error): no
        document is to blame, so the run stops."""
        return self.error_code(error) in self.capabilities.unavailable_codes


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
