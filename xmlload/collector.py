"""Start-up without Python's cyclic garbage collector."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Start-up (imports, the compiled contract) makes long-lived objects only, which the
    collector would walk again and again: a tenth of the start-up time. It is paused
    meanwhile, then resumes with those objects frozen out of its reach (which also keeps
    a forked worker from copying their pages)."""
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()
