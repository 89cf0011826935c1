"""Test-only contract extension: expression functions that make a document slow.

Loaded through the contract's `extensions:` list, the same way a user adds functions.
SLEEP(s) sleeps s seconds; HANG(s) does the same with SIGALRM blocked, like a document
stuck in C code that the worker's own deadline cannot interrupt; CRASH(x) kills the worker.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from xmlload.contract.functions import register_function


def _sleep(formats: list[str], seconds: Any) -> None:
    if seconds is not None and str(seconds).strip():
        time.sleep(float(seconds))


def _hang(formats: list[str], seconds: Any) -> None:
    if seconds is not None and str(seconds).strip():
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        try:
            time.sleep(float(seconds))
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGALRM})


register_function("SLEEP", _sleep, 1, 1)
register_function("HANG", _hang, 1, 1)


def _crash(formats: list[str], flag: Any) -> None:
    """CRASH(x) kills its own process when x is non-empty, like an out-of-memory kill."""
    if flag is not None and str(flag).strip():
        os.kill(os.getpid(), signal.SIGKILL)


register_function("CRASH", _crash, 1, 1)
