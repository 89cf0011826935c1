"""History (`history: keep`, for the contract or a tree of tables): a changed document
gets version n+1 in every table that keeps history, in the same transaction that closes
version n (`valid_to`); a document whose new rows equal its current ones gets no new
version. Tables that replace get their rows replaced. Part of the migration engine's
write."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from xmlload.db.current import current_rows, normalised
from xmlload.db.processing_log import Previous
from xmlload.db.run_registry import utc_now
from xmlload.db.schema import keeps_history
from xmlload.outcome import DocumentOutcome

Stored = dict[str, list[tuple]]  # table -> a document's current rows


class Versions:
    def __init__(self, tables: Sequence[sa.Table], id_column: str) -> None:
        self.tables, self.id_column = tables, id_column
        self.kept = [table for table in tables if keeps_history(table)]
        self.replaced = [table for table in tables if not keeps_history(table)]
        self.now: datetime = utc_now()

    def close_changed(
        self, connection: Connection, outcomes: Sequence[DocumentOutcome], previous: Previous
    ) -> list[DocumentOutcome]:
        """Give each successful outcome its version and return those with rows to write:
        version 1 when new (after the last one when it comes back to the source); when
        loaded before, the next version (closing the current) if
        rows of a kept table differ, else the current one with only the replaced tables'
        rows, or nothing to write when no table's rows differ."""
        if not self.kept:
            return list(outcomes)
        self.now = utc_now()
        loaded = [o for o in outcomes if o.source_key in previous.loaded]
        written = [o for o in outcomes if o.source_key not in previous.loaded]
        for outcome in written:  # new, or back after it was gone from the source
            outcome.version = previous.retired.get(outcome.document_id, 0) + 1
        ids = [previous.loaded[o.source_key] for o in loaded]
        stored = current_rows(connection, self.tables, self.id_column, ids) if ids else {}
        closing = []
        for outcome in loaded:
            document_id = previous.loaded[outcome.source_key]
            version = previous.versions.get(outcome.source_key, 1)
            mine = stored.get(document_id, {}) if document_id == outcome.document_id else None
            if mine is not None and self._same(outcome, mine, self.kept):
                outcome.version = version
                outcome.message = f"rows equal to version {version}: no new version"
                if self._same(outcome, mine, self.replaced):
                    outcome.rows = {}
                    continue
                outcome.rows = {t.name: outcome.rows.get(t.name, []) for t in self.replaced}
            else:
                outcome.version = version + 1
                closing.append(document_id)
            written.append(outcome)
        self.close(connection, closing)
        return written

    @staticmethod
    def _same(outcome: DocumentOutcome, stored: Stored, tables: Sequence[sa.Table]) -> bool:
        return all(
            Counter(normalised(outcome.rows.get(table.name, [])))
            == Counter(stored.get(table.name, []))
            for table in tables
        )

    def close(self, connection: Connection, ids: Sequence[object]) -> None:
        """End the current version of these documents in every kept table (valid_to = now)."""
        for table in self.kept:
            for start in range(0, len(ids), 500):
                batch = list(ids[start : start + 500])
                connection.execute(
                    table.update()
                    .where(table.c[self.id_column].in_(batch), table.c.valid_to.is_(None))
                    .values(valid_to=self.now)
                )
