"""The states a document, a chunk and a worker can be in: enums, never loose strings.
They are `StrEnum`s, so the processing log stores and compares their values as text."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """A document's entry in the processing log."""

    SUCCESS = "success"
    FAILED = "failed"
    REMOVED = "removed"  # gone from the source; its rows were deleted (--close-missing)


class Stage(StrEnum):
    """Where a document failed."""

    SOURCE = "source"
    VALIDATION = "validation"
    PARSE = "parse"
    MAP = "map"
    LOAD = "load"
    TIMEOUT = "timeout"
    WORKER_CRASH = "worker_crash"


class Loss(StrEnum):
    """Why a chunk came back without a report."""

    RECYCLED = "recycled"  # handed back untouched (memory limit, SIGTERM): out again as is
    WORKER_CRASH = "worker_crash"  # its worker died while holding it
    TIMEOUT = "timeout"  # its worker stopped responding and was killed


class WorkerExit(StrEnum):
    """How a worker process went away."""

    DIED = "died"
    HANDED_BACK = "handed_back"


class Fault(StrEnum):
    """What a database error means for the document being written."""

    TRANSIENT = "transient"  # deadlock, lock timeout, lost connection: retry
    UNAVAILABLE = "unavailable"  # disk full, read-only: no write can succeed, stop the run
    REJECTED = "rejected"  # this document's rows: it fails alone
