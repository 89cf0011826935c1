"""Checkpoints of table sources read with `--source-updated-column`: one row per source
(and scope: shard, id range) in the target, `processing_checkpoints`. A run reads only the
rows whose column is past the checkpoint (less a look-back window), and saves the largest
value it saw at its start only after every row was processed, so a stop or a crash never
skips a row."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from xmlload.db.run_registry import utc_now
from xmlload.db.schema import TABLE_OPTIONS, datetime_type, text_type

TABLE_NAME = "processing_checkpoints"


def checkpoints_table(metadata: sa.MetaData, schema: str | None) -> sa.Table:
    return sa.Table(
        TABLE_NAME,
        metadata,
        sa.Column("source", sa.Unicode(700), primary_key=True),
        sa.Column("updated_column", sa.Unicode(128), nullable=False),
        sa.Column("kind", sa.Unicode(10), nullable=False),
        sa.Column("value", text_type(), nullable=False),
        sa.Column("saved_at", datetime_type(), nullable=False),
        schema=schema,
        comment="Per table source: the updated-column value below which every row is logged.",
        **TABLE_OPTIONS,
    )


def _encode(value: Any) -> tuple[str, str]:
    if isinstance(value, datetime):
        return "datetime", value.isoformat()
    if isinstance(value, date):
        return "date", value.isoformat()
    if isinstance(value, bool | int):
        return "integer", str(int(value))
    if isinstance(value, Decimal | float):
        return "decimal", str(value)
    return "text", str(value)


def _decode(kind: str, text: str) -> Any:
    decode = {"datetime": datetime.fromisoformat, "date": date.fromisoformat, "integer": int,
              "decimal": Decimal}.get(kind, str)  # fmt: skip
    return decode(text)


def looked_back(value: Any, lookback: float) -> Any:
    """The checkpoint less the look-back window (seconds for times, units for numbers):
    rows committed late with an older value are read again (and skipped if unchanged)."""
    if value is None or lookback <= 0:
        return value
    if isinstance(value, datetime | date):
        return value - timedelta(seconds=lookback)
    if isinstance(value, int):
        return value - int(lookback)
    if isinstance(value, Decimal):
        return value - Decimal(str(lookback))
    if isinstance(value, str):  # a timestamp a driver gives as text (SQLite)
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
        return (moment - timedelta(seconds=lookback)).isoformat(sep=" ")
    return value


class Checkpoints:
    def __init__(self, engine: Engine, schema: str | None) -> None:
        self.engine = engine
        self.table = checkpoints_table(sa.MetaData(), schema)

    def read(self, source: str) -> Any:
        """The saved checkpoint; None before the first save (the table may not exist yet:
        it is made at the first save, after the run made the target's schema)."""
        with self.engine.connect() as connection:
            if not sa.inspect(connection).has_table(TABLE_NAME, schema=self.table.schema):
                return None
            row = connection.execute(
                sa.select(self.table.c.kind, self.table.c.value).where(
                    self.table.c.source == source
                )
            ).first()
        return None if row is None else _decode(row.kind, row.value)

    def save(self, source: str, column: str, value: Any) -> None:
        kind, text = _encode(value)
        table = self.table
        with self.engine.begin() as connection:
            table.create(connection, checkfirst=True)
            connection.execute(table.delete().where(table.c.source == source))
            connection.execute(
                table.insert().values(
                    source=source, updated_column=column, kind=kind, value=text, saved_at=utc_now()
                )
            )
