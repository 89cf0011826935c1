"""Two runs on one target: overlapping ones are refused with a message naming the live
run; shards and disjoint id ranges run side by side; killed runs stop counting."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from tests.conftest import CONTRACT, POSTGRES_URL, contract_with
from tests.helpers import cli_command, query, table_run_args, table_source, wait_for_log
from xmlload.cli import main
from xmlload.db.run_registry import RunScope, host_identity, utc_now


@pytest.mark.parametrize(
    ("first", "second", "overlap"),
    [
        (RunScope(), RunScope(), True),
        (RunScope((0, 2)), RunScope((1, 2)), False),
        (RunScope((0, 2)), RunScope((0, 2)), True),
        (RunScope((0, 2)), RunScope(), True),
        (RunScope((0, 2)), RunScope((1, 3)), True),  # different splits share documents
        (RunScope(None, 1, 100), RunScope(None, 101, 200), False),
        (RunScope(None, 1, 100), RunScope(None, 100, 200), True),
        (RunScope(None, None, 50), RunScope(None, 40, None), True),
        (RunScope((0, 2), 1, 10), RunScope((1, 2), 1, 10), False),
    ],
)
def test_scopes_overlap(first: RunScope, second: RunScope, overlap: bool) -> None:
    assert first.overlaps(second) is overlap and second.overlaps(first) is overlap
    assert RunScope.parse(first.encode()) == first


def slow_contract(tmp_path: Path, **changes: object) -> Path:
    data = yaml.safe_load(CONTRACT.read_text(encoding="utf-8"))
    data.update(changes)
    data["extensions"] = ["tests.extensions.slow"]  # 30 ms a document
    data["tables"]["app_base"]["columns"]["nap"] = {"type": "integer", "expr": "SLEEP(0.03)"}
    path = tmp_path / "slow.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def test_a_second_run_on_the_same_target_is_refused(tmp_path: Path, capsys) -> None:
    source, target = table_source(tmp_path, 200), f"sqlite:///{tmp_path / 't.db'}"
    command = cli_command("run", *table_run_args(source, target, slow_contract(tmp_path)))
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for_log(target, 10, first)
    (run_id,) = query(target, "SELECT run_id FROM processing_runs")[0]
    capsys.readouterr()
    assert main(["run", *table_run_args(source, target)]) == 2
    error = capsys.readouterr().err
    assert f"another run is loading this target: run {run_id} (all shards)" in error
    assert "--shard K/N" in error
    _, stderr = first.communicate(timeout=120)
    assert first.returncode == 0, stderr.decode()[-2000:]
    assert query(target, "SELECT count(*), count(DISTINCT app_id) FROM app_base") == [(200, 200)]
    assert query(target, "SELECT count(*) FROM processing_runs") == [(0,)]  # released


def test_shards_run_side_by_side_and_tables_are_created_once(
    tmp_path: Path, postgres_engine, postgres_schema: str
) -> None:
    """Two shards started at the same moment, both with --create-tables, on a fresh
    PostgreSQL schema: no collision creating tables, no overlap, everything once."""
    source = table_source(tmp_path, 200)
    contract = slow_contract(tmp_path, target_schema=postgres_schema)
    runs = [
        subprocess.Popen(
            cli_command("run", *table_run_args(source, POSTGRES_URL, contract), "--shard", shard),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for shard in ("0/2", "1/2")
    ]
    for run in runs:
        _, stderr = run.communicate(timeout=180)
        assert run.returncode == 0, stderr.decode()[-2000:]
    table = f"{postgres_schema}.app_base"
    assert query(POSTGRES_URL, f"SELECT count(*), count(DISTINCT app_id) FROM {table}") == [
        (200, 200)
    ]
    workers = query(
        POSTGRES_URL, f"SELECT count(DISTINCT run_id) FROM {postgres_schema}.processing_log"
    )
    assert workers == [(2,)]


def test_a_killed_runs_row_stops_counting(tmp_path: Path) -> None:
    source, target = table_source(tmp_path, 20), f"sqlite:///{tmp_path / 't.db'}"
    assert main(["run", *table_run_args(source, target), "--limit", "5"]) == 0
    long_ago = utc_now() - timedelta(hours=1)
    with sqlite3.connect(tmp_path / "t.db") as connection:
        insert = "INSERT INTO processing_runs VALUES (?, '|', ?, ?, ?, ?)"
        connection.execute(insert, ("gone-run", "elsewhere", 1, long_ago, long_ago))
        now = utc_now()
        connection.execute(insert, ("dead-here", host_identity(), 999_999_999, now, now))
    assert main(["run", *table_run_args(source, target)]) == 0
    assert query(target, "SELECT count(*) FROM app_base") == [(20,)]
    assert query(target, "SELECT count(*) FROM processing_runs") == [(0,)]


def test_an_older_target_gets_the_registry_table(tmp_path: Path) -> None:
    """Targets created before the registry existed: the run adds its table."""
    source, target = table_source(tmp_path, 5), f"sqlite:///{tmp_path / 't.db'}"
    assert main(["run", *table_run_args(source, target), "--limit", "2"]) == 0
    with sqlite3.connect(tmp_path / "t.db") as connection:
        connection.execute("DROP TABLE processing_runs")
    assert main(["run", "--contract", str(contract_with(tmp_path)), "--source", source,
                 "--source-table", "docs", "--target", target]) == 0  # fmt: skip
    assert query(target, "SELECT count(*) FROM app_base") == [(5,)]


def test_a_coordinator_in_another_time_zone_is_refused(tmp_path: Path) -> None:
    source, target = table_source(tmp_path, 200), f"sqlite:///{tmp_path / 't.db'}"
    command = cli_command("run", *table_run_args(source, target, slow_contract(tmp_path)))
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env={**os.environ, "TZ": "America/Los_Angeles"})  # fmt: skip
    wait_for_log(target, 10, first)
    second = subprocess.run(cli_command("run", *table_run_args(source, target)),
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, "TZ": "Asia/Tokyo"})  # fmt: skip
    assert second.returncode == 2, second.stderr[-2000:]
    assert "another run is loading this target" in second.stderr
    _, stderr = first.communicate(timeout=120)
    assert first.returncode == 0, stderr.decode()[-2000:]
    assert query(target, "SELECT count(*), max(attempts) FROM processing_log") == [(200, 1)]


def test_a_live_run_on_this_host_name_in_another_pid_namespace_counts(tmp_path: Path) -> None:
    source, target = table_source(tmp_path, 5), f"sqlite:///{tmp_path / 't.db'}"
    assert main(["run", *table_run_args(source, target), "--limit", "1"]) == 0
    elsewhere = f"{socket.gethostname()} (pid [1])"  # a container with the same host name
    assert elsewhere != host_identity()
    with sqlite3.connect(tmp_path / "t.db") as connection:
        now = utc_now()
        connection.execute("INSERT INTO processing_runs VALUES (?, '||', ?, ?, ?, ?)",
                           ("in-a-container", elsewhere, 999_999_999, now, now))  # fmt: skip
    assert main(["run", *table_run_args(source, target)]) == 2
    assert query(target, "SELECT count(*) FROM processing_log") == [(1,)]


def test_a_run_whose_registration_is_deleted_stops(tmp_path: Path) -> None:
    source, target = table_source(tmp_path, 400), f"sqlite:///{tmp_path / 't.db'}"
    command = cli_command("run", *table_run_args(source, target, slow_contract(tmp_path)))
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_log(target, 10, first)
    with sqlite3.connect(tmp_path / "t.db") as connection:
        connection.execute("DELETE FROM processing_runs")
    stdout, stderr = first.communicate(timeout=120)
    assert first.returncode == 4, stderr[-2000:]
    assert "registration in processing_runs vanished" in stdout
    (logged,) = query(target, "SELECT count(*) FROM processing_log")[0]
    assert logged < 400
