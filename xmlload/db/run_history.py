"""What each run did, one row per run in `processing_run_history`: documents new, changed,
unchanged, closed, failed — what `xmlload status` shows per run. Written when a run ends
(stopped runs too); a run that cannot write it still ends as it would have."""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from xmlload.db.run_registry import utc_now
from xmlload.db.schema import TABLE_OPTIONS, datetime_type
from xmlload.summary import RunSummary

log = logging.getLogger(__name__)
TABLE_NAME = "processing_run_history"
COUNTS = ("documents", "new", "changed", "unchanged", "closed", "failed")


def run_history_table(metadata: sa.MetaData, schema: str | None) -> sa.Table:
    return sa.Table(
        TABLE_NAME,
        metadata,
        sa.Column("run_id", sa.Unicode(36), primary_key=True),
        sa.Column("ended_at", datetime_type(), nullable=False),
        sa.Column("outcome", sa.Unicode(40), nullable=False),
        *[sa.Column(name, sa.Integer(), nullable=False) for name in COUNTS],
        schema=schema,
        comment="One row per run: documents new, changed, unchanged, closed and failed.",
        **TABLE_OPTIONS,
    )


def record_run(engine: Engine, schema: str | None, summary: RunSummary) -> None:
    table = run_history_table(sa.MetaData(), schema)
    if summary.target_lost is not None:
        outcome = "target lost"
    elif summary.stopped_by is not None:
        outcome = f"stopped by {summary.stopped_by}"
    else:
        outcome = "finished"
    values = {"documents": summary.documents, "new": summary.documents - summary.changed,
              "changed": summary.changed, "unchanged": summary.unchanged,
              "closed": summary.closed_missing, "failed": summary.failed}  # fmt: skip
    try:
        with engine.begin() as connection:
            table.create(connection, checkfirst=True)
            connection.execute(
                table.insert().values(
                    run_id=summary.run_id, ended_at=utc_now(), outcome=outcome, **values
                )
            )
    except sa.exc.DBAPIError as error:  # the run's own summary still says all of this
        log.warning("could not record run %s in %s: %s", summary.run_id, TABLE_NAME, error)


def recent_runs(
    connection: Connection, schema: str | None, limit: int = 10
) -> list[dict[str, Any]]:
    """The last runs, newest first (none when the table does not exist yet)."""
    table = run_history_table(sa.MetaData(), schema)
    if not sa.inspect(connection).has_table(TABLE_NAME, schema=schema):
        return []
    statement = sa.select(table).order_by(table.c.ended_at.desc()).limit(limit)
    return [dict(row._mapping) for row in connection.execute(statement)]
