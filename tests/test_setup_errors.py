"""Mistakes found while a run sets up: each is one clear line naming what and where,
exit 2, no traceback, nothing loaded."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import CONTRACT, POSTGRES_URL, contract_with
from tests.helpers import cli_command, copy_corpus_files, query, run_args
from xmlload.cli import main

GOOD = ["sample--142305.xml", "sample--127582.xml"]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cli_command(*args), capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    ("target", "said"),
    [
        ("postgress://postgres@127.0.0.1/test", "unknown database scheme 'postgress'"),
        ("postgress://postgres@127.0.0.1/test", "did you mean postgresql?"),
        ("postgresql+psycopg2://u:TopSecret@127.0.0.1/test", "pip install psycopg2-binary"),
        ("oracle+cx_oracle://u@h/db", "pip install cx_Oracle"),
    ],
)
def test_a_wrong_url_names_the_scheme_or_the_driver(tmp_path: Path, target: str, said: str) -> None:
    done = cli("run", "--contract", str(CONTRACT), "--source", str(tmp_path), "--target", target)
    assert done.returncode == 2, done.stderr
    assert said in done.stderr and "Traceback" not in done.stderr
    assert "TopSecret" not in done.stderr


def test_a_read_only_target_is_a_clear_error(
    corpus_dir: Path, tmp_path: Path, postgres_schema: str
) -> None:
    contract = str(contract_with(tmp_path, target_schema=postgres_schema))
    folder = copy_corpus_files(corpus_dir, tmp_path / "xml", GOOD)
    assert main(["run", *run_args(str(folder), POSTGRES_URL, contract)]) == 0
    read_only = POSTGRES_URL + "?options=-c%20default_transaction_read_only%3Don"
    done = cli("run", "--contract", contract, "--source", str(folder), "--target", read_only,
               "--no-resume")  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "read-only transaction" in done.stderr and "Traceback" not in done.stderr
    assert query(POSTGRES_URL, f"SELECT max(attempts) FROM {postgres_schema}.processing_log") == [
        (1,)
    ]


def test_create_tables_over_a_table_of_the_wrong_shape_is_refused(
    corpus_dir: Path, tmp_path: Path, capsys
) -> None:
    folder = copy_corpus_files(corpus_dir, tmp_path / "xml", GOOD)
    database = tmp_path / "t.db"
    with sqlite3.connect(database) as connection:  # made by hand, long ago
        connection.execute("CREATE TABLE app_base (app_id BIGINT PRIMARY KEY, note TEXT)")
        connection.execute(
            "CREATE TABLE scores (app_id BIGINT, score_identifier VARCHAR(50), score TEXT)"
        )
    target = f"sqlite:///{database}"
    assert main(["run", *run_args(str(folder), target)]) == 2
    error = capsys.readouterr().err
    assert "does not match the contract" in error
    assert "ERROR app_base.receive_date: column is missing" in error
    assert "ERROR scores.score: is TEXT, the contract needs integer" in error
    assert "existing tables are never altered" in error
    assert query(target, "SELECT count(*) FROM processing_log") == [(0,)]


def test_a_resumed_run_says_how_many_skipped_documents_had_failed(
    corpus_dir: Path, tmp_path: Path, capsys
) -> None:
    folder = copy_corpus_files(corpus_dir, tmp_path / "xml", GOOD)
    (folder / "broken.xml").write_bytes(b"<Provenir><Request")
    target = f"sqlite:///{tmp_path / 't.db'}"
    assert main(["run", *run_args(str(folder), target)]) == 3
    capsys.readouterr()
    assert main(["run", *run_args(str(folder), target)]) == 0
    out = capsys.readouterr().out
    assert "3 skipped (already in the processing log)" in out
    assert "1 of the skipped documents had failed before" in out
    assert "reprocess --failed" in out


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_a_deeply_nested_contract_is_refused_with_its_place(tmp_path: Path, suffix: str) -> None:
    nested = "[" * 200_000 + "]" * 200_000
    path = tmp_path / f"deep{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps({"xml_root_element": "x"})[:-1] + f', "mappings": {nested}}}')
        done = cli("contract", "import", str(path))
    else:
        path.write_text(f"name: deep\ntables: {nested}\n")
        done = cli("contract", "validate", str(path))
    assert done.returncode == 2, done.stderr[-2000:]
    line = 1 if suffix == ".json" else 2
    assert f"{path}:{line}: nested more than 64 levels deep" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def test_deep_block_yaml_is_refused_too(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("".join(" " * depth + "a:\n" for depth in range(3000)))
    done = cli("contract", "validate", str(path))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "nested too deeply" in done.stdout + done.stderr


def test_a_server_url_option_is_kept(postgres_engine: sa.Engine) -> None:
    from xmlload.db.target import connect_engine
    from xmlload.db.urls import parse_url

    url = parse_url(POSTGRES_URL + "?options=-c%20statement_timeout%3D4321")
    _, engine = connect_engine(url)
    try:
        with engine.connect() as connection:
            timeouts = connection.exec_driver_sql("SHOW statement_timeout").scalar()
            lock = connection.exec_driver_sql("SHOW lock_timeout").scalar()
    finally:
        engine.dispose()
    assert (timeouts, lock) == ("4321ms", "2min")
