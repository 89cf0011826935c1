"""`--source-updated-column`: a table source read from its checkpoint on, the checkpoint
saved only after a run that processed every row it listed (a SIGTERM or a SIGKILL mid-run
never skips a row), several rows of one id loaded as versions in order, a look-back window
for rows committed late with an older value."""

from __future__ import annotations

import signal
import subprocess
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from tests.conftest import CONTRACT, POSTGRES_URL, contract_with
from tests.helpers import cli_command, query, wait_for_log
from xmlload.cli import main
from xmlload.generate import DocumentGenerator
from xmlload.parallel.processes import PARENT_CHECK_EVERY

START = datetime(2026, 1, 1)


def staging(
    url: str, table: str, count: int, timestamp_type: str = "TIMESTAMP", key: str = "PRIMARY KEY"
) -> None:
    generator = DocumentGenerator(seed=4, median_kb=4)
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql(
            f"CREATE TABLE {table} (id BIGINT {key}, xml TEXT, updated {timestamp_type})"
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


def add_version(url: str, table: str, row: int, when: datetime, document: int) -> None:
    """Another row for this id (the table has no primary key): a later version."""
    xml = DocumentGenerator(seed=8, median_kb=4).document(document).xml.decode()
    engine = sa.create_engine(url)
    with engine.begin() as connection:
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


def change_content(url: str, table: str, rows: range, when: datetime) -> None:
    """New bytes for these rows, the same document ids (another generator seed)."""
    generator = DocumentGenerator(seed=8, median_kb=4)
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        for row in rows:
            connection.execute(
                sa.text(f"UPDATE {table} SET xml = :xml, updated = :w WHERE id = :id"),
                {"xml": generator.document(row).xml.decode(), "w": when, "id": row},
            )
    engine.dispose()


def versions_per_document(url: str, prefix: str = "") -> dict[int, tuple[int, int]]:
    """An independent count: per app_id, (versions, current versions) in app_base."""
    rows = query(url, "SELECT app_id, count(*), sum(CASE WHEN valid_to IS NULL THEN 1 ELSE 0 "
                      f"END) FROM {prefix}app_base GROUP BY app_id")  # fmt: skip
    return {app_id: (versions, current) for app_id, versions, current in rows}


def checkpoint_value(url: str) -> str:
    return query(url, "SELECT value FROM processing_checkpoints")[0][0]


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_stopped_refresh_never_advances_the_checkpoint(tmp_path: Path, stop: int) -> None:
    """100 documents loaded (history: keep), 50 changed; the refresh is stopped mid-run
    (SIGTERM, or SIGKILL of the coordinator alone): no document is left with no current
    version or two, the checkpoint stays, and the next run completes the 50."""
    source, target = f"sqlite:///{tmp_path / 's.db'}", f"sqlite:///{tmp_path / 't.db'}"
    staging(source, "docs", 100)
    data = yaml.safe_load(CONTRACT.read_text(encoding="utf-8"))
    data["history"] = "keep"
    data["extensions"] = ["tests.extensions.slow"]  # 60 ms a document
    data["tables"]["app_base"]["columns"]["nap"] = {"type": "integer", "expr": "SLEEP(0.06)"}
    slow = tmp_path / "slow.yaml"
    slow.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    command = cli_command("run", "--contract", str(slow), "--source", source, "--source-table",
                          "docs", "--target", target, "--create-tables", "--progress", "none",
                          "--source-updated-column", "updated", "--chunk-size", "5")  # fmt: skip
    subprocess.run(command, capture_output=True, check=True, timeout=300)
    first_checkpoint = checkpoint_value(target)
    change_content(source, "docs", range(1, 51), START + timedelta(days=40))
    refresh = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for_log(target, 10, refresh, log="app_base WHERE version = 2")
    refresh.send_signal(stop)
    refresh.communicate(timeout=120)
    assert refresh.returncode == (143 if stop == signal.SIGTERM else -signal.SIGKILL)
    time.sleep(PARENT_CHECK_EVERY * 2)  # a SIGKILLed coordinator's workers see it gone
    assert checkpoint_value(target) == first_checkpoint
    stopped = versions_per_document(target)
    assert set(stopped) == set(range(1, 101))
    assert {current for _, current in stopped.values()} == {1}
    assert 10 <= sum(versions == 2 for versions, _ in stopped.values()) < 50
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    expected = {row: (2 if row <= 50 else 1, 1) for row in range(1, 101)}
    assert versions_per_document(target) == expected
    assert checkpoint_value(target) != first_checkpoint


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


@pytest.mark.parametrize("history", ["keep", "replace"])
def test_versions_of_one_id_in_one_run_load_in_the_updated_order(
    where, history: str, tmp_path: Path, capsys
) -> None:
    """Row 2 holds three versions (documents 2, 202, 203), stored newest first: one run
    loads them in the order of the updated column, each in its own transaction."""
    source, table, target, contract = where
    prefix = contract_prefix(contract)
    contract = contract_with(tmp_path, history=history, **_schema_of(contract))
    staging(source, table, 5, key="")
    add_version(source, table, 2, START + timedelta(days=3), document=203)
    add_version(source, table, 2, START + timedelta(days=2), document=202)
    out = run(source, table, target, contract, capsys=capsys)
    assert "7 documents" in out and "refresh: 5 new, 2 changed (reloaded)" in out
    ids = f"FROM {prefix}app_base WHERE app_id IN (2, 202, 203)"
    log = f"SELECT attempts, version FROM {prefix}processing_log WHERE source_key LIKE '%#2'"
    if history == "keep":
        versions = f"SELECT app_id, version, valid_to IS NULL {ids} ORDER BY version"
        assert query(target, versions) == [(2, 1, False), (202, 2, False), (203, 3, True)]
        assert query(target, log) == [(3, 3)]
    else:
        assert query(target, f"SELECT app_id {ids}") == [(203,)]
        assert query(target, log) == [(3, None)]
    out = run(source, table, target, contract, "--checkpoint-lookback", "864000", capsys=capsys)
    assert "refresh: 0 new, 0 changed (reloaded), 7 unchanged" in out
    assert query(target, f"SELECT count(*) {ids}") == [(3 if history == "keep" else 1,)]


def _schema_of(contract: Path) -> dict[str, str]:
    schema = yaml.safe_load(contract.read_text()).get("target_schema")
    return {"target_schema": schema} if schema else {}


def test_several_rows_of_one_id_without_an_updated_column_fail_aloud(
    tmp_path: Path, capsys
) -> None:
    source, target = f"sqlite:///{tmp_path / 's.db'}", f"sqlite:///{tmp_path / 't.db'}"
    staging(source, "docs", 3, key="")
    add_version(source, "docs", 2, START, document=202)
    code = main(["run", "--contract", str(contract_with(tmp_path)), "--source", source,
                 "--source-table", "docs", "--target", target, "--create-tables",
                 "--progress", "none"])  # fmt: skip
    assert code == 3
    assert "2 rows of docs have this id: give --source-updated-column" in capsys.readouterr().out
    assert query(target, "SELECT app_id FROM app_base ORDER BY app_id") == [(1,), (3,)]


def test_refresh_by_shards_keeps_a_checkpoint_per_shard(where, tmp_path: Path, capsys) -> None:
    """Two shards refreshed one after the other, each from its own checkpoint: a change
    in shard 1 waits for shard 1's run; every document ends with one current version."""
    source, table, target, contract = where
    prefix = contract_prefix(contract)
    contract = contract_with(tmp_path, history="keep", **_schema_of(contract))
    staging(source, table, 20)
    for shard in ("0/2", "1/2"):
        assert "10 documents" in run(source, table, target, contract, "--shard", shard,
                                     capsys=capsys)  # fmt: skip
    change_content(source, table, range(1, 7), START + timedelta(days=40))  # 3 in each shard
    out = run(source, table, target, contract, "--shard", "0/2", capsys=capsys)
    assert "refresh: 0 new, 3 changed (reloaded)" in out
    changed = {
        row: versions for row, (versions, _) in versions_per_document(target, prefix).items()
    }
    assert {row for row, versions in changed.items() if versions == 2} == {2, 4, 6}
    out = run(source, table, target, contract, "--shard", "1/2", capsys=capsys)
    assert "refresh: 0 new, 3 changed (reloaded)" in out
    expected = {row: (2 if row <= 6 else 1, 1) for row in range(1, 21)}
    assert versions_per_document(target, prefix) == expected
    for shard in ("0/2", "1/2"):
        assert "0 documents" in run(source, table, target, contract, "--shard", shard,
                                    capsys=capsys)  # fmt: skip
    assert query(target, f"SELECT count(*) FROM {prefix}processing_checkpoints") == [(2,)]
