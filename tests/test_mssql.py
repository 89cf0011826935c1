"""SQL Server: no server is available here, so every statement the mssql dialect issues is
compiled against SQLAlchemy's mssql+pyodbc dialect and checked, through the same code
paths a load runs (DDL, keyset reads with TOP, deletes, inserts, processing-log queries)."""

from __future__ import annotations

import urllib.parse
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from sqlalchemy.dialects.mssql.pyodbc import MSDialect_pyodbc
from sqlalchemy.exc import DBAPIError

from tests.conftest import contract_with
from xmlload.contract.loader import load_plan
from xmlload.db.current import current_rows
from xmlload.db.dialects import strategy_for
from xmlload.db.dialects.mssql import MSSQLStrategy
from xmlload.db.processing_log import ProcessingLog
from xmlload.db.target import target_schema
from xmlload.db.urls import mask_text, parse_url
from xmlload.outcome import DocumentOutcome
from xmlload.sources.table import TableSource, TableSourceConfig
from xmlload.stages.versions import Versions

URL = "mssql+pyodbc://loader:S3cret!@db.example:1433/loads?driver=ODBC+Driver+18+for+SQL+Server"


class Recorder:
    """Stands in for a Connection: compiles every statement for SQL Server and keeps it."""

    def __init__(self) -> None:
        # the dialect alone (no DBAPI): compiling needs neither pyodbc nor unixODBC
        self.dialect = MSDialect_pyodbc(paramstyle="qmark")
        self.statements: list[str] = []
        self.info: dict[str, Any] = {}

    def execute(self, statement: Any, parameters: Any = None) -> Recorder:
        compiled = statement.compile(
            dialect=self.dialect, compile_kwargs={"render_postcompile": True}
        )
        self.statements.append(" ".join(str(compiled).split()))
        return self

    def exec_driver_sql(self, text: str, parameters: Any = None) -> Recorder:
        self.statements.append(text)
        return self

    def all(self) -> list[Any]:
        return []

    def scalars(self) -> list[Any]:
        return []

    def __iter__(self) -> Any:
        return iter([])


@pytest.fixture
def schema(tmp_path: Path):
    return target_schema(load_plan(contract_with(tmp_path, target_schema="migration")))


def test_ddl_uses_schemas_nvarchar_datetime2_bit_decimal(schema) -> None:
    statements: list[str] = []
    engine = sa.create_mock_engine(
        URL, lambda sql, *a, **k: statements.append(str(sql.compile(dialect=engine.dialect)))
    )
    schema.metadata.create_all(engine, checkfirst=False)
    ddl = "\n".join(statements)
    assert "CREATE TABLE migration.app_base (" in ddl
    assert "first_name NVARCHAR(50) NOT NULL" in ddl
    assert "receive_date DATETIME2" in ddl and "started_at DATETIME2 NOT NULL" in ddl
    assert "signature_flag BIT NOT NULL" in ddl
    assert "housing_monthly_payment DECIMAL(12, 2) NULL" in ddl
    assert "iovation_blackbox NVARCHAR(max)" in ddl
    assert "FOREIGN KEY(app_id, contact_seq) REFERENCES migration.app_contact_base" in ddl
    assert (
        "CREATE INDEX ix_migration_processing_log_document_id ON "
        "migration.processing_log (document_id)" in ddl
    )
    assert "IDENTITY" not in ddl  # keys are natural, never database-generated


def test_schema_is_created_when_missing() -> None:
    recorder = Recorder()
    MSSQLStrategy().create_schema(recorder, "migration")  # type: ignore[arg-type]
    assert recorder.statements == [
        "IF SCHEMA_ID(N'migration') IS NULL EXEC(N'CREATE SCHEMA [migration]')"
    ]


def test_replace_and_bulk_insert_statements(schema) -> None:
    recorder = Recorder()
    strategy = strategy_for(parse_url(URL))
    assert isinstance(strategy, MSSQLStrategy)
    assert strategy.engine_options("xmlload") == {"fast_executemany": True}
    base = schema.tables[0]
    strategy.delete_documents(recorder, base, "app_id", [101, 102])  # type: ignore[arg-type]
    strategy.insert_rows(recorder, base, [tuple(range(len(base.columns)))])  # type: ignore[arg-type]
    delete, insert = recorder.statements
    assert delete == ("DELETE FROM migration.app_base WHERE migration.app_base.app_id IN (?, ?)")
    assert insert.startswith("INSERT INTO migration.app_base (app_id, receive_date")
    assert insert.endswith("VALUES (" + ", ".join(["?"] * len(base.columns)) + ")")


def test_processing_log_statements(schema) -> None:
    recorder = Recorder()
    log = ProcessingLog(schema.log)
    log.previous(recorder, ["a.xml"], [101])  # type: ignore[arg-type]
    log.delete(recorder, ["a.xml"])  # type: ignore[arg-type]
    log.failed_keys(recorder, "map")  # type: ignore[arg-type]
    log.top_messages(recorder, 5)  # type: ignore[arg-type]
    previous, delete, failed, top = recorder.statements
    assert previous == (
        "SELECT migration.processing_log.source_key, migration.processing_log."
        "document_id, migration.processing_log.attempts, migration.processing_log.status, "
        "migration.processing_log.version FROM migration."
        "processing_log WHERE migration.processing_log.source_key IN (?) OR "
        "migration.processing_log.document_id IN (?)"
    )
    assert delete.startswith("DELETE FROM migration.processing_log WHERE")
    assert (
        "WHERE migration.processing_log.status = ? AND migration.processing_log.stage = ?" in failed
    )
    assert top.startswith("SELECT TOP 5 ")
    entries = log.entries(
        [DocumentOutcome("a.xml", datetime(2024, 1, 1))], log_previous(), "r", "w"
    )
    assert entries[0][:6] == ("a.xml", None, "success", None, None, 1)


def log_previous():
    from xmlload.db.processing_log import Previous

    return Previous()


def test_keyset_source_reads_use_top(monkeypatch, pyodbc_usable) -> None:
    source = TableSource(
        TableSourceConfig(URL, "staging.app_xml", "app_id", "app_XML", id_start=10, shard=(1, 4))
    )
    recorder = Recorder()
    pages = iter([[(11,), (12,)], []])
    monkeypatch.setattr(
        source, "_run", lambda statement: (recorder.execute(statement), next(pages))[1]
    )
    assert list(source.pages(2)) == [[11, 12]]
    first, second = recorder.statements
    assert first == (
        "SELECT DISTINCT TOP 2 staging.app_xml.app_id FROM staging.app_xml WHERE "
        "staging.app_xml.app_id >= ? AND (staging.app_xml.app_id % ? + ?) % ? = ? "
        "ORDER BY staging.app_xml.app_id"
    )
    assert "staging.app_xml.app_id > ?" in second


class Orig(Exception):
    pass


@pytest.mark.parametrize(
    ("state", "transient"),
    [("40001", True), ("08S01", True), ("HYT00", True), ("23000", False), ("42S02", False)],
)
def test_transient_sqlstates(state: str, transient: bool) -> None:
    error = DBAPIError("statement", None, Orig(state, "[Microsoft][ODBC Driver 18] (1205)"))
    assert MSSQLStrategy().is_transient(error) is transient


def test_connection_options_and_password_masking() -> None:
    url = parse_url(
        "mssql://loader:S3cret!@db:1433/loads?driver=ODBC+Driver+17+for+SQL+Server"
        "&TrustServerCertificate=yes&Encrypt=yes"
    )
    assert url.drivername == "mssql+pyodbc"
    assert url.query["TrustServerCertificate"] == "yes" and url.query["Encrypt"] == "yes"
    assert "S3cret" not in mask_text(str(url.render_as_string(hide_password=False)))
    windows = parse_url(
        "mssql+pyodbc://@db/loads?driver=ODBC+Driver+18+for+SQL+Server&trusted_connection=yes"
    )
    assert windows.username in (None, "") and windows.password is None
    odbc = "DRIVER={ODBC Driver 18 for SQL Server};SERVER=db;UID=sa;PWD={p;w!};Encrypt=yes"
    masked = urllib.parse.unquote_plus(
        mask_text("mssql+pyodbc:///?odbc_connect=" + urllib.parse.quote_plus(odbc))
    )
    assert "p;w!" not in masked and "PWD=***" in masked and "Encrypt=yes" in masked


def test_history_statements(tmp_path: Path) -> None:
    """history: keep, with app_contact_base replacing under it: DDL, closing a version,
    reading the current one, and rows with their version columns."""
    contract = contract_with(tmp_path, target_schema="migration", history="keep")
    data = yaml.safe_load(contract.read_text(encoding="utf-8"))
    data["tables"]["app_contact_base"]["history"] = "replace"
    contract.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    schema = target_schema(load_plan(contract))
    statements: list[str] = []
    engine = sa.create_mock_engine(
        URL, lambda sql, *a, **k: statements.append(str(sql.compile(dialect=engine.dialect)))
    )
    schema.metadata.create_all(engine, checkfirst=False)
    ddl = " ".join(" ".join(statements).split())
    assert ("version INTEGER NOT NULL, valid_from DATETIME2 NOT NULL, valid_to DATETIME2 NULL, "
            "PRIMARY KEY (app_id, version)") in ddl  # fmt: skip
    assert ("FOREIGN KEY(app_id, version) REFERENCES migration.app_base (app_id, version)"
            in ddl)  # fmt: skip
    assert ("fraud_type_enum SMALLINT NULL, version INTEGER NOT NULL, PRIMARY KEY (app_id, "
            "contact_seq)") in ddl  # fmt: skip
    assert ("FOREIGN KEY(app_id, contact_seq) REFERENCES migration.app_contact_base (app_id, "
            "contact_seq)") in ddl  # fmt: skip
    recorder = Recorder()
    versions = Versions(schema.tables, "app_id")
    versions.close(recorder, [101, 102])  # type: ignore[arg-type]
    current_rows(recorder, schema.tables[:2], "app_id", [101])  # type: ignore[arg-type]
    close_base, *closes, select_base, select_contacts = recorder.statements
    assert close_base == (
        "UPDATE migration.app_base SET valid_to=? WHERE migration.app_base.app_id IN (?, ?) "
        "AND migration.app_base.valid_to IS NULL"
    )
    assert len(closes) == len(versions.kept) - 1
    assert not any("app_contact" in statement for statement in closes)
    assert select_base.endswith(
        "WHERE migration.app_base.app_id IN (?) AND migration.app_base.valid_to IS NULL"
    )
    assert "version" not in select_base and "valid_to IS NULL" not in select_contacts
    assert "migration.app_contact_base.version" not in select_contacts
