"""The Dask executor on a real cluster: `dask scheduler` and two `dask worker --nworkers 1
--nthreads 1` processes started from their command lines on 127.0.0.1, loading into
PostgreSQL: the same tables as a one-worker local run, a worker SIGKILLed mid-run (nothing
lost, nothing duplicated), the coordinator stopped by SIGTERM and run again (every
document exactly once)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import psutil
import pytest
import sqlalchemy as sa

from tests.conftest import CONTRACT, POSTGRES_URL, REPO, contract_with
from tests.helpers import cli_command, query, table_contents
from tests.test_coordinator import log_by_name, slow_contract
from tests.test_faults import DOCUMENTS, independent_check, run_with_fault, stop_then_resume
from xmlload.bench import loop_corpus
from xmlload.generate import DocumentGenerator, write_table

DASK = Path(sys.executable).parent / "dask"


def _need_dask() -> None:
    try:
        import distributed  # noqa: F401
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("Dask is not installed but CI=true: pip install -e '.[dask]'")
        pytest.skip("Dask is not installed: pip install -e '.[dask]'")


@dataclass
class Cluster:
    address: str
    scheduler: subprocess.Popen
    workers: list[subprocess.Popen]

    def wait_for_workers(self, count: int = 2) -> None:
        from distributed import Client

        with Client(self.address, timeout=30) as client:
            client.wait_for_workers(count, timeout=60)

    def kill_a_worker_process(self) -> int:
        """SIGKILL the process that runs a Dask worker (its nanny starts another)."""
        nanny = psutil.Process(self.workers[0].pid)
        for child in nanny.children(recursive=True):
            if "spawn_main" in " ".join(child.cmdline()):
                os.kill(child.pid, signal.SIGKILL)
                return child.pid
        raise AssertionError("no worker process under the first dask worker")


def _start(arguments: list[str], log: Path) -> subprocess.Popen:
    # the test-only contract extensions (tests/extensions) must import on the workers
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with log.open("wb") as out:
        return subprocess.Popen([str(DASK), *arguments], stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, env=env)  # fmt: skip


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def _scheduler_address(address_file: Path, scheduler: subprocess.Popen, log: Path) -> str:
    """The address the scheduler writes to its file, once the file is whole (it is written
    in place: a read can see it empty or cut)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert scheduler.poll() is None, log.read_text()
        try:
            return json.loads(address_file.read_text())["address"]
        except (FileNotFoundError, json.JSONDecodeError, KeyError):
            time.sleep(0.2)
    raise AssertionError(f"the scheduler wrote no address in 60 s: {log.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    _need_dask()
    folder = tmp_path_factory.mktemp("dask")
    address_file = folder / "scheduler.json"
    arguments = ["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                 "--scheduler-file", str(address_file)]  # fmt: skip
    scheduler = _start(arguments, folder / "scheduler.log")
    workers: list[subprocess.Popen] = []
    try:
        address = _scheduler_address(address_file, scheduler, folder / "scheduler.log")
        for number in (1, 2):
            workers.append(_start(["worker", address, "--nworkers", "1", "--nthreads", "1",
                                   "--no-dashboard", "--name", f"w{number}"],
                                  folder / f"worker{number}.log"))  # fmt: skip
        found = Cluster(address, scheduler, workers)
        found.wait_for_workers(2)
        yield found
    finally:
        for process in [*workers, scheduler]:
            _stop(process)


@pytest.fixture
def generated(postgres_engine: sa.Engine, postgres_schema: str, tmp_path: Path) -> Iterator[str]:
    """A PostgreSQL source table of generated documents (5% bad); yields the contract."""
    table = f"{postgres_schema}_src"
    write_table(
        DocumentGenerator(seed=99, median_kb=8, bad_ratio=0.05), DOCUMENTS, 1, POSTGRES_URL, table
    )
    yield str(contract_with(tmp_path, target_schema=postgres_schema))
    with postgres_engine.begin() as connection:
        connection.execute(sa.text(f'DROP TABLE IF EXISTS "{table}"'))


def dask_run(cluster: Cluster, contract: str, source: list[str]) -> list[str]:
    return cli_command("run", "--contract", contract, *source, "--target", POSTGRES_URL,
                       "--create-tables", "--executor", "dask", "--scheduler", cluster.address,
                       "--chunk-size", "20", "--progress", "none")  # fmt: skip


def test_dask_run_writes_what_a_local_run_writes(
    cluster: Cluster, corpus_dir: Path, postgres_engine, postgres_schema: str, tmp_path: Path
) -> None:
    copies = tmp_path / "copies"
    loop_corpus(CONTRACT, corpus_dir, copies, 4)
    local = f"sqlite:///{tmp_path / 'local.db'}"
    done = subprocess.run(cli_command("run", "--contract", str(CONTRACT), "--source", str(copies),
                                      "--target", local, "--create-tables", "--progress", "none"),
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 3, done.stderr[-2000:]  # the wrong-schema documents
    contract = str(contract_with(tmp_path, target_schema=postgres_schema))
    report = tmp_path / "dask.json"
    command = [*dask_run(cluster, contract, ["--source", str(copies)]), "--report", str(report)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 3, done.stderr[-2000:]
    assert table_contents(POSTGRES_URL, contract, include_log=False) == table_contents(
        local, str(CONTRACT)
    )
    workers = json.loads(report.read_text())["workers"]
    assert workers and all(name.startswith("tcp://127.0.0.1:") for name in workers)
    assert sum(entry["documents"] for entry in workers.values()) == 4 * 82


def test_a_dask_worker_killed_mid_run_loses_and_duplicates_nothing(
    cluster: Cluster, generated: str, postgres_schema: str
) -> None:
    cluster.wait_for_workers(2)
    killed: list[int] = []
    source = ["--source", POSTGRES_URL, "--source-table", f"{postgres_schema}_src"]
    process = run_with_fault(dask_run(cluster, generated, source), postgres_schema,
                             lambda p: killed.append(cluster.kill_a_worker_process()),
                             at=(300,))  # fmt: skip
    assert process.returncode == 3  # the bad documents
    assert len(killed) == 1
    counts = independent_check(generated, postgres_schema)
    assert counts.get("not attempted", 0) == 0
    failed = (f"SELECT stage, count(*) FROM {postgres_schema}.processing_log "
              "WHERE status = 'failed' GROUP BY stage")  # fmt: skip
    stages = dict(query(POSTGRES_URL, failed))
    assert set(stages) <= {"parse", "validation", "map"}, stages


def test_coordinator_stopped_then_resumed_on_dask(
    cluster: Cluster, generated: str, postgres_schema: str
) -> None:
    cluster.wait_for_workers(2)
    source = ["--source", POSTGRES_URL, "--source-table", f"{postgres_schema}_src"]
    stop_then_resume(dask_run(cluster, generated, source), generated, postgres_schema)


def test_executor_dask_without_dask_installed_says_how_to_install(tmp_path: Path) -> None:
    script = (
        "import sys; sys.modules['distributed'] = None\n"
        "from xmlload.cli import main\n"
        f"sys.exit(main(['run', '--contract', {str(CONTRACT)!r}, '--source', {str(tmp_path)!r},"
        f" '--target', 'sqlite:///{tmp_path}/t.db', '--executor', 'dask']))\n"
    )
    (tmp_path / "a.xml").write_bytes(b"<Provenir/>")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    assert "--executor dask needs distributed" in done.stderr
    assert "pip install -e '.[dask]'" in done.stderr


def dask_files_run(cluster: Cluster, function: str, folder: Path, tmp_path: Path,
                   *extra: str) -> tuple[int, str]:  # fmt: skip
    target = f"sqlite:///{tmp_path / 't.db'}"
    command = cli_command("run", "--contract", str(slow_contract(tmp_path, function)),
                          "--source", str(folder), "--target", target, "--create-tables",
                          "--executor", "dask", "--scheduler", cluster.address,
                          "--progress", "none", *extra)  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    return done.returncode, target


def test_a_hung_document_on_dask_is_given_up_after_two_worker_restarts(
    cluster: Cluster, napping_dir: Path, tmp_path: Path
) -> None:
    # no SIGALRM in Dask's task threads: the coordinator's hang limit (doc_timeout + 2 s
    # without a heartbeat) restarts the worker; the chunk's documents go again one by one
    cluster.wait_for_workers(2)
    code, target = dask_files_run(cluster, "SLEEP", napping_dir, tmp_path,
                                  "--doc-timeout", "1", "--chunk-size", "3")  # fmt: skip
    assert code == 3
    log = log_by_name(target)
    assert log.pop("sample--127582.xml")[:2] == ("failed", "timeout")
    assert set(log.values()) == {("success", None, 1)} and len(log) == 4
    assert query(target, "SELECT count(*), count(DISTINCT app_id) FROM app_base") == [(4, 4)]


def test_a_document_that_kills_two_dask_workers_is_logged_worker_crash(
    cluster: Cluster, napping_dir: Path, tmp_path: Path
) -> None:
    cluster.wait_for_workers(2)
    code, target = dask_files_run(cluster, "CRASH", napping_dir, tmp_path, "--chunk-size", "2")
    assert code == 3
    log = log_by_name(target)
    assert log.pop("sample--127582.xml")[:2] == ("failed", "worker_crash")
    assert {status for status, _, _ in log.values()} == {"success"} and len(log) == 4


def test_executor_dask_without_a_scheduler_starts_a_local_cluster(
    corpus_dir: Path, tmp_path: Path
) -> None:
    _need_dask()
    target = f"sqlite:///{tmp_path / 't.db'}"
    command = cli_command("run", "--contract", str(CONTRACT), "--source", str(corpus_dir),
                          "--target", target, "--create-tables", "--executor", "dask",
                          "--workers", "2", "--progress", "none", "--report",
                          str(tmp_path / "r.json"))  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 3, done.stderr[-2000:]
    assert query(target, "SELECT status, count(*) FROM processing_log GROUP BY status "
                         "ORDER BY status") == [("failed", 1), ("success", 81)]  # fmt: skip
    workers = json.loads((tmp_path / "r.json").read_text())["workers"]
    assert all(name.startswith("tcp://127.0.0.1:") for name in workers)


def _allowed_failures(cluster: Cluster, value: int | None = None) -> int:
    from distributed import Client

    def read_or_set(dask_scheduler, value=value):  # runs on the scheduler
        if value is not None:
            dask_scheduler.allowed_failures = value
        return dask_scheduler.allowed_failures

    with Client(cluster.address, timeout=30) as client:
        return client.run_on_scheduler(read_or_set)


def test_allowed_failures_come_back_after_the_coordinator_is_killed(
    cluster: Cluster, generated: str, postgres_schema: str
) -> None:
    cluster.wait_for_workers(2)
    original = _allowed_failures(cluster)
    _allowed_failures(cluster, 7)  # a value of the cluster's own, not the default
    try:
        source = ["--source", POSTGRES_URL, "--source-table", f"{postgres_schema}_src"]
        command = dask_run(cluster, generated, source)
        seen: list[int] = []

        def kill(process: subprocess.Popen) -> None:
            seen.append(_allowed_failures(cluster))  # held at 0 while the run is live
            process.kill()

        process = run_with_fault(command, postgres_schema, kill, at=(100,))
        assert process.returncode == -signal.SIGKILL and seen == [0]
        deadline = time.monotonic() + 30
        while _allowed_failures(cluster) != 7 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _allowed_failures(cluster) == 7
        finished = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert finished.returncode == 3, finished.stderr[-2000:]  # the bad documents
        assert _allowed_failures(cluster) == 7
    finally:
        _allowed_failures(cluster, original)


def test_a_refresh_with_history_on_dask(
    cluster: Cluster, postgres_engine: sa.Engine, postgres_schema: str, tmp_path: Path
) -> None:
    """A checkpointed refresh with history: keep on the cluster: changed rows get version
    2, a new row version 1, a row with two versions in the source gets both, in order."""
    from tests.test_checkpoints import (
        START,
        add_version,
        change_content,
        staging,
        versions_per_document,
    )

    cluster.wait_for_workers(2)
    with postgres_engine.begin() as connection:
        connection.exec_driver_sql(f"CREATE SCHEMA {postgres_schema}")
    table = f"{postgres_schema}.docs"
    staging(POSTGRES_URL, table, 40, key="")
    contract = str(contract_with(tmp_path, target_schema=postgres_schema, history="keep"))
    source = ["--source", POSTGRES_URL, "--source-table", table,
              "--source-updated-column", "updated"]  # fmt: skip
    done = subprocess.run(dask_run(cluster, contract, source), capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    change_content(POSTGRES_URL, table, range(1, 11), START + timedelta(days=40))
    add_version(POSTGRES_URL, table, 41, START + timedelta(days=41), document=41)
    add_version(POSTGRES_URL, table, 30, START + timedelta(days=42), document=30)
    add_version(POSTGRES_URL, table, 30, START + timedelta(days=43), document=1030)
    done = subprocess.run(dask_run(cluster, contract, source), capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "refresh: 1 new, 12 changed (reloaded)" in done.stdout
    prefix = f"{postgres_schema}."
    expected = {row: (2 if row <= 10 else 1, 1) for row in range(1, 42)}
    expected[30], expected[1030] = (2, 0), (1, 1)
    assert versions_per_document(POSTGRES_URL, prefix) == expected


class _ClientAfterARestart:
    """A client whose cluster has a worker that restarted just before the run's end and has
    not installed the run's plugin yet: unregistering it answers with that worker's
    KeyError (what distributed raises from the first error among the workers' answers)."""

    status = "running"

    def __init__(self) -> None:
        self.metadata_cleared = False

    def scheduler_info(self) -> dict[str, Any]:
        return {"workers": {}}

    def unregister_worker_plugin(self, name: str) -> None:
        raise KeyError(name)

    def set_metadata(self, keys: list[str], value: Any) -> None:
        self.metadata_cleared = value is None


def test_stopping_after_a_worker_restarted_without_the_plugin_ends_cleanly(
    tmp_path: Path,
) -> None:
    _need_dask()
    from xmlload.db.urls import SecretURL
    from xmlload.parallel.dask_executor import DaskExecutor
    from xmlload.parallel.worker import WorkerConfig
    from xmlload.sources.files import FileSourceConfig

    config = WorkerConfig("c.yaml", FileSourceConfig(str(tmp_path)), SecretURL("sqlite://"), "r", 1)
    executor = DaskExecutor(config, 2, "tcp://127.0.0.1:1")
    client = executor.client = _ClientAfterARestart()
    executor.stop_workers()  # before: KeyError, the run ended with a traceback (exit 1)
    assert client.metadata_cleared


def _loaded_libraries() -> str:
    return Path("/proc/self/maps").read_text()


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs Linux's /proc")
@pytest.mark.filterwarnings("ignore:Port 8787 is already in use")  # another test's cluster
def test_a_local_clusters_workers_allocate_as_the_pools_do(tmp_path: Path) -> None:
    """The local cluster's workers start with the pool's workers' allocator: mimalloc where
    it is installed, else glibc's malloc without fast bins."""
    _need_dask()
    from xmlload.db.urls import SecretURL
    from xmlload.parallel.allocator import worker_environment
    from xmlload.parallel.dask_executor import DaskExecutor
    from xmlload.parallel.worker import WorkerConfig
    from xmlload.sources.files import FileSourceConfig

    expected = worker_environment()
    config = WorkerConfig("c.yaml", FileSourceConfig(str(tmp_path)), SecretURL("sqlite://"), "r", 1)
    executor = DaskExecutor(config, 1, None)
    try:
        executor.start()
        assert executor.client is not None
        seen = executor.client.run(lambda: {n: os.environ.get(n) for n in expected})
        loaded = executor.client.run(_loaded_libraries)
    finally:
        executor.shutdown()
    assert list(seen.values()) == [expected]
    if "LD_PRELOAD" in expected:
        assert all(expected["LD_PRELOAD"] in maps for maps in loaded.values())
