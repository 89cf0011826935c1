"""Reading back what a load wrote, normalised so databases compare value by value."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from xmlload.contract.loader import load_plan
from xmlload.db.current import normalise
from xmlload.db.target import target_schema


def table_contents(url: str, contract: str, include_log: bool = False) -> dict[str, list[tuple]]:
    """Every contract table's rows (sorted by primary key), values normalised."""
    schema = target_schema(load_plan(contract))
    tables = schema.tables + ([schema.log] if include_log else [])
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            return {
                table.name: [
                    tuple(normalise(v) for v in row)
                    for row in connection.execute(
                        sa.select(table).order_by(*table.primary_key.columns)
                    )
                ]
                for table in tables
            }
    finally:
        engine.dispose()


def query(url: str, sql: str, **params: Any) -> list[tuple]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(sa.text(sql), params)]
    finally:
        engine.dispose()


def table_source(folder: Path, count: int, seed: int = 21, median_kb: float = 15) -> str:
    """An SQLite source table `docs` of generated documents with ids 1..count."""
    from xmlload.generate import DocumentGenerator, write_table

    source = f"sqlite:///{folder / 's.db'}"
    write_table(DocumentGenerator(seed=seed, median_kb=median_kb), count, 1, source, "docs")
    return source


def table_run_args(source: str, target: str, contract: Path | str | None = None) -> list[str]:
    """`run` options loading the `docs` table into target, creating tables."""
    from tests.conftest import CONTRACT

    return [
        "--contract",
        str(contract or CONTRACT),
        "--source",
        source,
        "--source-table",
        "docs",
        "--target",
        target,
        "--create-tables",
    ]


def cli_command(*args: str) -> list[str]:
    """The xmlload command line as a subprocess argument list."""
    return [sys.executable, "-m", "xmlload", *args]


def run_args(source: str | Path, target: str, contract: Path | str | None = None) -> list[str]:
    """`run` options loading source into target with the contract, creating tables."""
    from tests.conftest import CONTRACT

    return [
        "--contract",
        str(contract or CONTRACT),
        "--source",
        str(source),
        "--target",
        target,
        "--create-tables",
    ]


def copy_corpus_files(corpus_dir: Path, folder: Path, names: list[str]) -> Path:
    """A new folder holding copies of the named corpus files."""
    import shutil

    folder.mkdir()
    for name in names:
        shutil.copy(corpus_dir / name, folder / name)
    return folder


def wait_for_log(
    url: str, count: int, process: Any, log: str = "processing_log", limit: float = 120.0
) -> None:
    """Wait until the run (a Popen) has logged `count` documents in `log`; AssertionError
    if it ends or `limit` seconds pass first."""
    import time

    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if query(url, f"SELECT count(*) FROM {log}")[0][0] >= count:
                return
        except sa.exc.DBAPIError:
            pass  # the target or its log table is not there yet
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} documents logged in {log} in time")


def row_id(key: str) -> int:
    """The row id in a table source's processing-log key (`DATABASE:TABLE#ID`)."""
    return int(key.rpartition("#")[2])
