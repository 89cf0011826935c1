"""History (`history: keep`): a changed document gets version n+1 in every table, in the
same transaction that closes version n (`valid_to`); a document whose new rows equal its
current ones gets no new version. Part of the migration engine's write."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from xmlload.db.current import current_rows, normalised
from xmlload.db.processing_log import Previous
from xmlload.db.run_registry import utc_now
from xmlload.outcome import DocumentOutcome


class Versions:
    def __init__(self, tables: Sequence[sa.Table], id_column: str) -> None:
        self.tables, self.id_column = tables, id_column
        self.now: datetime = utc_now()

    def close_changed(
        self, connection: Connection, outcomes: Sequence[DocumentOutcome], previous: Previous
    ) -> None:
        """Give each successful outcome its version: 1 when new; the current one, with no
        rows to write, when its rows are unchanged; else the next, closing the current."""
        self.now = utc_now()
        loaded = [o for o in outcomes if o.succeeded and o.source_key in previous.loaded]
        for outcome in outcomes:
            if outcome.succeeded and outcome.source_key not in previous.loaded:
                outcome.version = 1
        if not loaded:
            return
        ids = [previous.loaded[o.source_key] for o in loaded]
        stored = current_rows(connection, self.tables, self.id_column, ids)
        closing = []
        for outcome in loaded:
            document_id = previous.loaded[outcome.source_key]
            version = previous.versions.get(outcome.source_key, 1)
            if document_id == outcome.document_id and _same(outcome, stored.get(document_id)):
                outcome.version, outcome.rows = version, {}
                outcome.message = f"rows equal to version {version}: no new version"
            else:
                outcome.version = version + 1
                closing.append(document_id)
        self.close(connection, closing)

    def close(self, connection: Connection, ids: Sequence[object]) -> None:
        """End the current version of these documents in every table (valid_to = now)."""
        for table in self.tables:
            for start in range(0, len(ids), 500):
                batch = list(ids[start : start + 500])
                connection.execute(
                    table.update()
                    .where(table.c[self.id_column].in_(batch), table.c.valid_to.is_(None))
                    .values(valid_to=self.now)
                )


def _same(outcome: DocumentOutcome, stored: dict[str, list[tuple]] | None) -> bool:
    stored = stored or {}
    tables = set(outcome.rows) | set(stored)
    return all(
        Counter(normalised(outcome.rows.get(table, []))) == Counter(stored.get(table, []))
        for table in tables
    )
