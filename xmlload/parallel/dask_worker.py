"""What runs on a Dask worker: a plugin that builds the pipeline once per worker thread
(validator, parser, compiled mapper, migration engine with its own target connection,
source reader) and the task that runs a chunk with it.

The contract travels inside the plugin (its text, checked against its SHA-256), so the
machines need no copy of the file. Progress goes back to the coordinator as Dask events
on the run's topic (a PublishingBoard). The per-document SIGALRM deadline does not work in
Dask's task threads: the coordinator's hang limit stands in for it (docs/scale-out.md).
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from distributed import WorkerPlugin, get_worker

from xmlload.errors import WorkerStartError
from xmlload.outcome import ChunkReport
from xmlload.parallel.board import PublishingBoard
from xmlload.parallel.pool_executor import describe_start_error
from xmlload.parallel.worker import BOUNCE_SECONDS, Worker, WorkerConfig
from xmlload.sources import SourceItem


@dataclass(frozen=True)
class ContractText:
    """A contract's file name, text and digest, as it travels to remote workers."""

    name: str
    text: str
    sha256: str

    @classmethod
    def read(cls, path: str) -> ContractText:
        text = Path(path).read_text(encoding="utf-8")
        return cls(Path(path).name, text, hashlib.sha256(text.encode()).hexdigest())

    def write(self, folder: Path) -> Path:
        if hashlib.sha256(self.text.encode()).hexdigest() != self.sha256:
            raise WorkerStartError(f"contract {self.name} arrived damaged (SHA-256 differs)")
        path = folder / self.name
        path.write_text(self.text, encoding="utf-8")
        return path


class PipelinePlugin(WorkerPlugin):
    """Registered under the run's name on every worker of the cluster for the run."""

    def __init__(self, config: WorkerConfig, contract: ContractText, topic: str) -> None:
        self.config, self.contract, self.topic = config, contract, topic
        self.dask_worker: Any = None
        self.folder: Path | None = None

    def setup(self, worker: Any) -> None:
        """On the worker (the plugin is pickled to it: threads and locks start here)."""
        self.dask_worker = worker
        self.folder = Path(tempfile.mkdtemp(prefix="xmlload-contract-"))
        self.local = threading.local()
        self.built: list[Worker] = []
        self.lock = threading.Lock()

    def teardown(self, worker: Any) -> None:
        for built in self.built:
            built.close()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)

    def process(self, chunk_id: int, items: list[SourceItem]) -> ChunkReport:
        worker = self._pipeline()
        # noted on the scheduler before the first document: if this worker dies, the
        # coordinator knows the chunk had begun (a strike against its documents)
        self.dask_worker.client.set_metadata(
            [self.topic, "started", str(chunk_id)], self.dask_worker.address
        )
        return worker.process_chunk(chunk_id, items)

    def _pipeline(self) -> Worker:
        """This thread's worker, built on its first chunk; a start failure is kept and
        raised for every chunk (the coordinator ends the run with it)."""
        built: Worker | WorkerStartError | None = getattr(self.local, "worker", None)
        if built is None:
            built = self.local.worker = self._build()
        if isinstance(built, WorkerStartError):  # the chunk goes back, unchanged
            time.sleep(BOUNCE_SECONDS)
            raise built
        return built

    def _build(self) -> Worker | WorkerStartError:
        board = PublishingBoard(lambda message: self.dask_worker.log_event(self.topic, message))
        with self.lock:
            name = self.dask_worker.address
            if self.built:
                name = f"{name}#{len(self.built) + 1}"
            try:
                assert self.folder is not None
                path = self.contract.write(self.folder)
                # SIGALRM only works in a main thread: the coordinator's hang limit applies;
                # memory is the Dask nanny's business (--memory-limit)
                config = replace(
                    self.config, contract_path=str(path), doc_timeout=0, max_worker_memory_mb=None
                )
                worker = Worker(config, board, name=name)
            except Exception as error:  # the coordinator decides what a start failure means
                failure = WorkerStartError(f"{name} could not start: {describe_start_error(error)}")
                board.start_failed(name, str(failure))
                return failure
            self.built.append(worker)
        return worker


def process_chunk(plugin_name: str, chunk_id: int, items: list[SourceItem]) -> ChunkReport:
    """The Dask task: run one chunk with this worker's pipeline."""
    plugin: PipelinePlugin = get_worker().plugins[plugin_name]
    return plugin.process(chunk_id, items)
