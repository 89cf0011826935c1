"""ParallelCoordinator: hands chunks of source items to workers and collects their reports.

One worker runs in this process; more run in a spawn-started multiprocessing Pool whose
initializer builds each worker once. At most two chunks per worker are in flight, so the
coordinator never holds the whole work list.
"""

from __future__ import annotations

import multiprocessing
import queue
import signal
from collections.abc import Callable, Iterable

from xmlload.outcome import ChunkReport
from xmlload.parallel.worker import Worker, WorkerConfig
from xmlload.sources import SourceItem

_worker: Worker | None = None


def _initialize(config: WorkerConfig) -> None:
    """Pool initializer: ignore SIGINT (the coordinator decides) and build the worker."""
    global _worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker = Worker(config)


def _process(items: list[SourceItem]) -> ChunkReport:
    assert _worker is not None, "worker not initialized"
    return _worker.process_chunk(items)


class ParallelCoordinator:
    def __init__(self, config: WorkerConfig, workers: int) -> None:
        self.config, self.workers = config, workers

    def run(
        self,
        chunks: Iterable[list[SourceItem]],
        on_report: Callable[[ChunkReport], None],
        should_stop: Callable[[], bool],
    ) -> None:
        if self.workers == 1:
            self._run_here(chunks, on_report, should_stop)
        else:
            self._run_pool(chunks, on_report, should_stop)

    def _run_here(
        self,
        chunks: Iterable[list[SourceItem]],
        on_report: Callable[[ChunkReport], None],
        should_stop: Callable[[], bool],
    ) -> None:
        worker = Worker(self.config, name="worker-1")
        try:
            for chunk in chunks:
                if should_stop():
                    return
                on_report(worker.process_chunk(chunk))
        finally:
            worker.close()

    def _run_pool(
        self,
        chunks: Iterable[list[SourceItem]],
        on_report: Callable[[ChunkReport], None],
        should_stop: Callable[[], bool],
    ) -> None:
        context = multiprocessing.get_context("spawn")
        results: queue.Queue[ChunkReport | BaseException] = queue.Queue()
        in_flight = 0

        def collect() -> None:
            result = results.get()
            if isinstance(result, BaseException):
                raise result
            on_report(result)

        with context.Pool(self.workers, initializer=_initialize, initargs=(self.config,)) as pool:
            for chunk in chunks:
                while in_flight >= 2 * self.workers:
                    collect()
                    in_flight -= 1
                if should_stop():
                    break
                pool.apply_async(
                    _process, (chunk,), callback=results.put, error_callback=results.put
                )
                in_flight += 1
            while in_flight:
                collect()
                in_flight -= 1
            pool.close()
            pool.join()
