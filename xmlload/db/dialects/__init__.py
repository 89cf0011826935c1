"""Pick the strategy for a database URL by backend name."""

from __future__ import annotations

from sqlalchemy.engine import URL

from xmlload.db.dialects.base import DialectStrategy
from xmlload.db.dialects.postgresql import PostgreSQLStrategy
from xmlload.db.dialects.sqlite import SQLiteStrategy

_STRATEGIES: dict[str, type[DialectStrategy]] = {
    "sqlite": SQLiteStrategy,
    "postgresql": PostgreSQLStrategy,
}


def strategy_for(url: URL) -> DialectStrategy:
    """The backend's strategy; the portable base for backends without one of their own."""
    return _STRATEGIES.get(url.get_backend_name(), DialectStrategy)()


__all__ = ["DialectStrategy", "strategy_for"]
