"""Test-only contract extension: importable in the coordinator, failing in every worker
process, like a worker whose database connection is refused after the coordinator's own
checks passed."""

from __future__ import annotations

import multiprocessing

if multiprocessing.parent_process() is not None:
    raise ImportError("simulated: this worker cannot reach its database")
