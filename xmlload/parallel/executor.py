"""Executor: carries out a parallel run's Scheduler on some kind of workers.

The loop is the same for every executor: hand out the chunks the Scheduler decides on,
turn what comes back (results, the progress board, workers that are gone, stop signals)
into its events, and do its kills. A subclass says how workers start, how a chunk is
submitted, how lost workers show and how one is killed: the process pool
(pool_executor.py) or a Dask cluster (dask_executor.py).
"""

from __future__ import annotations

import queue
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from xmlload.errors import WorkerStartError
from xmlload.outcome import ChunkReport, DocumentOutcome
from xmlload.parallel.board import BoardSnapshot, ProgressBoard, WorkerEntry
from xmlload.parallel.events import (
    ChunkStarted,
    Event,
    Heartbeat,
    StopRequested,
    WorkerReady,
    WorkerStartFailed,
    WorkListed,
)
from xmlload.parallel.prefetch import PrefetchedChunks
from xmlload.parallel.scheduler import Chunk, GivenUp, Scheduler
from xmlload.parallel.worker import WorkerConfig
from xmlload.settings import Settings
from xmlload.sources import SourceItem
from xmlload.states import Stage

WATCH_EVERY = 0.5  # seconds between looks at the board and the workers


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


class Executor(ABC):
    """Runs the chunks the scheduler hands out, and turns what it observes into the
    scheduler's events. Subclasses provide the workers."""

    def __init__(self, config: WorkerConfig, workers: int) -> None:
        self.config, self.workers = config, workers
        self.worker_stats: dict[str, WorkerEntry] = {}
        self.recycled = 0  # chunks handed back unprocessed (memory limit, SIGTERM)
        self.target_lost: str | None = None  # why the target stopped taking writes
        self.not_started: dict[str, str] = {}  # workers that could not start, and why
        self.peak_rss: dict[str, int] = {}  # worker -> largest RSS seen, bytes
        self.board: ProgressBoard | None = None  # set once the workers are launched
        self.opened_at: float | None = None  # perf_counter when the workers began to start
        self.events: queue.Queue[Event] = queue.Queue()  # what the loop waits for
        self.closed = False

    @classmethod
    def from_settings(cls, config: WorkerConfig, settings: Settings) -> Executor:
        return cls(config, settings.workers)

    # -- what a subclass provides ------------------------------------------------------
    @abstractmethod
    def start(self) -> MutableMapping[str, Any]:
        """Connect to or start the machinery; return the storage the board lives in.
        May change `self.workers` (a cluster's size)."""

    @abstractmethod
    def launch(self, board: ProgressBoard) -> None:
        """Start the workers; each builds its pipeline once."""

    @abstractmethod
    def submit(self, chunk: Chunk) -> None:
        """Run the chunk; put ChunkFinished or ChunkFailed on `events` when it ends."""

    @abstractmethod
    def look(self, snapshot: BoardSnapshot) -> list[Event]:
        """At each look at the board: workers (or chunks) found gone since the last one
        (an executor that puts them on `events` as they happen returns none)."""

    @abstractmethod
    def kill(self, snapshot: BoardSnapshot, name: str) -> None:
        """Kill a hung worker (its open transaction rolls back)."""

    @abstractmethod
    def stop_workers(self) -> None:
        """End the workers; busy ones are killed or cancelled (after a second signal)."""

    @abstractmethod
    def shutdown(self) -> None:
        """Release what start() took."""

    def refresh(self, board: ProgressBoard) -> None:  # noqa: B027 - optional hook
        """Bring the board up to date before it is read (for workers that report remotely)."""

    # -- the loop ----------------------------------------------------------------------
    def open(self) -> None:
        """Start the machinery and the workers, which build their pipelines meanwhile: a
        run opens its executor before it counts the source and checks the target."""
        if self.board is None:
            self.opened_at = time.perf_counter()
            board = ProgressBoard(self.start())
            self.launch(board)
            self.board = board

    def close(self) -> None:
        """End what `open` started, for a run that ends before its loop (nothing to count,
        a target that is not ready); after `run`, nothing is left to do."""
        if not self.closed:
            self.closed = True
            self.stop_workers()
            self.shutdown()

    def run(
        self,
        chunks: Iterable[list[SourceItem]],
        total: int,
        stop: StopControl,
        callbacks: CoordinatorCallbacks,
    ) -> None:
        listing: PrefetchedChunks | None = None
        scheduler: Scheduler | None = None
        self.closed = True  # the loop ends what it runs on
        try:
            self.open()
            assert self.board is not None
            board = self.board
            try:
                listing = PrefetchedChunks(
                    iter(chunks), 2 * self.workers, lambda: self.events.put(WorkListed())
                )
                scheduler = Scheduler(
                    self.workers, listing, hang_limit(self.config.doc_timeout), time.monotonic
                )
                board.start(total)
                self._drive(board, scheduler, stop, callbacks)
            finally:
                self.stop_workers()
                self.refresh(board)
                self.worker_stats = board.snapshot().workers
                board.set_total(callbacks.current_total())
                callbacks.on_progress(board.snapshot())
        finally:
            if listing is not None:
                listing.close()
            self.shutdown()
            if scheduler is not None:
                self.recycled, self.target_lost = scheduler.recycled, scheduler.target_lost
                self.not_started = dict(scheduler.not_started)
        assert scheduler is not None
        if scheduler.start_failure is not None:
            raise WorkerStartError(scheduler.start_failure)
        if scheduler.fatal is not None:
            raise scheduler.fatal

    def _drive(
        self,
        board: ProgressBoard,
        scheduler: Scheduler,
        stop: StopControl,
        callbacks: CoordinatorCallbacks,
    ) -> None:
        signals = _StopEvents(stop)
        observer = _BoardObserver()
        last_look = 0.0
        while not scheduler.done:
            for chunk in scheduler.submissions():
                self.submit(chunk)
            for event in [*signals.events(), *_ready(self.events)]:
                scheduler.handle(event)
            _record(scheduler, board, callbacks, self.config.source.key)
            if time.monotonic() - last_look < WATCH_EVERY:
                continue
            last_look = time.monotonic()
            self.refresh(board)
            snapshot = board.snapshot()
            for event in [*observer.events(snapshot), *self.look(snapshot)]:
                scheduler.handle(event)
            scheduler.tick()
            for name in scheduler.kills():
                self.kill(snapshot, name)
            _record(scheduler, board, callbacks, self.config.source.key)
            board.set_total(callbacks.current_total())
            callbacks.on_progress(board.snapshot())


def _record(
    scheduler: Scheduler,
    board: ProgressBoard,
    callbacks: CoordinatorCallbacks,
    key: Callable[[SourceItem], str],
) -> None:
    """Count what the scheduler accepted: chunk reports, and documents given up (logged
    under `key` of their item)."""
    for report in scheduler.reports():
        board.add_results(report.documents, report.succeeded, report.documents - report.succeeded)
        callbacks.on_report(report)
    given_up = scheduler.given_up()
    if given_up:
        callbacks.on_lost_documents([_lost_outcome(lost, key(lost.item)) for lost in given_up])
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


class _StopEvents:
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
        self.failures_seen: set[str] = set()

    def events(self, snapshot: BoardSnapshot) -> list[Event]:
        found: list[Event] = []
        for name, message in snapshot.start_failures.items():
            if name not in self.failures_seen:
                self.failures_seen.add(name)
                found.append(WorkerStartFailed(name, message))
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


def _lost_outcome(lost: GivenUp, key: str) -> DocumentOutcome:
    what = "was killed or died" if lost.stage is Stage.WORKER_CRASH else "stopped responding"
    outcome = DocumentOutcome(key, datetime.now(), finished_at=datetime.now())
    outcome.fail(
        lost.stage, f"the worker processing this document {what} twice (last: {lost.worker})"
    )
    return outcome
