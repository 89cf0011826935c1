"""Every error a worker can raise survives pickling (its pipe sends it to the coordinator)
with its type, fields and message."""

from __future__ import annotations

import pickle

import pytest

from xmlload import errors
from xmlload.parallel.pool_executor import _sendable

SAMPLES = [
    errors.XmlloadError("plain"),
    errors.ContractError("c.yaml", ["c.yaml:3: tables: bad", "c.yaml:9: x: worse"]),
    errors.SettingsError("bad setting"),
    errors.TargetError("target gone"),
    errors.TargetLostError("target postgresql://u:***@h/db cannot take writes: disk full"),
    errors.ClusterLostError("the Dask scheduler at tcp://h:8786 was lost mid-run"),
    errors.WorkerStartError("a worker could not start: permission denied"),
    errors.BoardLostError("the run's progress board went away mid-run (EOFError)"),
    errors.WorkerFailedError("OSError: [Errno 28] No space left on device"),
    errors.DocumentError("map", "app_base.x: not a number"),
    errors.ExpressionError("unexpected ')'"),
    errors.ValueProblem("'x' is not a whole number"),
]


def test_every_error_class_has_a_sample() -> None:
    classes = {
        value
        for value in vars(errors).values()
        if isinstance(value, type) and issubclass(value, Exception)
    }
    assert classes == {type(sample) for sample in SAMPLES}


@pytest.mark.parametrize("error", SAMPLES, ids=lambda e: type(e).__name__)
def test_errors_survive_pickling(error: Exception) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error)
    assert vars(copy) == vars(error)


def test_an_error_that_cannot_travel_back_is_sent_as_its_description() -> None:
    class Local(Exception):  # a class defined in a function cannot be pickled
        pass

    sent = _sendable(Local("disk on fire"))
    assert isinstance(sent, errors.WorkerFailedError)
    assert str(sent) == "Local: disk on fire"
    kept = errors.TargetLostError("target gone")
    assert _sendable(kept) is kept
