"""The workers start while the coordinator counts the source and checks the target, and a
run that ends before its loop (nothing to load, a target that is not ready) stops them."""

from __future__ import annotations

import gc
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

import xmlload.processor as processor_module
from tests.conftest import contract_with
from tests.helpers import query
from xmlload.cli import main
from xmlload.collector import collector_paused
from xmlload.errors import SettingsError, TargetError
from xmlload.parallel import allocator
from xmlload.parallel.allocator import worker_allocator, workers_allocator
from xmlload.parallel.executor import Executor
from xmlload.processor import ProductionProcessor
from xmlload.settings import Settings
from xmlload.sources import open_source
from xmlload.summary import RunSummary


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Executor]]:
    """Every executor a run opens, as it opens it."""
    executors: list[Executor] = []
    real_open = Executor.open

    def open_and_keep(self: Executor) -> None:
        executors.append(self)
        real_open(self)

    monkeypatch.setattr(Executor, "open", open_and_keep)
    yield executors


def worker_pids(executor: Executor, wanted: int, timeout: float = 30.0) -> list[int]:
    """The pids of `wanted` workers once they have registered on the run's board."""
    assert executor.board is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        workers = executor.board.snapshot().workers
        if len(workers) >= wanted:
            return [entry.pid for entry in workers.values()]
        time.sleep(0.02)
    raise AssertionError(f"no {wanted} workers registered within {timeout} s")


def waiting_for_workers(
    real: Callable[..., Any], executors: list[Executor], seen: list[int]
) -> Callable[..., Any]:
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        seen.extend(worker_pids(executors[-1], 2))
        return real(*args, **kwargs)

    return wrapped


def sample_folder(corpus_dir: Path, tmp_path: Path, count: int) -> Path:
    """A folder with `count` corpus documents."""
    folder = tmp_path / "xml"
    folder.mkdir()
    for file in sorted(corpus_dir.glob("sample--44*.xml"))[:count]:
        shutil.copy(file, folder / file.name)
    return folder


def prepared_after_workers(
    monkeypatch: pytest.MonkeyPatch, executors: list[Executor], seen: list[int]
) -> Callable[..., Any]:
    """prepare_target, made to wait until both workers are up (their pids in `seen`)."""
    prepare = waiting_for_workers(processor_module.prepare_target, executors, seen)
    monkeypatch.setattr(processor_module, "prepare_target", prepare)
    return prepare


def settings(tmp_path: Path, source: Path, target: str, **more: Any) -> Settings:
    return Settings(
        contract=contract_with(tmp_path), source=str(source), target=target, workers=2,
        progress="none", **more,
    )  # fmt: skip


def test_the_workers_are_ready_before_the_target_is_prepared(
    corpus_dir: Path, tmp_path: Path, opened: list[Executor], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = sample_folder(corpus_dir, tmp_path, 4)
    seen: list[int] = []
    prepared_after_workers(monkeypatch, opened, seen)
    target = f"sqlite:///{tmp_path / 't.db'}"
    summary = ProductionProcessor(settings(tmp_path, folder, target, create_tables=True)).run(
        handle_signals=False
    )
    assert len(seen) == 2  # both workers had registered when the target was prepared
    assert (summary.documents, summary.failed) == (4, 0)
    assert query(target, "SELECT count(*) FROM app_base") == [(4,)]


def gone(pids: list[int], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(psutil.pid_exists(pid) and _alive(pid) for pid in pids):
            return True
        time.sleep(0.05)
    return False


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize(
    ("files", "watched", "error", "message"),
    [
        (0, (ProductionProcessor, "_check_source"), SettingsError, "no documents found"),
        (1, (processor_module, "prepare_target"), TargetError, "--create-tables"),
    ],
    ids=["empty source", "no tables"],
)
def test_a_run_that_ends_before_its_loop_stops_the_workers_it_started(
    files: int,
    watched: tuple[Any, str],
    error: type[Exception],
    message: str,
    corpus_dir: Path,
    tmp_path: Path,
    opened: list[Executor],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = sample_folder(corpus_dir, tmp_path, files)
    seen: list[int] = []
    owner, name = watched  # the step that fails waits until both workers are up
    monkeypatch.setattr(owner, name, waiting_for_workers(getattr(owner, name), opened, seen))
    run = ProductionProcessor(settings(tmp_path, folder, f"sqlite:///{tmp_path / 't.db'}"))
    with pytest.raises(error, match=message):
        run.run(handle_signals=False)
    assert len(seen) == 2 and gone(seen)


def test_the_first_chunk_is_listed_after_one_look_up_in_the_processing_log(
    corpus_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "xml"
    folder.mkdir()
    sample = sorted(corpus_dir.glob("sample--44*.xml"))[0]
    for number in range(20):
        shutil.copy(sample, folder / f"doc-{number:02}.xml")
    target = f"sqlite:///{tmp_path / 't.db'}"
    first = ProductionProcessor(settings(tmp_path, folder, target, create_tables=True, limit=3))
    assert first.run(handle_signals=False).documents == 3
    look_ups: list[int] = []
    real_look_up = processor_module.ProcessingLog.logged_keys

    def counted(self: Any, connection: Any, keys: Any) -> Any:
        look_ups.append(len(list(keys := list(keys))))
        return real_look_up(self, connection, keys)

    monkeypatch.setattr(processor_module.ProcessingLog, "logged_keys", counted)
    monkeypatch.setattr(processor_module, "KEYS_PER_QUERY", 5)
    run = ProductionProcessor(settings(tmp_path, folder, target, chunk_size=2))
    summary = RunSummary("r", "s", "t")
    source = open_source(run.source_config)
    try:
        chunks = run._chunks(source, summary)
        listed = [next(chunks)]
        assert look_ups == [5]  # the first chunk went out before the next batch was asked
        listed += list(chunks)
    finally:
        source.close()
    assert look_ups == [5, 5, 5, 5]
    names = [Path(str(item)).name for chunk in listed for item in chunk]
    assert names == [f"doc-{number:02}.xml" for number in range(3, 20)]  # each once, in order
    assert all(1 <= len(chunk) <= 2 for chunk in listed)
    assert summary.skipped_already_logged == 3


def test_start_up_pauses_the_collector_then_resumes_it_with_what_it_made_frozen() -> None:
    frozen_before = gc.get_freeze_count()
    try:
        with collector_paused():
            assert not gc.isenabled()
            made = [[number] for number in range(1000)]
        assert gc.isenabled()
        assert gc.get_freeze_count() >= frozen_before + len(made)
    finally:
        gc.unfreeze()  # this test process's objects go back to the collector


def test_the_command_line_runs_its_command_with_the_collector_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[bool] = []
    real_run = ProductionProcessor.run

    def run_and_look(self: ProductionProcessor, *args: Any, **kwargs: Any) -> Any:
        seen.append(gc.isenabled())
        return real_run(self, *args, **kwargs)

    monkeypatch.setattr(ProductionProcessor, "run", run_and_look)
    folder = tmp_path / "xml"
    folder.mkdir()
    contract = contract_with(tmp_path)
    target = f"sqlite:///{tmp_path / 't.db'}"
    try:
        code = main(["run", "--contract", str(contract), "--source", str(folder),
                     "--target", target, "--progress", "none"])  # fmt: skip
    finally:
        gc.unfreeze()
    assert code == 2 and seen == [True] and gc.isenabled()  # an empty source: exit 2


def test_processes_started_for_workers_get_malloc_without_fast_bins_then_the_setting_goes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    monkeypatch.setattr(allocator, "mimalloc_library", lambda: None)
    with worker_allocator():
        assert os.environ["GLIBC_TUNABLES"] == "glibc.malloc.mxfast=0"
    assert "GLIBC_TUNABLES" not in os.environ
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.tcache_count=0")
    with worker_allocator():
        assert os.environ["GLIBC_TUNABLES"] == "glibc.malloc.tcache_count=0:glibc.malloc.mxfast=0"
    assert os.environ["GLIBC_TUNABLES"] == "glibc.malloc.tcache_count=0"
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.mxfast=64")  # the user's own: kept
    with worker_allocator():
        assert os.environ["GLIBC_TUNABLES"] == "glibc.malloc.mxfast=64"
    assert "LD_PRELOAD" not in os.environ  # no mimalloc installed: nothing preloaded


def test_processes_started_for_workers_preload_mimalloc_where_installed_unless_told_not_to(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    library = tmp_path / "libmimalloc.so.2"
    monkeypatch.setattr(allocator, "mimalloc_library", lambda: str(library))
    monkeypatch.delenv("LD_PRELOAD", raising=False)
    with worker_allocator():
        assert os.environ["LD_PRELOAD"] == str(library)
        assert workers_allocator() == f"as LD_PRELOAD says ({library})"
    assert "LD_PRELOAD" not in os.environ
    assert workers_allocator() == f"mimalloc ({library})"
    for own in ("", "/opt/lib/libjemalloc.so.2"):  # the user's own, even empty: kept
        monkeypatch.setenv("LD_PRELOAD", own)
        with worker_allocator():
            assert os.environ["LD_PRELOAD"] == own
        assert os.environ["LD_PRELOAD"] == own
    monkeypatch.delenv("LD_PRELOAD")
    monkeypatch.setattr(allocator, "mimalloc_library", lambda: None)
    assert workers_allocator() == "glibc malloc without fast bins"


@pytest.mark.skipif(sys.platform != "linux", reason="mimalloc is looked for on Linux only")
def test_mimalloc_is_found_where_debian_installs_it(monkeypatch: pytest.MonkeyPatch) -> None:
    installed = [
        path
        for path in Path("/usr/lib").glob("*/libmimalloc.so*")
        if path.name in allocator.MIMALLOC_NAMES
    ]
    if os.environ.get("CI") != "true" and not installed:
        pytest.skip("libmimalloc2.0 is not installed here (CI installs it)")
    assert installed, "CI installs libmimalloc2.0 (.ci/run)"
    assert allocator.mimalloc_library() in {str(path) for path in installed}


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux's /proc")
def test_a_runs_workers_are_started_with_that_allocator_setting(
    corpus_dir: Path, tmp_path: Path, opened: list[Executor], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = sample_folder(corpus_dir, tmp_path, 2)
    seen: list[int] = []
    prepare = prepared_after_workers(monkeypatch, opened, seen)
    environments: list[bytes] = []
    libraries: list[str] = []

    def read_environments(*args: Any, **kwargs: Any) -> Any:
        prepared = prepare(*args, **kwargs)  # the workers are up (their pids seen) and busy
        environments.extend(Path(f"/proc/{pid}/environ").read_bytes() for pid in seen)
        libraries.extend(Path(f"/proc/{pid}/maps").read_text() for pid in seen)
        return prepared

    monkeypatch.setattr(processor_module, "prepare_target", read_environments)
    target = f"sqlite:///{tmp_path / 't.db'}"
    settings_ = settings(tmp_path, folder, target, create_tables=True)
    assert ProductionProcessor(settings_).run(handle_signals=False).documents == 2
    assert len(environments) == 2
    assert all(b"GLIBC_TUNABLES=glibc.malloc.mxfast=0\0" in found for found in environments)
    assert os.environ.get("GLIBC_TUNABLES") != "glibc.malloc.mxfast=0"  # not this process's
    library = allocator.mimalloc_library()
    if library is not None and "LD_PRELOAD" not in os.environ:  # loaded, not only named
        assert all(f"LD_PRELOAD={library}\0".encode() in found for found in environments)
        assert all(library in loaded for loaded in libraries)


def test_a_runs_start_up_is_counted_from_when_its_workers_began_to_start(
    corpus_dir: Path, tmp_path: Path
) -> None:
    folder = sample_folder(corpus_dir, tmp_path, 4)
    target = f"sqlite:///{tmp_path / 't.db'}"
    run = ProductionProcessor(settings(tmp_path, folder, target, create_tables=True))
    summary = run.run(handle_signals=False)
    assert summary.documents == 4
    # the workers start while the source is counted and the target checked: that is the
    # run's start-up, and the rate "after start-up" leaves it out
    assert 0.0 < summary.startup_seconds < summary.elapsed
    assert summary.load_seconds == pytest.approx(summary.elapsed - summary.startup_seconds)
