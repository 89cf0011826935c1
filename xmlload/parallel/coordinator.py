"""ParallelCoordinator: the process-pool executor of a run.

It builds the spawn-started pool (each worker's pipeline is built once, in the pool
initializer), hands out the chunks the Scheduler decides on, and turns what it sees —
results, the progress board, processes that are gone, stop signals — into the
Scheduler's events. Every decision (retries, give-ups, hung workers, when to end) is the
Scheduler's; see scheduler.py.
"""

from __future__ import annotations

import multiprocessing
import queue
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.managers import SyncManager
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from xmlload.db.target import describe_db_error
from xmlload.errors import WorkerStartError, XmlloadError
from xmlload.outcome import ChunkReport, DocumentOutcome
from xmlload.parallel.board import BoardSnapshot, ProgressBoard, WorkerEntry
from xmlload.parallel.events import (
    ChunkFailed,
    ChunkFinished,
    ChunkStarted,
    Event,
    Heartbeat,
    StopRequested,
    WorkerReady,
    WorkerStartFailed,
)
from xmlload.parallel.prefetch import PrefetchedChunks
from xmlload.parallel.processes import WorkerStop, manager_initializer, worker_pool
from xmlload.parallel.scheduler import Chunk, GivenUp, Scheduler
from xmlload.parallel.watchdog import Watchdog
from xmlload.parallel.worker import Worker, WorkerConfig
from xmlload.sources import SourceItem
from xmlload.sources.base import source_key

WATCH_EVERY = 0.5  # seconds between looks at the board and the processes

_worker: Worker | None = None
_start_error: WorkerStartError | None = None
_stop: WorkerStop | None = None


def _initialize(config: WorkerConfig, shared: Any) -> None:
    """Pool initializer: SIGINT ignored, SIGTERM stops after the chunk in hand (the
    coordinator decides what a stop means), then build the worker.

    A worker that cannot start does not raise here (the Pool would start another and
    fail the same way, forever): it keeps the error, puts it on the board for the
    coordinator, and answers every chunk with it."""
    global _worker, _start_error, _stop
    _stop = WorkerStop()
    board = ProgressBoard(shared)
    try:
        _worker = Worker(config, board)
    except Exception as error:  # any failure to start ends the run, with this message
        _start_error = WorkerStartError(f"a worker could not start: {_describe(error)}")
        board.start_failed(str(_start_error))


def _describe(error: Exception) -> str:
    if isinstance(error, XmlloadError):
        return str(error)
    if isinstance(error, SQLAlchemyError):
        return describe_db_error(error)
    return f"{type(error).__name__}: {error}"


def _process(chunk_id: int, items: list[SourceItem]) -> ChunkReport:
    if _worker is None:
        assert _start_error is not None
        raise _start_error
    if _stop is not None and _stop.requested:
        _worker.hand_back(chunk_id)  # exits; the coordinator sees the chunk handed back
    return _worker.process_chunk(chunk_id, items)


@dataclass
class StopControl:
    """Signals seen by the coordinator: one stops handing out work, two terminate."""

    stop_requested: Callable[[], bool]
    terminate_requested: Callable[[], bool]


@dataclass
class CoordinatorCallbacks:
    on_report: Callable[[ChunkReport], None]
    on_lost_documents: Callable[[list[DocumentOutcome]], None]
    on_progress: Callable[[dict[str, Any]], None]
    current_total: Callable[[], int]


class ParallelCoordinator:
    """The process-pool executor: runs the chunks the scheduler hands out, and turns what it
    observes (results, the board, dead processes, signals) into the scheduler's events."""

    def __init__(self, config: WorkerConfig, workers: int) -> None:
        self.config, self.workers = config, workers
        self.watchdog = Watchdog()
        self.worker_stats: dict[str, WorkerEntry] = {}
        self.recycled = 0  # chunks handed back unprocessed (memory limit, SIGTERM)
        self.target_lost: str | None = None  # why the target stopped taking writes

    def run(
        self,
        chunks: Iterable[list[SourceItem]],
        total: int,
        stop: StopControl,
        callbacks: CoordinatorCallbacks,
    ) -> None:
        context = multiprocessing.get_context("spawn")
        manager = SyncManager(ctx=context)
        manager.start(manager_initializer)
        listing = PrefetchedChunks(iter(chunks), depth=2 * self.workers)
        scheduler = Scheduler(
            self.workers, listing, hang_limit(self.config.doc_timeout), time.monotonic
        )
        try:
            board = ProgressBoard(manager.dict())
            board.start(total)
            pool = worker_pool(context, self.workers, _initialize, (self.config, board.shared))
            try:
                self._drive(pool, board, scheduler, stop, callbacks)
            finally:
                # Every chunk is collected (or given up) by now, so the workers are idle;
                # after a second signal, terminate() kills the busy ones (their open
                # transactions roll back). Not close()+join(): join waits forever for tasks
                # that died with their worker.
                pool.terminate()
                pool.join()
                self.worker_stats = board.snapshot().workers
                board.set_total(callbacks.current_total())
                callbacks.on_progress(board.snapshot())
        finally:
            listing.close()
            manager.shutdown()
            self.recycled, self.target_lost = scheduler.recycled, scheduler.target_lost
        if scheduler.start_failure is not None:
            raise WorkerStartError(scheduler.start_failure)
        if scheduler.fatal is not None:
            raise scheduler.fatal

    def _drive(
        self,
        pool: Any,
        board: ProgressBoard,
        scheduler: Scheduler,
        stop: StopControl,
        callbacks: CoordinatorCallbacks,
    ) -> None:
        results: queue.Queue[Event] = queue.Queue()
        signals = _Signals(stop)
        observer = _BoardObserver()
        last_look = 0.0

        def submit(chunk: Chunk) -> None:
            pool.apply_async(
                _process,
                (chunk.id, chunk.items),
                callback=lambda report, i=chunk.id: results.put(ChunkFinished(i, report)),
                error_callback=lambda error, i=chunk.id: results.put(ChunkFailed(i, error)),
            )

        while not scheduler.done:
            for chunk in scheduler.submissions():
                submit(chunk)
            for event in [*signals.events(), *_ready(results)]:
                scheduler.handle(event)
            self._record(scheduler, board, callbacks)
            if time.monotonic() - last_look < WATCH_EVERY:
                continue
            last_look = time.monotonic()
            snapshot = board.snapshot()
            for event in [*observer.events(snapshot), *self.watchdog.lost_workers(snapshot)]:
                scheduler.handle(event)
            scheduler.tick()
            for name in scheduler.kills():
                self.watchdog.kill(snapshot, name)
            self._record(scheduler, board, callbacks)
            board.set_total(callbacks.current_total())
            callbacks.on_progress(board.snapshot())

    @staticmethod
    def _record(
        scheduler: Scheduler, board: ProgressBoard, callbacks: CoordinatorCallbacks
    ) -> None:
        """Count what the scheduler accepted: chunk reports, and documents given up."""
        for report in scheduler.reports():
            board.add_results(
                report.documents, report.succeeded, report.documents - report.succeeded
            )
            callbacks.on_report(report)
        given_up = scheduler.given_up()
        if given_up:
            callbacks.on_lost_documents([_lost_outcome(lost) for lost in given_up])
            board.add_results(len(given_up), 0, len(given_up))


def _ready(results: queue.Queue[Event]) -> list[Event]:
    """Wait briefly for a result, then take every result that is ready."""
    try:
        ready = [results.get(timeout=0.25)]
    except queue.Empty:
        return []
    while not results.empty():
        ready.append(results.get_nowait())
    return ready


class _Signals:
    """Stop signals as events: one StopRequested per signal noticed."""

    def __init__(self, stop: StopControl) -> None:
        self.stop, self.seen = stop, 0

    def events(self) -> list[Event]:
        wanted = 2 if self.stop.terminate_requested() else 1 if self.stop.stop_requested() else 0
        new = [StopRequested() for _ in range(wanted - self.seen)]
        self.seen = max(self.seen, wanted)
        return list(new)


class _BoardObserver:
    """Turns successive board snapshots into events: workers ready, chunks started,
    heartbeats, a worker that could not start."""

    def __init__(self) -> None:
        self.previous: dict[str, WorkerEntry] = {}
        self.failure_seen = False

    def events(self, snapshot: BoardSnapshot) -> list[Event]:
        found: list[Event] = []
        if snapshot.start_failure is not None and not self.failure_seen:
            self.failure_seen = True
            found.append(WorkerStartFailed(snapshot.start_failure))
        for name, entry in snapshot.workers.items():
            before = self.previous.get(name)
            if before is None:
                found.append(WorkerReady(name))
            if entry.chunk is not None and (before is None or before.chunk != entry.chunk):
                found.append(ChunkStarted(name, entry.chunk))
            if before is not None and entry.heartbeat != before.heartbeat:
                found.append(Heartbeat(name))
        self.previous = dict(snapshot.workers)
        return found


def hang_limit(doc_timeout: float) -> float:
    """Seconds of silence after which a worker holding a chunk is killed: past its own
    per-document deadline, so that one normally fires first. No limit when doc_timeout is 0."""
    return doc_timeout + max(2.0, doc_timeout / 4) if doc_timeout > 0 else float("inf")


def _lost_outcome(lost: GivenUp) -> DocumentOutcome:
    what = "was killed or died" if lost.stage == "worker_crash" else "stopped responding"
    outcome = DocumentOutcome(source_key(lost.item), datetime.now(), finished_at=datetime.now())
    outcome.fail(
        lost.stage, f"the worker processing this document {what} twice (last: {lost.worker})"
    )
    return outcome
