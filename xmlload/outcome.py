"""What happens to one document, as it crosses from worker stages to the migration engine,
the processing log and the run summary."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from xmlload.states import Stage, Status

STAGES = tuple(Stage)


@dataclass
class DocumentOutcome:
    source_key: str
    started_at: datetime
    finished_at: datetime | None = None
    document_id: Any = None
    status: Status = Status.SUCCESS
    stage: Stage | None = None
    message: str | None = None
    size_bytes: int = 0
    rows: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    notes: Counter[str] = field(default_factory=Counter)
    kept_previous: bool = False  # failed, and the rows of an earlier success were kept
    fingerprint: str | None = None  # of the source bytes
    version: int | None = None  # with history: keep, the version its rows carry

    @property
    def succeeded(self) -> bool:
        return self.status is Status.SUCCESS

    @property
    def rows_written(self) -> int:
        return sum(len(rows) for rows in self.rows.values()) if self.succeeded else 0

    def fail(self, stage: Stage, message: str) -> None:
        self.status, self.stage, self.message = Status.FAILED, stage, message
        self.rows = {}


FAILURES_KEPT = 1000  # failures a report (and the run's summary) lists; the log has all


@dataclass
class ChunkReport:
    """What a worker sends back per chunk: counts only, never rows or XML."""

    worker: str
    documents: int = 0
    succeeded: int = 0
    failed_by_stage: Counter[str] = field(default_factory=Counter)
    rows_by_table: Counter[str] = field(default_factory=Counter)
    notes: Counter[str] = field(default_factory=Counter)
    bytes_read: int = 0
    busy_seconds: float = 0.0
    stage_seconds: Counter[str] = field(default_factory=Counter)  # the worker's totals so far
    failures: list[tuple[str, str, str]] = field(default_factory=list)  # key, stage, message
    kept_previous: int = 0  # failed documents whose earlier rows were kept
    unchanged: int = 0  # `--refresh`: logged documents whose bytes had not changed (skipped)
    changed: int = 0  # `--refresh`: logged documents reloaded because their bytes changed
    already_logged: int = 0  # records of a file skipped because the log holds them

    def add(self, outcome: DocumentOutcome) -> None:
        self.documents += 1
        self.bytes_read += outcome.size_bytes
        if outcome.succeeded:
            self.succeeded += 1
            for table, rows in outcome.rows.items():
                self.rows_by_table[table] += len(rows)
            self.notes.update(outcome.notes)
        else:
            stage = outcome.stage.value if outcome.stage else "unknown"  # plain text for users
            self.failed_by_stage[stage] += 1
            self.kept_previous += outcome.kept_previous
            if len(self.failures) < FAILURES_KEPT:
                self.failures.append((outcome.source_key, stage, outcome.message or ""))
