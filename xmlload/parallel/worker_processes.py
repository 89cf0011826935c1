"""WorkerProcesses: a fixed number of worker processes, each with a pipe of its own.

A worker says READY on its pipe once it can take tasks; a task then goes to an idle worker
over that worker's pipe, one at a time, and the answer comes back the same way; one thread
waits on every pipe and every process at once.
Nothing is shared between workers, so a worker killed at any moment (OOM, SIGKILL, a hang)
takes only its own pipe with it: the thread reports the task it left unanswered and starts
a replacement. (multiprocessing's Pool shares one task pipe and its lock among all its
workers: one killed while it waited for a task kept the lock, and the others waited for
it forever.)
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from typing import Any

STOP_SECONDS = 5.0  # an idle worker told to stop has this long to close its connections
EARLY_EXITS = 3  # workers in a row per place that exit before READY: they cannot start

# serve(pipe, *args) runs in each worker: it sends READY once it can take tasks, answers
# every (id, payload) it receives on `pipe` with one object, and returns when it receives
# None or the pipe is closed
Serve = Callable[..., None]
READY = "ready"


class WorkerExitedError(RuntimeError):
    """Workers keep exiting while they start: starting more would not help."""


@dataclass
class _Slot:
    process: BaseProcess
    pipe: Connection
    task: int | None = None  # sent to the worker, not answered yet
    ready: bool = False  # it said READY
    readable: bool = True  # False once the worker's end is closed
    idle_since: float = field(default_factory=time.monotonic)


class WorkerProcesses:
    """`size` processes running `serve`. `on_answer(answer)` and `on_exit(pid, task)` (the
    task a worker left unanswered, or None) are called on the watching thread, in the
    order things happened; `on_failure(error)` if the thread cannot go on (a replacement
    that cannot be started, workers that keep exiting before they are ready), after which
    no more is reported."""

    def __init__(
        self,
        context: BaseContext,
        size: int,
        serve: Serve,
        args: tuple[Any, ...],
        on_answer: Callable[[Any], None],
        on_exit: Callable[[int, int | None], None],
        on_failure: Callable[[Exception], None],
    ) -> None:
        self.context, self.size, self.serve, self.args = context, size, serve, args
        self.on_answer, self.on_exit, self.on_failure = on_answer, on_exit, on_failure
        self._slots: list[_Slot] = []
        self._waiting: deque[tuple[int, Any]] = deque()
        self._lock = threading.Lock()
        self._closing = False
        self._early_exits = 0  # workers in a row that exited before READY
        self._wake, self._waker = context.Pipe(duplex=False)
        self._thread = threading.Thread(target=self._watch, name="worker-processes", daemon=True)

    def start(self) -> None:
        self._slots = [self._start_one() for _ in range(self.size)]
        self._thread.start()

    def submit(self, task_id: int, payload: Any) -> None:
        """Send the task to an idle worker now, or to the first that becomes idle."""
        with self._lock:
            self._waiting.append((task_id, payload))
            self._dispatch()

    def kill(self, pid: int) -> None:
        """SIGKILL the worker `pid` (its exit is reported as any other)."""
        with self._lock:
            for slot in self._slots:
                if slot.process.pid == pid:
                    slot.process.kill()

    def stop(self) -> None:
        """Idle workers are told to stop and given STOP_SECONDS; busy ones are killed, as
        are those still starting (they have nothing to finish). Once; later calls do nothing."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
            slots, self._slots = self._slots, []
        self._waker.send_bytes(b"")
        if self._thread.is_alive():
            self._thread.join()
        for slot in slots:
            self._tell_to_stop(slot)
        deadline = time.monotonic() + STOP_SECONDS
        for slot in slots:
            slot.process.join(max(0.0, deadline - time.monotonic()))
            if slot.process.exitcode is None:
                slot.process.kill()
                slot.process.join()
            slot.pipe.close()
        self._wake.close()
        self._waker.close()

    # -- internals -----------------------------------------------------------------------
    def _start_one(self) -> _Slot:
        ours, theirs = self.context.Pipe()
        process = self.context.Process(target=self.serve, args=(theirs, *self.args), daemon=True)
        process.start()
        theirs.close()
        return _Slot(process, ours)

    def _dispatch(self) -> None:
        """Under the lock: the waiting tasks, oldest first, to the workers idle longest (a
        worker that answers at once, as one that cannot start, does not get every task)."""
        idle = [s for s in self._slots if s.ready and s.task is None and s.readable]
        for slot in sorted(idle, key=lambda slot: slot.idle_since):
            if not self._waiting:
                return
            task_id, payload = self._waiting[0]
            try:
                slot.pipe.send((task_id, payload))
            except OSError:  # the worker is gone; its exit is reported by the thread
                slot.readable = False
                continue
            self._waiting.popleft()
            slot.task = task_id

    def _watch(self) -> None:
        try:
            self._watch_until_closing()
        except Exception as error:  # reported: the run cannot go on without its workers
            self.on_failure(error)

    def _watch_until_closing(self) -> None:
        while True:
            with self._lock:
                if self._closing:
                    return
                pipes = {slot.pipe: slot for slot in self._slots if slot.readable}
                exits = {slot.process.sentinel: slot for slot in self._slots}
            ready = wait([self._wake, *pipes, *exits])
            for item in ready:
                if item in pipes:
                    self._receive(pipes[item])  # type: ignore[index]
            for item in ready:
                if item in exits:
                    self._replace(exits[item])  # type: ignore[index]

    def _receive(self, slot: _Slot) -> None:
        try:
            answer = slot.pipe.recv()
        except (EOFError, OSError):  # the worker is gone; its exit follows
            slot.readable = False
            return
        with self._lock:
            slot.task, slot.idle_since = None, time.monotonic()
            slot.ready, self._early_exits = True, 0  # said READY, or answered: idle
            self._dispatch()  # the worker's next task goes out before this answer is handled
        if answer != READY:
            self.on_answer(answer)

    def _replace(self, slot: _Slot) -> None:
        """A worker exited: collect what it answered before, report the task it left,
        start another in its place (unless stopping)."""
        while slot.readable and slot.pipe.poll():
            self._receive(slot)
        slot.process.join()
        slot.pipe.close()
        with self._lock:
            if self._closing:
                return
            self._early_exits = 0 if slot.ready else self._early_exits + 1
            if self._early_exits >= EARLY_EXITS * self.size:
                raise WorkerExitedError(
                    f"{self._early_exits} worker processes in a row exited before they were "
                    f"ready (the last with exit code {slot.process.exitcode})"
                )
            self._slots.remove(slot)
            self._slots.append(self._start_one())
            self._dispatch()
        assert slot.process.pid is not None
        self.on_exit(slot.process.pid, slot.task)

    def _tell_to_stop(self, slot: _Slot) -> None:
        if slot.task is not None or not slot.ready or not slot.readable:
            slot.process.kill()  # busy (a second signal: its transaction rolls back), starting
            return
        try:
            slot.pipe.send(None)
        except OSError:  # already gone
            slot.process.kill()
