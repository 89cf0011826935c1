"""Scheduler: every decision of a parallel run, in one object driven by events and a clock.

What to hand out (at most `in_flight` chunks per worker; one-document retries first; the
first chunk of each worker small, so the first documents commit within moments of the start),
what a lost chunk becomes (handed back: the same chunk again; lost once: one retry per
document; a document lost twice: given up and logged failed), when a worker is hung,
when chunks were never picked up, when a stop is complete, and when the run must end
(a worker cannot start, the target is lost). No processes, no sleeping: an executor
feeds it events and carries out its decisions, and tests replay scenarios on a fake clock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import count
from typing import Any

from xmlload.errors import TargetLostError, WorkerStartError
from xmlload.outcome import ChunkReport
from xmlload.parallel.events import (
    ChunkFailed,
    ChunkFinished,
    ChunkLost,
    ChunkStarted,
    Event,
    ExecutorFailed,
    Heartbeat,
    StopRequested,
    WorkerLost,
    WorkerReady,
    WorkerStartFailed,
)
from xmlload.parallel.prefetch import NOT_YET
from xmlload.sources import SourceItem
from xmlload.states import Loss, Stage, WorkerExit

ORPHAN_AFTER = 5.0  # seconds a chunk may wait unclaimed while every worker sits idle
FIRST_CHUNK_DOCUMENTS = 1  # each worker's first chunk: it commits within moments of the start


@dataclass
class Chunk:
    id: int
    items: list[SourceItem]
    submitted_at: float
    alone: bool = False  # a retry of one document after its chunk was lost
    claimed: bool = False


@dataclass(frozen=True)
class GivenUp:
    """A document that took a worker down twice: log it failed with this stage."""

    item: SourceItem
    stage: Stage  # WORKER_CRASH or TIMEOUT
    worker: str


@dataclass
class _Worker:
    seen_at: float
    chunk: int | None = None
    gone: bool = False


@dataclass
class Scheduler:
    workers: int
    chunks: Iterator[Any]  # lists of items; NOT_YET while more are being listed
    hang_after: float  # seconds without a heartbeat while holding a chunk
    clock: Callable[[], float]
    in_flight: int = 2  # chunks per worker handed out at once
    first_size: int | None = FIRST_CHUNK_DOCUMENTS  # None: first chunks as listed
    pending: dict[int, Chunk] = field(default_factory=dict)
    retries: deque[Chunk] = field(default_factory=deque)
    recycled: int = 0  # chunks handed back unprocessed (memory limit, SIGTERM)
    target_lost: str | None = None
    start_failure: str | None = None  # no worker could start: the run ends with this
    not_started: dict[str, str] = field(default_factory=dict)  # workers that could not start
    fatal: BaseException | None = None
    stopping: bool = False
    terminate: bool = False
    _exhausted: bool = False
    _ids: Iterator[int] = field(default_factory=lambda: count(1))
    _known: dict[str, _Worker] = field(default_factory=dict)
    _reports: list[ChunkReport] = field(default_factory=list)
    _given_up: list[GivenUp] = field(default_factory=list)
    _kills: list[str] = field(default_factory=list)
    _reports_seen: bool = False
    _small_first: int = field(init=False)  # small first chunks still to hand out
    _rest: list[SourceItem] = field(default_factory=list)  # what a small first chunk left

    def __post_init__(self) -> None:
        self._small_first = self.workers if self.first_size else 0

    # -- events --------------------------------------------------------------------------
    def handle(self, event: Event) -> None:
        now = self.clock()
        if isinstance(event, WorkerReady):
            self._known.setdefault(event.worker, _Worker(now))
        elif isinstance(event, Heartbeat):
            self._worker(event.worker, now).seen_at = now
        elif isinstance(event, ChunkStarted):
            self._started(event, now)
        elif isinstance(event, ChunkFinished):
            self._finished(event, now)
        elif isinstance(event, ChunkFailed):
            self._failed(event)
        elif isinstance(event, WorkerLost):
            self._lost_worker(event)
        elif isinstance(event, ChunkLost):
            self._lost_chunk(event)
        elif isinstance(event, WorkerStartFailed):
            self._start_failed(event)
        elif isinstance(event, ExecutorFailed):
            self.fatal = self.fatal or event.error
        elif isinstance(event, StopRequested):
            self.terminate = self.stopping
            self.stopping = True
        # WorkListed needs no decision: the next submissions() takes what was listed

    def tick(self) -> None:
        """Clock-driven decisions: hung workers, chunks no worker picked up."""
        now = self.clock()
        for name, worker in self._known.items():
            if worker.gone or worker.chunk is None or now - worker.seen_at <= self.hang_after:
                continue
            worker.gone = True
            self._kills.append(name)
            self._lose(worker.chunk, Loss.TIMEOUT, name)
        # A chunk nobody picked up while every live worker sat idle was taken by a worker
        # that died before it could say so. (While any worker is busy, an unclaimed chunk
        # may simply be waiting in the queue.)
        live = [w for w in self._known.values() if not w.gone]
        if live and all(w.chunk is None and now - w.seen_at >= ORPHAN_AFTER for w in live):
            for chunk in list(self.pending.values()):
                if not chunk.claimed and now - chunk.submitted_at > ORPHAN_AFTER:
                    self._lose(chunk.id, Loss.WORKER_CRASH, "unknown")

    # -- decisions -----------------------------------------------------------------------
    def submissions(self) -> list[Chunk]:
        """Chunks to hand out now."""
        handed: list[Chunk] = []
        while len(self.pending) < self.in_flight * self.workers and self._open:
            if self.retries:
                chunk = self.retries.popleft()
            else:
                items = self._next_items()
                if items is None:
                    break
                chunk = Chunk(next(self._ids), items, self.clock())
            chunk.submitted_at = self.clock()
            self.pending[chunk.id] = chunk
            handed.append(chunk)
        return handed

    def reports(self) -> list[ChunkReport]:
        """Reports of chunks that count (not of chunks given up meanwhile)."""
        taken, self._reports = self._reports, []
        return taken

    def given_up(self) -> list[GivenUp]:
        taken, self._given_up = self._given_up, []
        return taken

    def kills(self) -> list[str]:
        """Workers to kill now (hung while holding a chunk)."""
        taken, self._kills = self._kills, []
        return taken

    @property
    def done(self) -> bool:
        if self.terminate or self.start_failure or self.fatal:
            return True
        if self.pending:
            return False
        # after a stop, queued retries are not run: their documents are not logged, so
        # the next run takes them up like any other
        return (
            self.stopping or self.target_lost is not None or (self._exhausted and not self.retries)
        )

    # -- internals -----------------------------------------------------------------------
    @property
    def _open(self) -> bool:
        return not (self.stopping or self.target_lost or self.start_failure or self.fatal)

    def _next_items(self) -> list[SourceItem] | None:
        """The next chunk of work; None when there is none yet or none left. The first
        chunk of each worker is cut small from the front of what is listed."""
        if self._rest:
            items, self._rest = self._rest, []
        else:
            items = self._listed_items()
            if items is None:
                return None
        if self._small_first > 0 and self.first_size:
            self._small_first -= 1
            items, self._rest = items[: self.first_size], items[self.first_size :]
        return items

    def _listed_items(self) -> list[SourceItem] | None:
        if self._exhausted:
            return None
        try:
            items = next(self.chunks, None)
        except TargetLostError as error:  # listing the source's pending work failed
            self.target_lost = self.target_lost or str(error)
            items = None
        if items is NOT_YET:
            return None
        self._exhausted = items is None
        return items  # type: ignore[return-value]

    def _worker(self, name: str, now: float) -> _Worker:
        return self._known.setdefault(name, _Worker(now))

    def _started(self, event: ChunkStarted, now: float) -> None:
        worker = self._worker(event.worker, now)
        worker.chunk, worker.seen_at = event.chunk_id, now
        chunk = self.pending.get(event.chunk_id)
        if chunk is not None:
            chunk.claimed = True

    def _finished(self, event: ChunkFinished, now: float) -> None:
        for worker in self._known.values():
            if worker.chunk == event.chunk_id:
                worker.chunk, worker.seen_at = None, now
        if self.pending.pop(event.chunk_id, None) is not None:
            self._reports.append(event.report)
            self._reports_seen = True
        # else: given up as lost and retried already; the retry counts

    def _failed(self, event: ChunkFailed) -> None:
        if isinstance(event.error, WorkerStartError) and not self._no_worker_can_start:
            # a worker that could not start handed the chunk back: no strike, out again
            chunk = self.pending.pop(event.chunk_id, None)
            if chunk is not None:
                self.retries.append(Chunk(next(self._ids), chunk.items, 0.0, alone=chunk.alone))
        elif isinstance(event.error, WorkerStartError):  # and none can: the run ends
            self.pending.pop(event.chunk_id, None)
            self._end_for_start_failures(str(event.error))
        elif isinstance(event.error, TargetLostError):
            # like a stop: no new chunks; this chunk's documents stay unlogged
            self.pending.pop(event.chunk_id, None)
            self.target_lost = self.target_lost or str(event.error)
        else:
            self.fatal = self.fatal or event.error

    def _lost_worker(self, event: WorkerLost) -> None:
        worker = self._known.get(event.worker)
        if worker is None or worker.gone:
            return
        worker.gone = True
        if worker.chunk is not None:
            handed_back = event.how is WorkerExit.HANDED_BACK
            reason = Loss.RECYCLED if handed_back else Loss.WORKER_CRASH
            self._lose(worker.chunk, reason, event.worker)

    def _start_failed(self, event: WorkerStartFailed) -> None:
        """A worker that cannot start is left out; the others go on (the run reports it
        and ends non-zero). When no worker can start: before any was up, the problem is
        the user's to fix (target, source); once the run was under way, the target (or
        source) went away: stop as after a signal, a new run resumes."""
        self.not_started.setdefault(event.worker, event.message)
        if self._no_worker_can_start:
            self._end_for_start_failures(next(iter(self.not_started.values())))

    @property
    def _no_worker_can_start(self) -> bool:
        live = any(not w.gone for w in self._known.values())
        return not live and len(self.not_started) >= self.workers

    def _end_for_start_failures(self, message: str) -> None:
        if self._reports_seen or self._known:
            self.target_lost = self.target_lost or message
        else:
            self.start_failure = self.start_failure or message

    def _lost_chunk(self, event: ChunkLost) -> None:
        """A chunk that only waited in the queue of a worker that died is no strike
        against its documents: it goes out again unchanged."""
        for worker in self._known.values():
            if worker.chunk == event.chunk_id:
                worker.chunk = None
        chunk = self.pending.get(event.chunk_id)
        if chunk is not None and not event.started:
            del self.pending[event.chunk_id]
            self.retries.append(Chunk(next(self._ids), chunk.items, 0.0, alone=chunk.alone))
            return
        self._lose(event.chunk_id, Loss.WORKER_CRASH, event.worker)

    def _lose(self, chunk_id: int, reason: Loss, worker: str) -> None:
        chunk = self.pending.pop(chunk_id, None)
        if chunk is None:
            return
        if reason is Loss.RECYCLED:
            self.recycled += 1
            self.retries.append(Chunk(next(self._ids), chunk.items, 0.0, alone=chunk.alone))
        elif chunk.alone:
            self._given_up.append(GivenUp(chunk.items[0], Stage(reason.value), worker))
        else:
            self.retries.extend(
                Chunk(next(self._ids), [item], 0.0, alone=True) for item in chunk.items
            )
