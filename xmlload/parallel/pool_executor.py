"""PoolExecutor: a run's workers as processes on this machine (forked from a server that
has imported what they need, see processes.py), each with a pipe of its own
(worker_processes.py).

Each worker builds its pipeline once, when it starts; the progress board is a manager dict
every worker writes to. A worker's exit is seen at once, and what it held is read from the
board; a hung one is killed.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import time
from collections.abc import MutableMapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.managers import SyncManager
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from xmlload.db.target import describe_db_error
from xmlload.errors import BoardLostError, WorkerFailedError, WorkerStartError, XmlloadError
from xmlload.outcome import ChunkReport
from xmlload.parallel.board import BoardSnapshot, ProgressBoard, WorkerEntry
from xmlload.parallel.events import (
    ChunkFailed,
    ChunkFinished,
    ChunkLost,
    ChunkStarted,
    Event,
    ExecutorFailed,
    WorkerLost,
)
from xmlload.parallel.executor import Executor
from xmlload.parallel.memory import sample_memory
from xmlload.parallel.processes import (
    WorkerStop,
    manager_initializer,
    start_worker_server,
    worker_context,
)
from xmlload.parallel.scheduler import Chunk
from xmlload.parallel.worker import BOUNCE_SECONDS, Worker, WorkerConfig
from xmlload.parallel.worker_processes import READY, WorkerProcesses
from xmlload.sources import SourceItem
from xmlload.states import WorkerExit

_worker: Worker | None = None
_start_error: WorkerStartError | None = None
_stop: WorkerStop | None = None


def _initialize(config: WorkerConfig, shared: Any) -> None:
    """In a new worker process: SIGINT ignored, SIGTERM stops after the chunk in hand (the
    coordinator decides what a stop means), then build the worker.

    A worker that cannot start does not exit (another would start in its place and fail
    the same way, forever): it keeps the error, puts it on the board for the coordinator,
    and answers every chunk with it."""
    global _worker, _start_error, _stop
    _stop = WorkerStop()
    board = ProgressBoard(shared)
    name = _worker_name(os.getpid())
    try:
        _worker = Worker(config, board, name)
    except Exception as error:  # the coordinator decides what a start failure means
        _start_error = WorkerStartError(f"{name} could not start: {describe_start_error(error)}")
        with contextlib.suppress(BoardLostError):  # the coordinator sees the board gone
            board.start_failed(name, str(_start_error))


def _worker_name(pid: int) -> str:
    return f"worker-{pid}"


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


@dataclass(frozen=True)
class _Answer:
    """A worker's answer to a chunk: its report, or the error it raised."""

    chunk_id: int
    report: ChunkReport | None = None
    error: BaseException | None = None


def _serve(pipe: Connection, config: WorkerConfig, shared: Any) -> None:
    """A worker process: build the worker, then answer each chunk sent on `pipe` until
    told to stop (None) or the coordinator is gone."""
    _initialize(config, shared)
    try:
        pipe.send(READY)
        while (task := pipe.recv()) is not None:
            pipe.send(_answer(*task))
    except (EOFError, BrokenPipeError):
        pass  # the coordinator is gone: nobody is left to answer
    finally:
        if _worker is not None:
            _worker.close()


def _answer(chunk_id: int, items: list[SourceItem]) -> _Answer:
    try:
        return _Answer(chunk_id, report=_process(chunk_id, items))
    except Exception as error:  # the coordinator decides what the error means
        return _Answer(chunk_id, error=_sendable(error))


def _sendable(error: Exception) -> BaseException:
    """The error itself if it survives the trip to the coordinator, else its description."""
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:  # any failure to rebuild it on the other side
        return WorkerFailedError(f"{type(error).__name__}: {error}")
    return error


def _board_entry(board: ProgressBoard, name: str) -> WorkerEntry | None:
    """The worker's entry; None if it has none, or if the board itself is gone (the run's
    next look at the board reports that)."""
    try:
        return board.snapshot().workers.get(name)
    except BoardLostError:
        return None


class PoolExecutor(Executor):
    """Workers as processes on this machine (the default executor), each with a pipe of
    its own (worker_processes.py)."""

    def __init__(self, config: WorkerConfig, workers: int) -> None:
        super().__init__(config, workers)
        self.context = worker_context()
        self.manager = SyncManager(ctx=self.context)
        self.processes: WorkerProcesses | None = None
        self.manager_started = False

    def start(self) -> MutableMapping[str, Any]:
        start_worker_server()  # the Manager and the workers are forked from it
        self.manager.start(manager_initializer)
        self.manager_started = True
        return self.manager.dict()

    def launch(self, board: ProgressBoard) -> None:
        self.processes = WorkerProcesses(
            self.context,
            self.workers,
            _serve,
            (self.config, board.shared),
            on_answer=self._answered,
            on_exit=lambda pid, chunk_id: self._exited(board, pid, chunk_id),
            on_failure=self._failed,
        )
        self.processes.start()

    def submit(self, chunk: Chunk) -> None:
        assert self.processes is not None
        self.processes.submit(chunk.id, chunk.items)

    def _answered(self, answer: _Answer) -> None:
        if answer.report is not None:
            self.events.put(ChunkFinished(answer.chunk_id, answer.report))
        else:
            assert answer.error is not None
            self.events.put(ChunkFailed(answer.chunk_id, answer.error))

    def _failed(self, error: Exception) -> None:
        message = f"the worker processes cannot go on: {type(error).__name__}: {error}"
        self.events.put(ExecutorFailed(WorkerFailedError(message)))

    def _exited(self, board: ProgressBoard, pid: int, chunk_id: int | None) -> None:
        """A worker exited: what it held, as the board shows it now that it can write no
        more (a chunk it had not begun goes out again unchanged)."""
        name = _worker_name(pid)
        entry = _board_entry(board, name)
        if chunk_id is not None and entry is not None and entry.chunk == chunk_id:
            self.events.put(ChunkStarted(name, chunk_id))
        elif chunk_id is not None:
            self.events.put(ChunkLost(chunk_id, name, started=False))
        handed_back = entry is not None and entry.handing_back
        self.events.put(
            WorkerLost(name, WorkerExit.HANDED_BACK if handed_back else WorkerExit.DIED)
        )

    def look(self, snapshot: BoardSnapshot) -> list[Event]:
        sample_memory(snapshot, self.peak_rss)
        return []  # exits are reported as they happen

    def kill(self, snapshot: BoardSnapshot, name: str) -> None:
        entry = snapshot.workers.get(name)
        if entry is not None and self.processes is not None:
            self.processes.kill(entry.pid)

    def stop_workers(self) -> None:
        # Every chunk is collected (or given up) by now, so the workers are idle and stop
        # on their own; after a second signal, busy ones are killed (their open
        # transactions roll back).
        if self.processes is not None:
            self.processes.stop()

    def shutdown(self) -> None:
        if self.manager_started:
            self.manager.shutdown()
