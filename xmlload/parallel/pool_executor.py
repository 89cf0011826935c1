"""PoolExecutor: a run's workers as a process pool on this machine (forked from a server
that has imported what they need, see processes.py).

Each worker's pipeline is built once, in the pool initializer; the progress board is a
manager dict every worker writes to; a worker that is gone shows as a process that is
gone (watchdog.py), and a hung one is killed by pid.
"""

from __future__ import annotations

import os
import queue
import time
from collections.abc import MutableMapping
from multiprocessing.managers import SyncManager
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from xmlload.db.target import describe_db_error
from xmlload.errors import WorkerStartError, XmlloadError
from xmlload.outcome import ChunkReport
from xmlload.parallel.board import BoardSnapshot, ProgressBoard
from xmlload.parallel.events import ChunkFailed, ChunkFinished, Event
from xmlload.parallel.executor import Executor
from xmlload.parallel.processes import (
    WorkerStop,
    manager_initializer,
    start_worker_server,
    worker_context,
    worker_pool,
)
from xmlload.parallel.scheduler import Chunk
from xmlload.parallel.watchdog import Watchdog
from xmlload.parallel.worker import BOUNCE_SECONDS, Worker, WorkerConfig
from xmlload.sources import SourceItem

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
    name = f"worker-{os.getpid()}"
    try:
        _worker = Worker(config, board, name)
    except Exception as error:  # the coordinator decides what a start failure means
        _start_error = WorkerStartError(f"{name} could not start: {describe_start_error(error)}")
        board.start_failed(name, str(_start_error))


def describe_start_error(error: Exception) -> str:
    if isinstance(error, XmlloadError):
        return str(error)
    if isinstance(error, SQLAlchemyError):
        return describe_db_error(error)
    return f"{type(error).__name__}: {error}"


def _process(chunk_id: int, items: list[SourceItem]) -> ChunkReport:
    if _worker is None:  # the chunk goes back, unchanged, for a worker that started
        assert _start_error is not None
        time.sleep(BOUNCE_SECONDS)
        raise _start_error
    if _stop is not None and _stop.requested:
        _worker.hand_back(chunk_id)  # exits; the coordinator sees the chunk handed back
    return _worker.process_chunk(chunk_id, items)


class PoolExecutor(Executor):
    """Workers as processes of a multiprocessing Pool (the default executor)."""

    def __init__(self, config: WorkerConfig, workers: int) -> None:
        super().__init__(config, workers)
        self.watchdog = Watchdog()
        self.context = worker_context()
        self.manager = SyncManager(ctx=self.context)
        self.pool: Any = None
        self.manager_started = False

    def start(self) -> MutableMapping[str, Any]:
        start_worker_server()  # the Manager and the workers are forked from it
        self.manager.start(manager_initializer)
        self.manager_started = True
        return self.manager.dict()

    def launch(self, board: ProgressBoard) -> None:
        self.pool = worker_pool(
            self.context, self.workers, _initialize, (self.config, board.shared)
        )

    def submit(self, chunk: Chunk, results: queue.Queue[Event]) -> None:
        self.pool.apply_async(
            _process,
            (chunk.id, chunk.items),
            callback=lambda report, i=chunk.id: results.put(ChunkFinished(i, report)),
            error_callback=lambda error, i=chunk.id: results.put(ChunkFailed(i, error)),
        )

    def lost(self, snapshot: BoardSnapshot) -> list[Event]:
        return list(self.watchdog.lost_workers(snapshot))

    def kill(self, snapshot: BoardSnapshot, name: str) -> None:
        self.watchdog.kill(snapshot, name)

    def stop_workers(self) -> None:
        # Every chunk is collected (or given up) by now, so the workers are idle; after a
        # second signal, terminate() kills the busy ones (their open transactions roll
        # back). Not close()+join(): join waits forever for tasks that died with their worker.
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()
        self.peak_rss = self.watchdog.peak_rss

    def shutdown(self) -> None:
        if self.manager_started:
            self.manager.shutdown()
