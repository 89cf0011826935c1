"""Transient database errors: classified by SQLSTATE/driver code, retried with backoff,
reconnecting; a run whose connections are terminated mid-way still loads everything once."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from tests.conftest import POSTGRES_URL, contract_with
from tests.helpers import query
from xmlload.db.dialects.postgresql import PostgreSQLStrategy
from xmlload.db.dialects.sqlite import SQLiteStrategy
from xmlload.db.retry import RetryPolicy, with_retries
from xmlload.processor import ProductionProcessor
from xmlload.settings import Settings
from xmlload.summary import RunSummary


class FakeOrig(Exception):
    def __init__(self, sqlstate: str | None = None, sqlite_errorcode: int | None = None) -> None:
        self.sqlstate, self.sqlite_errorcode = sqlstate, sqlite_errorcode


def dbapi_error(orig: Exception) -> DBAPIError:
    return DBAPIError("statement", None, orig)


@pytest.mark.parametrize(
    ("sqlstate", "transient"),
    [
        ("40001", True),
        ("40P01", True),
        ("55P03", True),
        ("57P01", True),
        ("08006", True),
        ("23505", False),
        ("22001", False),
        ("42P01", False),
    ],
)
def test_postgresql_classification_by_sqlstate(sqlstate: str, transient: bool) -> None:
    assert PostgreSQLStrategy().is_transient(dbapi_error(FakeOrig(sqlstate))) is transient


def test_sqlite_busy_and_locked_are_transient() -> None:
    strategy = SQLiteStrategy()
    assert strategy.is_transient(dbapi_error(FakeOrig(sqlite_errorcode=5)))
    assert strategy.is_transient(dbapi_error(FakeOrig(sqlite_errorcode=6)))
    assert not strategy.is_transient(dbapi_error(FakeOrig(sqlite_errorcode=19)))


def test_backoff_grows_caps_and_jitters() -> None:
    policy = RetryPolicy(max_retries=5, initial_delay=1, max_delay=5, backoff_base=2, jitter=False)
    assert [policy.delay(n) for n in range(1, 6)] == [1, 2, 4, 5, 5]
    jittered = RetryPolicy(initial_delay=4, jitter=True)
    assert all(2 <= jittered.delay(1) <= 4 for _ in range(50))


def test_with_retries_recovers_then_gives_up() -> None:
    calls, recovered, waits = [], [], []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise dbapi_error(FakeOrig("40P01"))
        return "ok"

    policy = RetryPolicy(max_retries=3, initial_delay=0.5, jitter=False)
    strategy = PostgreSQLStrategy()
    assert (
        with_retries(
            flaky, strategy.is_transient, policy, lambda: recovered.append(1), waits.append
        )
        == "ok"
    )
    assert (len(calls), len(recovered), waits) == (3, 2, [0.5, 1.0])

    def always() -> None:
        raise dbapi_error(FakeOrig("08006"))

    with pytest.raises(DBAPIError):
        with_retries(always, strategy.is_transient, policy, lambda: None, lambda s: None)

    def permanent() -> None:
        calls.append(1)
        raise dbapi_error(FakeOrig("23505"))

    calls.clear()
    with pytest.raises(DBAPIError):
        with_retries(permanent, strategy.is_transient, policy, lambda: None, lambda s: None)
    assert len(calls) == 1


def test_terminated_connections_are_retried_and_the_run_completes(
    corpus_dir: Path, postgres_engine: sa.Engine, postgres_schema: str, tmp_path: Path
) -> None:
    folder = tmp_path / "xml"
    folder.mkdir()
    files = sorted(corpus_dir.glob("sample--4*.xml"))[:30]
    for file in files:
        shutil.copy(file, folder / file.name)
    contract = contract_with(tmp_path, target_schema=postgres_schema)
    settings = Settings(
        contract=contract,
        source=str(folder),
        target=POSTGRES_URL,
        create_tables=True,
        chunk_size=5,
        retry_initial_delay=0.05,
    )
    terminated: list[int] = []

    def kill_connections(summary: RunSummary) -> None:
        if summary.documents in (5, 15):
            with postgres_engine.connect() as connection:
                killed = connection.execute(  # this run's own connections only
                    sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE application_name = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": f"xmlload {summary.run_id}"},
                ).all()
            terminated.append(len(killed))

    summary = ProductionProcessor(settings).run(on_report=kill_connections)
    assert terminated and all(count >= 1 for count in terminated)
    assert (summary.documents, summary.failed) == (len(files), 0)
    log = query(
        POSTGRES_URL,
        f"SELECT count(*), count(DISTINCT source_key), max(attempts) "
        f"FROM {postgres_schema}.processing_log",
    )
    assert log == [(len(files), len(files), 1)]
    assert query(POSTGRES_URL, f"SELECT count(*) FROM {postgres_schema}.app_base") == [
        (len(files),)
    ]
