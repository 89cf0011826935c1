"""`xmlload verify`: map documents again from the source and compare with the database.

Every document must be exactly one of: logged success with exactly the rows its mapping
gives now; logged failed with no rows; not logged (not attempted yet) with no rows. And
the other way round: every document id with rows must be owned by a logged success.
Operators run it after incidents; the fault-injection tests run it after every fault.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from xmlload.contract.compiler import Plan
from xmlload.db.current import Rows, current_rows, normalised
from xmlload.db.target import TargetSchema, connect_engine, target_schema
from xmlload.errors import SettingsError
from xmlload.outcome import DocumentOutcome
from xmlload.sources import Source, SourceItem
from xmlload.stages.pipeline import DocumentPipeline
from xmlload.states import Status

BATCH = 100
ORPHANED = "rows without a logged success"


@dataclass
class DocumentCheck:
    source_key: str
    document_id: Any
    status: str | None  # as logged; None when not attempted; ORPHANED for unowned rows
    problems: list[str] = field(default_factory=list)


@dataclass
class VerifyReport:
    checks: list[DocumentCheck] = field(default_factory=list)

    @property
    def differing(self) -> list[DocumentCheck]:
        return [check for check in self.checks if check.problems]

    def counts(self) -> Counter[str]:
        return Counter(check.status or "not attempted" for check in self.checks)


class Verifier:
    def __init__(self, plan: Plan, url: sa.URL, source: Source, max_document_bytes: int) -> None:
        if plan.records is not None:
            raise SettingsError("verify does not apply to a contract with document.records yet")
        self.plan, self.source = plan, source
        self.schema: TargetSchema = target_schema(plan)
        self.pipeline = DocumentPipeline(plan, max_document_bytes)
        _, self.engine = connect_engine(url)
        self.id_column = plan.contract.document.id.column

    def close(self) -> None:
        self.engine.dispose()

    def logged_keys(self, sample: int | None, seed: int = 0) -> list[str]:
        """Every source key in the processing log (but documents removed from the source),
        or a random sample of them."""
        log = self.schema.log
        statement = sa.select(log.c.source_key).where(log.c.status != Status.REMOVED)
        with self.engine.connect() as connection:
            keys = list(connection.execute(statement).scalars())
        if sample is not None and sample < len(keys):
            keys = random.Random(seed).sample(keys, sample)
        return sorted(keys)

    def orphans(self) -> list[DocumentCheck]:
        """Document ids that have rows in some table while no logged success owns them: a
        deleted log row, or rows for a document that is neither logged nor in the source.
        Mapping documents again cannot find these; one anti-join per table does."""
        log = self.schema.log
        owned = sa.select(log.c.document_id).where(
            log.c.status == Status.SUCCESS, log.c.document_id.is_not(None)
        )
        tables_by_id: dict[Any, list[str]] = {}
        with self.engine.connect() as connection:
            for table in self.schema.tables:
                column = table.c[self.id_column]
                statement = sa.select(column).distinct().where(column.not_in(owned))
                for document_id in connection.execute(statement).scalars():
                    tables_by_id.setdefault(document_id, []).append(table.name)
        return [
            DocumentCheck(
                "(no source key)",
                document_id,
                ORPHANED,
                [f"rows in {', '.join(tables)}, but no logged success owns this document id"],
            )
            for document_id, tables in sorted(tables_by_id.items(), key=lambda item: str(item[0]))
        ]

    def verify(self, items: Sequence[SourceItem]) -> VerifyReport:
        report = VerifyReport()
        for start in range(0, len(items), BATCH):
            batch = list(items[start : start + BATCH])
            outcomes = [self.pipeline.process(doc) for doc in self.source.read(batch)]
            with self.engine.connect() as connection:
                report.checks.extend(self._check(connection, outcomes))
        return report

    def _check(
        self, connection: sa.Connection, outcomes: list[DocumentOutcome]
    ) -> list[DocumentCheck]:
        log = self.schema.log
        keys = [outcome.source_key for outcome in outcomes]
        logged = {
            key: (status, document_id)
            for key, status, document_id in connection.execute(
                sa.select(log.c.source_key, log.c.status, log.c.document_id).where(
                    log.c.source_key.in_(keys)
                )
            )
        }
        ids = {o.document_id for o in outcomes} | {i for _, i in logged.values()}
        ids.discard(None)
        owners = dict(
            connection.execute(
                sa.select(log.c.document_id, log.c.source_key).where(
                    log.c.status == Status.SUCCESS, log.c.document_id.in_(list(ids))
                )
            ).all()
        )
        stored = self._rows(connection, list(ids))
        return [
            self._compare(outcome, logged.get(outcome.source_key), owners, stored)
            for outcome in outcomes
        ]

    def _rows(self, connection: sa.Connection, ids: list[Any]) -> Rows:
        return current_rows(connection, self.schema.tables, self.id_column, ids)

    def _compare(
        self,
        outcome: DocumentOutcome,
        logged: tuple[str, Any] | None,
        owners: dict[Any, str],
        stored: dict[Any, dict[str, list]],
    ) -> DocumentCheck:
        status, logged_id = logged if logged else (None, None)
        document_id = logged_id if logged_id is not None else outcome.document_id
        check = DocumentCheck(outcome.source_key, document_id, status)
        rows = stored.get(document_id, {})
        if status == Status.SUCCESS:
            if not outcome.succeeded:
                check.problems.append(
                    f"logged success, but now fails at {outcome.stage}: {outcome.message}"
                )
                return check
            expected = {table: normalised(found) for table, found in outcome.rows.items()}
            check.problems.extend(_row_differences(expected, rows))
            return check
        owner = owners.get(document_id)
        if owner is not None and owner != outcome.source_key:
            return check  # the rows belong to the source key that loaded this id
        if any(rows.values()):
            what = "logged failed" if status == Status.FAILED else "not in the processing log"
            tables = ", ".join(sorted(table for table, found in rows.items() if found))
            check.problems.append(f"{what}, but has rows in {tables}")
        return check


def _row_differences(expected: dict[str, list], actual: dict[str, list]) -> list[str]:
    problems = []
    for table in sorted(set(expected) | set(actual)):
        want, have = Counter(expected.get(table, [])), Counter(actual.get(table, []))
        missing, extra = sum((want - have).values()), sum((have - want).values())
        if missing or extra:
            sample = next(iter((want - have) or (have - want)))
            problems.append(
                f"{table}: {missing} row(s) missing, {extra} unexpected (e.g. {sample[:6]})"
            )
    return problems
