"""Progress display from board snapshots: a live rich bar on a terminal, otherwise a log
line every few seconds."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from xmlload.parallel.board import BoardSnapshot


def progress_line(snapshot: BoardSnapshot) -> str:
    totals = snapshot.totals
    total, done = max(totals.total, 1), totals.completed
    elapsed = max(time.time() - totals.started_at, 1e-9)
    per_minute = done / elapsed * 60
    eta = (total - done) / per_minute if per_minute else 0.0
    return (
        f"Progress: {done:,}/{total:,} ({100 * done / total:.1f}%) - Rate: "
        f"{per_minute:,.1f} docs/min - ETA: {eta:.1f} min - Success: "
        f"{totals.succeeded:,}, Failed: {totals.failed:,}"
    )


class LogProgress:
    """One line every `every` seconds on the given console (stderr by default)."""

    def __init__(self, console: Console, every: float = 5.0) -> None:
        self.console, self.every = console, every
        self.last = time.monotonic()

    def __enter__(self) -> LogProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, snapshot: BoardSnapshot, final: bool = False) -> None:
        now = time.monotonic()
        if final or now - self.last >= self.every:
            self.last = now
            self.console.print(progress_line(snapshot), markup=False, highlight=False)


class BarProgress:
    """A live bar with rate and ETA, for terminals."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            TextColumn("[bold]loading"),
            BarColumn(),
            TextColumn("{task.completed:,}/{task.total:,}"),
            TextColumn("{task.fields[rate]:,.0f} docs/min"),
            TextColumn("ok {task.fields[ok]:,}"),
            TextColumn("failed {task.fields[failed]:,}"),
            TimeRemainingColumn(),
            console=console,
        )
        self.task = self.progress.add_task("load", total=1, rate=0.0, ok=0, failed=0)

    def __enter__(self) -> BarProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def update(self, snapshot: BoardSnapshot, final: bool = False) -> None:
        totals = snapshot.totals
        elapsed = max(time.time() - totals.started_at, 1e-9)
        self.progress.update(
            self.task,
            total=max(totals.total, 1),
            completed=totals.completed,
            rate=totals.completed / elapsed * 60,
            ok=totals.succeeded,
            failed=totals.failed,
        )


def make_progress(mode: str, console: Console) -> LogProgress | BarProgress:
    """`auto`: a bar on a terminal, log lines otherwise."""
    if mode == "bar" or (mode == "auto" and console.is_terminal):
        return BarProgress(console)
    return LogProgress(console)
