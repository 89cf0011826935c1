"""Error types shared by every layer.

`XmlloadError` and its subclasses are user mistakes (contract, settings, target) that stop a
run before any document is read; `DocumentError` fails one document and never the run.
Every error pickles with its fields, so it crosses from a worker process to the coordinator.
"""

from __future__ import annotations

from typing import Any

from xmlload.states import Stage


class XmlloadError(Exception):
    """A problem the user must fix before loading can start (exit status 2)."""


class ContractError(XmlloadError):
    """A contract that does not load or validate; carries every problem found."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"invalid contract {source}: {len(problems)} problem(s)\n{lines}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.source, self.problems))


class SettingsError(XmlloadError):
    """Bad settings: config file, environment variable or flag."""


class WorkerStartError(XmlloadError):
    """A worker could not build its pipeline (contract, target or source connection)."""


class WorkerFailedError(XmlloadError):
    """A worker failed beyond what the run recovers from: its chunk raised an error that
    could not travel back as itself, or a worker process could not be started."""


class TargetLostError(XmlloadError):
    """The target stopped accepting writes mid-run (gone longer than the retries, disk
    full, read-only): the run stops like after a signal; documents do not fail."""


class ClusterLostError(XmlloadError):
    """The Dask scheduler went away mid-run: documents finished so far are logged; the
    next run resumes after them."""


class BoardLostError(XmlloadError):
    """The Manager process holding the run's progress board went away mid-run: documents
    finished so far are logged; the next run resumes after them."""


class TargetError(XmlloadError):
    """The target or source database is unreachable or does not match the contract."""


class DocumentError(Exception):
    """One document failed at a pipeline stage; it is logged and the run goes on."""

    def __init__(self, stage: Stage, message: str) -> None:
        self.stage = Stage(stage)
        self.message = message
        super().__init__(f"{stage}: {message}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.stage, self.message))


class ExpressionError(ValueError):
    """A calculated-field expression could not be parsed or evaluated."""


class ValueProblem(ValueError):
    """A single value could not be converted to its column's type."""
