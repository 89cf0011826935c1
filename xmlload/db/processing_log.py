"""The processing log: one row per source document, written in the same transaction as
the document's rows. Resume skips what it lists; reprocess starts from its failures."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from xmlload.db.schema import TABLE_OPTIONS, datetime_type, text_type
from xmlload.outcome import DocumentOutcome
from xmlload.states import Status

TABLE_NAME = "processing_log"
KEY_LIMIT = 512  # characters of a source key (a path or a row id)
MESSAGE_LIMIT = 2000
FINGERPRINT_LENGTH = 32  # hex digits of a 128-bit XXH3 digest
KEYS_PER_QUERY = 500  # keys in one IN (...) look-up
_BARE_ID = re.compile(r"^-?\d{1,19}$")


def log_table(metadata: sa.MetaData, id_type: sa.types.TypeEngine, schema: str | None) -> sa.Table:
    return sa.Table(
        TABLE_NAME,
        metadata,
        sa.Column("source_key", sa.Unicode(KEY_LIMIT), primary_key=True),
        sa.Column("document_id", id_type, nullable=True, index=True),
        sa.Column("status", sa.Unicode(10), nullable=False, index=True),
        sa.Column("stage", sa.Unicode(20), nullable=True),
        sa.Column("message", text_type(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Unicode(36), nullable=False),
        sa.Column("worker", sa.Unicode(64), nullable=True),
        sa.Column("started_at", datetime_type(), nullable=False),
        sa.Column("finished_at", datetime_type(), nullable=False),
        sa.Column("rows_written", sa.Integer(), nullable=False),
        # of the source bytes (`--refresh` reloads a document when it differs); NULL in
        # entries written before it existed
        sa.Column("fingerprint", sa.Unicode(FINGERPRINT_LENGTH), nullable=True),
        # with history: keep, the document's current version (NULL: replaced, not kept)
        sa.Column("version", sa.Integer(), nullable=True),
        schema=schema,
        comment="One row per source document: status, failure stage and message, attempts.",
        **TABLE_OPTIONS,
    )


@dataclass
class Previous:
    """What the log says before a chunk is written: attempts by source key, the document
    id each key loaded successfully before (its rows are replaced by a new success, kept
    after a failed attempt; a failed entry has no rows, and its id may be another key's
    document), and which other source key already loaded each of the chunk's document ids
    (a duplicate document)."""

    attempts: dict[str, int] = field(default_factory=dict)
    loaded: dict[str, object] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)  # history: keep, current version
    owners: dict[object, str] = field(default_factory=dict)
    # history: keep, the last version of a document id gone from the source (its rows are
    # closed, not deleted): a document that comes back goes on from there
    retired: dict[object, int] = field(default_factory=dict)

    def stale_ids(self, replaced_keys: Iterable[str]) -> list[object]:
        """Document ids whose rows these keys' new versions replace; never another key's."""
        ids = {self.loaded[key] for key in replaced_keys if key in self.loaded}
        return list(ids - set(self.owners))


class ProcessingLog:
    """Reads and writes `processing_log` on a connection the caller controls."""

    def __init__(self, table: sa.Table) -> None:
        self.table = table

    def previous(
        self, connection: Connection, keys: Sequence[str], document_ids: Sequence[object]
    ) -> Previous:
        """What the log holds for these source keys or document ids, in one query."""
        table = self.table
        condition = table.c.source_key.in_(keys)
        if document_ids:
            condition = sa.or_(condition, table.c.document_id.in_(document_ids))
        found = Previous()
        statement = sa.select(
            table.c.source_key, table.c.document_id, table.c.attempts, table.c.status,
            table.c.version,
        )  # fmt: skip
        wanted = set(keys)
        for key, document_id, attempts, status, version in connection.execute(
            statement.where(condition)
        ):
            if key in wanted:
                found.attempts[key] = attempts
                if status == Status.SUCCESS and document_id is not None:
                    found.loaded[key] = document_id
                    found.versions[key] = version or 1
            elif status == Status.SUCCESS and document_id is not None:
                found.owners[document_id] = key
            if status == Status.REMOVED and document_id is not None:
                last = max(found.retired.get(document_id, 0), version or 1)
                found.retired[document_id] = last
        return found

    def delete(self, connection: Connection, keys: Sequence[str]) -> None:
        connection.execute(self.table.delete().where(self.table.c.source_key.in_(keys)))

    def note_failed_attempts(
        self, connection: Connection, kept: Sequence[DocumentOutcome], previous: Previous,
        run_id: str, worker: str,
    ) -> None:  # fmt: skip
        """A failed attempt at a document loaded before: its entry stays a success (its
        rows stay), counts the attempt and says what failed."""
        table = self.table
        for outcome in kept:
            message = f"rows of the earlier load kept: this attempt (run {run_id}) failed at "
            message += f"{outcome.stage}: {outcome.message or ''}"
            connection.execute(
                table.update()
                .where(table.c.source_key == outcome.source_key)
                .values(
                    stage=outcome.stage,
                    message=message[:MESSAGE_LIMIT],
                    attempts=previous.attempts[outcome.source_key] + 1,
                    worker=worker,
                    finished_at=outcome.finished_at or datetime.now(),
                )
            )

    @staticmethod
    def entries(
        outcomes: Sequence[DocumentOutcome], previous: Previous, run_id: str, worker: str
    ) -> list[tuple[object, ...]]:
        """Log rows in the table's column order; attempts count up across runs."""
        now = datetime.now()
        return [
            (
                outcome.source_key,
                outcome.document_id,
                outcome.status,
                outcome.stage,
                outcome.message[:MESSAGE_LIMIT] if outcome.message else None,
                previous.attempts.get(outcome.source_key, 0) + 1,
                run_id,
                worker,
                outcome.started_at,
                outcome.finished_at or now,
                outcome.rows_written,
                outcome.fingerprint,
                outcome.version,
            )
            for outcome in outcomes
        ]

    def logged_keys(self, connection: Connection, keys: Iterable[str]) -> dict[str, str]:
        """Which of these source keys already have an entry: key -> its status (a document
        removed from the source and back again counts as new)."""
        wanted = list(keys)
        found: dict[str, str] = {}
        key, status = self.table.c.source_key, self.table.c.status
        for start in range(0, len(wanted), KEYS_PER_QUERY):
            batch = wanted[start : start + KEYS_PER_QUERY]
            statement = sa.select(key, status).where(key.in_(batch), status != Status.REMOVED)
            found.update(connection.execute(statement).all())
        return found

    def entries_under(self, connection: Connection, prefix: str) -> list[tuple[str, object, str]]:
        """(key, document id, status) of every entry whose key starts with `prefix` and
        whose document is not already removed."""
        key, table = self.table.c.source_key, self.table
        statement = sa.select(key, table.c.document_id, table.c.status).where(
            key.startswith(prefix, autoescape=True), table.c.status != Status.REMOVED
        )
        return [
            (k, document_id, status) for k, document_id, status in connection.execute(statement)
        ]

    def mark_removed(self, connection: Connection, keys: Sequence[str], run_id: str) -> None:
        """These documents are gone from the source (their rows deleted by the caller)."""
        table = self.table
        for start in range(0, len(keys), KEYS_PER_QUERY):
            connection.execute(
                table.update()
                .where(table.c.source_key.in_(list(keys[start : start + KEYS_PER_QUERY])))
                .values(status=Status.REMOVED, stage=None, rows_written=0, run_id=run_id,
                        message=f"gone from the source (run {run_id}): rows deleted (or closed)",
                        finished_at=datetime.now())
            )  # fmt: skip

    def adopt_bare_ids(self, connection: Connection, prefix: str) -> int:
        """Give the prefix to keys that are bare row ids (written before keys named their
        table): they become entries of the source that now resumes this log. Returns how
        many; those whose prefixed key exists already are left as they were."""
        column = self.table.c.source_key
        bare = [
            key
            for key in connection.execute(sa.select(column).where(~column.contains("#"))).scalars()
            if _BARE_ID.match(key)
        ]
        taken = self.logged_keys(connection, (prefix + key for key in bare))
        bare = [key for key in bare if prefix + key not in taken]
        for start in range(0, len(bare), KEYS_PER_QUERY):
            connection.execute(
                self.table.update()
                .where(column.in_(bare[start : start + KEYS_PER_QUERY]))
                .values(source_key=sa.literal(prefix).concat(column))
            )
        return len(bare)

    def fingerprints(self, connection: Connection, keys: Sequence[str]) -> dict[str, str | None]:
        """The logged fingerprint of each of these keys that has an entry (None: logged
        before fingerprints were kept)."""
        key, fingerprint = self.table.c.source_key, self.table.c.fingerprint
        found: dict[str, str | None] = {}
        for start in range(0, len(keys), KEYS_PER_QUERY):
            batch = list(keys[start : start + KEYS_PER_QUERY])
            statement = sa.select(key, fingerprint).where(
                key.in_(batch), self.table.c.status != Status.REMOVED
            )
            found.update(connection.execute(statement).all())
        return found

    def fingerprints_under(self, connection: Connection, prefix: str) -> dict[str, str | None]:
        """The logged fingerprint of every key that starts with `prefix`."""
        key, fingerprint = self.table.c.source_key, self.table.c.fingerprint
        statement = sa.select(key, fingerprint).where(
            key.startswith(prefix, autoescape=True), self.table.c.status != Status.REMOVED
        )
        return dict(connection.execute(statement).all())

    def failed_keys(self, connection: Connection, stage: str | None = None) -> list[str]:
        """Source keys of failed documents (optionally of one stage), in key order."""
        table = self.table
        statement = sa.select(table.c.source_key).where(table.c.status == Status.FAILED)
        if stage is not None:
            statement = statement.where(table.c.stage == stage)
        return list(connection.execute(statement.order_by(table.c.source_key)).scalars())

    def counts(self, connection: Connection) -> list[tuple[str, str | None, int]]:
        """(status, stage, documents) for every combination present."""
        table = self.table
        statement = (
            sa.select(table.c.status, table.c.stage, sa.func.count())
            .group_by(table.c.status, table.c.stage)
            .order_by(table.c.status, table.c.stage)
        )
        return [(status, stage, count) for status, stage, count in connection.execute(statement)]

    def top_messages(self, connection: Connection, limit: int = 10) -> list[tuple[str, str, int]]:
        """The most frequent failure messages: (stage, message, documents)."""
        table = self.table
        count = sa.func.count().label("documents")
        statement = (
            sa.select(table.c.stage, table.c.message, count)
            .where(table.c.status == Status.FAILED)
            .group_by(table.c.stage, table.c.message)
            .order_by(count.desc(), table.c.stage)
            .limit(limit)
        )
        return [(stage, message, n) for stage, message, n in connection.execute(statement)]

    def last_run(self, connection: Connection) -> dict[str, object] | None:
        """The most recent run: id, documents, first start, last finish."""
        table = self.table
        latest = connection.execute(
            sa.select(table.c.run_id).order_by(table.c.finished_at.desc()).limit(1)
        ).scalar()
        if latest is None:
            return None
        documents, started, finished, rows = connection.execute(
            sa.select(
                sa.func.count(),
                sa.func.min(table.c.started_at),
                sa.func.max(table.c.finished_at),
                sa.func.sum(table.c.rows_written),
            ).where(table.c.run_id == latest)
        ).one()
        return {
            "run_id": latest,
            "documents": documents,
            "started_at": started,
            "finished_at": finished,
            "rows_written": int(rows or 0),
        }
