"""ProductionProcessor: settings -> contract check -> target check -> source items not yet
logged -> coordinator -> summary. Fails fast, before any worker starts, on bad input."""

from __future__ import annotations

import os
import signal
import sys
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from types import FrameType
from typing import Any

import sqlalchemy as sa
from rich.console import Console
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from xmlload.contract.compiler import Plan
from xmlload.contract.loader import load_plan
from xmlload.db.check import prepare_target
from xmlload.db.checkpoints import Checkpoints, looked_back
from xmlload.db.dialects import DialectStrategy, strategy_for
from xmlload.db.processing_log import KEYS_PER_QUERY, ProcessingLog
from xmlload.db.run_history import record_run
from xmlload.db.run_registry import RunRegistry, RunScope, runs_table
from xmlload.db.target import connect_engine, describe_db_error, target_schema
from xmlload.db.urls import SecretURL, mask_url, parse_url
from xmlload.document_keys import DocumentKeys
from xmlload.errors import SettingsError, TargetError, TargetLostError
from xmlload.outcome import ChunkReport, DocumentOutcome
from xmlload.parallel.executor import CoordinatorCallbacks, Executor, StopControl
from xmlload.parallel.executors import EXECUTORS, executor_class
from xmlload.parallel.lost import LostDocumentWriter
from xmlload.parallel.progress import make_progress
from xmlload.parallel.worker import WorkerConfig
from xmlload.report import write_report
from xmlload.settings import Settings
from xmlload.sources import Source, SourceItem, open_source
from xmlload.sources.file_parts import with_parts
from xmlload.stages.versions import Versions
from xmlload.states import Status
from xmlload.summary import RunSummary


def _ignore(snapshot: dict[str, Any]) -> None:
    """Progress sink for --progress none."""


class _StopFlag:
    """The first SIGINT/SIGTERM stops handing out chunks; a second one terminates workers."""

    def __init__(self) -> None:
        self.signal_name: str | None = None
        self.count = 0

    def __call__(self, number: int, frame: FrameType | None) -> None:
        self.count += 1
        self.signal_name = self.signal_name or signal.Signals(number).name

    def stop_requested(self) -> bool:
        return self.count >= 1

    def terminate_requested(self) -> bool:
        return self.count >= 2


class _SignalHandlers:
    """SIGINT/SIGTERM handlers for the run's duration (main thread only), then restored."""

    def __init__(self, handle: bool, ignore_after_stop: bool) -> None:
        self.handle, self.ignore_after_stop = handle, ignore_after_stop
        self.stop = _StopFlag()
        self.previous: dict[int, Any] = {}

    def install(self) -> _StopFlag:
        if self.handle:
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.previous[sig] = signal.signal(sig, self.stop)
        return self.stop

    def restore(self) -> None:
        stopped = self.stop.stop_requested() and self.ignore_after_stop
        for sig, handler in self.previous.items():
            # after a stop, the command line still prints its summary: nothing may kill it
            signal.signal(sig, signal.SIG_IGN if stopped else handler)


@dataclass
class RunCheckpoint:
    """A run's checkpoint: where its listing started, and the value to save at the end."""

    store: Checkpoints
    name: str
    column: str
    after: Any
    high: Any = None  # the largest value in scope when the run started

    def finish(self, summary: RunSummary) -> None:
        """Advance only after a run that processed every row it listed."""
        if summary.complete and self.high is not None:
            self.store.save(self.name, self.column, self.high)
            summary.checkpoint = f"{self.column} > {self.high}"
        self.store.engine.dispose()


class ProductionProcessor:
    def __init__(self, settings: Settings) -> None:
        if settings.contract is None:
            raise SettingsError("no contract: give --contract FILE")
        self.settings = settings
        self.executor_class = executor_class(settings.executor)  # its library must be installed
        self.plan: Plan = load_plan(settings.contract)
        self.target_url = parse_url(settings.target)
        strategy_for(self.target_url).check_driver(self.target_url)
        self.source_config = settings.source_config()
        self.keys = DocumentKeys(self.source_config, self.plan, self.target_url)
        if settings.close_missing and self.plan.records is not None:
            raise SettingsError(
                "--close-missing does not apply to a contract with document.records yet: a "
                "file that is still there may have lost records"
            )
        if settings.close_missing and self.source_config.key_scope() is None:
            raise SettingsError(
                "--close-missing needs a directory or a table source: a glob or a single "
                "file does not say which logged documents are its own"
            )

    def run(
        self,
        on_report: Callable[[RunSummary], None] | None = None,
        items: Sequence[SourceItem] | None = None,
        console: Console | None = None,
        handle_signals: bool = True,
        ignore_signals_after_stop: bool = False,
    ) -> RunSummary:
        """Load the source's pending documents, or exactly `items` (reprocess: replace).

        With `handle_signals` (only possible in the main thread) SIGINT/SIGTERM stop the
        run; the previous handlers are restored afterwards, or, after a stop and with
        `ignore_signals_after_stop` (the command line, which still prints the summary),
        further signals are ignored."""
        for warning in self.plan.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        run_id = uuid.uuid4().hex[:12]
        config = self._worker_config(run_id, reprocess=items is not None)
        coordinator = self.executor_class.from_settings(config, self.settings)
        signals = _SignalHandlers(handle_signals, ignore_signals_after_stop)
        try:
            coordinator.open()  # the workers start while the source is counted and checked
            return self._checked_run(run_id, coordinator, on_report, items, console, signals)
        finally:
            coordinator.close()

    def _checked_run(
        self,
        run_id: str,
        coordinator: Executor,
        on_report: Callable[[RunSummary], None] | None,
        items: Sequence[SourceItem] | None,
        console: Console | None,
        signals: _SignalHandlers,
    ) -> RunSummary:
        checkpoint = self._checkpoint_start() if items is None else None
        source = open_source(self.source_config)
        try:
            # counted once, before any table is created: an empty source is said first
            if checkpoint is not None:
                checkpoint.high = source.high_water()  # type: ignore[attr-defined]
                planned = source.count()
            else:
                planned = self._check_source(source) if items is None else len(items)
            prepare_target(self.target_url, self.plan, self.settings.create_tables)
            registry = self._claim(run_id, whole_source=items is not None)
            try:
                self._adopt_legacy_keys()
                summary = self._run(
                    coordinator, on_report, source, items, planned, console, signals,
                    registry.vanished,
                )  # fmt: skip
                if checkpoint is not None:
                    checkpoint.finish(summary)
                if self.settings.close_missing and items is None and summary.complete:
                    summary.closed_missing = self._close_missing(summary.run_id, source)
                record_run(registry.engine, self.plan.contract.target_schema, summary)
                return summary
            finally:
                registry.release()
        finally:
            source.close()

    def _close_missing(self, run_id: str, listed: Source) -> int:
        """Close (history: keep) or delete the rows of this source's logged documents that
        are no longer in it, and log them `removed`, in one transaction; returns how many."""
        source_config = self.keys.source  # the whole source, whatever the checkpoint
        scope = source_config.key_scope()
        assert scope is not None  # checked when the processor was made
        whole = source_config == self.source_config  # the run listed the whole source
        source = listed if whole else open_source(source_config)  # a checkpoint listed less
        try:
            page_size = self.settings.page_size
            present = {source_config.key(item) for page in source.pages(page_size) for item in page}
        finally:
            if not whole:
                source.close()
        schema, log = target_schema(self.plan), ProcessingLog(target_schema(self.plan).log)
        id_column = self.plan.contract.document.id.column
        with self._on_target(f"xmlload {run_id}") as (strategy, connection):
            gone = [e for e in log.entries_under(connection, scope) if e[0] not in present]
            ids = [doc for _, doc, status in gone if status == Status.SUCCESS and doc is not None]
            versions = Versions(schema.tables, id_column)
            versions.close(connection, ids)  # history stays, closed
            for table in reversed(versions.replaced):
                strategy.delete_documents(connection, table, id_column, ids)
            log.mark_removed(connection, [key for key, _, _ in gone], run_id)
        return len(gone)

    def _checkpoint_start(self) -> RunCheckpoint | None:
        """With --source-updated-column: list only the rows past the stored checkpoint."""
        column = self.settings.source_updated_column
        if column is None:
            return None
        scope = RunScope(self.settings.shard_pair, self.settings.id_start, self.settings.id_end)
        name = f"{self.source_config.key('')}|{column}|{scope.encode()}"
        _, engine = connect_engine(self.target_url)
        try:
            store = Checkpoints(engine, self.plan.contract.target_schema)
            after = looked_back(store.read(name), self.settings.checkpoint_lookback)
        except DBAPIError as error:
            engine.dispose()
            raise TargetError(
                f"target {mask_url(self.target_url)}: {describe_db_error(error)}"
            ) from None
        self.source_config = replace(self.source_config, updated_after=after)  # type: ignore
        return RunCheckpoint(store, name, column, after)

    def _check_source(self, source: Source) -> int:
        """The source's documents. None is a mistake worth saying (exit 2); more workers
        than documents or cores is allowed, with a warning."""
        documents = source.count()
        if documents == 0:
            raise SettingsError(f"no documents found in the source: {source.describe()}")
        workers, cores = self.settings.workers, os.cpu_count() or 1
        if EXECUTORS[self.settings.executor].on_this_machine and workers > cores:
            print(f"warning: --workers {workers} is more than this machine's {cores} cores",
                  file=sys.stderr)  # fmt: skip
        if workers > documents and self.plan.records is None:  # a file holds many records
            print(f"warning: --workers {workers} is more than the {documents} documents",
                  file=sys.stderr)  # fmt: skip
        return documents

    def _claim(self, run_id: str, whole_source: bool) -> RunRegistry:
        """Register the run on the target; refuse when a live run overlaps its scope.
        A reprocess touches any document, so it claims the whole source."""
        settings = self.settings
        scope = (
            RunScope()
            if whole_source
            else RunScope(settings.shard_pair, settings.id_start, settings.id_end)
        )
        strategy, engine = connect_engine(self.target_url, f"xmlload {run_id}")
        schema = self.plan.contract.target_schema
        try:
            registry = RunRegistry(strategy, engine, runs_table(sa.MetaData(), schema))
            registry.claim(run_id, scope)
        except DBAPIError as error:
            engine.dispose()
            raise TargetError(
                f"target {mask_url(self.target_url)}: cannot register the run in "
                f"processing_runs: {describe_db_error(error)}"
            ) from None
        except BaseException:
            engine.dispose()
            raise
        return registry

    @contextmanager
    def _on_target(
        self, client: str = "xmlload"
    ) -> Iterator[tuple[DialectStrategy, sa.Connection]]:
        """One transaction on the target; a database error is a TargetError saying so."""
        strategy, engine = connect_engine(self.target_url, client)
        try:
            with engine.begin() as connection:
                yield strategy, connection
        except DBAPIError as error:
            raise TargetError(
                f"target {mask_url(self.target_url)}: {describe_db_error(error)}"
            ) from None
        finally:
            engine.dispose()

    def _adopt_legacy_keys(self) -> None:
        """Entries an older version logged under bare row ids become this source's."""
        prefix = self.source_config.legacy_prefix()
        if prefix is None:
            return
        with self._on_target() as (_, connection):
            adopted = ProcessingLog(target_schema(self.plan).log).adopt_bare_ids(connection, prefix)
        if adopted:
            print(f"processing log: {adopted:,} entries keyed by a bare row id (written before "
                  f"keys named their table) are now this source's: {prefix}<id>",
                  file=sys.stderr)  # fmt: skip

    def _run(
        self,
        coordinator: Executor,
        on_report: Callable[[RunSummary], None] | None,
        source: Source,
        items: Sequence[SourceItem] | None,
        planned: int,
        console: Console | None,
        signals: _SignalHandlers,
        vanished: threading.Event,
    ) -> RunSummary:
        config = coordinator.config
        summary = RunSummary(
            config.run_id, source.describe(), mask_url(self.target_url),
            workers=self.settings.workers, records=self.plan.records is not None,
        )  # fmt: skip
        if coordinator.opened_at is not None:  # the workers' start counts as start-up
            summary.started = coordinator.opened_at
        stop = signals.install()
        lost_writer = LostDocumentWriter(self.plan, self.target_url, config.run_id, config.retry)
        progress = make_progress(self.settings.progress, console or Console(stderr=True))

        def record(report: ChunkReport) -> None:
            summary.add(report)
            if on_report is not None:
                on_report(summary)

        def record_lost(outcomes: list[DocumentOutcome]) -> None:
            lost_writer.write(outcomes)
            summary.add_lost(outcomes)

        try:
            summary.planned = planned
            chunks = self._chunks(source, summary) if items is None else self._given(items)
            if self._split_record_files():
                assert self.plan.records is not None
                chunks = with_parts(chunks, self.plan.records.steps, self.settings.workers)
            callbacks = CoordinatorCallbacks(
                on_report=record,
                on_lost_documents=record_lost,
                on_progress=progress.update if self.settings.progress != "none" else _ignore,
                current_total=lambda: 0 if summary.records else summary.planned - summary.skipped,
            )
            with progress:
                coordinator.run(
                    chunks,
                    summary.planned,
                    StopControl(
                        lambda: stop.stop_requested() or vanished.is_set(),
                        stop.terminate_requested,
                    ),
                    callbacks,
                )
            summary.finish(coordinator.worker_stats, coordinator.peak_rss)
            summary.target_lost = coordinator.target_lost
            summary.registration_vanished = vanished.is_set()
            summary.workers_not_started = coordinator.not_started
            summary.workers_recycled = coordinator.recycled
        finally:
            signals.restore()
            lost_writer.close()
        summary.stopped_by = stop.signal_name
        if self.settings.report is not None:
            write_report(self.settings.report, summary, self.settings)
        return summary

    def _split_record_files(self) -> bool:
        """Big files of records go out in parts when more than one worker can take them."""
        remote = not EXECUTORS[self.settings.executor].on_this_machine
        parallel = self.settings.workers > 1 or remote
        return self.plan.records is not None and self.source_config.items_are_paths and parallel

    def _worker_config(self, run_id: str, reprocess: bool = False) -> WorkerConfig:
        return WorkerConfig(
            contract_path=str(self.settings.contract),
            source=self.source_config,
            target_url=SecretURL(self.target_url.render_as_string(hide_password=False)),
            run_id=run_id,
            max_document_bytes=self.settings.max_document_bytes,
            doc_timeout=self.settings.doc_timeout,
            max_worker_memory_mb=self.settings.max_worker_memory,
            retry=self.settings.retry_policy(),
            refresh=self.settings.refresh,
            rehash=self.settings.rehash,
            skip_logged=self.settings.resume and not reprocess,
        )

    def _given(self, items: Sequence[SourceItem]) -> Iterator[list[SourceItem]]:
        size = self.settings.chunk_size
        for start in range(0, len(items), size):
            yield list(items[start : start + size])

    def failed_items(self, stage: str | None = None) -> list[SourceItem]:
        """Source items of the documents the processing log lists as failed."""
        _, engine = connect_engine(self.target_url)
        log = ProcessingLog(target_schema(self.plan).log)
        try:
            with engine.connect() as connection:
                keys = log.failed_keys(connection, stage)
        finally:
            engine.dispose()
        return self.keys.from_log(keys)

    def items_from_keys(self, keys: Iterable[str]) -> list[SourceItem]:
        """The documents --ids names (source keys or document ids); SettingsError listing
        any that match none."""
        return self.keys.resolve(keys)

    def _not_logged(
        self, engine: Engine, log: ProcessingLog, batch: list[SourceItem], summary: RunSummary
    ) -> list[SourceItem]:
        """The items the log does not have yet (the others are counted as skipped);
        TargetLostError when the target is gone (the run stops as after a signal)."""
        key = self.source_config.key
        try:
            with engine.connect() as connection:
                done = log.logged_keys(connection, map(key, batch))
        except DBAPIError as error:
            raise TargetLostError(
                f"target {mask_url(self.target_url)} unreachable: {describe_db_error(error)}"
            ) from None
        summary.skipped_already_logged += len(done)
        summary.skipped_failed += sum(status == Status.FAILED for status in done.values())
        return [item for item in batch if key(item) not in done]

    def _chunks(self, source: Source, summary: RunSummary) -> Iterator[list[SourceItem]]:
        """Chunks of items not yet in the processing log, up to --limit, page by page. The
        log is asked in batches, and a batch's chunks go out before the next is asked."""
        settings = self.settings
        remaining = settings.limit
        _, engine = connect_engine(self.target_url)
        log = ProcessingLog(target_schema(self.plan).log)
        try:
            for page in source.pages(settings.page_size):
                waiting: list[SourceItem] = []
                for start in range(0, len(page), KEYS_PER_QUERY):
                    batch = page[start : start + KEYS_PER_QUERY]
                    if settings.resume and not settings.refresh:  # refresh: workers compare
                        batch = self._not_logged(engine, log, batch, summary)
                    if remaining is not None:
                        batch = batch[:remaining]
                        remaining -= len(batch)
                    waiting += batch
                    while len(waiting) >= settings.chunk_size:
                        yield waiting[: settings.chunk_size]
                        waiting = waiting[settings.chunk_size :]
                    if remaining == 0:
                        break
                if waiting:
                    yield waiting
                if remaining == 0:
                    return
        finally:
            engine.dispose()
