"""The dialect registry and each database's capabilities as data; Oracle without a server:
its statements compiled by SQLAlchemy's oracle dialect and checked, its error codes
classified; a live load when XMLLOAD_TEST_ORACLE_URL names a server."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects.oracle.oracledb import OracleDialect_oracledb
from sqlalchemy.exc import DBAPIError

from tests.conftest import CONTRACT
from tests.helpers import copy_corpus_files, query, run_args, table_contents
from xmlload.cli import main
from xmlload.contract.loader import load_plan
from xmlload.db.dialects import DIALECTS, schemes, strategy_for
from xmlload.db.dialects.base import DialectStrategy
from xmlload.db.dialects.mssql import MSSQLStrategy
from xmlload.db.dialects.mysql import MySQLODBCStrategy
from xmlload.db.dialects.oracle import OracleStrategy
from xmlload.db.schema import build_metadata, ddl_statements
from xmlload.db.urls import parse_url
from xmlload.errors import SettingsError
from xmlload.sources.table import TableSource, TableSourceConfig
from xmlload.states import Fault

ORACLE_URL = os.environ.get("XMLLOAD_TEST_ORACLE_URL")


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("sqlite:///x.db", "sqlite"),
        ("postgres://u@h/d", "postgresql"),
        ("mysql://u@h/d", "mysql"),
        ("mariadb://u@h/d", "mysql"),
        ("mysql+pyodbc://u@h/d?driver=MariaDB", "mysql+pyodbc"),
        ("mariadb+pyodbc://u@h/d?driver=MariaDB", "mysql+pyodbc"),
        ("mssql://u@h/d?driver=ODBC+Driver+18+for+SQL+Server", "mssql"),
        ("oracle://u@h:1521/?service_name=FREEPDB1", "oracle"),
    ],
)
def test_each_url_gets_its_dialect(url: str, name: str) -> None:
    strategy = strategy_for(parse_url(url))
    assert strategy.capabilities.name == name and isinstance(strategy, DIALECTS[name])


def test_capabilities_are_data_on_every_dialect() -> None:
    assert {"sqlite", "postgresql", "mysql", "mariadb", "mssql", "oracle"} <= set(schemes())
    for name, strategy in DIALECTS.items():
        caps = strategy.capabilities
        assert caps.name == name and caps.schemes and caps.bulk_path
        assert caps.identifier_length >= 63 and caps.lock_wait_seconds > 0
        assert caps.transient_codes and caps.unavailable_codes
    assert strategy_for(parse_url("sqlite:///x.db")).lock_wait_seconds == 120


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql", "mysql", "mariadb", "mssql", "oracle"])
def test_ddl_for_every_registered_database(dialect: str, capsys) -> None:
    assert main(["contract", "ddl", str(CONTRACT), "--dialect", dialect]) == 0
    ddl = capsys.readouterr().out
    assert ddl.count("CREATE TABLE") == 14  # the contract's 13 tables and the log
    wanted = {"mysql": "DATETIME(6)", "mariadb": "DATETIME(6)", "mssql": "DATETIME2",
              "oracle": "TIMESTAMP", "postgresql": "TIMESTAMP WITHOUT TIME ZONE",
              "sqlite": "DATETIME"}  # fmt: skip
    assert wanted[dialect] in ddl


class Orig(Exception):
    pass


class OracleError:
    """What python-oracledb puts in an exception's first argument."""

    def __init__(self, code: int) -> None:
        self.code, self.full_code = code, f"ORA-{code:05d}"


@pytest.mark.parametrize(
    ("code", "transient", "unavailable"),
    [(60, True, False), (54, True, False), (3113, True, False), (1653, False, True),
     (16000, False, True), (1, False, False), (904, False, False)],
)  # fmt: skip
def test_oracle_errors_by_ora_number(code: int, transient: bool, unavailable: bool) -> None:
    error = DBAPIError("INSERT", None, Orig(OracleError(code)))
    strategy = OracleStrategy()
    assert strategy.is_transient(error) is transient
    assert strategy.is_unavailable(error) is unavailable


class OracleRecorder:
    """Stands in for a Connection: compiles statements for Oracle and keeps them."""

    def __init__(self) -> None:
        self.oracle = OracleDialect_oracledb()
        # what executemany reads of the dialect: its quoting, and the driver's Error class
        self.dialect = SimpleNamespace(
            identifier_preparer=self.oracle.identifier_preparer,
            loaded_dbapi=SimpleNamespace(Error=Orig),
        )
        self.statements: list[str] = []
        self.rows: list[Any] = []

    def execute(self, statement: Any, parameters: Any = None) -> OracleRecorder:
        compiled = statement.compile(
            dialect=self.oracle, compile_kwargs={"render_postcompile": True}
        )
        self.statements.append(" ".join(str(compiled).split()))
        return self

    @property
    def connection(self) -> OracleRecorder:  # the DBAPI connection
        return self

    def cursor(self) -> OracleRecorder:
        return self

    def executemany(self, statement: str, rows: list[Any]) -> None:
        self.statements.append(statement)
        self.rows = rows

    def exec_driver_sql(self, text: str) -> None:
        self.statements.append(text)

    def close(self) -> None:
        pass


def test_oracle_statements(tmp_path: Path) -> None:
    plan = load_plan(CONTRACT)
    ddl = "\n".join(ddl_statements(build_metadata(plan), OracleDialect_oracledb()))
    assert "receive_date TIMESTAMP" in ddl and "VARCHAR2(" in ddl and "value NCLOB" in ddl
    table = build_metadata(plan).tables["app_base"]
    recorder = OracleRecorder()
    rows = [tuple(range(len(table.columns))), tuple(range(len(table.columns)))]
    OracleStrategy().insert_rows(recorder, table, rows)  # type: ignore[arg-type]
    markers = ", ".join(f":{n}" for n in range(1, len(table.columns) + 1))
    assert recorder.statements[-1].endswith(f"VALUES ({markers})") and recorder.rows == rows
    OracleStrategy().lock_table(recorder, table)  # type: ignore[arg-type]
    assert recorder.statements[-1] == "LOCK TABLE app_base IN EXCLUSIVE MODE WAIT 120"


def test_oracle_source_pages_use_fetch_first(monkeypatch) -> None:
    pytest.importorskip("oracledb", reason="pip install -e '.[oracle]'")
    url = "oracle://loader:S3cret@db.example:1521/?service_name=LOADS"
    source = TableSource(TableSourceConfig(url, "staging.app_xml", "app_id", "app_xml"))
    recorder = OracleRecorder()
    pages = iter([[(11,), (12,)], []])
    monkeypatch.setattr(
        source, "_run", lambda statement: (recorder.execute(statement), next(pages))[1]
    )
    assert list(source.pages(2)) == [[11, 12]]
    first, second = recorder.statements
    assert (
        first.endswith(
            "ORDER BY staging.app_xml.app_id FETCH FIRST __[POSTCOMPILE_param_1] ROWS ONLY"
        )
        or "FETCH FIRST 2 ROWS ONLY" in first
    ), first
    assert "staging.app_xml.app_id > :app_id_1" in second


def test_odbc_errors_are_classified_by_sqlstate() -> None:
    odbc = MySQLODBCStrategy()
    assert odbc.is_transient(DBAPIError("x", None, Orig("40001", "deadlock")))
    assert odbc.is_unavailable(DBAPIError("x", None, Orig("HY001", "out of memory")))
    # an integer code is what PyMySQL gives; through ODBC it is never the first argument
    assert not odbc.is_unavailable(DBAPIError("x", None, Orig(1290, "read-only")))
    assert MSSQLStrategy().is_unavailable(DBAPIError("x", None, Orig("HY001", "no memory")))


class FakeDBAPIConnection:
    """Records what is executed."""

    def __init__(self) -> None:
        self.executed: list[str] = []

    def cursor(self) -> FakeDBAPIConnection:
        return self

    def execute(self, statement: str, *parameters: Any) -> None:
        self.executed.append(statement)

    def close(self) -> None:
        pass


def _on_connect(strategy: DialectStrategy, url: str) -> list[str]:
    """What the strategy's engine runs on each new connection (no server needed)."""
    pytest.importorskip("pyodbc", reason="pyodbc needs unixODBC")
    engine = strategy.create_engine(parse_url(url))
    connection = FakeDBAPIConnection()
    for listener in engine.pool.dispatch.connect:
        if getattr(listener, "__module__", "").startswith("xmlload."):  # not the driver's own
            listener(connection, None)
    return connection.executed


def test_sql_server_waits_for_locks_a_bounded_time() -> None:
    url = "mssql://u:p@h/d?driver=ODBC+Driver+18+for+SQL+Server"
    assert "SET LOCK_TIMEOUT 120000" in _on_connect(MSSQLStrategy(), url)


def test_mysql_through_odbc_keeps_charset_and_lock_wait() -> None:
    url = "mysql+pyodbc://u:p@h/d?driver=MariaDB+Unicode"
    assert _on_connect(MySQLODBCStrategy(), url) == ["SET SESSION innodb_lock_wait_timeout = 120"]
    assert MySQLODBCStrategy().prepare_url(parse_url(url)).query["charset"] == "utf8mb4"


def test_a_table_source_checks_its_driver() -> None:
    with pytest.raises(SettingsError, match="pip install psycopg2-binary"):
        TableSource(TableSourceConfig("postgresql+psycopg2://u@h/d", "docs"))


@pytest.mark.skipif(ORACLE_URL is None, reason="set XMLLOAD_TEST_ORACLE_URL to an Oracle server")
def test_a_live_oracle_load(corpus_dir: Path, tmp_path: Path) -> None:
    assert ORACLE_URL is not None
    folder = copy_corpus_files(corpus_dir, tmp_path / "xml", ["sample--142305.xml"])
    assert main(["run", *run_args(str(folder), ORACLE_URL)]) == 0
    assert query(ORACLE_URL, "SELECT count(*) FROM app_base WHERE app_id = 142305") == [(1,)]
    assert table_contents(ORACLE_URL, str(CONTRACT))["app_base"]
    engine = sa.create_engine(ORACLE_URL)
    with engine.begin() as connection:
        for table in reversed(build_metadata(load_plan(CONTRACT)).sorted_tables):
            connection.execute(sa.text(f"DROP TABLE {table.name}"))
        connection.execute(sa.text("DROP TABLE processing_log"))
        connection.execute(sa.text("DROP TABLE processing_runs"))


class PgOrig(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("sqlstate", "fault"),
    [("40P01", Fault.TRANSIENT), ("08006", Fault.TRANSIENT), ("25006", Fault.UNAVAILABLE),
     ("53100", Fault.UNAVAILABLE), ("23505", Fault.REJECTED), ("22001", Fault.REJECTED)],
)  # fmt: skip
def test_a_database_error_is_a_fault_of_one_kind(sqlstate: str, fault: Fault) -> None:
    from xmlload.db.dialects.postgresql import PostgreSQLStrategy

    error = DBAPIError("INSERT", None, PgOrig(sqlstate))
    assert PostgreSQLStrategy().classify(error) is fault


def test_postgresql_statements_are_never_prepared_on_the_server(postgres_engine) -> None:
    """A prepared statement's generic plan, made while a first load's tables were empty,
    kept scanning the whole processing log for every batch as it grew."""
    from tests.conftest import POSTGRES_URL

    url = parse_url(POSTGRES_URL)
    engine = strategy_for(url).create_engine(url)
    try:
        with engine.connect() as connection:
            for n in range(10):  # psycopg prepares after 5 runs of one query, by default
                connection.execute(sa.text("SELECT relname FROM pg_class WHERE oid = :n"),
                                   {"n": n})  # fmt: skip
            prepared = connection.execute(sa.text("SELECT count(*) FROM pg_prepared_statements"))
            assert prepared.scalar() == 0
    finally:
        engine.dispose()
