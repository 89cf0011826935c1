"""Test-only contract extension: expression functions that make a document slow.

Loaded through the contract's `extensions:` list, the same way a user adds functions.
SLEEP(s) sleeps s seconds; HANG(s) does the same with SIGALRM blocked, like a document
stuck in C code that the worker's own deadline cannot interrupt.
"""

from __future__ import annotations

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
