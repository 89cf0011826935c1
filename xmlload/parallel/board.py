"""ProgressBoard: the run's shared state in a `multiprocessing.Manager` dict.

The coordinator writes the totals; each worker writes only its own entry, replacing the
whole nested dict (an in-place change to a nested proxy dict would be lost). Progress
rendering and the watchdog read snapshots of it and nothing else.
"""

from __future__ import annotations

import os
import time
from collections.abc import MutableMapping
from typing import Any

from xmlload.parallel.memory import peak_rss_bytes

WORKER_PREFIX = "worker:"
START_FAILURE = "start_failure"


class ProgressBoard:
    def __init__(self, shared: MutableMapping[str, Any]) -> None:
        self.shared = shared
        self.totals: dict[str, Any] = {}

    # -- coordinator side ------------------------------------------------------------------
    def start(self, total: int) -> None:
        self.totals = {
            "total": total,
            "completed": 0,
            "succeeded": 0,
            "failed": 0,
            "started_at": time.time(),
        }
        self.shared.update(self.totals)

    def add_results(self, documents: int, succeeded: int, failed: int) -> None:
        """Count finished documents (the coordinator is the only writer of totals)."""
        self.totals["completed"] += documents
        self.totals["succeeded"] += succeeded
        self.totals["failed"] += failed
        self.shared.update(
            completed=self.totals["completed"],
            succeeded=self.totals["succeeded"],
            failed=self.totals["failed"],
        )

    def set_total(self, total: int) -> None:
        if total != self.totals["total"]:
            self.totals["total"] = total
            self.shared["total"] = total

    def snapshot(self) -> dict[str, Any]:
        """One copy of the whole board (a single round trip to the Manager)."""
        return dict(self.shared)

    @staticmethod
    def start_failure(snapshot: dict[str, Any]) -> str | None:
        """The error of the first worker that could not start, if one could not."""
        failure: str | None = snapshot.get(START_FAILURE)
        return failure

    @staticmethod
    def workers(snapshot: dict[str, Any]) -> dict[str, dict[str, Any]]:
        return {
            key[len(WORKER_PREFIX) :]: value
            for key, value in snapshot.items()
            if key.startswith(WORKER_PREFIX)
        }

    # -- worker side -------------------------------------------------------------------------
    def start_failed(self, message: str) -> None:
        self.shared.setdefault(START_FAILURE, message)

    def register(self, name: str) -> None:
        self._put(
            name,
            {
                "pid": os.getpid(),
                "ready_at": time.time(),
                "documents": 0,
                "rows": 0,
                "failures": 0,
                "busy_seconds": 0.0,
                "chunk": None,
                "chunk_started": None,
                "heartbeat": time.time(),
                "peak_rss": peak_rss_bytes(),
            },
        )

    def chunk_started(self, name: str, chunk_id: int) -> None:
        now = time.time()
        self._put(
            name, {**self._get(name), "chunk": chunk_id, "chunk_started": now, "heartbeat": now}
        )

    def recycling(self, name: str, chunk_id: int) -> None:
        """The worker is about to exit over its memory limit, handing `chunk_id` back."""
        self._put(name, {**self._get(name), "chunk": chunk_id, "recycle": True})

    def heartbeat(self, name: str) -> None:
        self._put(name, {**self._get(name), "heartbeat": time.time()})

    def chunk_finished(
        self, name: str, documents: int, rows: int, failures: int, busy_seconds: float
    ) -> None:
        entry = self._get(name)
        self._put(
            name,
            {
                **entry,
                "documents": entry["documents"] + documents,
                "rows": entry["rows"] + rows,
                "failures": entry["failures"] + failures,
                "busy_seconds": entry["busy_seconds"] + busy_seconds,
                "chunk": None,
                "chunk_started": None,
                "heartbeat": time.time(),
                "peak_rss": peak_rss_bytes(),
            },
        )

    def _get(self, name: str) -> dict[str, Any]:
        return dict(self.shared[WORKER_PREFIX + name])

    def _put(self, name: str, entry: dict[str, Any]) -> None:
        self.shared[WORKER_PREFIX + name] = entry
