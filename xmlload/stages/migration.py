"""MigrationEngine: writes a chunk of mapped documents and their processing-log entries.

One dedicated connection per worker for the whole run. A chunk goes in one transaction
through the dialect's bulk path; if it fails, its documents are retried one by one so a
bad document fails alone. A document's rows and its log entry always commit together.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from xmlload.contract.compiler import Plan
from xmlload.db.processing_log import ProcessingLog
from xmlload.db.retry import RetryPolicy, with_retries
from xmlload.db.schema import history_columns
from xmlload.db.target import connect_engine, describe_db_error, target_schema
from xmlload.db.urls import mask_url
from xmlload.errors import TargetLostError
from xmlload.outcome import DocumentOutcome
from xmlload.stages.versions import Versions
from xmlload.states import Fault, Stage

T = TypeVar("T")
STATISTICS_FIRST = 2_000  # documents a worker writes before the planner hears of them
STATISTICS_GROWTH = 4  # then again each time its writes have grown this many times


class GrowthTrigger:
    """Fires when a running count first reaches `first`, then `first * growth`, and so
    on: a constant share of the work, however big the load."""

    def __init__(self, first: int = STATISTICS_FIRST, growth: int = STATISTICS_GROWTH) -> None:
        self.count, self.next, self.growth = 0, first, growth

    def add(self, count: int) -> bool:
        self.count += count
        if self.count < self.next:
            return False
        while self.next <= self.count:
            self.next *= self.growth
        return True


class MigrationEngine:
    def __init__(
        self, plan: Plan, url: URL, run_id: str, worker: str, retry: RetryPolicy | None = None
    ) -> None:
        self.run_id, self.worker = run_id, worker
        self.url, self.retry = url, retry or RetryPolicy()
        self.id_column = plan.contract.document.id.column
        schema = target_schema(plan)
        self.tables = schema.tables
        self.log = ProcessingLog(schema.log)
        self.strategy, self.engine = connect_engine(url, f"xmlload {run_id}")
        self.versions = Versions(self.tables, self.id_column)
        self.statistics = GrowthTrigger()
        self._connection: Connection | None = None
        self._retrying(lambda: self.connection)

    @property
    def connection(self) -> Connection:
        """The worker's dedicated connection, opened again after it was lost."""
        if self._connection is None:
            self._connection = self.engine.connect()
        return self._connection

    def _drop_connection(self) -> None:
        if self._connection is not None:
            self._connection.invalidate()
            self._connection = None

    def _retrying(self, action: Callable[[], T]) -> T:
        """Run with transient-error retries; TargetLostError once they are used up, or at
        once when the target cannot take writes at all."""
        try:
            return with_retries(
                action, self.strategy.is_transient, self.retry, self._drop_connection
            )
        except DBAPIError as error:
            if self.strategy.classify(error) is Fault.UNAVAILABLE:
                raise self._lost(error, "cannot take writes") from None
            raise self._lost(error, f"failed after {self.retry.max_retries} retries") from None

    def _lost(self, error: DBAPIError, what: str) -> TargetLostError:
        return TargetLostError(f"target {mask_url(self.url)} {what}: {describe_db_error(error)}")

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
        self.engine.dispose()

    def _rows(self, outcome: DocumentOutcome, table: sa.Table) -> list[tuple[object, ...]]:
        """The outcome's rows as the table takes them (with history: its version columns)."""
        rows = outcome.rows.get(table.name, ())
        added = history_columns(table)
        if not added:
            return list(rows)
        values = {"version": outcome.version, "valid_from": self.versions.now, "valid_to": None}
        history = tuple(values[name] for name in added)
        return [(*row, *history) for row in rows]

    def logged_fingerprints(self, keys: Sequence[str]) -> dict[str, str | None]:
        """The fingerprints the processing log holds for these keys (those logged)."""
        return self._read_log(lambda connection: self.log.fingerprints(connection, keys))

    def logged_under(self, prefix: str) -> dict[str, str | None]:
        """The fingerprints of the logged keys that start with `prefix` (a file's records)."""
        return self._read_log(lambda connection: self.log.fingerprints_under(connection, prefix))

    def _read_log(self, read: Callable[[Connection], T]) -> T:
        """A read of the log on the worker's connection, its transaction ended straight
        after, with transient-error retries."""

        def attempt() -> T:
            try:
                return read(self.connection)
            finally:
                self.connection.rollback()

        return self._retrying(attempt)

    def write_chunk(self, outcomes: Sequence[DocumentOutcome]) -> None:
        """Commit every outcome; a document the database rejects is marked failed (load)."""
        if not outcomes:  # a refresh chunk whose documents were all unchanged
            return
        error = self._try_write(outcomes)
        if error is None:
            if self.statistics.add(len(outcomes)):
                self._retrying(self._refresh_statistics)
            return
        if len(outcomes) == 1:
            self._record_failure(outcomes[0], error)
            return
        for outcome in outcomes:
            alone = self._try_write([outcome])
            if alone is not None:
                self._record_failure(outcome, alone)

    def _refresh_statistics(self) -> None:
        """The planner's statistics of the log and the tables, brought up to date."""
        with self.connection.begin():
            self.strategy.refresh_statistics(self.connection, [self.log.table, *self.tables])

    def _try_write(self, outcomes: Sequence[DocumentOutcome]) -> SQLAlchemyError | None:
        """Write in one transaction; return the database's rejection, retry what is transient."""

        def attempt() -> SQLAlchemyError | None:
            try:
                with self.connection.begin():
                    self._write(outcomes)
            except DBAPIError as error:
                if self.strategy.classify(error) is not Fault.REJECTED:
                    raise  # retried, or the run stops: not the documents' fault
                return error
            except SQLAlchemyError as error:
                return error
            return None

        return self._retrying(attempt)

    def _record_failure(self, outcome: DocumentOutcome, error: SQLAlchemyError) -> None:
        """Log the document failed at the load stage, with none of its rows left behind."""
        outcome.fail(Stage.LOAD, describe_db_error(error))

        def attempt() -> None:
            with self.connection.begin():
                self._write([outcome])

        self._retrying(attempt)

    def _write(self, outcomes: Sequence[DocumentOutcome]) -> None:
        """Replace these documents: a success deletes the rows its source key loaded before
        (rows exist only where the log says so, since rows and log entry commit together);
        a failed attempt at a document loaded before keeps its rows and says so in its log
        entry. A document id another source key already loaded is refused. Rows and log
        entries go through the dialect's bulk path."""
        keys = [outcome.source_key for outcome in outcomes]
        ids = list({o.document_id for o in outcomes if o.document_id is not None})
        previous = self.log.previous(self.connection, keys, ids)
        _refuse_duplicates(outcomes, previous.owners)
        kept = [o for o in outcomes if not o.succeeded and o.source_key in previous.loaded]
        for outcome in kept:
            outcome.kept_previous = True
        replaced = [o for o in outcomes if not o.kept_previous]
        written = self.versions.close_changed(
            self.connection, [o for o in replaced if o.succeeded], previous
        )
        stale = previous.stale_ids(o.source_key for o in written)
        for table in reversed(self.versions.replaced) if stale else ():
            self.strategy.delete_documents(self.connection, table, self.id_column, stale)
        logged = [o.source_key for o in replaced if o.source_key in previous.attempts]
        if logged:
            self.log.delete(self.connection, logged)
        for table in self.tables:
            rows = [row for o in written for row in self._rows(o, table)]
            self.strategy.insert_rows(self.connection, table, rows)
        entries = self.log.entries(replaced, previous, self.run_id, self.worker)
        self.strategy.insert_rows(self.connection, self.log.table, entries)
        self.log.note_failed_attempts(self.connection, kept, previous, self.run_id, self.worker)


def _refuse_duplicates(outcomes: Sequence[DocumentOutcome], owners: dict[object, str]) -> None:
    """A document id loads from one source key only: a second source row or file with the
    same id fails (stage validation) instead of silently replacing the first."""
    claimed = dict(owners)
    for outcome in outcomes:
        if not outcome.succeeded or outcome.document_id is None:
            continue
        owner = claimed.get(outcome.document_id)
        if owner is not None and owner != outcome.source_key:
            outcome.fail(
                Stage.VALIDATION,
                f"duplicate document id {outcome.document_id}: already "
                f"loaded from source key {owner!r}",
            )
        else:
            claimed[outcome.document_id] = outcome.source_key
