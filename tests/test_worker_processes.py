"""WorkerProcesses with real processes: answers, queued tasks, workers killed while idle
or busy (each replaced, its unanswered task reported), and a clean stop."""

from __future__ import annotations

import os
import queue
import signal
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection
from typing import Any

import pytest

from xmlload.parallel.processes import worker_context
from xmlload.parallel.worker_processes import EARLY_EXITS, READY, WorkerProcesses


def serve(pipe: Connection, delay: float) -> None:
    """Answers (id, payload) with (id, payload * 2, pid) after `delay` seconds."""
    pipe.send(READY)
    while (task := pipe.recv()) is not None:
        time.sleep(delay)
        pipe.send((task[0], task[1] * 2, os.getpid()))


class Recorder:
    def __init__(self) -> None:
        self.seen: queue.Queue[tuple[str, Any]] = queue.Queue()

    def answer(self, answer: Any) -> None:
        self.seen.put(("answer", answer))

    def exit(self, pid: int, task: int | None) -> None:
        self.seen.put(("exit", (pid, task)))

    def failure(self, error: Exception) -> None:
        self.seen.put(("failure", error))

    def next(self, timeout: float = 30.0) -> tuple[str, Any]:
        return self.seen.get(timeout=timeout)


@pytest.fixture
def started() -> Iterator[tuple[WorkerProcesses, Recorder]]:
    recorder = Recorder()
    processes = WorkerProcesses(
        worker_context(), 2, serve, (0.0,), recorder.answer, recorder.exit, recorder.failure
    )
    processes.start()
    yield processes, recorder
    processes.stop()


def pids_of(processes: WorkerProcesses) -> list[int]:
    return [slot.process.pid for slot in processes._slots if slot.process.pid is not None]


def busy_with(processes: WorkerProcesses, tasks: set[int]) -> dict[int, int]:
    """{task: pid} once every task is with a worker (on a busy machine the workers may take
    a while to say they are ready)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        busy = {slot.task: slot.process.pid for slot in processes._slots}
        if set(busy) == tasks:
            return busy  # type: ignore[return-value]
        time.sleep(0.02)
    raise AssertionError(f"tasks {tasks} were not all handed out: {busy}")


def test_every_task_is_answered_once_with_more_tasks_than_workers(
    started: tuple[WorkerProcesses, Recorder],
) -> None:
    processes, recorder = started
    for task in range(20):
        processes.submit(task, task)
    answers = sorted(recorder.next()[1][:2] for _ in range(20))
    assert answers == [(task, task * 2) for task in range(20)]
    assert recorder.seen.empty()


def test_workers_killed_while_waiting_for_work_are_replaced(
    started: tuple[WorkerProcesses, Recorder],
) -> None:
    """Both workers are killed while they wait for a task: each exit is reported with no
    task, new workers take their place, and the next tasks are answered by them."""
    processes, recorder = started
    first = pids_of(processes)
    processes.submit(0, 1)
    assert recorder.next()[0] == "answer"  # the workers are up and waiting
    for pid in first:
        os.kill(pid, signal.SIGKILL)
    exits = sorted(recorder.next()[1] for _ in first)
    assert exits == sorted((pid, None) for pid in first)
    for task in range(1, 5):
        processes.submit(task, task)
    answers = [recorder.next()[1] for _ in range(4)]
    assert sorted(answer[:2] for answer in answers) == [(t, t * 2) for t in range(1, 5)]
    assert not {answer[2] for answer in answers} & set(first)


def test_a_busy_worker_killed_reports_its_task_and_the_others_go_on() -> None:
    recorder = Recorder()
    processes = WorkerProcesses(
        worker_context(), 2, serve, (2.0,), recorder.answer, recorder.exit, recorder.failure
    )
    processes.start()
    try:
        processes.submit(7, 1)
        processes.submit(8, 1)
        busy = busy_with(processes, {7, 8})
        assert set(busy) == {7, 8}
        processes.kill(busy[7])
        assert recorder.next() == ("exit", (busy[7], 7))
        assert recorder.next() == ("answer", (8, 2, busy[8]))
        processes.submit(9, 5)  # one for the survivor, one for the worker in the killed one's place
        processes.submit(10, 5)
        answers = [recorder.next() for _ in range(2)]
        assert sorted((kind, task, value) for kind, (task, value, _) in answers) == [
            ("answer", 9, 10),
            ("answer", 10, 10),
        ]
        pids = {pid for _, (_, _, pid) in answers}
        assert busy[8] in pids and busy[7] not in pids and len(pids) == 2
    finally:
        processes.stop()


def test_stop_lets_idle_workers_exit_on_their_own(
    started: tuple[WorkerProcesses, Recorder],
) -> None:
    processes, recorder = started
    slots = list(processes._slots)
    deadline = time.monotonic() + 30
    while not all(slot.ready for slot in slots):  # both said READY
        assert time.monotonic() < deadline
        time.sleep(0.01)
    processes.stop()
    assert [slot.process.exitcode for slot in slots] == [0, 0]
    assert recorder.seen.empty()  # a stop is not reported as workers lost


def slow_to_start(pipe: Connection) -> None:
    time.sleep(60)
    serve(pipe, 0.0)


def test_stop_does_not_wait_for_workers_still_starting() -> None:
    recorder = Recorder()
    processes = WorkerProcesses(
        worker_context(), 1, slow_to_start, (), recorder.answer, recorder.exit, recorder.failure
    )
    processes.start()
    processes.submit(1, 1)  # waits: no worker has said READY
    (slot,) = processes._slots
    time.sleep(0.3)
    assert slot.task is None
    started = time.monotonic()
    processes.stop()
    assert time.monotonic() - started < 5
    assert slot.process.exitcode == -signal.SIGKILL
    assert recorder.seen.empty()


class FailingStarts:
    """A start context whose processes cannot be started once `failing` is set."""

    def __init__(self) -> None:
        self.context, self.failing = worker_context(), False

    def Pipe(self, duplex: bool = True) -> Any:
        return self.context.Pipe(duplex)

    def Process(self, **kwargs: Any) -> Any:
        if self.failing:
            raise OSError(11, "Resource temporarily unavailable")
        return self.context.Process(**kwargs)


def test_a_replacement_that_cannot_start_is_reported_not_waited_for() -> None:
    recorder, context = Recorder(), FailingStarts()
    processes = WorkerProcesses(
        context,  # type: ignore[arg-type]
        1, serve, (0.0,), recorder.answer, recorder.exit, recorder.failure,
    )  # fmt: skip
    processes.start()
    try:
        context.failing = True
        processes.kill(pids_of(processes)[0])
        kind, error = recorder.next()
        assert kind == "failure" and isinstance(error, OSError) and error.errno == 11
    finally:
        processes.stop()


def exits_at_once(pipe: Connection) -> None:
    os._exit(3)


def test_workers_that_keep_exiting_while_starting_are_reported_not_restarted_forever() -> None:
    recorder = Recorder()
    processes = WorkerProcesses(
        worker_context(), 2, exits_at_once, (), recorder.answer, recorder.exit, recorder.failure
    )
    processes.start()
    try:
        seen = [recorder.next() for _ in range(EARLY_EXITS * 2)]
        exits, (kind, error) = seen[:-1], seen[-1]
        assert [k for k, _ in exits] == ["exit"] * (EARLY_EXITS * 2 - 1)
        assert kind == "failure" and "exited before they were ready" in str(error)
        assert "exit code 3" in str(error)
    finally:
        processes.stop()
