"""Test-only contract extension: the first worker process to import it fails to start, as
one worker over a connection limit; the coordinator and the other workers import it fine.
The marker file named by XMLLOAD_TEST_ONE_WORKER_FAILS decides which worker is first."""

from __future__ import annotations

import multiprocessing
import os

if multiprocessing.parent_process() is not None:
    try:
        os.close(os.open(os.environ["XMLLOAD_TEST_ONE_WORKER_FAILS"], os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        pass  # another worker was first: this one starts
    else:
        raise ImportError("simulated: too many connections for this worker")
