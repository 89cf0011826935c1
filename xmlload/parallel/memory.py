"""Peak resident memory of the current process."""

from __future__ import annotations

import sys

import psutil


def peak_rss_bytes() -> int:
    """ru_maxrss where the platform has it (kilobytes on Linux, bytes on macOS), else the
    current RSS (Windows)."""
    try:
        import resource
    except ImportError:
        return psutil.Process().memory_info().rss
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024
