"""A database table with an id column and an XML text column, read by keyset pagination."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, BinaryIO

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from xmlload.contract.model import check_identifier
from xmlload.db.dialects import strategy_for
from xmlload.db.retry import RetryPolicy, with_retries
from xmlload.db.target import describe_db_error
from xmlload.db.urls import SecretURL, mask_url
from xmlload.errors import SettingsError, TargetError
from xmlload.sources.base import (
    SourceConfig,
    SourceDocument,
    SourceItem,
    SourceSettings,
    text_to_bytes,
)


@dataclass(frozen=True)
class TableSourceConfig(SourceConfig):
    url: SecretURL  # a str is taken and kept as a SecretURL
    table: str
    id_column: str = "id"
    xml_column: str = "xml"
    id_start: int | None = None
    id_end: int | None = None
    shard: tuple[int, int] | None = None  # (K, N): only ids with id mod N == K (0 <= K < N)
    updated_column: str | None = None  # a timestamp or increasing key: what changed when
    updated_after: Any = None  # with updated_column: list only rows past this value

    def __post_init__(self) -> None:
        object.__setattr__(self, "url", SecretURL(self.url))

    @classmethod
    def claims(cls, location: str) -> bool:
        return "://" in location

    @classmethod
    def from_settings(cls, settings: SourceSettings) -> TableSourceConfig:
        if not settings.source_table:
            raise SettingsError("a database source needs --source-table")
        start, end = settings.id_start, settings.id_end
        if start is not None and end is not None and start > end:
            raise SettingsError(
                f"--id-start {start} is above --id-end {end}: no id can be in that range"
            )
        return cls(str(settings.source), settings.source_table, settings.id_column,
                   settings.xml_column, start, end, settings.shard_pair,
                   settings.source_updated_column)  # fmt: skip

    def open(self) -> TableSource:
        return TableSource(self)

    @cached_property
    def key_prefix(self) -> str:
        """`DATABASE:TABLE#`: a row's key names its table as a file's key names its path,
        so two tables (or databases) whose ids overlap never share a key."""
        url = self.url.url()
        database = url.database or ""
        if url.get_backend_name() == "sqlite" and database not in ("", ":memory:"):
            database = str(Path(database).expanduser().resolve())
        return f"{database}:{self.table}#"

    def key(self, item: SourceItem) -> str:
        return f"{self.key_prefix}{item}"

    def key_scope(self) -> str | None:
        return self.key_prefix

    def legacy_prefix(self) -> str | None:
        """Logs before 0.2 keyed rows by their bare id."""
        return self.key_prefix

    def item_of(self, key: str) -> SourceItem | None:
        if key.startswith(self.key_prefix) and _ID.match(key[len(self.key_prefix) :]):
            return int(key[len(self.key_prefix) :])
        return None


_ID = re.compile(r"^-?\d{1,19}$")


def _as_bytes(value: str | bytes | None) -> bytes:
    if value is None:
        return b""
    return text_to_bytes(value) if isinstance(value, str) else bytes(value)


def shard_condition(column: sa.ColumnElement, shard: tuple[int, int]) -> sa.ColumnElement[bool]:
    """Ids in shard K of N: SQL's `%` keeps the sign of a negative id, so it is shifted
    into 0..N-1 as Python's is; every id belongs to exactly one shard."""
    index, count = shard
    return (column % count + count) % count == index


def _table(config: TableSourceConfig) -> sa.TableClause:
    schema, _, name = config.table.rpartition(".")
    try:
        updated = [config.updated_column] if config.updated_column else []
        for identifier in (
            name,
            config.id_column,
            config.xml_column,
            *updated,
            *([schema] if schema else []),
        ):
            check_identifier(identifier)
    except ValueError as error:
        raise SettingsError(f"source table: {error}") from None
    columns = [sa.column(name) for name in (config.id_column, config.xml_column, *updated)]
    return sa.table(name, *columns, schema=schema or None)


class TableSource:
    def __init__(self, config: TableSourceConfig) -> None:
        self.config = config
        self.url = config.url.url()
        self.table = _table(config)
        self.id = self.table.c[config.id_column]
        self.xml = self.table.c[config.xml_column]
        self.strategy, self.retry = strategy_for(self.url), RetryPolicy()
        self.engine = self.strategy.reader_engine(self.url)
        self._connection: sa.Connection | None = None

    def _drop(self) -> None:
        if self._connection is not None:
            self._connection.invalidate()
            self._connection = None

    def _where(self) -> list[sa.ColumnElement[bool]]:
        conditions = []
        if self.config.id_start is not None:
            conditions.append(self.id >= self.config.id_start)
        if self.config.id_end is not None:
            conditions.append(self.id <= self.config.id_end)
        if self.config.shard is not None:
            conditions.append(shard_condition(self.id, self.config.shard))
        if self.config.updated_column and self.config.updated_after is not None:
            updated = self.table.c[self.config.updated_column]
            conditions.append(updated > self.config.updated_after)
        return conditions

    def high_water(self) -> Any:
        """The largest `updated_column` value of the rows in scope now (None: no rows or
        no such column); what a checkpoint may advance to once they are all logged."""
        if not self.config.updated_column:
            return None
        updated = self.table.c[self.config.updated_column]
        scope = [c for c in self._where() if c is not None]
        statement = sa.select(sa.func.max(updated)).select_from(self.table).where(*scope)
        return self._run(statement)[0][0]

    def _run(self, statement: sa.Executable) -> list[sa.Row]:
        """Run a read on the reader's own connection (reconnecting after transient errors);
        end the transaction straight after."""

        def read() -> list[sa.Row]:
            if self._connection is None:
                self._connection = self.engine.connect()
            rows = list(self._connection.execute(statement).all())
            self._connection.rollback()
            return rows

        try:
            return with_retries(read, self.strategy.is_transient, self.retry, self._drop)
        except DBAPIError as error:
            raise TargetError(f"source {mask_url(self.url)}: {describe_db_error(error)}") from None

    def count(self) -> int:
        statement = sa.select(sa.func.count()).select_from(self.table).where(*self._where())
        return int(self._run(statement)[0][0])

    def pages(self, page_size: int) -> Iterator[list[SourceItem]]:
        """Ids in order, one page at a time: WHERE id > last ORDER BY id LIMIT n (each id
        once, however many rows hold it)."""
        last: SourceItem | None = None
        while True:
            conditions = self._where() + ([self.id > last] if last is not None else [])
            statement = sa.select(self.id).where(*conditions).distinct()
            page = [row[0] for row in self._run(statement.order_by(self.id).limit(page_size))]
            if not page:
                return
            yield page
            last = page[-1]

    def read(self, items: Sequence[SourceItem]) -> Iterator[SourceDocument]:
        """Each item's rows in scope. Several rows of one id are versions of one document,
        in the order of the updated column; without one their order is unknown, so the
        document fails at the source stage rather than load one of them at random."""
        rows: dict[SourceItem, list[bytes]] = {}
        for item, value in self._run(self._rows_of(items)):
            rows.setdefault(item, []).append(_as_bytes(value))
        key = self.config.key
        for item in items:
            found = rows.get(item, [])
            if not found:
                yield SourceDocument(item, None, "source row not found", key(item))
            elif len(found) > 1 and not self.config.updated_column:
                message = f"{len(found)} rows of {self.config.table} have this id: give "
                message += "--source-updated-column to load them as versions in its order"
                yield SourceDocument(item, None, message, key(item))
            else:
                yield from (SourceDocument(item, data, None, key(item)) for data in found)

    def _rows_of(self, items: Sequence[SourceItem]) -> sa.Select:
        statement = sa.select(self.id, self.xml).where(self.id.in_(list(items)))
        if not self.config.updated_column:
            return statement
        updated = self.table.c[self.config.updated_column]
        if self.config.updated_after is not None:  # older versions were loaded before
            statement = statement.where(updated > self.config.updated_after)
        return statement.order_by(self.id, updated)

    def open_stream(self, item: SourceItem) -> BinaryIO:
        """The row's XML as a stream, for a cell of records (the last version of the row
        when it has several); OSError when it cannot be read."""
        documents = list(self.read([item]))
        if documents[-1].data is None:
            raise OSError(documents[-1].error or "no data")
        return io.BytesIO(documents[-1].data)

    def describe(self) -> str:
        return f"table {self.config.table} at {mask_url(self.url)}"

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        self.engine.dispose()
