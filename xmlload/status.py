"""`xmlload status`: what the processing log says — counts by status and stage, the most
frequent errors, the last run's throughput, and the failed documents' source keys."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from xmlload.db.processing_log import ProcessingLog, log_table
from xmlload.db.run_history import COUNTS, recent_runs
from xmlload.db.target import connect_engine, describe_db_error
from xmlload.db.urls import mask_url
from xmlload.errors import TargetError


@dataclass
class StatusReport:
    target: str
    counts: list[tuple[str, str | None, int]] = field(default_factory=list)
    top_messages: list[tuple[str, str, int]] = field(default_factory=list)
    last_run: dict[str, Any] | None = None
    failed_keys: list[str] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)  # newest first

    @property
    def last_run_docs_per_second(self) -> float | None:
        run = self.last_run
        if not run or not isinstance(run["started_at"], datetime):
            return None
        seconds = (run["finished_at"] - run["started_at"]).total_seconds()
        return run["documents"] / seconds if seconds > 0 else None

    def to_json(self) -> str:
        data = asdict(self)
        data["counts"] = [{"status": s, "stage": g, "documents": n} for s, g, n in self.counts]
        data["top_messages"] = [
            {"stage": g, "message": m, "documents": n} for g, m, n in self.top_messages
        ]
        data["last_run_docs_per_second"] = self.last_run_docs_per_second
        return json.dumps(data, default=str, indent=2)

    def render(self, console: Console) -> None:
        console.print(f"Processing log at {self.target}")
        counts = Table("status", "stage", "documents", title="Documents")
        for status, stage, count in self.counts:
            counts.add_row(status, stage or "", f"{count:,}")
        console.print(counts)
        if self.top_messages:
            console.print("[bold]Most frequent errors[/]")
            for stage, message, count in self.top_messages:
                console.print(f"  {count:>7,}  [{stage}] {message}", markup=False)
        if self.last_run:
            rate = self.last_run_docs_per_second
            shown = f"{rate:,.1f} docs/s after start-up" if rate else "rate n/a"
            console.print(
                f"Last run {self.last_run['run_id']}: {self.last_run['documents']:,} "
                f"documents, {self.last_run['rows_written']:,} rows, {shown} (first "
                "document started to last finished; the run's own summary also shows the "
                "overall rate, from launch)"
            )
        if self.runs:
            runs = Table("run", "ended (UTC)", "outcome", *COUNTS, title="Recent runs")
            for run in self.runs:
                ended = f"{run['ended_at']:%Y-%m-%d %H:%M:%S}"
                counts = [f"{run[name]:,}" for name in COUNTS]
                runs.add_row(run["run_id"], ended, run["outcome"], *counts)
            console.print(runs)
        if self.failed_keys:
            console.print(
                f"Failed source keys ({len(self.failed_keys):,}): "
                + ", ".join(self.failed_keys[:20])
                + (" ..." if len(self.failed_keys) > 20 else ""),
                markup=False,
            )


def read_status(url: URL, schema: str | None, stage: str | None = None) -> StatusReport:
    """Query the target's processing log; TargetError if it is missing or unreachable."""
    log = ProcessingLog(log_table(sa.MetaData(), sa.String(), schema))
    strategy, engine = connect_engine(url)
    missing = strategy.missing_database(url)
    if missing is not None:  # a read-only command creates no database
        engine.dispose()
        raise TargetError(f"{missing} (target {mask_url(url)})")
    try:
        with engine.connect() as connection:
            if not sa.inspect(connection).has_table(log.table.name, schema=schema):
                raise TargetError(
                    f"no processing_log table at {mask_url(url)}"
                    + (f" in schema {schema}" if schema else "")
                )
            return StatusReport(
                target=mask_url(url),
                counts=log.counts(connection),
                top_messages=log.top_messages(connection),
                last_run=log.last_run(connection),
                failed_keys=log.failed_keys(connection, stage),
                runs=recent_runs(connection, schema),
            )
    except DBAPIError as error:
        raise TargetError(f"target {mask_url(url)}: {describe_db_error(error)}") from None
    finally:
        engine.dispose()
