"""One worker: its own validator, parser, compiled mapper, migration engine (target
connection) and source reader, built once and used for every chunk it is handed."""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NoReturn

import psutil

from xmlload.contract.loader import load_plan
from xmlload.db.retry import RetryPolicy
from xmlload.db.urls import SecretURL
from xmlload.errors import BoardLostError, DocumentError
from xmlload.outcome import ChunkReport, DocumentOutcome
from xmlload.parallel.board import ProgressBoard
from xmlload.parallel.deadline import Deadline
from xmlload.sources import SourceConfig, SourceItem, open_source
from xmlload.sources.base import SourceDocument
from xmlload.sources.file_parts import FilePart
from xmlload.stages.migration import MigrationEngine
from xmlload.stages.pipeline import DocumentPipeline
from xmlload.stages.records import Record, RecordReader, RecordsStopped
from xmlload.states import Stage

HEARTBEAT_EVERY = 1.0  # seconds between heartbeats on the board
RECORD_BATCH = 50  # records of a file written in one transaction
# Documents of a chunk read before they are processed: a worker holds a few documents'
# bytes, not the chunk's (50 corpus documents: 13 MB), and still reads in bursts (one at a
# time cost 8-10% more CPU a document; 5 to 50 at a time cost the same).
READ_AHEAD = 8
# a worker that could not start holds each chunk it is given this long, then hands it back
BOUNCE_SECONDS = 1.0


@dataclass(frozen=True)
class WorkerConfig:
    """Everything a worker needs, picklable (workers are forked from a server or spawned)."""

    contract_path: str
    source: SourceConfig
    target_url: SecretURL
    run_id: str
    max_document_bytes: int
    doc_timeout: float = 300.0
    max_worker_memory_mb: int | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    refresh: bool = False  # documents already logged are reloaded only if their bytes changed
    rehash: bool = False  # with refresh: entries logged without a fingerprint count as changed
    skip_logged: bool = True  # records of a file that are logged already are not loaded again


class HeartbeatWhile:
    """`with HeartbeatWhile(board, name):` keeps the worker's heartbeat going from a thread
    while the block runs (a database write waiting on a lock), so the coordinator does not
    take the wait for a hung document. The wait itself is bounded by the dialect's lock timeout
    and the retry policy."""

    def __init__(self, board: ProgressBoard, name: str) -> None:
        self.board, self.name = board, name
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._beat, name="heartbeat", daemon=True)

    def _beat(self) -> None:
        with contextlib.suppress(BoardLostError):  # the coordinator sees the board gone
            while not self.done.wait(HEARTBEAT_EVERY):
                self.board.heartbeat(self.name)

    def __enter__(self) -> HeartbeatWhile:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.done.set()
        self.thread.join()


class Worker:
    def __init__(self, config: WorkerConfig, board: ProgressBoard, name: str | None = None) -> None:
        self.name = name or f"worker-{os.getpid()}"
        self.board, self.config = board, config
        plan = load_plan(config.contract_path)
        self.pipeline = DocumentPipeline(plan, config.max_document_bytes)
        self.records = None if plan.records is None else RecordReader(plan, self.pipeline.validator)
        self.engine = MigrationEngine(
            plan, config.target_url.url(), config.run_id, self.name, config.retry
        )
        self.source = open_source(config.source)
        self.deadline = Deadline(config.doc_timeout)
        self.stage_seconds = self.pipeline.stage_seconds  # load time is added here too
        self.last_heartbeat = 0.0
        self.memory_limit = (config.max_worker_memory_mb or 0) * 2**20
        self.chunks_done = 0
        board.register(self.name)

    def close(self) -> None:
        self.engine.close()
        self.source.close()

    def process_chunk(self, chunk_id: int, items: Sequence[SourceItem]) -> ChunkReport:
        self._recycle_if_too_big(chunk_id)
        started = time.perf_counter()
        self.board.chunk_started(self.name, chunk_id)
        report = ChunkReport(self.name)
        if self.records is None:
            self._process_documents(items, report)
        else:
            for item in items:
                self._process_records(item, report)
        report.busy_seconds = time.perf_counter() - started
        self.chunks_done += 1
        report.stage_seconds = Counter(self.stage_seconds)
        self.board.chunk_finished(
            self.name,
            report.documents,
            sum(report.rows_by_table.values()),
            report.documents - report.succeeded,
            report.busy_seconds,
        )
        return report

    def _process_documents(self, items: Sequence[SourceItem], report: ChunkReport) -> None:
        if not self.config.refresh:
            self._process_and_write(self.source.read(items), report)
            return
        documents = self._to_load(list(self.source.read(items)), report)  # the log is asked
        for versions in _rounds(documents):  # about all their bytes at once
            self._process_and_write(versions, report)

    def _process_and_write(self, documents: Iterable[SourceDocument], report: ChunkReport) -> None:
        """Process the documents, READ_AHEAD of them read at a time, and write them in one
        transaction (a key's next version, should one come, in the next)."""
        outcomes: list[DocumentOutcome] = []
        keys: set[str] = set()
        documents = iter(documents)
        while batch := list(itertools.islice(documents, READ_AHEAD)):
            for document in batch:
                if document.key in keys:
                    self._write(outcomes, report)
                    outcomes, keys = [], set()
                keys.add(document.key)
                self._heartbeat(report.documents + len(outcomes))
                outcomes.append(self.process_document(document))
            batch.clear()  # their bytes go before the next ones are read
        if outcomes:
            self._write(outcomes, report)

    def _process_records(self, item: SourceItem, report: ChunkReport) -> None:
        """A file (or cell, or part of a file) of records, streamed; written RECORD_BATCH
        records at a time."""
        part = item if isinstance(item, FilePart) else None
        base = self.config.source.key(item if part is None else part.path)
        check = self.config.refresh or self.config.skip_logged
        logged = self._logged_records(base, part) if check else {}
        batch: list[DocumentOutcome] = []
        for outcome in self._record_outcomes(item, base, logged, report):
            batch.append(outcome)
            if len(batch) >= RECORD_BATCH:
                self._write(batch, report)
                batch = []
        self._write(batch, report)

    def _logged_records(self, base: str, part: FilePart | None) -> dict[str, str | None]:
        """The log's fingerprints of the file's records (of the part's, for a part)."""
        if part is None or part.ordinals is None:
            return self.engine.logged_under(f"{base}#")
        return self.engine.logged_fingerprints([f"{base}#{n}" for n in part.ordinals])

    def _record_outcomes(
        self, item: SourceItem, base: str, logged: dict[str, str | None], report: ChunkReport
    ) -> Iterator[DocumentOutcome]:
        assert self.records is not None
        try:
            stream = self.source.open_stream(item)
        except OSError as error:
            yield _failed(
                base, Stage.SOURCE, f"cannot read: {getattr(error, 'strerror', None) or error}"
            )
            return
        with stream:
            try:
                first = item.first if isinstance(item, FilePart) else 1
                for record in self.records.records(stream, base, first):
                    self._heartbeat(report.documents)
                    if record.key in logged and self._logged_record(
                        record, logged[record.key], report
                    ):
                        continue
                    report.changed += record.key in logged
                    yield self._process_record(record)
            except RecordsStopped as stop:
                yield _failed(stop.key, stop.stage, stop.message)

    def _logged_record(self, record: Record, fingerprint: str | None, report: ChunkReport) -> bool:
        """Whether a logged record is left as it is (counted as skipped or unchanged)."""
        if not self.config.refresh:
            report.already_logged += self.config.skip_logged
            return self.config.skip_logged
        if fingerprint == record.fingerprint or (fingerprint is None and not self.config.rehash):
            report.unchanged += 1
            return True
        return False

    def _process_record(self, record: Record) -> DocumentOutcome:
        outcome = DocumentOutcome(
            record.key, datetime.now(), size_bytes=record.size_bytes, fingerprint=record.fingerprint
        )
        try:
            with self.deadline:
                self.pipeline.run_tree(record.root, record.key, outcome)
        except DocumentError as error:
            outcome.fail(error.stage, error.message)
        outcome.finished_at = datetime.now()
        return outcome

    def _write(self, outcomes: list[DocumentOutcome], report: ChunkReport) -> None:
        load_started = time.perf_counter()
        with HeartbeatWhile(self.board, self.name):  # a wait on the database is not a hang
            self.engine.write_chunk(outcomes)
        self.stage_seconds["load"] += time.perf_counter() - load_started
        for outcome in outcomes:
            report.add(outcome)

    def _recycle_if_too_big(self, chunk_id: int) -> None:
        """Between chunks, a worker over --max-worker-memory hands the chunk back and exits;
        a fresh one starts in its place."""
        if not self.memory_limit or not self.chunks_done:
            return
        if psutil.Process().memory_info().rss > self.memory_limit:
            self.hand_back(chunk_id)

    def hand_back(self, chunk_id: int) -> NoReturn:
        """Exit without touching this chunk; the coordinator resubmits it (or, stopping,
        leaves it for the next run)."""
        self.board.handing_back(self.name, chunk_id)
        self.close()
        os._exit(0)

    def _heartbeat(self, done_in_chunk: int) -> None:
        now = time.monotonic()
        if now - self.last_heartbeat >= HEARTBEAT_EVERY:
            self.last_heartbeat = now
            self.board.heartbeat(self.name, done_in_chunk)

    def _to_load(
        self, documents: list[SourceDocument], report: ChunkReport
    ) -> list[SourceDocument]:
        """With refresh, leave out what the log already holds: a key's versions up to the
        last one whose bytes it logged (or, without --rehash, all of a key logged before
        fingerprints were kept); count each later version of a key as changed."""
        if not self.config.refresh or not documents:
            return documents
        logged = self.engine.logged_fingerprints(list(dict.fromkeys(d.key for d in documents)))
        loaded_up_to: dict[str, int] = {}
        for index, document in enumerate(documents):
            if document.key in logged and self._unchanged(document, logged[document.key]):
                loaded_up_to[document.key] = index
        kept, keys = [], set(logged)
        for index, document in enumerate(documents):
            if index <= loaded_up_to.get(document.key, -1):
                report.unchanged += 1
            else:
                kept.append(document)
                report.changed += document.key in keys
                keys.add(document.key)
        return kept

    def _unchanged(self, document: SourceDocument, logged: str | None) -> bool:
        """Logged with the same bytes (or, without --rehash, logged before fingerprints)."""
        if logged is None:
            return document.data is not None and not self.config.rehash
        return document.fingerprint == logged

    def process_document(self, document: SourceDocument) -> DocumentOutcome:
        """Validate, parse and map one document within the deadline; failures are
        recorded, never raised."""
        outcome = DocumentOutcome(
            document.key,
            datetime.now(),
            size_bytes=len(document.data or b""),
            fingerprint=document.fingerprint,
        )
        try:
            with self.deadline:
                self.pipeline.run(document, outcome)
        except DocumentError as error:
            outcome.fail(error.stage, error.message)
        outcome.finished_at = datetime.now()
        return outcome


def _failed(key: str, stage: Stage, message: str) -> DocumentOutcome:
    outcome = DocumentOutcome(key, datetime.now())
    outcome.fail(stage, message)
    outcome.finished_at = outcome.started_at
    return outcome


def _rounds(documents: list[SourceDocument]) -> list[list[SourceDocument]]:
    """The documents in write rounds: round n holds each key's n-th version, so a key's
    versions are written in their order, each in its own transaction."""
    rounds: list[list[SourceDocument]] = []
    seen: Counter[str] = Counter()
    for document in documents:
        if len(rounds) <= seen[document.key]:
            rounds.append([])
        rounds[seen[document.key]].append(document)
        seen[document.key] += 1
    return rounds
