"""Watchdog: notices workers that died (OOM, SIGKILL) or stopped reporting, using psutil
on the pids the workers put on the board, and samples their memory."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import psutil

from xmlload.parallel.board import ProgressBoard


@dataclass(frozen=True)
class LostChunk:
    chunk_id: int
    worker: str
    reason: str  # "worker_crash", "timeout", or "recycled" (handed back unprocessed)


@dataclass
class Watchdog:
    hang_after: float  # seconds without a heartbeat while holding a chunk
    peak_rss: dict[str, int] = field(default_factory=dict)
    gone: set[str] = field(default_factory=set)

    def check(self, snapshot: dict[str, Any]) -> list[LostChunk]:
        """Chunks whose worker is dead or hung (hung workers are killed here)."""
        lost = []
        now = time.time()
        for name, entry in ProgressBoard.workers(snapshot).items():
            if name in self.gone:
                continue
            process = self._process(entry["pid"])
            if process is None:
                self.gone.add(name)
                if entry["chunk"] is not None:
                    reason = "recycled" if entry.get("recycle") else "worker_crash"
                    lost.append(LostChunk(entry["chunk"], name, reason))
                continue
            self._sample(name, process)
            if entry["chunk"] is not None and now - entry["heartbeat"] > self.hang_after:
                process.kill()
                self.gone.add(name)
                lost.append(LostChunk(entry["chunk"], name, "timeout"))
        return lost

    def idle_workers(self, snapshot: dict[str, Any], idle_for: float) -> int:
        """Live workers that have held no chunk for at least `idle_for` seconds."""
        now = time.time()
        return sum(
            1
            for name, entry in ProgressBoard.workers(snapshot).items()
            if name not in self.gone
            and entry["chunk"] is None
            and now - entry["heartbeat"] >= idle_for
        )

    def _sample(self, name: str, process: psutil.Process) -> None:
        try:
            rss = process.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return  # exited since the status check; the next check reports it
        self.peak_rss[name] = max(rss, self.peak_rss.get(name, 0))

    @staticmethod
    def _process(pid: int) -> psutil.Process | None:
        """The live process, or None if it has exited (zombies count as exited)."""
        try:
            process = psutil.Process(pid)
            if process.status() == psutil.STATUS_ZOMBIE:
                return None
            return process
        except psutil.NoSuchProcess:
            return None
