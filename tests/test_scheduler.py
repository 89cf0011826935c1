"""The scheduler's decisions, scenario by scenario, on a fake clock: no processes."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

import pytest

from xmlload.errors import TargetLostError, WorkerStartError
from xmlload.outcome import ChunkReport
from xmlload.parallel.events import (
    ChunkFailed,
    ChunkFinished,
    ChunkLost,
    ChunkStarted,
    ExecutorFailed,
    Heartbeat,
    StopRequested,
    WorkerLost,
    WorkerReady,
    WorkerStartFailed,
)
from xmlload.parallel.scheduler import ORPHAN_AFTER, GivenUp, Scheduler
from xmlload.states import WorkerExit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def chunks_of(*groups: list[int]) -> Iterator[list[int | str]]:
    return iter([list(group) for group in groups])


def make(
    *groups: list[int], workers: int = 1, hang_after: float = 10.0, first_size: int | None = None
) -> tuple[Scheduler, Clock]:
    """A scheduler over these chunks; by default its first chunks are not cut small."""
    clock = Clock()
    return Scheduler(workers, chunks_of(*groups), hang_after, clock, first_size=first_size), clock


def report(documents: int) -> ChunkReport:
    finished = ChunkReport("w1")
    finished.documents = finished.succeeded = documents
    return finished


def test_hands_out_two_chunks_per_worker_then_more_as_they_finish() -> None:
    scheduler, _ = make([1], [2], [3], [4], [5], workers=2)
    first = scheduler.submissions()
    assert [c.items for c in first] == [[1], [2], [3], [4]]
    assert scheduler.submissions() == []
    scheduler.handle(ChunkFinished(first[0].id, report(1)))
    assert [c.items for c in scheduler.submissions()] == [[5]]
    for chunk in first[1:]:
        scheduler.handle(ChunkFinished(chunk.id, report(1)))
    assert not scheduler.done  # chunk [5] is still out
    scheduler.handle(ChunkFinished(first[0].id + 4, report(1)))
    assert scheduler.submissions() == []  # the source is found exhausted
    assert scheduler.done and len(scheduler.reports()) == 5


def test_a_dead_workers_chunk_is_retried_per_document_then_given_up() -> None:
    scheduler, _ = make([1, 2, 3])
    (chunk,) = scheduler.submissions()
    scheduler.handle(WorkerReady("w1"))
    scheduler.handle(ChunkStarted("w1", chunk.id))
    scheduler.handle(WorkerLost("w1", WorkerExit.DIED))
    retries = scheduler.submissions()
    assert [c.items for c in retries] == [[1], [2]]  # two in flight per worker
    scheduler.handle(WorkerReady("w2"))
    scheduler.handle(ChunkStarted("w2", retries[0].id))
    scheduler.handle(WorkerLost("w2", WorkerExit.DIED))  # document 1 kills a worker again
    assert scheduler.given_up() == [GivenUp(1, "worker_crash", "w2")]
    scheduler.handle(ChunkFinished(chunk.id, report(3)))  # a late report of the lost chunk
    assert scheduler.reports() == []  # does not count: its documents were retried
    scheduler.handle(ChunkFinished(retries[1].id, report(1)))
    (last,) = scheduler.submissions()
    assert last.items == [3]
    scheduler.handle(ChunkFinished(last.id, report(1)))
    assert scheduler.done and len(scheduler.reports()) == 2


def test_a_chunk_a_cluster_reports_lost_is_retried_per_document_then_given_up() -> None:
    # a Dask worker died with the chunk, started or only assigned to it
    scheduler, _ = make([1, 2], workers=2)
    (chunk,) = scheduler.submissions()
    scheduler.handle(WorkerReady("tcp://a"))
    scheduler.handle(ChunkStarted("tcp://a", chunk.id))
    scheduler.handle(ChunkLost(chunk.id, "tcp://a", started=True))
    retries = scheduler.submissions()
    assert [c.items for c in retries] == [[1], [2]]
    # a retry that only waited in a dead worker's queue goes out again unchanged
    scheduler.handle(ChunkLost(retries[0].id, "tcp://b", started=False))
    assert scheduler.given_up() == []
    (again,) = scheduler.submissions()
    assert again.items == [1] and again.alone
    scheduler.handle(ChunkLost(again.id, "tcp://c", started=True))  # it counts now
    assert scheduler.given_up() == [GivenUp(1, "worker_crash", "tcp://c")]
    scheduler.handle(ChunkFinished(retries[1].id, report(1)))
    assert scheduler.done and len(scheduler.reports()) == 1


def test_a_silent_worker_is_killed_but_heartbeats_keep_a_waiting_one_alive() -> None:
    scheduler, clock = make([1, 2], [3], workers=2, hang_after=10)
    first, second = scheduler.submissions()
    for worker, chunk in (("w1", first), ("w2", second)):
        scheduler.handle(WorkerReady(worker))
        scheduler.handle(ChunkStarted(worker, chunk.id))
    for _ in range(4):  # w2 waits on the database for 20 s, with its heartbeat going on
        clock.advance(5)
        scheduler.handle(Heartbeat("w2"))
        scheduler.tick()
    assert scheduler.kills() == ["w1"]
    assert [c.items for c in scheduler.submissions()] == [[1], [2]]
    assert scheduler.kills() == []


def test_a_handed_back_chunk_goes_out_again_unchanged() -> None:
    scheduler, _ = make([1, 2])
    (chunk,) = scheduler.submissions()
    scheduler.handle(ChunkStarted("w1", chunk.id))
    scheduler.handle(WorkerLost("w1", WorkerExit.HANDED_BACK))
    (again,) = scheduler.submissions()
    assert again.items == [1, 2] and not again.alone and scheduler.recycled == 1


def test_a_chunk_no_worker_picked_up_is_retried_while_a_worker_idles() -> None:
    scheduler, clock = make([1, 2], [3], workers=1)
    taken, orphan = scheduler.submissions()
    scheduler.handle(WorkerReady("w1"))
    scheduler.handle(ChunkStarted("w1", taken.id))
    scheduler.handle(ChunkFinished(taken.id, report(2)))
    clock.advance(ORPHAN_AFTER + 1)
    scheduler.tick()
    assert [c.items for c in scheduler.submissions()] == [[3]]  # the orphan, alone
    assert orphan.id not in scheduler.pending


def test_a_stop_completes_without_running_queued_retries() -> None:
    scheduler, _ = make([1, 2, 3], [4], workers=1)
    first, second = scheduler.submissions()
    scheduler.handle(ChunkStarted("w1", first.id))
    scheduler.handle(WorkerLost("w1", WorkerExit.DIED))  # three retries queued
    scheduler.handle(StopRequested())
    assert scheduler.submissions() == [] and not scheduler.done  # `second` is still out
    scheduler.handle(ChunkFinished(second.id, report(1)))
    assert scheduler.done and not scheduler.terminate and len(scheduler.retries) == 3


def test_a_second_stop_ends_the_run_now() -> None:
    scheduler, _ = make([1], [2])
    scheduler.submissions()
    scheduler.handle(StopRequested())
    assert not scheduler.done
    scheduler.handle(StopRequested())
    assert scheduler.done and scheduler.terminate


def test_when_no_worker_can_start_the_run_ends() -> None:
    scheduler, _ = make([1], [2], workers=2)
    scheduler.submissions()
    scheduler.handle(WorkerStartFailed("w1", "w1 could not start: permission denied"))
    assert not scheduler.done  # w2 may still start
    scheduler.handle(WorkerStartFailed("w2", "w2 could not start: permission denied"))
    assert scheduler.done and scheduler.submissions() == []
    assert scheduler.start_failure == "w1 could not start: permission denied"


def test_a_worker_that_cannot_start_is_left_out_and_the_others_go_on() -> None:
    scheduler, _ = make([1], [2], [3], workers=2)
    first, second, third = scheduler.submissions()[:3]
    scheduler.handle(WorkerStartFailed("w1", "w1 could not start: too many connections"))
    scheduler.handle(WorkerReady("w2"))
    # w1 answers a chunk with its start error: the chunk goes out again, no strike
    scheduler.handle(ChunkFailed(first.id, WorkerStartError("w1 could not start")))
    assert scheduler.fatal is None and scheduler.target_lost is None
    assert scheduler.start_failure is None and not scheduler.done
    (again,) = [c for c in scheduler.submissions() if c.items == [1]]
    assert not again.alone and again.id != first.id
    for chunk in (second, third, again):
        scheduler.handle(ChunkFinished(chunk.id, report(1)))
    assert scheduler.done and scheduler.given_up() == []
    assert scheduler.not_started == {"w1": "w1 could not start: too many connections"}


def test_a_lost_target_stops_handing_out_work_and_waits_for_the_rest() -> None:
    scheduler, _ = make([1], [2], [3], workers=1)
    first, second = scheduler.submissions()
    scheduler.handle(ChunkFailed(first.id, TargetLostError("target x cannot take writes")))
    assert scheduler.submissions() == [] and not scheduler.done
    scheduler.handle(ChunkFinished(second.id, report(1)))
    assert scheduler.done and scheduler.target_lost == "target x cannot take writes"


def test_a_target_lost_while_listing_work_ends_the_run() -> None:
    def listing() -> Iterator[list[int | str]]:
        yield [1]
        raise TargetLostError("target x unreachable")

    clock = Clock()
    scheduler = Scheduler(1, listing(), 10.0, clock, first_size=None)
    (chunk,) = scheduler.submissions()
    assert scheduler.target_lost == "target x unreachable"
    scheduler.handle(ChunkFinished(chunk.id, report(1)))
    assert scheduler.done


def test_any_other_task_error_is_fatal() -> None:
    scheduler, _ = make([1])
    (chunk,) = scheduler.submissions()
    error = RuntimeError("bug")
    scheduler.handle(ChunkFailed(chunk.id, error))
    assert scheduler.done and scheduler.fatal is error


def test_an_executor_that_cannot_go_on_ends_the_run_with_its_error() -> None:
    scheduler, _ = make([1, 2])
    scheduler.submissions()
    error = OSError(11, "Resource temporarily unavailable")
    scheduler.handle(ExecutorFailed(error))
    assert scheduler.done and scheduler.fatal is error
    assert scheduler.submissions() == []


@pytest.mark.parametrize("how", list(WorkerExit))
def test_losing_an_idle_worker_loses_nothing(how: WorkerExit) -> None:
    scheduler, _ = make([1])
    scheduler.handle(WorkerReady("w1"))
    scheduler.handle(WorkerLost("w1", how))  # e.g. a worker recycled between chunks
    (chunk,) = scheduler.submissions()
    assert chunk.items == [1] and scheduler.recycled == 0


def test_a_queued_chunk_is_not_orphaned_while_a_worker_is_busy() -> None:
    scheduler, clock = make([1], [2], [3], workers=2)
    first, second, third = scheduler.submissions()[:3]
    for worker, chunk in (("w1", first), ("w2", second)):
        scheduler.handle(WorkerReady(worker))
        scheduler.handle(ChunkStarted(worker, chunk.id))
    scheduler.handle(ChunkFinished(first.id, report(1)))  # w1 idle, w2 busy with a long chunk
    for _ in range(4):
        clock.advance(ORPHAN_AFTER)
        scheduler.handle(Heartbeat("w2"))
        scheduler.tick()
    assert third.id in scheduler.pending and scheduler.retries == deque()


def test_replacements_that_cannot_start_mid_run_stop_the_run_as_a_lost_target() -> None:
    # once the run was under way and no worker is left that can start, the target (or
    # source) went away: stop handing out work and resume later (exit 4)
    scheduler, _ = make([1], [2], [3], workers=1)
    first = scheduler.submissions()
    scheduler.handle(WorkerReady("w1"))
    scheduler.handle(ChunkStarted("w1", first[0].id))
    scheduler.handle(ChunkFinished(first[0].id, report(1)))
    scheduler.handle(WorkerLost("w1", WorkerExit.DIED))
    scheduler.handle(WorkerStartFailed("w2", "w2 could not start: target unreachable"))
    assert scheduler.start_failure is None
    assert scheduler.target_lost == "w2 could not start: target unreachable"
    assert scheduler.submissions() == []
    scheduler.handle(ChunkFailed(first[1].id, WorkerStartError("w2 could not start")))
    assert scheduler.fatal is None and scheduler.done


def test_each_workers_first_chunk_is_cut_small_from_the_front_of_the_listing() -> None:
    listed = [list(range(0, 50)), list(range(50, 100)), list(range(100, 150))]
    scheduler, _ = make(*listed, workers=2, first_size=1)
    handed = [chunk.items for chunk in scheduler.submissions()]
    # one small chunk per worker, then the rest of the first listed chunk, then the next
    assert handed == [[0], [1], list(range(2, 50)), listed[1]]
    for chunk in list(scheduler.pending.values()):
        scheduler.handle(ChunkFinished(chunk.id, report(len(chunk.items))))
    assert [chunk.items for chunk in scheduler.submissions()] == [listed[2]]


def test_small_first_chunks_lose_and_repeat_no_document() -> None:
    listed = [[1, 2, 3], [4], [5, 6, 7, 8, 9, 10, 11]]
    scheduler, _ = make(*listed, workers=3, first_size=2)
    handed: list[int | str] = []
    while not scheduler.done:
        for chunk in scheduler.submissions():
            handed += chunk.items
            scheduler.handle(ChunkFinished(chunk.id, report(len(chunk.items))))
    assert handed == list(range(1, 12))
    assert sum(r.documents for r in scheduler.reports()) == 11


def test_first_chunks_are_listed_ones_without_a_first_size() -> None:
    scheduler, _ = make([1, 2, 3], [4, 5], workers=2, first_size=None)
    assert [chunk.items for chunk in scheduler.submissions()] == [[1, 2, 3], [4, 5]]
