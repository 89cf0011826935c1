"""Pick the strategy for a database URL by backend name."""

from __future__ import annotations

from sqlalchemy.engine import URL

from xmlload.db.dialects.base import DialectStrategy
from xmlload.db.dialects.mssql import MSSQLStrategy
from xmlload.db.dialects.mysql import MySQLODBCStrategy, MySQLStrategy
from xmlload.db.dialects.postgresql import PostgreSQLStrategy
from xmlload.db.dialects.sqlite import SQLiteStrategy

_BY_BACKEND: dict[str, type[DialectStrategy]] = {
    "sqlite": SQLiteStrategy,
    "postgresql": PostgreSQLStrategy,
    "mysql": MySQLStrategy,
    "mariadb": MySQLStrategy,
    "mssql": MSSQLStrategy,
}
_BY_BACKEND_AND_DRIVER: dict[tuple[str, str], type[DialectStrategy]] = {
    ("mysql", "pyodbc"): MySQLODBCStrategy,
    ("mariadb", "pyodbc"): MySQLODBCStrategy,
}


def strategy_for(url: URL) -> DialectStrategy:
    """The strategy for this backend (and driver, where that matters); the portable base
    for backends without one of their own."""
    backend = url.get_backend_name()
    chosen = _BY_BACKEND_AND_DRIVER.get((backend, url.get_driver_name()))
    return (chosen or _BY_BACKEND.get(backend, DialectStrategy))()


__all__ = ["DialectStrategy", "strategy_for"]
