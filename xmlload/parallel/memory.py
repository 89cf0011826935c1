"""Resident memory: the current process's peak, and samples of the workers a board names."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import psutil

if TYPE_CHECKING:  # the board records each worker's own peak with peak_rss_bytes
    from xmlload.parallel.board import BoardSnapshot


def peak_rss_bytes() -> int:
    """ru_maxrss where the platform has it (kilobytes on Linux, bytes on macOS), else the
    current RSS (Windows)."""
    try:
        import resource
    except ImportError:
        return psutil.Process().memory_info().rss
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def sample_memory(snapshot: BoardSnapshot, peaks: dict[str, int]) -> None:
    """Raise `peaks[worker]` to each live worker's current RSS."""
    for name, entry in snapshot.workers.items():
        try:
            rss = psutil.Process(entry.pid).memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue  # exited since it last wrote the board
        peaks[name] = max(rss, peaks.get(name, 0))
