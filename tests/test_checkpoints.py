"""`--source-updated-column`: a table source read from its checkpoint on, the checkpoint
saved only after a run that processed every row it listed (a SIGTERM mid-run never skips a
row), a look-back window for rows committed late with an older value."""

from __future__ import annotations

import signal
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from tests.conftest import CONTRACT, POSTGRES_URL, contract_with
from tests.helpers import cli_command, query, wait_for_log
from xmlload.cli import main
from xmlload.generate import DocumentGenerator

START = datetime(2026, 1, 1)


def staging(url: str, table: str, count: int, timestamp_type: str = "TIMESTAMP") -> None:
    generator = DocumentGenerator(seed=4, median_kb=4)
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql(
            f"CREATE TABLE {table} (id BIGINT PRIMARY KEY, xml TEXT, updated {timestamp_type})"
        )
        for row in range(1, count + 1):
            connection.execute(
                sa.text(f"INSERT INTO {table} VALUES (:id, :xml, :updated)"),
                {"id": row, "xml": generator.document(row).xml.decode(),
                 "updated": START + timedelta(seconds=row)},
            )  # fmt: skip
    engine.dispose()


def touch(url: str, table: str, row: int, when: datetime, document: int | None = None) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        if document is None:
            connection.execute(sa.text(f"UPDATE {table} SET updated = :w WHERE id = :id"),
                               {"w": when, "id": row})  # fmt: skip
        else:
            xml = DocumentGenerator(seed=8, median_kb=4).document(document).xml.decode()
            connection.execute(sa.text(f"DELETE FROM {table} WHERE id = :id"), {"id": row})
            connection.execute(sa.text(f"INSERT INTO {table} VALUES (:id, :xml, :w)"),
                               {"id": row, "xml": xml, "w": when})  # fmt: skip
    engine.dispose()


def run(source: str, table: str, target: str, contract: Path, *extra: str, capsys) -> str:
    capsys.readouterr()
    assert main(["run", "--contract", str(contract), "--source", source, "--source-table",
                 table, "--target", target, "--create-tables", "--progress", "none",
                 "--source-updated-column", "updated", *extra]) == 0  # fmt: skip
    return capsys.readouterr().out


@pytest.fixture(params=["sqlite", "postgresql"])
def where(request, tmp_path: Path):
    """(source URL, table, target URL, contract) with its own tables."""
    if request.param == "sqlite":
        source = f"sqlite:///{tmp_path / 's.db'}"
        return source, "docs", f"sqlite:///{tmp_path / 't.db'}", contract_with(tmp_path)
    schema = request.getfixturevalue("postgres_schema")
    engine = request.getfixturevalue("postgres_engine")
    with engine.begin() as connection:
        connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
    return (
        POSTGRES_URL,
        f"{schema}.docs",
        POSTGRES_URL,
        contract_with(tmp_path, target_schema=schema),
    )


def test_only_rows_past_the_checkpoint_are_read(where, capsys) -> None:
    source, table, target, contract = where
    staging(source, table, 20)
    out = run(source, table, target, contract, capsys=capsys)
    assert "20 documents" in out and "checkpoint saved" in out
    touch(source, table, 3, START + timedelta(days=31), document=303)  # new content
    touch(source, table, 4, START + timedelta(days=31))  # touched, same content
    touch(source, table, 21, START + timedelta(days=32), document=321)  # a new row
    out = run(source, table, target, contract, capsys=capsys)
    assert "2 documents" in out
    assert "refresh: 1 new, 1 changed (reloaded), 1 unchanged (not parsed)" in out
    out = run(source, table, target, contract, capsys=capsys)
    assert "0 documents" in out
    prefix = contract_prefix(contract)
    assert query(target, f"SELECT count(*) FROM {prefix}app_base") == [(21,)]
    assert query(target, f"SELECT count(*) FROM {prefix}app_base WHERE app_id = 303") == [(1,)]


def contract_prefix(contract: Path) -> str:
    schema = yaml.safe_load(contract.read_text()).get("target_schema")
    return f"{schema}." if schema else ""


def test_a_row_committed_late_with_an_older_value_needs_the_lookback(
    tmp_path: Path, capsys
) -> None:
    source, target = f"sqlite:///{tmp_path / 's.db'}", f"sqlite:///{tmp_path / 't.db'}"
    contract = contract_with(tmp_path)
    staging(source, "docs", 10)
    run(source, "docs", target, contract, capsys=capsys)
    touch(source, "docs", 11, START + timedelta(seconds=5), document=311)  # older than 10
    assert "0 documents" in run(source, "docs", target, contract, capsys=capsys)
    out = run(source, "docs", target, contract, "--checkpoint-lookback", "3600", capsys=capsys)
    assert "1 documents" in out and "refresh: 1 new, 0 changed" in out


def saved_checkpoints(url: str) -> int:
    """Checkpoints saved in the target (the table is made at the first save)."""
    engine = sa.create_engine(url)
    try:
        if not sa.inspect(engine).has_table("processing_checkpoints"):
            return 0
    finally:
        engine.dispose()
    return query(url, "SELECT count(*) FROM processing_checkpoints")[0][0]


def test_a_stopped_run_never_advances_the_checkpoint(tmp_path: Path) -> None:
    source, target = f"sqlite:///{tmp_path / 's.db'}", f"sqlite:///{tmp_path / 't.db'}"
    staging(source, "docs", 200)
    data = yaml.safe_load(CONTRACT.read_text(encoding="utf-8"))
    data["extensions"] = ["tests.extensions.slow"]  # 30 ms a document
    data["tables"]["app_base"]["columns"]["nap"] = {"type": "integer", "expr": "SLEEP(0.03)"}
    slow = tmp_path / "slow.yaml"
    slow.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    command = cli_command("run", "--contract", str(slow), "--source", source, "--source-table",
                          "docs", "--target", target, "--create-tables", "--progress", "none",
                          "--source-updated-column", "updated")  # fmt: skip
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for_log(target, 20, first)
    first.send_signal(signal.SIGTERM)
    first.communicate(timeout=120)
    assert first.returncode == 143
    assert saved_checkpoints(target) == 0
    (logged,) = query(target, "SELECT count(*) FROM processing_log")[0]
    assert logged < 200
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert query(target, "SELECT count(*), max(attempts) FROM processing_log") == [(200, 1)]
    assert saved_checkpoints(target) == 1


def test_a_first_checkpointed_run_into_a_new_schema(
    tmp_path: Path, postgres_engine: sa.Engine, postgres_schema: str, capsys
) -> None:
    """The target's schema does not exist yet: --create-tables makes it, then the run
    saves its checkpoint there."""
    target_schema = f"{postgres_schema}_t"
    with postgres_engine.begin() as connection:
        connection.exec_driver_sql(f"CREATE SCHEMA {postgres_schema}")
    try:
        staging(POSTGRES_URL, f"{postgres_schema}.docs", 5)
        contract = contract_with(tmp_path, target_schema=target_schema)
        out = run(POSTGRES_URL, f"{postgres_schema}.docs", POSTGRES_URL, contract, capsys=capsys)
        assert "5 documents" in out and "checkpoint saved" in out
        saved = f"SELECT count(*) FROM {target_schema}.processing_checkpoints"
        assert query(POSTGRES_URL, saved) == [(1,)]
    finally:
        with postgres_engine.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{target_schema}" CASCADE')
