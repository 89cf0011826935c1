"""Progress display from board snapshots: a live rich bar on a terminal, otherwise a log
line every few seconds."""

from __future__ import annotations

import time
from datetime import datetime

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from xmlload.parallel.board import BoardSnapshot


def progress_line(snapshot: BoardSnapshot) -> str:
    """Counts, rate, ETA; a total of 0 is unknown (records, not counted ahead): no ETA."""
    totals = snapshot.totals
    total, done = totals.total, totals.completed
    elapsed = max(time.time() - totals.started_at, 1e-9)
    per_minute = done / elapsed * 60
    if total > 0:
        eta = (total - done) / per_minute if per_minute else 0.0
        where = f"{done:,}/{total:,} ({100 * done / total:.1f}%)"
        ahead = f"ETA: {eta:.1f} min"
    else:
        where, ahead = f"{done:,}/?", "ETA: unknown"
    return (
        f"Progress: {where} - Rate: {per_minute:,.1f} docs/min - {ahead} - Success: "
        f"{totals.succeeded:,}, Failed: {totals.failed:,}"
    )


class LogProgress:
    """One line every `every` seconds on the given console (stderr by default), never
    wrapped, starting with an ISO timestamp, so logs can be grepped and parsed."""

    def __init__(self, console: Console, every: float = 5.0) -> None:
        self.console, self.every = console, every
        self.last = time.monotonic()
        self.pending: BoardSnapshot | None = None  # the latest snapshot not yet written

    def __enter__(self) -> LogProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pending is not None:  # the final state, however short the run
            self._write(self.pending)

    def update(self, snapshot: BoardSnapshot, final: bool = False) -> None:
        now = time.monotonic()
        self.pending = snapshot
        if final or now - self.last >= self.every:
            self.last = now
            self._write(snapshot)

    def _write(self, snapshot: BoardSnapshot) -> None:
        stamp = datetime.now().isoformat(timespec="seconds")
        line = f"{stamp} {progress_line(snapshot)} - Workers: {len(snapshot.workers)}"
        self.console.file.write(line + "\n")
        self.console.file.flush()
        self.pending = None


class BarProgress:
    """A live bar for terminals: counts, rate, workers, elapsed time and ETA, in columns
    of fixed width (the line does not jump as numbers grow). Until the source is counted
    the bar pulses and the total shows as `?`."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            TextColumn("[bold]loading"),
            BarColumn(bar_width=30),
            TextColumn("{task.fields[counts]}"),
            TextColumn("{task.fields[rate]:>9,.0f} docs/min"),
            TextColumn("ok {task.fields[ok]:>10,}"),
            TextColumn("failed {task.fields[failed]:>8,}"),
            TextColumn("{task.fields[workers]:>3} workers"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
        )
        self.task = self.progress.add_task(
            "load", total=None, counts=_counts(0, None), rate=0.0, ok=0, failed=0, workers=0
        )

    def __enter__(self) -> BarProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def update(self, snapshot: BoardSnapshot, final: bool = False) -> None:
        totals = snapshot.totals
        elapsed = max(time.time() - totals.started_at, 1e-9)
        known = totals.total if totals.total > 0 else None
        # documents done inside chunks still out move the bar too, not only whole chunks
        moving = sum(w.in_chunk for w in snapshot.workers.values() if w.chunk is not None)
        done = min(totals.completed + moving, known or totals.completed + moving)
        self.progress.update(
            self.task,
            total=known,
            completed=done,
            counts=_counts(done, known),
            rate=totals.completed / elapsed * 60,
            ok=totals.succeeded,
            failed=totals.failed,
            workers=len(snapshot.workers),
        )


def _counts(done: int, total: int | None) -> str:
    return f"{done:>11,}/{'?' if total is None else format(total, ','):<11}"


def make_progress(mode: str, console: Console) -> LogProgress | BarProgress:
    """`auto`: a bar on a terminal, log lines otherwise."""
    if mode == "bar" or (mode == "auto" and console.is_terminal):
        return BarProgress(console)
    return LogProgress(console)
