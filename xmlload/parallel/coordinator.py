"""ParallelCoordinator: hands chunks of source items to a spawn-started process pool and
collects their reports; the watchdog turns dead or hung workers into retries.

At most two chunks per worker are in flight, so the coordinator never holds the whole work
list. A chunk whose worker dies or hangs is retried once, one document per chunk, in fresh
workers; a document that takes a worker down twice is logged failed (`worker_crash` or
`timeout`) by the coordinator itself.
"""

from __future__ import annotations

import multiprocessing
import queue
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.managers import SyncManager
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from xmlload.db.target import describe_db_error
from xmlload.errors import TargetLostError, WorkerStartError, XmlloadError
from xmlload.outcome import ChunkReport, DocumentOutcome
from xmlload.parallel.board import ProgressBoard
from xmlload.parallel.processes import WorkerStop, manager_initializer, worker_pool
from xmlload.parallel.watchdog import LostChunk, Watchdog
from xmlload.parallel.worker import Worker, WorkerConfig
from xmlload.sources import SourceItem
from xmlload.sources.base import source_key

ORPHAN_AFTER = 5.0  # seconds a chunk may wait unclaimed while a worker sits idle
WATCH_EVERY = 0.5  # seconds between watchdog checks and progress updates

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
class _Chunk:
    id: int
    items: list[SourceItem]
    alone: bool = False  # a retry of one document after its chunk was lost
    submitted: float = field(default_factory=time.monotonic)


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
    def __init__(self, config: WorkerConfig, workers: int) -> None:
        self.config, self.workers = config, workers
        self.watchdog = Watchdog(hang_after=hang_limit(config.doc_timeout))
        self.worker_stats: dict[str, dict[str, Any]] = {}
        self.recycled = 0  # workers that exited over their memory limit
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
        try:
            board = ProgressBoard(manager.dict())
            board.start(total)
            pool = worker_pool(context, self.workers, _initialize, (self.config, board.shared))
            try:
                self._drive(pool, board, iter(chunks), stop, callbacks)
            finally:
                # Every chunk is collected (or given up) by now, so the workers are idle;
                # after a second signal, terminate() kills the busy ones (their open
                # transactions roll back). Not close()+join(): join waits forever for tasks
                # that died with their worker.
                pool.terminate()
                pool.join()
                self.worker_stats = ProgressBoard.workers(board.snapshot())
                board.set_total(callbacks.current_total())
                callbacks.on_progress(board.snapshot())
        finally:
            manager.shutdown()

    def _drive(
        self,
        pool: Any,
        board: ProgressBoard,
        chunks: Iterator[list[SourceItem]],
        stop: StopControl,
        callbacks: CoordinatorCallbacks,
    ) -> None:
        results: queue.Queue[tuple[int, ChunkReport | BaseException]] = queue.Queue()
        pending: dict[int, _Chunk] = {}
        retries: deque[_Chunk] = deque()
        next_id = iter(range(1, 1 << 62))
        exhausted = False
        last_check = time.monotonic()

        def submit(chunk: _Chunk) -> None:
            pending[chunk.id] = chunk
            pool.apply_async(
                _process,
                (chunk.id, chunk.items),
                callback=lambda report, i=chunk.id: results.put((i, report)),
                error_callback=lambda error, i=chunk.id: results.put((i, error)),
            )

        def stopping() -> bool:
            return stop.stop_requested() or self.target_lost is not None

        while True:
            while len(pending) < 2 * self.workers and not stopping():
                if retries:
                    submit(retries.popleft())
                    continue
                items = None if exhausted else self._next_chunk(chunks)
                if items is None:
                    exhausted = True
                    break
                submit(_Chunk(next(next_id), items))
            # After a stop, queued retries are not run: their documents are not logged, so
            # the next run takes them up like any other.
            if not pending and (stopping() or (exhausted and not retries)):
                return
            if stop.terminate_requested():
                return
            self._collect(results, pending, board, callbacks)
            board.set_total(callbacks.current_total())
            now = time.monotonic()
            if now - last_check < WATCH_EVERY:
                continue
            last_check = now
            snapshot = board.snapshot()
            failure = ProgressBoard.start_failure(snapshot)
            if failure is not None:
                raise WorkerStartError(failure)
            callbacks.on_progress(snapshot)
            for lost in self._lost_chunks(snapshot, pending):
                chunk = pending.pop(lost.chunk_id)
                if lost.reason == "recycled":
                    self.recycled += 1
                    retries.append(_Chunk(next(next_id), chunk.items, alone=chunk.alone))
                elif chunk.alone:
                    callbacks.on_lost_documents([_lost_outcome(chunk.items[0], lost)])
                    board.add_results(1, 0, 1)
                else:
                    retries.extend(
                        _Chunk(next(next_id), [item], alone=True) for item in chunk.items
                    )

    def _collect(
        self,
        results: queue.Queue[tuple[int, ChunkReport | BaseException]],
        pending: dict[int, _Chunk],
        board: ProgressBoard,
        callbacks: CoordinatorCallbacks,
    ) -> None:
        """Wait briefly for a result, then take every result that is ready."""
        try:
            ready = [results.get(timeout=0.25)]
        except queue.Empty:
            return
        while not results.empty():
            ready.append(results.get_nowait())
        for chunk_id, result in ready:
            if isinstance(result, TargetLostError):
                # like a stop: no new chunks; this chunk's documents stay unlogged
                pending.pop(chunk_id, None)
                self.target_lost = self.target_lost or str(result)
                continue
            if isinstance(result, BaseException):
                raise result
            if pending.pop(chunk_id, None) is None:
                continue  # given up as lost and retried already: counted by the retry
            failed = result.documents - result.succeeded
            board.add_results(result.documents, result.succeeded, failed)
            callbacks.on_report(result)

    def _next_chunk(self, chunks: Iterator[list[SourceItem]]) -> list[SourceItem] | None:
        """The next chunk, or None at the end or when the target is lost while listing."""
        try:
            return next(chunks, None)
        except TargetLostError as error:
            self.target_lost = self.target_lost or str(error)
            return None

    def _lost_chunks(self, snapshot: dict[str, Any], pending: dict[int, _Chunk]) -> list[LostChunk]:
        lost = [item for item in self.watchdog.check(snapshot) if item.chunk_id in pending]
        claimed = {entry["chunk"] for entry in ProgressBoard.workers(snapshot).values()}
        if self.watchdog.idle_workers(snapshot, ORPHAN_AFTER):
            now = time.monotonic()
            lost += [
                LostChunk(chunk.id, "unknown", "worker_crash")
                for chunk in pending.values()
                if chunk.id not in claimed
                and now - chunk.submitted > ORPHAN_AFTER
                and chunk.id not in {item.chunk_id for item in lost}
            ]
        return lost


def hang_limit(doc_timeout: float) -> float:
    """Seconds of silence after which a worker holding a chunk is killed: past its own
    per-document deadline, so that one normally fires first. No limit when doc_timeout is 0."""
    return doc_timeout + max(2.0, doc_timeout / 4) if doc_timeout > 0 else float("inf")


def _lost_outcome(item: SourceItem, lost: LostChunk) -> DocumentOutcome:
    what = "was killed or died" if lost.reason == "worker_crash" else "stopped responding"
    outcome = DocumentOutcome(source_key(item), datetime.now(), finished_at=datetime.now())
    outcome.fail(
        lost.reason, f"the worker processing this document {what} twice (last: {lost.worker})"
    )
    return outcome
