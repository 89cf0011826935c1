"""The parallel coordinator with real processes: per-document timeouts, hung and killed
workers, shards, 1 vs 2 workers on PostgreSQL, the JSON report and progress lines."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import sqlalchemy as sa
import yaml

from tests.conftest import CONTRACT, NAPPING_FILES, POSTGRES_URL, contract_with
from tests.helpers import (
    cli_command,
    copy_corpus_files,
    query,
    row_id,
    run_args,
    table_contents,
    table_run_args,
    table_source,
    wait_for_log,
)
from xmlload.cli import main
from xmlload.parallel.allocator import workers_allocator
from xmlload.parallel.board import BoardSnapshot, ProgressBoard, Totals
from xmlload.parallel.executor import hang_limit
from xmlload.parallel.pool_executor import PoolExecutor
from xmlload.parallel.progress import progress_line
from xmlload.processor import ProductionProcessor
from xmlload.settings import load_settings
from xmlload.summary import RunSummary


def slow_contract(tmp_path: Path, function: str) -> Path:
    """The example contract plus a column that calls `function(/Provenir/@nap)`."""
    data = yaml.safe_load(CONTRACT.read_text(encoding="utf-8"))
    data["extensions"] = ["tests.extensions.slow"]
    data["tables"]["app_base"]["columns"]["nap"] = {
        "type": "integer",
        "expr": f"{function}(s)",
        "inputs": {"s": "/Provenir/@nap"},
    }
    path = tmp_path / f"{function.lower()}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def run_slow(tmp_path: Path, function: str, folder: Path, *extra: str) -> tuple[int, str]:
    """Load folder with 2 workers and the `function` contract; (exit code, target URL)."""
    target = f"sqlite:///{tmp_path / 't.db'}"
    contract = str(slow_contract(tmp_path, function))
    code = main(
        [
            "run",
            *run_args(str(folder), target, contract),
            "--workers",
            "2",
            *extra,
        ]
    )
    return code, target


def log_by_name(target: str) -> dict[str, tuple]:
    rows = query(target, "SELECT source_key, status, stage, attempts FROM processing_log")
    return {Path(key).name: (status, stage, attempts) for key, status, stage, attempts in rows}


def test_a_slow_document_times_out_alone(napping_dir: Path, tmp_path: Path) -> None:
    started = time.monotonic()
    code, target = run_slow(
        tmp_path, "SLEEP", napping_dir, "--doc-timeout", "1", "--chunk-size", "2"
    )
    assert code == 3 and time.monotonic() - started < 60  # the nap alone is 120 s
    log = log_by_name(target)
    assert log.pop("sample--127582.xml") == ("failed", "timeout", 1)
    assert set(log.values()) == {("success", None, 1)}
    assert query(target, "SELECT count(*) FROM app_base") == [(4,)]
    message = query(target, "SELECT message FROM processing_log WHERE status = 'failed'")
    assert message == [("document took longer than 1 s (doc_timeout)",)]


def test_a_hung_worker_is_killed_retried_once_then_the_document_fails(
    napping_dir: Path, tmp_path: Path
) -> None:
    code, target = run_slow(
        tmp_path, "HANG", napping_dir, "--doc-timeout", "1", "--chunk-size", "3"
    )
    assert code == 3
    log = log_by_name(target)
    status, stage, _ = log.pop("sample--127582.xml")
    assert (status, stage) == ("failed", "timeout")
    # the lost chunk's other documents were never written: one attempt each, in retries
    assert set(log.values()) == {("success", None, 1)} and len(log) == 4
    assert query(target, "SELECT count(*), count(DISTINCT app_id) FROM app_base") == [(4, 4)]
    message = query(target, "SELECT message, worker FROM processing_log WHERE status = 'failed'")
    assert "stopped responding twice" in message[0][0] and message[0][1] == "coordinator"


def test_a_document_that_kills_its_worker_twice_is_logged_worker_crash(
    napping_dir: Path, tmp_path: Path
) -> None:
    code, target = run_slow(tmp_path, "CRASH", napping_dir, "--chunk-size", "2")
    assert code == 3
    log = log_by_name(target)
    assert log.pop("sample--127582.xml")[:2] == ("failed", "worker_crash")
    assert {status for status, _, _ in log.values()} == {"success"} and len(log) == 4
    assert query(target, "SELECT count(*), count(DISTINCT app_id) FROM app_base") == [(4, 4)]


def test_hang_limit_leaves_room_for_the_worker_deadline() -> None:
    assert hang_limit(300) == 375
    assert hang_limit(1) == 3
    assert hang_limit(0) == float("inf")


def test_sigkill_of_a_worker_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    source, target = table_source(tmp_path, 1200), f"sqlite:///{tmp_path / 't.db'}"
    command = cli_command(
        "run", *table_run_args(source, target), "--workers", "2", "--chunk-size", "10"
    )
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for_log(target, 50, process)
    (worker,) = query(target, "SELECT worker FROM processing_log LIMIT 1")[0]
    os.kill(int(worker.removeprefix("worker-")), signal.SIGKILL)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr.decode()[-2000:]
    expected = [(1200, 1200, 1200)]
    assert (
        query(
            target,
            "SELECT count(*), count(DISTINCT source_key), "
            "sum(CASE WHEN status = 'success' THEN 1 ELSE 0 END) FROM processing_log",
        )
        == expected
    )
    assert (
        query(
            target, "SELECT count(*), count(DISTINCT app_id), count(DISTINCT app_id) FROM app_base"
        )
        == expected
    )
    resumed = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0 and "1,200 skipped" in resumed.stdout
    assert query(target, "SELECT count(*) FROM app_base") == [(1200,)]


def test_second_signal_terminates_workers_without_half_writes(tmp_path: Path) -> None:
    source, target = table_source(tmp_path, 1500), f"sqlite:///{tmp_path / 't.db'}"
    command = cli_command(
        "run", *table_run_args(source, target), "--workers", "2", "--chunk-size", "25"
    )
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for_log(target, 30, process)
    process.send_signal(signal.SIGTERM)
    time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=60)
    assert process.returncode == 143
    successes = query(target, "SELECT count(*) FROM processing_log WHERE status = 'success'")
    assert successes == query(target, "SELECT count(*) FROM app_base")
    assert successes[0][0] < 1500
    resumed = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert query(target, "SELECT count(*), count(DISTINCT app_id) FROM app_base") == [(1500, 1500)]


def test_shards_split_the_work_without_overlap(tmp_path: Path) -> None:
    source, target = table_source(tmp_path, 90), f"sqlite:///{tmp_path / 't.db'}"
    for shard in ("0/2", "1/2"):
        assert (
            main(
                [
                    "run",
                    "--contract",
                    str(CONTRACT),
                    "--source",
                    source,
                    "--source-table",
                    "docs",
                    "--target",
                    target,
                    "--create-tables",
                    "--shard",
                    shard,
                ]
            )
            == 0
        )
    keys = [row_id(k) for (k,) in query(target, "SELECT source_key FROM processing_log")]
    assert sorted(keys) == list(range(1, 91))
    assert query(target, "SELECT min(attempts), max(attempts) FROM processing_log") == [(1, 1)]


def test_two_workers_equal_one_on_postgresql(
    corpus_dir: Path, postgres_engine: sa.Engine, tmp_path: Path
) -> None:
    contents = []
    schemas = [f"xl_test_w{workers}_{os.getpid()}" for workers in (1, 2)]
    try:
        for workers, schema in zip((1, 2), schemas, strict=True):
            folder = tmp_path / str(workers)
            folder.mkdir()
            contract = str(contract_with(folder, target_schema=schema))
            assert (
                main(
                    [
                        "run",
                        *run_args(str(corpus_dir), POSTGRES_URL, contract),
                        "--workers",
                        str(workers),
                        "--chunk-size",
                        "4",
                    ]
                )
                == 3
            )
            contents.append(table_contents(POSTGRES_URL, contract))
        assert contents[0] == contents[1] and len(contents[0]["app_base"]) == 81
    finally:
        with postgres_engine.begin() as connection:
            for schema in schemas:
                connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


def test_report_file(corpus_dir: Path, tmp_path: Path) -> None:
    folder = copy_corpus_files(corpus_dir, tmp_path / "xml", NAPPING_FILES)
    report = tmp_path / "report.json"
    target = f"sqlite:///{tmp_path / 't.db'}"
    assert (
        main(
            [
                "run",
                *run_args(str(folder), target, str(CONTRACT)),
                "--workers",
                "2",
                "--report",
                str(report),
            ]
        )
        == 0
    )
    data = json.loads(report.read_text())
    assert data["documents"]["succeeded"] == 5 and data["documents"]["failed"] == 0
    assert data["rows_by_table"]["app_base"] == 5
    assert data["docs_per_minute"] > 0 and data["mb_per_second_parsed"] > 0
    assert 0 < data["parallel_efficiency"] <= 1
    assert {"validate+parse", "map", "load"} <= set(data["stage_seconds"])
    assert data["peak_rss_mb"]["coordinator"] > 10
    assert len([k for k in data["peak_rss_mb"] if k.startswith("worker-")]) >= 1
    assert data["settings"]["workers"] == 2
    assert data["worker_allocator"] == workers_allocator()  # mimalloc where it is installed


def test_progress_line_format() -> None:
    totals = Totals(5000, 1250, 1248, 2, started_at=time.time() - 405)
    line = progress_line(BoardSnapshot(totals, {}))
    assert line.startswith("Progress: 1,250/5,000 (25.0%) - Rate: ")
    assert " docs/min - ETA: " in line and line.endswith("min - Success: 1,248, Failed: 2")
    rate = float(line.split("Rate: ")[1].split(" docs/min")[0].replace(",", ""))
    assert 180 < rate < 190
    records = progress_line(BoardSnapshot(Totals(0, 1250, 1248, 2, time.time() - 405), {}))
    assert records.startswith("Progress: 1,250/? - Rate: ")  # a total not known ahead
    assert " - ETA: unknown - Success: 1,248, Failed: 2" in records


def test_workers_over_the_memory_limit_are_replaced_between_chunks(tmp_path: Path) -> None:
    source, target = table_source(tmp_path, 60, median_kb=5), f"sqlite:///{tmp_path / 't.db'}"
    report = tmp_path / "report.json"
    # 1 MB: every worker is over it after its first chunk, so each does one chunk and goes
    assert (
        main(
            [
                "run",
                *table_run_args(source, target),
                "--workers",
                "2",
                "--chunk-size",
                "10",
                "--max-worker-memory",
                "1",
                "--report",
                str(report),
            ]
        )
        == 0
    )
    assert json.loads(report.read_text())["workers_recycled"] >= 3
    assert query(
        target, "SELECT count(*), count(DISTINCT source_key), max(attempts) FROM processing_log"
    ) == [(60, 60, 1)]
    workers = query(target, "SELECT count(DISTINCT worker) FROM processing_log")[0][0]
    assert workers >= 5  # six chunks, each in a fresh worker
    assert query(target, "SELECT count(*) FROM app_base") == [(60,)]


def test_workers_that_cannot_start_stop_the_run_once(corpus_dir: Path, tmp_path: Path) -> None:
    """When no worker's pipeline can be built (here: an extension that fails in worker
    processes only, as a connection refused after the coordinator's checks) the run stops
    with exit 2 and the error once; failing workers are not started again forever."""
    data = yaml.safe_load(CONTRACT.read_text(encoding="utf-8"))
    data["extensions"] = ["tests.extensions.worker_cannot_start"]
    contract = tmp_path / "contract.yaml"
    contract.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    target = f"sqlite:///{tmp_path / 't.db'}"
    started = time.monotonic()
    done = subprocess.run(
        cli_command("run", *run_args(str(corpus_dir), target, contract), "--workers", "2"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert time.monotonic() - started < 60
    assert done.stderr.count("could not start") == 1, done.stderr[-2000:]
    assert "simulated: this worker cannot reach its database" in done.stderr
    assert "Traceback" not in done.stderr
    assert query(target, "SELECT count(*) FROM processing_log") == [(0,)]


def test_workers_that_exit_while_starting_end_the_run_once(
    corpus_dir: Path, tmp_path: Path
) -> None:
    """Every worker process exits before it is ready. Before, the pool started new ones
    forever and the run showed 0 documents until killed; now it ends with exit 2 and one
    error naming the exit code."""
    data = yaml.safe_load(CONTRACT.read_text(encoding="utf-8"))
    data["extensions"] = ["tests.extensions.worker_exits_at_start"]
    contract = tmp_path / "contract.yaml"
    contract.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    target = f"sqlite:///{tmp_path / 't.db'}"
    done = subprocess.run(
        cli_command("run", *run_args(str(corpus_dir), target, contract), "--workers", "2"),
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert "worker processes in a row exited before they were ready" in done.stderr
    assert "exit code 7" in done.stderr
    assert query(target, "SELECT count(*) FROM processing_log") == [(0,)]


def test_one_worker_that_cannot_start_leaves_the_others_loading(tmp_path: Path) -> None:
    """One of two workers cannot connect: the other loads everything, exactly once; the
    run says so once and ends non-zero (3), not as a lost target (4)."""
    source, target = table_source(tmp_path, 60), f"sqlite:///{tmp_path / 't.db'}"
    data = yaml.safe_load(CONTRACT.read_text(encoding="utf-8"))
    data["extensions"] = ["tests.extensions.one_worker_cannot_start"]
    contract = tmp_path / "contract.yaml"
    contract.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    env = {**os.environ, "XMLLOAD_TEST_ONE_WORKER_FAILS": str(tmp_path / "first")}
    done = subprocess.run(
        cli_command("run", *table_run_args(source, target, contract), "--workers", "2",
                    "--chunk-size", "5", "--progress", "none"),
        capture_output=True, text=True, timeout=180, env=env,
    )  # fmt: skip
    assert done.returncode == 3, done.stdout[-2000:] + done.stderr[-2000:]
    assert "1 of the workers could not start" in done.stdout
    assert "too many connections for this worker" in done.stdout
    assert "took no more writes" not in done.stdout
    assert query(
        target, "SELECT count(*), count(DISTINCT source_key), max(attempts) FROM processing_log"
    ) == [(60, 60, 1)]
    assert query(target, "SELECT count(*) FROM processing_log WHERE status = 'failed'") == [(0,)]


def test_a_stop_while_retries_are_queued_does_not_wait_for_them(tmp_path: Path) -> None:
    """SIGKILL a worker (its chunk becomes one-document retries), then SIGTERM: the run
    stops without running the retries (they are not logged, so the next run does them)."""
    source, target = table_source(tmp_path, 300), f"sqlite:///{tmp_path / 't.db'}"
    data = yaml.safe_load(CONTRACT.read_text(encoding="utf-8"))
    data["extensions"] = ["tests.extensions.slow"]  # 40 ms a document: chunks take a second
    data["tables"]["app_base"]["columns"]["nap"] = {"type": "integer", "expr": "SLEEP(0.04)"}
    contract = tmp_path / "slow.yaml"
    contract.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    command = cli_command(
        "run", *table_run_args(source, target, contract), "--workers", "2", "--chunk-size", "25"
    )
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for_log(target, 25, process)
    (worker,) = query(target, "SELECT worker FROM processing_log LIMIT 1")[0]
    os.kill(int(worker.removeprefix("worker-")), signal.SIGKILL)
    time.sleep(1.0)  # the worker's exit turns its lost chunk into retries
    process.send_signal(signal.SIGTERM)
    started = time.monotonic()
    try:
        _, stderr = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        raise AssertionError("the stopped run did not exit within 60 s") from None
    assert process.returncode == 143, stderr.decode()[-2000:]
    assert time.monotonic() - started < 60
    resumed = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert query(target, "SELECT count(*), count(DISTINCT app_id) FROM app_base") == [(300, 300)]
    assert query(target, "SELECT count(*) FROM processing_log WHERE status = 'success'") == [(300,)]


class _IdleWorkersKilled(PoolExecutor):
    """Kills every worker once it is up and waiting for work, before any is handed out."""

    def launch(self, board: ProgressBoard) -> None:
        super().launch(board)
        deadline = time.monotonic() + 60
        while len(board.snapshot().workers) < self.workers:
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.05)
        time.sleep(0.2)  # each is now waiting for its first chunk
        for entry in board.snapshot().workers.values():
            os.kill(entry.pid, signal.SIGKILL)


def test_workers_killed_while_waiting_for_work_lose_nothing(
    corpus_dir: Path, tmp_path: Path
) -> None:
    """Before, a worker killed while it waited for work kept the pool's task lock: the
    workers that replaced it never got a chunk, and the run never ended."""
    folder = copy_corpus_files(corpus_dir, tmp_path / "xml", NAPPING_FILES)
    target = f"sqlite:///{tmp_path / 't.db'}"
    flags = {"contract": CONTRACT, "source": str(folder), "target": target, "workers": 2,
             "chunk_size": 2, "create_tables": True, "progress": "none"}  # fmt: skip
    processor = ProductionProcessor(load_settings(flags))
    processor.executor_class = _IdleWorkersKilled
    summaries: list[RunSummary] = []
    run = threading.Thread(
        target=lambda: summaries.append(processor.run(handle_signals=False)), daemon=True
    )
    run.start()
    run.join(120)
    assert not run.is_alive(), "the run did not end within 120 s"
    (summary,) = summaries
    assert (summary.documents, summary.succeeded) == (len(NAPPING_FILES), len(NAPPING_FILES))
    assert query(target, "SELECT count(*), count(DISTINCT app_id) FROM app_base") == [
        (len(NAPPING_FILES), len(NAPPING_FILES))
    ]
    assert query(target, "SELECT max(attempts) FROM processing_log") == [(1,)]
