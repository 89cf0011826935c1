"""What happens in a run, as the scheduler hears it. An executor (the process pool, Dask)
turns what it observes into these events; the scheduler turns them into decisions."""

from __future__ import annotations

from dataclasses import dataclass

from xmlload.outcome import ChunkReport
from xmlload.states import WorkerExit


@dataclass(frozen=True)
class WorkerReady:
    worker: str


@dataclass(frozen=True)
class WorkerStartFailed:
    """This worker could not build its pipeline (connect to the target or the source)."""

    worker: str
    message: str


@dataclass(frozen=True)
class ChunkStarted:
    worker: str
    chunk_id: int


@dataclass(frozen=True)
class Heartbeat:
    worker: str


@dataclass(frozen=True)
class ChunkFinished:
    chunk_id: int
    report: ChunkReport


@dataclass(frozen=True)
class ChunkFailed:
    """The chunk's task raised instead of reporting (a lost target, a bug)."""

    chunk_id: int
    error: BaseException


@dataclass(frozen=True)
class WorkerLost:
    """The worker's process is gone: it died (OOM, SIGKILL) or handed its chunk back."""

    worker: str
    how: WorkerExit


@dataclass(frozen=True)
class ChunkLost:
    """A cluster reports a chunk's worker died; `started`: the worker had begun it (else
    the chunk only waited in that worker's queue)."""

    chunk_id: int
    worker: str
    started: bool


@dataclass(frozen=True)
class ExecutorFailed:
    """The executor cannot go on (worker processes cannot be started, or keep exiting
    while they start): the run ends with `error`; documents finished so far are logged."""

    error: BaseException


@dataclass(frozen=True)
class WorkListed:
    """The lister has a chunk ready to hand out (the loop wakes up to hand it out)."""


@dataclass(frozen=True)
class StopRequested:
    """A stop signal: the first stops handing out work, the second ends the run now."""


Event = (
    WorkerReady
    | WorkerStartFailed
    | ChunkStarted
    | Heartbeat
    | ChunkFinished
    | ChunkFailed
    | WorkerLost
    | ChunkLost
    | ExecutorFailed
    | WorkListed
    | StopRequested
)
