"""A target that stops taking writes mid-run (gone longer than the retries, disk full)
stops the run like a signal: summary, exit 4, no document blamed, resume completes."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import CONTRACT, POSTGRES_URL
from tests.helpers import cli_command, query, table_run_args, table_source, wait_for_log
from xmlload.cli import main
from xmlload.contract.loader import load_plan
from xmlload.db.urls import parse_url
from xmlload.errors import TargetLostError
from xmlload.sources.base import SourceDocument
from xmlload.stages.migration import MigrationEngine
from xmlload.stages.pipeline import DocumentPipeline


@pytest.fixture
def own_role_database(postgres_engine: sa.Engine) -> Iterator[tuple[str, str]]:
    """A login role and a database of its own (both dropped afterwards): the test can cut
    off exactly its own connections and nobody else's."""
    suffix = uuid.uuid4().hex[:8]
    role, database = f"xl_role_{suffix}", f"xl_db_{suffix}"
    autocommit = postgres_engine.execution_options(isolation_level="AUTOCOMMIT")
    with autocommit.connect() as connection:
        connection.execute(sa.text(f'CREATE ROLE "{role}" LOGIN'))
        connection.execute(sa.text(f'CREATE DATABASE "{database}" OWNER "{role}"'))
    url = parse_url(POSTGRES_URL).set(username=role, database=database)
    yield role, url.render_as_string(hide_password=False)
    with autocommit.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        connection.execute(sa.text(f'DROP ROLE IF EXISTS "{role}"'))


def test_target_lost_mid_run_stops_with_a_summary_and_resumes(
    tmp_path: Path, postgres_engine: sa.Engine, own_role_database: tuple[str, str]
) -> None:
    role, target = own_role_database
    source = table_source(tmp_path, 1500)
    command = cli_command(
        "run", *table_run_args(source, target), "--workers", "2", "--chunk-size", "25"
    )
    fast_retries = {**os.environ, "XMLLOAD_RETRY_MAX_RETRIES": "2",
                    "XMLLOAD_RETRY_INITIAL_DELAY": "0.2"}  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=fast_retries
    )
    wait_for_log(target, 100, process)
    admin = postgres_engine.execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:  # the target goes away for this role only
        connection.execute(sa.text(f'ALTER ROLE "{role}" NOLOGIN'))
        connection.execute(
            sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :r"),
            {"r": role},
        )
    started = time.monotonic()
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 4, stderr.decode()[-3000:]
    assert time.monotonic() - started < 60
    assert "the target took no more writes" in stdout.decode()
    assert "Traceback" not in stderr.decode()
    with admin.connect() as connection:
        connection.execute(sa.text(f'ALTER ROLE "{role}" LOGIN'))
    logged = query(target, "SELECT status, stage, count(*) FROM processing_log GROUP BY 1, 2")
    assert [(status, stage) for status, stage, _ in logged] == [("success", None)]
    assert query(target, "SELECT count(*) FROM app_base") == [(logged[0][2],)]
    resumed = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert query(target, "SELECT count(*), count(DISTINCT app_id) FROM app_base") == [(1500, 1500)]
    assert query(target, "SELECT max(attempts) FROM processing_log") == [(1,)]


def test_a_full_sqlite_target_stops_the_run_instead_of_failing_documents(
    corpus_dir: Path, tmp_path: Path
) -> None:
    """SQLITE_FULL (here: the database may not grow past its current size) is the target's
    problem, not the documents': the engine raises TargetLostError and logs nothing."""
    target = f"sqlite:///{tmp_path / 't.db'}"
    first = corpus_dir / "sample--142305.xml"
    assert main(["run", "--contract", str(CONTRACT), "--source", str(first),
                 "--target", target, "--create-tables", "--progress", "none"]) == 0  # fmt: skip
    plan = load_plan(CONTRACT)
    pipeline = DocumentPipeline(plan, 64 << 20)
    outcomes = [
        pipeline.process(SourceDocument(str(path), path.read_bytes()))
        for path in sorted(corpus_dir.glob("sample*.xml"))  # more rows than the free pages hold
    ]
    engine = MigrationEngine(plan, parse_url(target), "full-disk", "test-worker")
    try:
        pages = engine.connection.exec_driver_sql("PRAGMA page_count").scalar()
        engine.connection.exec_driver_sql(f"PRAGMA max_page_count = {pages}")
        engine.connection.commit()
        with pytest.raises(TargetLostError, match="cannot take writes"):
            engine.write_chunk(outcomes)
    finally:
        engine.close()
    assert query(target, "SELECT count(*), min(status) FROM processing_log") == [(1, "success")]


def test_waiting_on_a_lock_is_not_a_document_timeout(
    tmp_path: Path, postgres_engine: sa.Engine, postgres_schema: str
) -> None:
    """A target table locked by another connection for longer than the coordinator's hang
    limit (doc-timeout 1 s: 3 s of silence): the workers wait, keep their heartbeat, and
    every document loads once the lock is gone; none is charged a timeout."""
    from tests.conftest import contract_with

    source = table_source(tmp_path, 400)
    contract = contract_with(tmp_path, target_schema=postgres_schema)
    command = cli_command(
        "run", *table_run_args(source, POSTGRES_URL, contract), "--workers", "2",
        "--chunk-size", "25", "--doc-timeout", "1",
    )  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    log = f"{postgres_schema}.processing_log"
    wait_for_log(POSTGRES_URL, 50, process, log)
    with postgres_engine.connect() as connection, connection.begin():
        connection.execute(
            sa.text(f"LOCK TABLE {postgres_schema}.app_base IN ACCESS EXCLUSIVE MODE")
        )
        time.sleep(8)  # writers block on the lock, well past the 3 s hang limit
    _, stderr = process.communicate(timeout=180)
    assert process.returncode == 0, stderr.decode()[-3000:]
    assert query(POSTGRES_URL, f"SELECT status, stage, count(*) FROM {log} GROUP BY 1, 2") == [
        ("success", None, 400)
    ]
    assert query(POSTGRES_URL, f"SELECT max(attempts) FROM {log}") == [(1,)]
    # no worker was taken for hung and replaced: only the (at most) two that started wrote
    assert query(POSTGRES_URL, f"SELECT count(DISTINCT worker) <= 2 FROM {log}") == [(True,)]


def test_the_coordinator_keeps_reporting_while_the_log_is_locked(
    tmp_path: Path, postgres_engine: sa.Engine, postgres_schema: str
) -> None:
    """The processing log locked by another connection: listing work (resume look-ups)
    waits, and so do the workers' writes, but the coordinator's loop goes on — progress
    lines keep coming — and everything loads once the lock is gone."""
    import threading

    from tests.conftest import contract_with

    source = table_source(tmp_path, 600)
    contract = contract_with(tmp_path, target_schema=postgres_schema)
    command = cli_command(
        "run", *table_run_args(source, POSTGRES_URL, contract), "--workers", "2",
        "--chunk-size", "10", "--progress", "log",
    )  # fmt: skip
    small_pages = {**os.environ, "XMLLOAD_PAGE_SIZE": "20"}  # a resume look-up per page
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=small_pages
    )
    lines: list[tuple[float, str]] = []
    assert process.stderr is not None
    reader = threading.Thread(
        target=lambda: lines.extend((time.monotonic(), line.decode()) for line in process.stderr),
        daemon=True,
    )
    reader.start()
    log = f"{postgres_schema}.processing_log"
    wait_for_log(POSTGRES_URL, 60, process, log)
    with postgres_engine.connect() as connection, connection.begin():
        connection.execute(sa.text(f"LOCK TABLE {log} IN ACCESS EXCLUSIVE MODE"))
        locked_at = time.monotonic()
        time.sleep(12)
        released_at = time.monotonic()
    process.wait(timeout=180)
    reader.join(timeout=10)
    assert process.returncode == 0, "".join(line for _, line in lines)[-3000:]
    during = [line for at, line in lines if locked_at + 1 < at < released_at]
    assert sum(" Progress: " in line for line in during) >= 2, during
    assert query(POSTGRES_URL, f"SELECT status, stage, count(*) FROM {log} GROUP BY 1, 2") == [
        ("success", None, 600)
    ]
