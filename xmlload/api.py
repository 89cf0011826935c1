"""The Python API: `xmlload.load(...)` for orchestrators (Airflow, Dagster, Prefect tasks,
notebooks) that call loaders from code.

    import xmlload

    if __name__ == "__main__":
        summary = xmlload.load(contract="contract.yaml", source="xml/",
                               target="postgresql://loader@db/apps", workers=4)
        print(summary.succeeded, summary.failed_by_stage, summary.rows_by_table)

Same behaviour as `xmlload run`; settings are the run options by name (`chunk_size=100`,
`create_tables=True`, `doc_timeout=60`, …), over the config file and XMLLOAD_* variables.
Bad usage raises `XmlloadError` subclasses (ContractError, SettingsError, TargetError,
WorkerStartError) before anything is written. It may run in any thread (signals are then
left to the caller) and leaves the process as it found it: signal handlers restored,
worker processes gone.
"""

from __future__ import annotations

import ast
import difflib
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from xmlload.errors import SettingsError
from xmlload.processor import ProductionProcessor
from xmlload.settings import Settings, load_settings
from xmlload.summary import RunSummary


def load(
    contract: str | Path,
    source: str | Path,
    target: str,
    workers: int = 1,
    config: str | Path | None = None,
    **settings: Any,
) -> RunSummary:
    """Load the source's pending documents into the target; return the run's summary
    (documents, succeeded, failed, failed_by_stage, rows_by_table, elapsed, exit_code)."""
    _check_main_guard()
    _check_names(settings)
    flags = {"contract": Path(contract), "source": str(source), "target": target,
             "workers": workers, **settings}  # fmt: skip
    loaded = load_settings(flags, Path(config) if config is not None else None)
    if loaded.progress == "auto":
        loaded.progress = "none"  # a library call draws nothing unless asked
    in_main_thread = threading.current_thread() is threading.main_thread()
    return ProductionProcessor(loaded).run(handle_signals=in_main_thread)


def _check_names(settings: dict[str, Any]) -> None:
    known = sorted(Settings.model_fields)
    for name in settings:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise SettingsError(f"xmlload.load(): unknown setting {name!r}{hint}")


def _check_main_guard() -> None:
    """Workers are started by the forkserver (or spawn) method, which imports the calling
    script again in each worker: a call at its top level would run again there. Refuse it
    up front, with the fix, instead of letting workers fail to start."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if path is None:
        return  # an interactive session or a notebook: nothing is imported again
    if not Path(path).is_file():
        raise SettingsError(
            f"xmlload.load() cannot start worker processes from a script read from {path}: "
            "save it to a file and run that"
        )
    frame = _top_level_frame(path)
    if frame is None:
        return  # called from a module imported by the script, not from its top level
    if not _inside_main_guard(Path(path), frame.f_lineno):
        raise SettingsError(
            f"xmlload.load() is called at the top level of {path} (line {frame.f_lineno}): "
            "worker processes import that script again, so the call must be under "
            '`if __name__ == "__main__":`'
        )


def _top_level_frame(path: str) -> FrameType | None:
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "<module>" and frame.f_globals.get("__name__") == "__main__":
            return frame if frame.f_code.co_filename == path else None
        frame = frame.f_back  # type: ignore[assignment]
    return None


def _inside_main_guard(path: Path, line: int) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.If) and _is_main_test(node.test):
            last = node.end_lineno or node.lineno
            if node.body[0].lineno <= line <= last:
                return True
    return False


def _is_main_test(test: ast.expr) -> bool:
    if not (isinstance(test, ast.Compare) and len(test.comparators) == 1):
        return False
    sides = [test.left, test.comparators[0]]
    names = {side.id for side in sides if isinstance(side, ast.Name)}
    texts = {side.value for side in sides if isinstance(side, ast.Constant)}
    return names == {"__name__"} and texts == {"__main__"}
