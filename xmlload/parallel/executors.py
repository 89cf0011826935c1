"""The executors a run can use, by name: `--executor pool` (default) or `dask`.

Each is imported only when chosen, so an optional one's library is needed only by
the runs that use it."""

from __future__ import annotations

import importlib

from xmlload.errors import SettingsError
from xmlload.parallel.executor import Executor

EXECUTORS = {
    "pool": ("xmlload.parallel.pool_executor", "PoolExecutor", None),
    "dask": ("xmlload.parallel.dask_executor", "DaskExecutor", "pip install -e '.[dask]'"),
}


def executor_class(name: str) -> type[Executor]:
    """The executor class; SettingsError (with the install command) when its library is
    missing."""
    module_name, class_name, install = EXECUTORS[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        missing = error.name or "a library"
        raise SettingsError(
            f"--executor {name} needs {missing}, which is not installed: {install}"
        ) from None
    return getattr(module, class_name)  # type: ignore[no-any-return]
