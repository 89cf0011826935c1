"""RunSummary: what a run did, accumulated from chunk reports, and how it is shown."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from xmlload.outcome import FAILURES_KEPT, ChunkReport, DocumentOutcome
from xmlload.parallel.board import WorkerEntry
from xmlload.parallel.memory import peak_rss_bytes

EXIT_OK, EXIT_FAILED_DOCUMENTS, EXIT_TARGET_LOST, EXIT_SIGINT, EXIT_SIGTERM = 0, 3, 4, 130, 143


@dataclass
class RunSummary:
    run_id: str
    source: str
    target: str
    workers: int = 1
    records: bool = False  # documents are records of files (document.records)
    planned: int = 0  # documents, or with records the files (records are not counted ahead)
    skipped_already_logged: int = 0
    skipped_failed: int = 0  # of those, documents whose last attempt failed
    unchanged: int = 0  # --refresh: logged documents whose bytes had not changed
    changed: int = 0  # --refresh: logged documents reloaded because their bytes changed
    documents: int = 0
    succeeded: int = 0
    failed_by_stage: Counter[str] = field(default_factory=Counter)
    kept_previous: int = 0  # failed documents whose rows from an earlier load were kept
    rows_by_table: Counter[str] = field(default_factory=Counter)
    notes: Counter[str] = field(default_factory=Counter)
    bytes_read: int = 0
    failures: list[tuple[str, str, str]] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)
    elapsed: float = 0.0
    stopped_by: str | None = None
    target_lost: str | None = None  # the run stopped because the target took no writes
    workers_not_started: dict[str, str] = field(default_factory=dict)  # worker -> why
    registration_vanished: bool = False  # the run stopped: its processing_runs row is gone
    checkpoint: str | None = None  # the checkpoint saved at the end, when there is one
    closed_missing: int = 0  # --close-missing: logged documents gone from the source
    busy_seconds: float = 0.0
    stage_seconds_by_worker: dict[str, Counter[str]] = field(default_factory=dict)
    worker_stats: dict[str, WorkerEntry] = field(default_factory=dict)
    peak_rss: dict[str, int] = field(default_factory=dict)
    coordinator_peak_rss: int = 0
    workers_recycled: int = 0
    startup_seconds: float = 0.0  # from the start of the run until the first worker was ready

    def add(self, report: ChunkReport) -> None:
        self.documents += report.documents
        self.succeeded += report.succeeded
        self.failed_by_stage.update(report.failed_by_stage)
        self.kept_previous += report.kept_previous
        self.unchanged += report.unchanged
        self.changed += report.changed
        self.skipped_already_logged += report.already_logged
        self.rows_by_table.update(report.rows_by_table)
        self.notes.update(report.notes)
        self.bytes_read += report.bytes_read
        self.failures.extend(report.failures[: max(0, FAILURES_KEPT - len(self.failures))])
        self.busy_seconds += report.busy_seconds
        self.stage_seconds_by_worker[report.worker] = report.stage_seconds
        self.elapsed = time.perf_counter() - self.started

    def add_lost(self, outcomes: list[DocumentOutcome]) -> None:
        """Documents the coordinator logged failed after they took a worker down twice."""
        report = ChunkReport("coordinator")
        for outcome in outcomes:
            report.add(outcome)
        self.add(report)

    def finish(self, worker_stats: dict[str, WorkerEntry], peak_rss: dict[str, int]) -> None:
        self.elapsed = time.perf_counter() - self.started
        ready = [entry.ready_at for entry in worker_stats.values()]
        if ready:
            since_ready = time.time() - min(ready)
            self.startup_seconds = max(0.0, min(self.elapsed, self.elapsed - since_ready))
        self.worker_stats = worker_stats
        self.peak_rss = {
            name: max(peak_rss.get(name, 0), entry.peak_rss) for name, entry in worker_stats.items()
        }
        self.coordinator_peak_rss = peak_rss_bytes()

    @property
    def stage_seconds(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for seconds in self.stage_seconds_by_worker.values():
            total.update(seconds)
        return total

    @property
    def parallel_efficiency(self) -> float:
        """Share of the workers' wall time spent on documents."""
        capacity = self.elapsed * self.workers
        return self.busy_seconds / capacity if capacity > 0 else 0.0

    @property
    def complete(self) -> bool:
        """The run listed and processed everything (no stop, no lost target)."""
        return (
            self.stopped_by is None and self.target_lost is None and not self.registration_vanished
        )

    @property
    def skipped(self) -> int:
        """Documents of the source this run did not load: logged before, or unchanged."""
        return self.skipped_already_logged + self.unchanged

    @property
    def failed(self) -> int:
        return sum(self.failed_by_stage.values())

    @property
    def load_seconds(self) -> float:
        """Wall time once workers were ready: what throughput comparisons should use."""
        return max(self.elapsed - self.startup_seconds, 1e-9)

    @property
    def docs_per_second(self) -> float:
        return self.documents / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def exit_code(self) -> int:
        if self.target_lost is not None or self.registration_vanished:
            return EXIT_TARGET_LOST
        if self.stopped_by == "SIGINT":
            return EXIT_SIGINT
        if self.stopped_by == "SIGTERM":
            return EXIT_SIGTERM
        incomplete = self.failed or self.workers_not_started
        return EXIT_FAILED_DOCUMENTS if incomplete else EXIT_OK

    def render(self, console: Console) -> None:
        state = f"stopped by {self.stopped_by}" if self.stopped_by else "finished"
        if self.target_lost is not None:
            state = "stopped: the target took no more writes"
        elif self.registration_vanished:
            state = "stopped: its registration in processing_runs vanished"
        console.print(
            f"[bold]Run {self.run_id} {state}[/]: {self.documents:,} documents in "
            f"{self.elapsed:.1f} s ({self.docs_per_second:,.1f} docs/s overall, "
            f"{self.documents / self.load_seconds:,.1f} docs/s after start-up), "
            f"{self.succeeded:,} ok, {self.failed:,} failed; "
            f"{self.skipped_already_logged:,} skipped (already in the processing log)"
        )
        if self.unchanged or self.changed:
            console.print(
                f"refresh: {self.documents - self.changed:,} new, {self.changed:,} changed "
                f"(reloaded), {self.unchanged:,} unchanged "
                f"({'parsed to compare, not written' if self.records else 'not parsed'})"
            )
        if self.closed_missing:
            console.print(
                f"{self.closed_missing:,} logged documents are gone from the source: their "
                "rows were deleted and processing_log says `removed`"
            )
        if self.checkpoint is not None:
            console.print(f"checkpoint saved: the next run reads rows with {self.checkpoint}")
        truncated = sum(n for what, n in self.notes.items() if what.startswith("truncated"))
        if truncated:
            columns = sorted({what.split(": ", 1)[1] for what in self.notes
                              if what.startswith("truncated")})  # fmt: skip
            console.print(
                f"[bold yellow]{truncated:,} values were cut to their column's length[/] "
                f"({', '.join(columns)}): see `Values changed while loading` below"
            )
        if self.skipped_failed:
            console.print(
                f"[bold yellow]{self.skipped_failed:,} of the skipped documents had failed "
                "before[/]: `xmlload reprocess --failed` (same options) retries them"
            )
        console.print(f"source: {self.source}\ntarget: {self.target}")
        if self.target_lost is not None:
            console.print(
                f"[bold red]{self.target_lost}[/]\nNothing half-written; `run` again to resume."
            )
        if self.workers_not_started:
            first = next(iter(self.workers_not_started.values()))
            console.print(
                f"[bold red]{len(self.workers_not_started)} of the workers could not start[/] "
                f"(the others loaded the documents): {escape(first)}"
            )
        if self.registration_vanished:
            console.print(
                "[bold red]This run's row in processing_runs was deleted (by hand, or by "
                "another run that took it for stale): it stopped so that two runs never load "
                "the same documents.[/] Nothing half-written; `run` again to resume."
            )
        if self.workers_recycled:
            console.print(f"workers replaced over --max-worker-memory: {self.workers_recycled}")
        rows = Table("table", "rows", title="Rows written")
        for table, count in sorted(self.rows_by_table.items()):
            rows.add_row(table, f"{count:,}")
        console.print(rows)
        if self.failed_by_stage:
            failed = Table("stage", "documents", title="Failed documents by stage")
            for stage, count in self.failed_by_stage.most_common():
                failed.add_row(stage, f"{count:,}")
            console.print(failed)
            if self.kept_previous:
                console.print(
                    f"{self.kept_previous:,} of the failed documents had loaded before: their "
                    "earlier rows are kept (processing_log says so in its message)"
                )
            console.print("[bold]First failures[/] (all are in processing_log):")
            for key, stage, message in self.failures[:10]:
                console.print(f"  {key} [{stage}] {message[:300]}", markup=False)
        if self.worker_stats:
            workers = Table(
                "worker", "documents", "docs/min", "failures", "busy %", "peak MB", title="Workers"
            )
            for name, entry in sorted(self.worker_stats.items()):
                rate = entry.documents / self.elapsed * 60 if self.elapsed else 0.0
                busy = 100 * entry.busy_seconds / self.elapsed if self.elapsed else 0.0
                peak = self.peak_rss.get(name, 0) / 2**20
                workers.add_row(
                    name,
                    f"{entry.documents:,}",
                    f"{rate:,.0f}",
                    f"{entry.failures:,}",
                    f"{busy:.0f}",
                    f"{peak:,.0f}",
                )
            console.print(workers)
        if self.notes:
            notes = Table("what", "count", title="Values changed while loading")
            for what, count in self.notes.most_common(20):
                notes.add_row(what, f"{count:,}")
            console.print(notes)
