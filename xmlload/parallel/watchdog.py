"""Watchdog: looks at the worker processes the board names, with psutil. It reports the
ones that are gone (OOM, SIGKILL, an exit after handing a chunk back), kills the ones the
scheduler finds hung, and samples memory. It decides nothing."""

from __future__ import annotations

from dataclasses import dataclass, field

import psutil

from xmlload.parallel.board import BoardSnapshot
from xmlload.parallel.events import WorkerLost
from xmlload.states import WorkerExit


@dataclass
class Watchdog:
    peak_rss: dict[str, int] = field(default_factory=dict)
    gone: set[str] = field(default_factory=set)

    def lost_workers(self, snapshot: BoardSnapshot) -> list[WorkerLost]:
        """Workers whose process has exited since the last look; samples the others."""
        lost = []
        for name, entry in snapshot.workers.items():
            if name in self.gone:
                continue
            process = _live(entry.pid)
            if process is None:
                self.gone.add(name)
                lost.append(
                    WorkerLost(
                        name, WorkerExit.HANDED_BACK if entry.handing_back else WorkerExit.DIED
                    )
                )
            else:
                self._sample(name, process)
        return lost

    def kill(self, snapshot: BoardSnapshot, name: str) -> None:
        entry = snapshot.workers.get(name)
        process = None if entry is None else _live(entry.pid)
        if process is not None:
            process.kill()
        self.gone.add(name)

    def _sample(self, name: str, process: psutil.Process) -> None:
        try:
            rss = process.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return  # exited since the status check; the next look reports it
        self.peak_rss[name] = max(rss, self.peak_rss.get(name, 0))


def _live(pid: int) -> psutil.Process | None:
    """The live process, or None if it has exited (zombies count as exited)."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return process
    except psutil.NoSuchProcess:
        return None
