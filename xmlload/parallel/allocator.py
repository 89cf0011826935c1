"""The memory allocator of the processes a run starts for its workers (and bench's parse
ceiling): parsing a document is tens of thousands of small allocations, so the allocator
decides much of a worker's speed.

- mimalloc where it is installed (Linux: `libmimalloc.so.2`, Debian's `libmimalloc2.0`),
  preloaded into the processes started meanwhile: a worker spends about a sixth less CPU
  on a document (parsing alone is about a fifth faster).
- Else glibc's malloc without fast bins: freeing a parsed tree left thousands of small
  blocks to be merged all at once by the next large allocation (the next document's
  parse); without fast bins parsing is about a tenth faster.

A setting of the user's own is kept: `LD_PRELOAD` set at all (even empty) means no
mimalloc; a fast-bin setting in `GLIBC_TUNABLES` stays as it is. Only processes started
inside `worker_allocator()` are affected, never the calling process, and the workers of a
local Dask cluster (their nannies set `worker_environment()` before each start)."""

from __future__ import annotations

import os
import platform
import sys
import sysconfig
from collections.abc import Iterator
from contextlib import contextmanager

PRELOAD_VARIABLE = "LD_PRELOAD"
TUNABLES, NO_FAST_BINS = "GLIBC_TUNABLES", "glibc.malloc.mxfast=0"
MIMALLOC_NAMES = ("libmimalloc.so.2", "libmimalloc.so")


def mimalloc_library() -> str | None:
    """Where mimalloc's shared library is installed (Linux), else None."""
    if sys.platform != "linux":
        return None
    arch = sysconfig.get_config_var("MULTIARCH") or f"{platform.machine()}-linux-gnu"
    folders = (f"/usr/lib/{arch}", f"/lib/{arch}", "/usr/lib64", "/usr/lib", "/usr/local/lib")
    for folder in folders:
        for name in MIMALLOC_NAMES:
            path = os.path.join(folder, name)
            if os.path.isfile(path):
                return path
    return None


def workers_allocator() -> str:
    """What processes started with `worker_environment()` allocate with, for reports."""
    own = os.environ.get(PRELOAD_VARIABLE)
    if own is not None:
        return f"as {PRELOAD_VARIABLE} says ({own or 'empty'})"
    library = worker_environment().get(PRELOAD_VARIABLE)
    return f"mimalloc ({library})" if library else "glibc malloc without fast bins"


def worker_environment() -> dict[str, str]:
    """The variables processes started for workers get (see the module's docstring)."""
    environment = {}
    library = mimalloc_library() if PRELOAD_VARIABLE not in os.environ else None
    if library is not None:
        environment[PRELOAD_VARIABLE] = library
    tunables = os.environ.get(TUNABLES)
    if tunables is None or "glibc.malloc.mxfast" not in tunables:
        environment[TUNABLES] = f"{tunables}:{NO_FAST_BINS}" if tunables else NO_FAST_BINS
    return environment


@contextmanager
def worker_allocator() -> Iterator[None]:
    """Processes started meanwhile use mimalloc if installed, else glibc's malloc without
    fast bins (see the module's docstring); the environment is restored afterwards."""
    saved = {name: os.environ.get(name) for name in (PRELOAD_VARIABLE, TUNABLES)}
    os.environ.update(worker_environment())
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
