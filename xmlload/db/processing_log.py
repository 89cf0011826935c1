"""The processing log: one row per source document, written in the same transaction as
the document's rows. Resume skips what it lists; reprocess starts from its failures."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from xmlload.outcome import DocumentOutcome

TABLE_NAME = "processing_log"
MESSAGE_LIMIT = 2000


def log_table(metadata: sa.MetaData, id_type: sa.types.TypeEngine, schema: str | None) -> sa.Table:
    return sa.Table(
        TABLE_NAME,
        metadata,
        sa.Column("source_key", sa.Unicode(512), primary_key=True),
        sa.Column("document_id", id_type, nullable=True, index=True),
        sa.Column("status", sa.Unicode(10), nullable=False, index=True),
        sa.Column("stage", sa.Unicode(20), nullable=True),
        sa.Column("message", sa.UnicodeText(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Unicode(36), nullable=False),
        sa.Column("worker", sa.Unicode(64), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=False),
        sa.Column("rows_written", sa.Integer(), nullable=False),
        schema=schema,
        comment="One row per source document: status, failure stage and message, attempts.",
    )


class ProcessingLog:
    """Reads and writes `processing_log` on a connection the caller controls."""

    def __init__(self, table: sa.Table) -> None:
        self.table = table

    def record(
        self, connection: Connection, outcomes: Sequence[DocumentOutcome], run_id: str, worker: str
    ) -> None:
        """Replace the entries of these documents; attempts count up across runs."""
        if not outcomes:
            return
        table = self.table
        keys = [outcome.source_key for outcome in outcomes]
        previous = dict(
            connection.execute(
                sa.select(table.c.source_key, table.c.attempts).where(table.c.source_key.in_(keys))
            ).all()
        )
        connection.execute(table.delete().where(table.c.source_key.in_(keys)))
        now = datetime.now()
        connection.execute(
            table.insert(),
            [
                {
                    "source_key": outcome.source_key,
                    "document_id": outcome.document_id,
                    "status": outcome.status,
                    "stage": outcome.stage,
                    "message": (outcome.message or None) and outcome.message[:MESSAGE_LIMIT],
                    "attempts": previous.get(outcome.source_key, 0) + 1,
                    "run_id": run_id,
                    "worker": worker,
                    "started_at": outcome.started_at,
                    "finished_at": outcome.finished_at or now,
                    "rows_written": outcome.rows_written,
                }
                for outcome in outcomes
            ],
        )

    def logged_keys(self, connection: Connection, keys: Iterable[str]) -> set[str]:
        """Which of these source keys already have an entry (any status)."""
        wanted = list(keys)
        found: set[str] = set()
        column = self.table.c.source_key
        for start in range(0, len(wanted), 500):
            batch = wanted[start : start + 500]
            found.update(connection.execute(sa.select(column).where(column.in_(batch))).scalars())
        return found
