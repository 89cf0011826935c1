"""The executor registry: the only list of what `--executor NAME` can be. A new executor
is one module with an `Executor` subclass and one entry here.

Each is imported only when chosen, so an optional one's library is needed only by the
runs that use it."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from xmlload.errors import SettingsError

if TYPE_CHECKING:  # settings read this registry; the executors import settings
    from xmlload.parallel.executor import Executor


@dataclass(frozen=True)
class ExecutorKind:
    name: str
    module: str
    class_name: str
    description: str  # for --help
    on_this_machine: bool  # its workers share this machine's cores
    install: str | None = None  # how to get its library, when optional


EXECUTORS = {
    kind.name: kind
    for kind in (
        ExecutorKind("pool", "xmlload.parallel.pool_executor", "PoolExecutor",
                     "processes on this machine (default)", on_this_machine=True),
        ExecutorKind("dask", "xmlload.parallel.dask_executor", "DaskExecutor",
                     "a Dask cluster (docs/scale-out.md)", on_this_machine=False,
                     install="pip install -e '.[dask]'"),
    )
}  # fmt: skip


def executor_kind(name: str) -> ExecutorKind:
    """SettingsError naming the known executors when `name` is not one."""
    if name not in EXECUTORS:
        raise SettingsError(f"unknown executor {name!r}: choose one of {', '.join(EXECUTORS)}")
    return EXECUTORS[name]


def executor_class(name: str) -> type[Executor]:
    """The executor class; SettingsError (with the install command) when its library is
    missing."""
    kind = executor_kind(name)
    try:
        module = importlib.import_module(kind.module)
    except ImportError as error:
        missing = error.name or "a library"
        raise SettingsError(
            f"--executor {name} needs {missing}, which is not installed: {kind.install}"
        ) from None
    return getattr(module, kind.class_name)  # type: ignore[no-any-return]
