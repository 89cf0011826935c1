"""Fault injection under load: real runs of generated documents (with bad ones mixed in)
into PostgreSQL with 2 workers, while workers are SIGKILLed, database connections are
terminated, or the coordinator is stopped and resumed. Afterwards an independent check
(`xmlload verify` logic: every document mapped again in one process) proves, per document,
that it is exactly one of: success with exactly its rows, failed with none, not attempted."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
import sqlalchemy as sa

from tests.conftest import POSTGRES_URL, contract_with
from tests.helpers import cli_command, query
from xmlload.contract.loader import load_plan
from xmlload.db.urls import parse_url
from xmlload.generate import DocumentGenerator, write_table
from xmlload.sources import TableSourceConfig, open_source
from xmlload.verify import Verifier

DOCUMENTS = 1500


@pytest.fixture
def load_setup(
    postgres_engine: sa.Engine, postgres_schema: str, tmp_path: Path
) -> Iterator[tuple[str, list[str]]]:
    """A PostgreSQL source table of generated documents (5% bad) and the run command."""
    table = f"{postgres_schema}_src"
    write_table(
        DocumentGenerator(seed=99, median_kb=8, bad_ratio=0.05), DOCUMENTS, 1, POSTGRES_URL, table
    )
    contract = str(contract_with(tmp_path, target_schema=postgres_schema))
    command = cli_command(
        "run",
        "--contract",
        contract,
        "--source",
        POSTGRES_URL,
        "--source-table",
        table,
        "--target",
        POSTGRES_URL,
        "--create-tables",
        "--workers",
        "2",
        "--chunk-size",
        "20",
        "--progress",
        "none",
    )
    yield contract, command
    with postgres_engine.begin() as connection:
        connection.execute(sa.text(f'DROP TABLE IF EXISTS "{table}"'))


def logged(schema: str) -> int:
    try:
        return query(POSTGRES_URL, f"SELECT count(*) FROM {schema}.processing_log")[0][0]
    except sa.exc.ProgrammingError:
        return 0  # the table does not exist yet


def run_with_fault(
    command: list[str], schema: str, fault: Callable[[subprocess.Popen], None], at: tuple[int, ...]
) -> subprocess.Popen:
    """Start a run; call `fault` once the log holds each count in `at`; wait for the end."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    for count in at:
        while logged(schema) < count and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if process.poll() is None:
            fault(process)
    process.communicate(timeout=300)
    return process


def independent_check(contract: str, schema: str) -> dict[str, int]:
    """Every source document checked; returns counts by status; asserts no difference."""
    source = open_source(TableSourceConfig(POSTGRES_URL, f"{schema}_src"))
    verifier = Verifier(load_plan(contract), parse_url(POSTGRES_URL), source, 32 * 2**20)
    try:
        items = [item for page in source.pages(5000) for item in page]
        report = verifier.verify(items)
        assert verifier.orphans() == []  # and no rows that no logged success owns
    finally:
        verifier.close()
        source.close()
    assert len(report.checks) == DOCUMENTS
    assert [(c.source_key, c.problems) for c in report.differing] == []
    counts = report.counts()
    duplicates = query(
        POSTGRES_URL, f"SELECT count(*) - count(DISTINCT app_id) FROM {schema}.app_base"
    )
    assert duplicates == [(0,)]
    return dict(counts)


def kill_a_worker(schema: str, killed: list[int]) -> None:
    """SIGKILL a live worker of the run (found by the pid in its processing-log name)."""
    workers = query(
        POSTGRES_URL,
        f"SELECT DISTINCT worker FROM {schema}.processing_log WHERE worker LIKE 'worker-%'",
    )
    for (name,) in sorted(workers, reverse=True):
        pid = int(name.removeprefix("worker-"))
        if psutil.pid_exists(pid):
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
            return


def terminate_connections(schema: str) -> None:
    """Terminate this run's own target connections only (they carry its run id), never
    another load's on the same server."""
    (run_id,) = query(POSTGRES_URL, f"SELECT min(run_id) FROM {schema}.processing_log")[0]
    terminated = query(
        POSTGRES_URL,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE application_name = :name AND pid <> pg_backend_pid()",
        name=f"xmlload {run_id}",
    )
    assert terminated, "the run's connections were not found by their application name"


def test_workers_killed_under_load(load_setup, postgres_schema: str) -> None:
    contract, command = load_setup
    killed: list[int] = []
    process = run_with_fault(
        command, postgres_schema, lambda p: kill_a_worker(postgres_schema, killed), at=(200, 700)
    )
    assert process.returncode == 3  # the bad documents
    assert len(killed) == 2
    counts = independent_check(contract, postgres_schema)
    assert counts.get("not attempted", 0) == 0 and counts["success"] > DOCUMENTS * 0.9
    stages = dict(
        query(
            POSTGRES_URL,
            f"SELECT stage, count(*) FROM {postgres_schema}."
            "processing_log WHERE status = 'failed' GROUP BY stage",
        )
    )
    crashed = query(
        POSTGRES_URL,
        f"SELECT source_key, message FROM {postgres_schema}.processing_log "
        "WHERE stage = 'worker_crash'",
    )
    assert set(stages) <= {"parse", "validation", "map"}, (crashed, killed)


def test_database_connections_terminated_under_load(load_setup, postgres_schema: str) -> None:
    contract, command = load_setup
    process = run_with_fault(
        command, postgres_schema, lambda p: terminate_connections(postgres_schema),
        at=(150, 600, 1000),
    )  # fmt: skip
    assert process.returncode == 3
    counts = independent_check(contract, postgres_schema)
    assert counts.get("not attempted", 0) == 0
    assert query(
        POSTGRES_URL, f"SELECT count(*) FROM {postgres_schema}.processing_log WHERE stage = 'load'"
    ) == [(0,)]


def test_coordinator_stopped_then_resumed(load_setup, postgres_schema: str) -> None:
    contract, command = load_setup
    stop_then_resume(command, contract, postgres_schema)


def stop_then_resume(command: list[str], contract: str, postgres_schema: str) -> None:
    """SIGTERM the run after 300 documents, check nothing is half-written, run it again:
    every document exactly once."""
    process = run_with_fault(
        command, postgres_schema, lambda p: p.send_signal(signal.SIGTERM), at=(300,)
    )
    assert process.returncode == 143
    partial = independent_check(contract, postgres_schema)
    assert partial.get("not attempted", 0) > 0  # stopped part-way, nothing half-written
    resumed = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 3, resumed.stderr[-2000:]
    counts = independent_check(contract, postgres_schema)
    assert counts.get("not attempted", 0) == 0
    assert query(POSTGRES_URL, f"SELECT max(attempts) FROM {postgres_schema}.processing_log") == [
        (1,)
    ]
