"""DaskExecutor: a run's workers are the threads of a Dask distributed cluster.

`--scheduler tcp://host:8786` joins a running cluster; without it a local cluster of
`--workers` processes is started for the run. Each Dask worker gets the run's plugin
(dask_worker.py), which builds the pipeline once per thread; tasks carry chunks of ids or
paths, never XML. Back-pressure is the Scheduler's: two chunks in flight per worker thread.

Faults: the cluster's allowed-failures is 0 while xmlload runs use it, so a chunk whose
worker died comes straight back as KilledWorker and the Scheduler retries its documents one
by one (ChunkLost). Its original value is kept on the Dask scheduler, with the clients
holding it, and comes back when the last of them ends or disconnects (a coordinator killed
with SIGKILL included). A worker silent past the hang limit is restarted through
its nanny. A scheduler that goes away ends the run with ClusterLostError.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import MutableMapping
from typing import Any

import dask
from distributed import Client, LocalCluster
from distributed.comm import CommClosedError
from distributed.diagnostics.plugin import SchedulerPlugin
from distributed.scheduler import KilledWorker

from xmlload.errors import ClusterLostError, SettingsError
from xmlload.parallel.allocator import worker_environment
from xmlload.parallel.board import BoardSnapshot, ProgressBoard
from xmlload.parallel.dask_worker import ContractText, PipelinePlugin, process_chunk
from xmlload.parallel.events import ChunkFailed, ChunkFinished, ChunkLost, Event
from xmlload.parallel.executor import Executor
from xmlload.parallel.scheduler import Chunk
from xmlload.parallel.worker import WorkerConfig
from xmlload.settings import Settings

CONNECT_SECONDS = 20  # to reach the scheduler at the start
LOST_AFTER = 10.0  # seconds without the scheduler before the run ends
REGISTER_ATTEMPTS = 3  # a worker dying while the plugin is installed closes the call
RESTART_SECONDS = 60  # for the nanny to restart a hung worker


class FailureHold(SchedulerPlugin):
    """On the Dask scheduler: allowed-failures stays 0 while an xmlload client holds it; the
    value it had before the first hold comes back when the last holder releases it or
    disconnects."""

    name = "xmlload-allowed-failures"

    def __init__(self, original: int) -> None:
        self.original = original
        self.holders: set[str] = set()

    def remove_client(self, scheduler: Any, client: str) -> None:
        self.release(scheduler, client)

    def release(self, scheduler: Any, client: str) -> None:
        self.holders.discard(client)
        if not self.holders:
            scheduler.allowed_failures = self.original
            scheduler.remove_plugin(name=self.name)


def hold_allowed_failures(dask_scheduler: Any, client: str) -> None:
    plugin = dask_scheduler.plugins.get(FailureHold.name)
    if plugin is None:
        plugin = FailureHold(dask_scheduler.allowed_failures)
        dask_scheduler.add_plugin(plugin, name=FailureHold.name)
    plugin.holders.add(client)
    dask_scheduler.allowed_failures = 0


def release_allowed_failures(dask_scheduler: Any, client: str) -> None:
    plugin = dask_scheduler.plugins.get(FailureHold.name)
    if plugin is not None:
        plugin.release(dask_scheduler, client)


class DaskExecutor(Executor):
    def __init__(self, config: WorkerConfig, workers: int, scheduler: str | None) -> None:
        super().__init__(config, workers)
        self.address = scheduler
        self.name = f"xmlload-{config.run_id}"
        self.client: Any = None
        self.cluster: Any = None
        self.restarts: list[threading.Thread] = []  # of hung workers, under way
        self.futures: dict[int, Any] = {}
        self.messages: queue.Queue[dict[str, Any]] = queue.Queue()
        self.losses: queue.Queue[Event] = queue.Queue()
        self.holding_failures = False
        self.distributed_level: int | None = None  # restored at shutdown
        self.disconnected_at: float | None = None
        self.subscribed = False

    @classmethod
    def from_settings(cls, config: WorkerConfig, settings: Settings) -> DaskExecutor:
        return cls(config, settings.workers, settings.scheduler)

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> MutableMapping[str, Any]:
        quiet = logging.getLogger("distributed")  # our messages say what matters
        self.distributed_level = quiet.level
        quiet.setLevel(logging.CRITICAL)
        if self.address is None:
            environment = {f"distributed.nanny.pre-spawn-environ.{name}": value
                           for name, value in worker_environment().items()}  # fmt: skip
            with dask.config.set(environment):  # the allocator of the pool's workers
                self.cluster = LocalCluster(
                    n_workers=self.workers, threads_per_worker=1, dashboard_address=None
                )
        try:
            self.client = Client(
                self.cluster or self.address, timeout=CONNECT_SECONDS, set_as_default=False
            )
        except OSError as error:
            raise SettingsError(f"no Dask scheduler at {self.address}: {error}") from None
        threads = sum(self.client.nthreads().values())
        if threads == 0:
            raise SettingsError(f"the Dask cluster at {self.address} has no workers")
        self.workers = threads
        self.client.subscribe_topic(self.name, lambda event: self.messages.put(event[1]))
        self.subscribed = True
        self.client.run_on_scheduler(hold_allowed_failures, client=self.client.id)
        self.holding_failures = True
        return {}

    def launch(self, board: ProgressBoard) -> None:
        contract = ContractText.read(self.config.contract_path)
        plugin = PipelinePlugin(self.config, contract, self.name)
        for attempt in range(1, REGISTER_ATTEMPTS + 1):
            try:
                self.client.register_plugin(plugin, name=self.name)
                return
            except (CommClosedError, OSError) as error:  # a worker died meanwhile
                if attempt == REGISTER_ATTEMPTS:
                    raise ClusterLostError(
                        f"could not install the run's plugin on the Dask cluster: {error}"
                    ) from None
                time.sleep(1.0)

    def stop_workers(self) -> None:
        if self.client is None:
            return
        for restart in self.restarts:  # a worker restarted just before the end: let it finish
            restart.join(timeout=RESTART_SECONDS + 5)
        if self.futures:  # after a second signal: cancel what is still out
            self.client.cancel(list(self.futures.values()), force=True)
        if self.client.status == "running":
            self._record_memory()
            # closes the workers' engines; a worker restarted meanwhile may not have the
            # plugin yet (it has nothing to close), and the first such answer is raised
            with contextlib.suppress(KeyError):
                self.client.unregister_worker_plugin(self.name)
            self.client.set_metadata([self.name], None)  # the started-chunk notes
            if self.holding_failures:
                self.client.run_on_scheduler(release_allowed_failures, client=self.client.id)
                self.holding_failures = False

    def shutdown(self) -> None:
        if self.client is not None:
            if self.subscribed and self.client.status == "running":
                self.client.unsubscribe_topic(self.name)
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()
        if self.distributed_level is not None:
            logging.getLogger("distributed").setLevel(self.distributed_level)

    # -- work --------------------------------------------------------------------------
    def submit(self, chunk: Chunk) -> None:
        future = self.client.submit(
            process_chunk, self.name, chunk.id, chunk.items,
            key=f"{self.name}-chunk-{chunk.id}", pure=False,
        )  # fmt: skip
        self.futures[chunk.id] = future
        future.add_done_callback(lambda done, i=chunk.id: self._done(done, i))

    def _done(self, future: Any, chunk_id: int) -> None:
        """Runs on a client thread when a task ends: its result as a scheduler event."""
        self.futures.pop(chunk_id, None)
        if future.status == "finished":
            self.events.put(ChunkFinished(chunk_id, future.result()))
        elif future.status == "cancelled":
            return  # we cancelled it (second signal), or the scheduler is gone (see look())
        else:
            error = future.exception()
            if isinstance(error, KilledWorker):
                worker = self._started_on(chunk_id)
                self.losses.put(ChunkLost(chunk_id, worker or "unknown", worker is not None))
            else:
                self.events.put(ChunkFailed(chunk_id, error))

    def _started_on(self, chunk_id: int) -> str | None:
        """The worker that began the chunk: each worker notes it on the scheduler before
        starting (a synchronous call, so it is there even if the worker dies at once)."""
        started: str | None = self.client.get_metadata(
            [self.name, "started", str(chunk_id)], default=None
        )
        return started

    def refresh(self, board: ProgressBoard) -> None:
        while not self.messages.empty():
            board.mirror(self.messages.get_nowait())

    def look(self, snapshot: BoardSnapshot) -> list[Event]:
        self._check_scheduler()
        found: list[Event] = []
        while not self.losses.empty():
            found.append(self.losses.get_nowait())
        return found

    def _check_scheduler(self) -> None:
        if self.client.status == "running":
            self.disconnected_at = None
            return
        now = time.monotonic()
        self.disconnected_at = self.disconnected_at or now
        if now - self.disconnected_at > LOST_AFTER:
            where = self.address or "the local cluster"
            raise ClusterLostError(
                f"the Dask scheduler at {where} was lost mid-run ({self.client.status}); "
                "documents finished so far are logged: run again to resume"
            )

    def kill(self, snapshot: BoardSnapshot, name: str) -> None:
        """Restart a hung worker through its nanny (its open transaction rolls back); a
        worker without a nanny is told to exit."""
        address = name.split("#", 1)[0]

        def restart() -> None:
            try:
                self.client.restart_workers([address], timeout=RESTART_SECONDS)
            except (ValueError, TimeoutError, OSError):
                self.client.run(os._exit, 1, workers=[address], wait=False)

        thread = threading.Thread(target=restart, name="restart-worker", daemon=True)
        thread.start()
        self.restarts.append(thread)

    def _record_memory(self) -> None:
        info = self.client.scheduler_info().get("workers", {})
        for address, worker in info.items():
            memory = int(worker.get("metrics", {}).get("memory", 0))
            self.peak_rss[address] = max(self.peak_rss.get(address, 0), memory)
