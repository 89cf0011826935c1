"""The dialect registry: every database xmlload knows, one strategy class each, chosen for
a URL by backend (and driver, where that matters). A new database is one file in this
folder and one entry in `_STRATEGIES`; what it is (types, identifier length, table
options, bulk path, lock timeout, error codes) is its `Capabilities`."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import URL

from xmlload.db.dialects.base import Capabilities, DialectStrategy
from xmlload.db.dialects.mssql import MSSQLStrategy
from xmlload.db.dialects.mysql import MySQLODBCStrategy, MySQLStrategy
from xmlload.db.dialects.oracle import OracleStrategy
from xmlload.db.dialects.postgresql import PostgreSQLStrategy
from xmlload.db.dialects.sqlite import SQLiteStrategy

_STRATEGIES: tuple[type[DialectStrategy], ...] = (
    SQLiteStrategy,
    PostgreSQLStrategy,
    MySQLStrategy,
    MySQLODBCStrategy,
    MSSQLStrategy,
    OracleStrategy,
)
DIALECTS: dict[str, type[DialectStrategy]] = {s.capabilities.name: s for s in _STRATEGIES}


def strategy_for(url: URL) -> DialectStrategy:
    """The strategy for this backend and driver (one made for the driver first); the
    portable base for backends without one of their own."""
    backend, driver = url.get_backend_name(), url.get_driver_name()
    serving = [s for s in _STRATEGIES if backend in s.capabilities.schemes]
    for strategy in sorted(serving, key=lambda s: not s.capabilities.drivers):
        if not strategy.capabilities.drivers or driver in strategy.capabilities.drivers:
            return strategy()
    return DialectStrategy()


def schemes() -> list[str]:
    """Every URL scheme (SQLAlchemy backend name) a registered dialect serves."""
    return sorted({scheme for s in _STRATEGIES for scheme in s.capabilities.schemes})


def default_driver(scheme: str) -> str | None:
    """The driver `scheme://` means (`postgresql` -> `psycopg`), None if unknown."""
    for strategy in _STRATEGIES:
        caps = strategy.capabilities
        if scheme in caps.schemes and not caps.drivers:
            return caps.default_driver
    return None


def own_column_type(kind: str, backend: str) -> Callable[[], sa.types.TypeEngine] | None:
    """The factory of the type a backend (SQLAlchemy dialect name) has of its own for a
    column kind, if its dialect overrides that kind."""
    for strategy in _STRATEGIES:
        caps = strategy.capabilities
        if backend in caps.schemes and not caps.drivers and kind in caps.column_types:
            return caps.column_types[kind]
    return None


__all__ = ["DIALECTS", "Capabilities", "DialectStrategy", "default_driver", "strategy_for"]
