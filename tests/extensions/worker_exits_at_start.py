"""Test-only contract extension: importable in the coordinator; every worker process that
imports it exits at once (exit code 7), as a worker killed while it starts would."""

from __future__ import annotations

import multiprocessing
import os

if multiprocessing.parent_process() is not None:
    os._exit(7)
