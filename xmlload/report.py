"""The JSON run report written with `--report FILE`."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from xmlload.db.urls import mask_text
from xmlload.parallel.allocator import workers_allocator
from xmlload.settings import Settings
from xmlload.summary import RunSummary


def report_data(summary: RunSummary, settings: Settings) -> dict[str, Any]:
    elapsed = max(summary.elapsed, 1e-9)
    rows = sum(summary.rows_by_table.values())
    settings_shown = settings.model_dump(mode="json")
    for key in ("target", "source"):
        if settings_shown.get(key):
            settings_shown[key] = mask_text(settings_shown[key])
    return {
        "run_id": summary.run_id,
        "stopped_by": summary.stopped_by,
        "documents": {
            "processed": summary.documents,
            "succeeded": summary.succeeded,
            "failed": summary.failed,
            "failed_by_stage": dict(summary.failed_by_stage),
            "skipped_already_logged": summary.skipped_already_logged,
        },
        "rows_by_table": dict(summary.rows_by_table),
        "wall_seconds": round(summary.elapsed, 3),
        "startup_seconds": round(summary.startup_seconds, 3),
        "docs_per_minute_after_startup": round(summary.documents / summary.load_seconds * 60, 1),
        "docs_per_minute": round(summary.documents / elapsed * 60, 1),
        "rows_per_second": round(rows / elapsed, 1),
        "mb_per_second_parsed": round(summary.bytes_read / 1e6 / elapsed, 2),
        "parallel_efficiency": round(summary.parallel_efficiency, 3),
        "success_rate": round(summary.succeeded / summary.documents, 4)
        if summary.documents
        else None,
        "stage_seconds": {k: round(v, 3) for k, v in summary.stage_seconds.items()},
        "peak_rss_mb": {
            "coordinator": round(summary.coordinator_peak_rss / 2**20, 1),
            **{name: round(rss / 2**20, 1) for name, rss in summary.peak_rss.items()},
        },
        "workers": {name: asdict(entry) for name, entry in summary.worker_stats.items()},
        "workers_recycled": summary.workers_recycled,
        "worker_allocator": workers_allocator() if _local(settings) else None,
        "settings": settings_shown,
    }


def _local(settings: Settings) -> bool:
    """Whether the run started its workers itself (the pool, or a local Dask cluster)."""
    return settings.executor == "pool" or settings.scheduler is None


def write_report(path: Path, summary: RunSummary, settings: Settings) -> None:
    path.write_text(
        json.dumps(report_data(summary, settings), indent=2, default=str), encoding="utf-8"
    )
