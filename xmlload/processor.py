"""ProductionProcessor: settings -> contract check -> target check -> source items not yet
logged -> coordinator -> summary. Fails fast, before any worker starts, on bad input."""

from __future__ import annotations

import re
import signal
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from types import FrameType

from xmlload.contract.compiler import Plan
from xmlload.contract.loader import load_plan
from xmlload.db.processing_log import ProcessingLog
from xmlload.db.target import connect_engine, prepare_target, target_schema
from xmlload.db.urls import mask_url, parse_url
from xmlload.errors import SettingsError
from xmlload.outcome import ChunkReport
from xmlload.parallel.coordinator import ParallelCoordinator
from xmlload.parallel.worker import WorkerConfig
from xmlload.settings import Settings
from xmlload.sources import FileSourceConfig, Source, SourceItem, open_source
from xmlload.summary import RunSummary

_ID = re.compile(r"^-?\d{1,19}$")


class _StopFlag:
    """Set by the first SIGINT/SIGTERM: no new chunks are handed out."""

    def __init__(self) -> None:
        self.signal_name: str | None = None

    def __call__(self, number: int, frame: FrameType | None) -> None:
        self.signal_name = signal.Signals(number).name

    def is_set(self) -> bool:
        return self.signal_name is not None


class ProductionProcessor:
    def __init__(self, settings: Settings) -> None:
        if settings.contract is None:
            raise SettingsError("no contract: give --contract FILE")
        self.settings = settings
        self.plan: Plan = load_plan(settings.contract)
        self.target_url = parse_url(settings.target)
        self.source_config = settings.source_config()

    def run(
        self,
        on_report: Callable[[RunSummary], None] | None = None,
        items: Sequence[SourceItem] | None = None,
    ) -> RunSummary:
        """Load the source's pending documents, or exactly `items` (reprocess: replace)."""
        prepare_target(self.target_url, self.plan, self.settings.create_tables)
        source = open_source(self.source_config)
        run_id = uuid.uuid4().hex[:12]
        summary = RunSummary(run_id, source.describe(), mask_url(self.target_url))
        config = WorkerConfig(
            contract_path=str(self.settings.contract),
            source=self.source_config,
            target_url=self.target_url.render_as_string(hide_password=False),
            run_id=run_id,
            max_document_bytes=self.settings.max_document_bytes,
            retry=self.settings.retry_policy(),
        )
        stop = _StopFlag()
        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}

        def record(report: ChunkReport) -> None:
            summary.add(report)
            if on_report is not None:
                on_report(summary)

        try:
            summary.planned = source.count() if items is None else len(items)
            chunks = self._chunks(source, summary) if items is None else self._given(items)
            coordinator = ParallelCoordinator(config, self.settings.workers)
            coordinator.run(chunks, record, stop.is_set)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            source.close()
        summary.stopped_by = stop.signal_name
        return summary

    def _given(self, items: Sequence[SourceItem]) -> Iterator[list[SourceItem]]:
        size = self.settings.chunk_size
        for start in range(0, len(items), size):
            yield list(items[start : start + size])

    def failed_items(self, stage: str | None = None) -> list[SourceItem]:
        """Source items of the documents the processing log lists as failed."""
        _, engine = connect_engine(self.target_url)
        log = ProcessingLog(target_schema(self.plan).log)
        try:
            with engine.connect() as connection:
                keys = log.failed_keys(connection, stage)
        finally:
            engine.dispose()
        return self.items_from_keys(keys)

    def items_from_keys(self, keys: Iterable[str]) -> list[SourceItem]:
        """Turn source keys (ids or paths) into source items; ids must be whole numbers."""
        if isinstance(self.source_config, FileSourceConfig):
            return [key for key in (k.strip() for k in keys) if key]
        items: list[SourceItem] = []
        for key in (k.strip() for k in keys):
            if not key:
                continue
            if not _ID.match(key):
                raise SettingsError(f"not a document id: {key[:40]!r} (ids are whole numbers)")
            items.append(int(key))
        return items

    def _chunks(self, source: Source, summary: RunSummary) -> Iterator[list[SourceItem]]:
        """Chunks of items not yet in the processing log, up to --limit, page by page."""
        settings = self.settings
        remaining = settings.limit
        _, engine = connect_engine(self.target_url)
        log = ProcessingLog(target_schema(self.plan).log)
        try:
            for page in source.pages(settings.page_size):
                if settings.resume:
                    with engine.connect() as connection:
                        done = log.logged_keys(connection, (str(item) for item in page))
                    summary.skipped_already_logged += len(done)
                    page = [item for item in page if str(item) not in done]
                if remaining is not None:
                    page = page[:remaining]
                    remaining -= len(page)
                for start in range(0, len(page), settings.chunk_size):
                    yield page[start : start + settings.chunk_size]
                if remaining == 0:
                    return
        finally:
            engine.dispose()
