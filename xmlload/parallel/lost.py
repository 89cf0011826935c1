"""Logs the documents the coordinator gave up on (they took a worker down twice), on a
connection of the coordinator's own, opened only if that ever happens."""

from __future__ import annotations

from sqlalchemy.engine import URL

from xmlload.contract.compiler import Plan
from xmlload.db.retry import RetryPolicy
from xmlload.outcome import DocumentOutcome
from xmlload.stages.migration import MigrationEngine


class LostDocumentWriter:
    def __init__(self, plan: Plan, url: URL, run_id: str, retry: RetryPolicy) -> None:
        self.plan, self.url, self.run_id, self.retry = plan, url, run_id, retry
        self.engine: MigrationEngine | None = None

    def write(self, outcomes: list[DocumentOutcome]) -> None:
        if self.engine is None:
            self.engine = MigrationEngine(
                self.plan, self.url, self.run_id, "coordinator", self.retry
            )
        self.engine.write_chunk(outcomes)

    def close(self) -> None:
        if self.engine is not None:
            self.engine.close()
