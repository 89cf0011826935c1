"""Every live database loads the shared corpus into the same table contents, value by value
after normalising types: SQLite, PostgreSQL, MariaDB through PyMySQL and through pyodbc."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.exc import DBAPIError

from tests.conftest import MYSQL_ODBC_URL, MYSQL_URL, POSTGRES_URL, contract_with
from tests.helpers import query, run_args, table_contents
from xmlload.cli import main
from xmlload.db.dialects import strategy_for
from xmlload.db.dialects.mysql import MySQLODBCStrategy, MySQLStrategy
from xmlload.db.urls import parse_url


def load(corpus_dir: Path, contract: str, target: str) -> dict[str, list[tuple]]:
    assert (
        main(
            [
                "run",
                *run_args(str(corpus_dir), target, contract),
                "--workers",
                "2",
            ]
        )
        == 3
    )
    return table_contents(target, contract, include_log=False)


def test_same_contents_in_every_database(
    corpus_dir: Path,
    tmp_path: Path,
    postgres_schema: str,
    mysql_databases: list[str],
    mysql_odbc_engine,
) -> None:
    contents = {}
    targets = {
        "sqlite": (f"sqlite:///{tmp_path / 't.db'}", None),
        "postgresql": (POSTGRES_URL, postgres_schema),
        "mariadb+pymysql": (MYSQL_URL, mysql_databases[0]),
        "mariadb+pyodbc": (MYSQL_ODBC_URL, mysql_databases[1]),
    }
    for name, (target, schema) in targets.items():
        folder = tmp_path / name
        folder.mkdir()
        contract = str(
            contract_with(folder, target_schema=schema) if schema else contract_with(folder)
        )
        contents[name] = load(corpus_dir, contract, target)
    reference = contents.pop("sqlite")
    assert len(reference["app_base"]) == 81 and len(reference["scores"]) == 282
    for name, tables in contents.items():
        for table, rows in reference.items():
            assert tables[table] == rows, f"{name}: {table} differs"


def test_mariadb_target_schema_is_a_database(
    corpus_dir: Path, tmp_path: Path, mysql_databases: list[str]
) -> None:
    contract = str(contract_with(tmp_path, target_schema=mysql_databases[0]))
    load(corpus_dir, contract, MYSQL_URL)
    counts = query(
        MYSQL_URL,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = :s ORDER BY 1",
        s=mysql_databases[0],
    )
    # the contract's 13 tables, the log, the run registry and the run history
    assert ("processing_log",) in counts and ("app_base",) in counts and len(counts) == 16
    charset = query(
        MYSQL_URL,
        "SELECT table_collation FROM information_schema.tables WHERE "
        "table_schema = :s AND table_name = 'app_base'",
        s=mysql_databases[0],
    )
    assert charset[0][0].startswith("utf8mb4")


def test_mysql_bulk_insert_is_sized_to_max_allowed_packet(mysql_engine, mysql_databases) -> None:
    import sqlalchemy as sa

    strategy = strategy_for(parse_url(MYSQL_URL))
    assert isinstance(strategy, MySQLStrategy)
    table = sa.Table(
        "packet_test",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("text", sa.UnicodeText),
        schema=mysql_databases[0],
    )
    rows = [(i, "x" * 12_000) for i in range(1, 2001)]  # 24 MB: over a 16 MB packet
    with mysql_engine.begin() as connection:
        connection.execute(sa.text(f"CREATE DATABASE `{mysql_databases[0]}`"))
        table.create(connection)
    with mysql_engine.begin() as connection:
        packet = connection.execute(sa.text("SELECT @@max_allowed_packet")).scalar()
        assert packet < 24_000_000  # one statement would not fit
        strategy.insert_rows(connection, table, rows)
        assert connection.info["max_allowed_packet"] == packet
        assert connection.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 2000
    with mysql_engine.begin() as connection, pytest.raises(DBAPIError):
        strategy.insert_rows(connection, table, [(1, "duplicate key")])


class Orig(Exception):
    pass


@pytest.mark.parametrize(
    ("code", "transient"),
    [(1213, True), (1205, True), (2006, True), (2013, True), (1062, False), (1406, False)],
)
def test_mysql_error_numbers(code: int, transient: bool) -> None:
    error = DBAPIError("statement", None, Orig(code, "message"))
    assert MySQLStrategy().is_transient(error) is transient


@pytest.mark.parametrize(
    ("state", "transient"), [("40001", True), ("08S01", True), ("HYT00", True), ("23000", False)]
)
def test_odbc_sqlstates(state: str, transient: bool) -> None:
    error = DBAPIError("statement", None, Orig(state, "[MariaDB] message"))
    assert MySQLODBCStrategy().is_transient(error) is transient
    assert isinstance(strategy_for(parse_url(MYSQL_ODBC_URL)), MySQLODBCStrategy)
