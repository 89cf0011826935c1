"""Database URLs: accept what users type, pick our drivers, never show a password."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from xmlload.errors import SettingsError

DEFAULT_DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
    "mssql": "mssql+pyodbc",
}


def parse_url(text: str) -> URL:
    """A SQLAlchemy URL; a bare file path means SQLite; default drivers filled in."""
    if "://" not in text:
        return make_url(f"sqlite:///{Path(text).expanduser()}")
    try:
        url = make_url(text)
    except ArgumentError:
        raise SettingsError(f"not a database URL: {mask_text(text)}") from None
    driver = DEFAULT_DRIVERS.get(url.drivername)
    return url.set(drivername=driver) if driver else url


# PWD=...; or Password=...; inside an ODBC connection string (`odbc_connect=`)
_ODBC_SECRET = re.compile(r"(?i)\b(pwd|password)=(\{[^}]*\}|[^;]*)")


def mask_url(url: URL | str) -> str:
    """The URL as text with any password replaced by ***, including one inside an ODBC
    connection string passed as `odbc_connect`."""
    if isinstance(url, str):
        return mask_text(url)
    if "odbc_connect" in url.query:
        url = url.update_query_dict(
            {"odbc_connect": _ODBC_SECRET.sub(r"\1=***", str(url.query["odbc_connect"]))}
        )
    return url.render_as_string(hide_password=True)


def mask_text(text: str) -> str:
    """Mask the password in URL-looking text that may not parse."""
    try:
        return mask_url(make_url(text))
    except ArgumentError:
        head, sep, tail = text.partition("://")
        if sep and "@" in tail:
            credentials, _, host = tail.rpartition("@")
            user = credentials.split(":", 1)[0]
            return f"{head}://{user}:***@{host}"
        return text
