"""Shared fixtures: the shared corpus, the example contract, real databases.

Server-backed tests read their URL from XMLLOAD_TEST_POSTGRES_URL (default: the local
server). Without a reachable server they skip with the reason, except under CI=true,
where a missing server is a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

REPO = Path(__file__).resolve().parent.parent
CONTRACT = REPO / "contracts" / "credit_application.yaml"
CORPUS = Path(
    os.environ.get(
        "XMLLOAD_TEST_CORPUS", REPO.parent / "shared" / "corpus" / "xmlconversion-cc" / "xml"
    )
)
MYSQL_URL = os.environ.get("XMLLOAD_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
MYSQL_ODBC_URL = os.environ.get(
    "XMLLOAD_TEST_MYSQL_ODBC_URL", "mysql+pyodbc://root@127.0.0.1:3306/test?driver=MariaDB+Unicode"
)
POSTGRES_URL = os.environ.get(
    "XMLLOAD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (required under CI)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    if not CORPUS.is_dir():
        _unavailable(f"shared corpus not found at {CORPUS}")
    return CORPUS


@pytest.fixture(scope="session")
def postgres_engine() -> Iterator[sa.Engine]:
    engine = sa.create_engine(POSTGRES_URL, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as error:
        _unavailable(f"PostgreSQL not reachable at {POSTGRES_URL}: {error.orig}")
    yield engine
    engine.dispose()


def _reachable(url: str, what: str) -> sa.Engine:
    try:  # creating the engine imports the driver: pyodbc needs unixODBC's libodbc
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except (sa.exc.DBAPIError, ImportError) as error:
        _unavailable(f"{what} not reachable at {url}: {error}")
    return engine


@pytest.fixture(scope="session")
def pyodbc_usable() -> None:
    """pyodbc imports only where unixODBC's libodbc is installed."""
    try:
        import pyodbc  # noqa: F401
    except ImportError as error:
        _unavailable(f"pyodbc cannot be imported (is unixODBC installed?): {error}")


@pytest.fixture(scope="session")
def mysql_engine() -> Iterator[sa.Engine]:
    engine = _reachable(MYSQL_URL, "MariaDB/MySQL")
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def mysql_odbc_engine() -> Iterator[sa.Engine]:
    engine = _reachable(MYSQL_ODBC_URL, "MariaDB through ODBC (odbc-mariadb + pyodbc)")
    yield engine
    engine.dispose()


@pytest.fixture
def mysql_databases(mysql_engine: sa.Engine) -> Iterator[list[str]]:
    """Names for fresh MariaDB databases (target_schema maps to a database); dropped after."""
    names = [f"xl_test_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    yield names
    with mysql_engine.begin() as connection:
        for name in names:
            connection.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))


@pytest.fixture
def postgres_schema(postgres_engine: sa.Engine) -> Iterator[str]:
    """A fresh schema name, dropped afterwards."""
    name = f"xl_test_{uuid.uuid4().hex[:10]}"
    yield name
    with postgres_engine.begin() as connection:
        connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))


def contract_with(tmp_path: Path, **changes: object) -> Path:
    """A copy of the example contract with top-level keys changed (e.g. target_schema)."""
    data = yaml.safe_load(CONTRACT.read_text(encoding="utf-8"))
    data.update(changes)
    path = tmp_path / "contract.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def write_contract(tmp_path: Path, text: str, name: str = "contract.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# Five corpus documents for runs where one of them misbehaves (tests/extensions/slow.py).
NAPPING_FILES = [
    "sample--142305.xml",
    "sample--127582.xml",
    "sample--447945.xml",
    "sample--447955.xml",
    "sample-source-xml-dupe-con_id--443309.xml",
]


@pytest.fixture
def napping_dir(corpus_dir: Path, tmp_path: Path) -> Path:
    """Five corpus documents; sample--127582 naps for two minutes (far past any bound)."""
    folder = tmp_path / "xml"
    folder.mkdir()
    for name in NAPPING_FILES:
        data = (corpus_dir / name).read_bytes()
        if name == "sample--127582.xml":
            data = data.replace(b"<Provenir ", b'<Provenir nap="120" ', 1)
        (folder / name).write_bytes(data)
    return folder
