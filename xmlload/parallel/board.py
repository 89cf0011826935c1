"""ProgressBoard: the run's shared state in a `multiprocessing.Manager` dict (or, for
workers on other machines, mirrored from their published entries), read and written only
through this module's types.

The coordinator writes the totals; each worker writes only its own `WorkerEntry`,
replacing it whole (an in-place change to a value held by the Manager would be lost).
Progress rendering and the coordinator read `BoardSnapshot`s and nothing else.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, MutableMapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, ParamSpec, TypeVar

from xmlload.errors import BoardLostError
from xmlload.parallel.memory import peak_rss_bytes

P = ParamSpec("P")
R = TypeVar("R")

_WORKER = "worker:"
_START_FAILURE = "start_failure:"  # + worker name
_TOTALS = "totals"


def _on_board(method: Callable[P, R]) -> Callable[P, R]:
    """A board call that fails because the Manager process holding the board is gone
    raises BoardLostError."""

    @functools.wraps(method)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except (OSError, EOFError) as error:
            raise BoardLostError(
                "the run's progress board (its Manager process) went away mid-run "
                f"({type(error).__name__}); documents finished so far are logged: run "
                "again to resume"
            ) from None

    return call


@dataclass(frozen=True)
class Totals:
    """What the coordinator counted: documents finished, by outcome."""

    total: int = 0
    completed: int = 0
    succeeded: int = 0
    failed: int = 0
    started_at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class WorkerEntry:
    """One worker's own report: who it is, what it holds, what it has done."""

    pid: int
    ready_at: float
    heartbeat: float
    documents: int = 0
    rows: int = 0
    failures: int = 0
    busy_seconds: float = 0.0
    chunk: int | None = None  # the chunk in hand
    in_chunk: int = 0  # documents of that chunk done so far (as of the last heartbeat)
    peak_rss: int = 0
    handing_back: bool = False  # exiting without processing `chunk` (memory, SIGTERM)


@dataclass(frozen=True)
class BoardSnapshot:
    totals: Totals
    workers: dict[str, WorkerEntry]
    start_failures: dict[str, str] = field(default_factory=dict)  # worker -> why


class ProgressBoard:
    def __init__(self, shared: MutableMapping[str, Any]) -> None:
        self.shared = shared
        self.totals = Totals()

    # -- coordinator side ------------------------------------------------------------------
    @_on_board
    def start(self, total: int) -> None:
        self.totals = Totals(total=total)
        self.shared[_TOTALS] = self.totals

    @_on_board
    def add_results(self, documents: int, succeeded: int, failed: int) -> None:
        """Count finished documents (the coordinator is the only writer of totals)."""
        totals = self.totals
        self.totals = replace(
            totals,
            completed=totals.completed + documents,
            succeeded=totals.succeeded + succeeded,
            failed=totals.failed + failed,
        )
        self.shared[_TOTALS] = self.totals

    @_on_board
    def set_total(self, total: int) -> None:
        if total != self.totals.total:
            self.totals = replace(self.totals, total=total)
            self.shared[_TOTALS] = self.totals

    @_on_board
    def snapshot(self) -> BoardSnapshot:
        """One copy of the whole board (a single round trip to the Manager)."""
        copy = dict(self.shared)
        workers = {k[len(_WORKER) :]: v for k, v in copy.items() if k.startswith(_WORKER)}
        failures = {
            k[len(_START_FAILURE) :]: v for k, v in copy.items() if k.startswith(_START_FAILURE)
        }
        return BoardSnapshot(copy.get(_TOTALS, self.totals), workers, failures)

    # -- worker side -------------------------------------------------------------------------
    @_on_board
    def start_failed(self, name: str, message: str) -> None:
        """This worker could not build its pipeline (its own key: no lost updates)."""
        self.shared.setdefault(_START_FAILURE + name, message)

    def register(self, name: str) -> None:
        now = time.time()
        self._put(name, WorkerEntry(os.getpid(), now, now, peak_rss=peak_rss_bytes()))

    def chunk_started(self, name: str, chunk_id: int) -> None:
        entry = replace(self._get(name), chunk=chunk_id, in_chunk=0, heartbeat=time.time())
        self._put(name, entry)

    def handing_back(self, name: str, chunk_id: int) -> None:
        """The worker is about to exit without processing `chunk_id`."""
        self._put(name, replace(self._get(name), chunk=chunk_id, handing_back=True))

    def heartbeat(self, name: str, done_in_chunk: int | None = None) -> None:
        entry = replace(self._get(name), heartbeat=time.time())
        if done_in_chunk is not None:
            entry = replace(entry, in_chunk=done_in_chunk)
        self._put(name, entry)

    def chunk_finished(
        self, name: str, documents: int, rows: int, failures: int, busy_seconds: float
    ) -> None:
        entry = self._get(name)
        self._put(
            name,
            replace(
                entry,
                documents=entry.documents + documents,
                rows=entry.rows + rows,
                failures=entry.failures + failures,
                busy_seconds=entry.busy_seconds + busy_seconds,
                chunk=None,
                in_chunk=0,
                heartbeat=time.time(),
                peak_rss=peak_rss_bytes(),
            ),
        )

    def mirror(self, message: dict[str, Any]) -> None:
        """Apply what a remote worker's PublishingBoard published."""
        if "start_failure" in message:
            self.start_failed(message["worker"], message["start_failure"])
        else:
            self._put(message["worker"], WorkerEntry(**message["entry"]))

    @_on_board
    def _get(self, name: str) -> WorkerEntry:
        entry: WorkerEntry = self.shared[_WORKER + name]
        return entry

    @_on_board
    def _put(self, name: str, entry: WorkerEntry) -> None:
        self.shared[_WORKER + name] = entry


class PublishingBoard(ProgressBoard):
    """A worker's side of the board where the coordinator is on another machine: entries
    are kept locally and each change is published (as a message of plain values) for the
    coordinator's board to `mirror`."""

    def __init__(self, publish: Callable[[dict[str, Any]], None]) -> None:
        super().__init__({})
        self.publish = publish

    def start_failed(self, name: str, message: str) -> None:
        super().start_failed(name, message)
        self.publish({"worker": name, "start_failure": message})

    def _put(self, name: str, entry: WorkerEntry) -> None:
        super()._put(name, entry)
        self.publish({"worker": name, "entry": asdict(entry)})
