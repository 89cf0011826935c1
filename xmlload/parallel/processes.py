"""How the run's helper processes treat signals and the coordinator's death.

Service managers stop a program by signalling every one of its processes at once (a
process group, a cgroup). Only the coordinator decides what a stop means: the Manager
process (the progress board) ignores SIGINT/SIGTERM and exits when the coordinator is gone;
a worker that receives SIGTERM finishes the chunk it is writing and hands back the next."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from multiprocessing import forkserver
from multiprocessing.context import BaseContext
from types import FrameType

from xmlload.parallel.allocator import worker_allocator

PARENT_CHECK_EVERY = 1.0  # seconds


def ignore_stop_signals() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def exit_with_parent() -> None:
    """Exit this process soon after its parent is gone (SIGKILL of the coordinator)."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_EVERY)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def manager_initializer() -> None:
    """Runs in the Manager process: the board outlives every signal but not the run."""
    ignore_stop_signals()
    exit_with_parent()


class WorkerStop:
    """In a worker: SIGINT is ignored; SIGTERM asks the worker to stop after its chunk."""

    def __init__(self) -> None:
        self.requested = False
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, self._request)

    def _request(self, number: int, frame: FrameType | None) -> None:
        self.requested = True


PRELOAD = "xmlload.parallel.preload"  # imported once by the fork server, not per worker


def worker_context() -> BaseContext:
    """How the run's processes start: forked from a server process that has imported
    everything a worker needs (a worker starts in milliseconds instead of re-importing
    for seconds), where the platform has one; else spawned."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([PRELOAD])
    return context


def start_worker_server() -> None:
    """Start the fork server now, if it is not running (its imports overlap the
    coordinator's own start), with the workers' allocator settings."""
    context = worker_context()
    if context.get_start_method() == "forkserver":
        with worker_allocator():
            forkserver.ensure_running()
