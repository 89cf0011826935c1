"""Database URLs: accept what users type, pick our drivers, never show a password."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from xmlload.db.dialects import default_driver, schemes
from xmlload.errors import SettingsError

ALIASES = {"postgres": "postgresql"}  # schemes people type that SQLAlchemy does not know


def parse_url(text: str) -> URL:
    """A SQLAlchemy URL; a bare file path means SQLite; default drivers filled in. A scheme
    nobody knows, or a driver that is not installed, is a SettingsError saying which."""
    if "://" not in text:
        return make_url(f"sqlite:///{Path(text).expanduser()}")
    try:
        url = make_url(text)
    except ArgumentError:
        raise SettingsError(f"not a database URL: {mask_text(text)}") from None
    backend, plus, driver = url.drivername.partition("+")
    backend = ALIASES.get(backend, backend)
    driver = driver if plus else default_driver(backend)
    url = url.set(drivername=f"{backend}+{driver}" if driver else backend)
    _check_scheme(url, text)
    return url


def _check_scheme(url: URL, text: str) -> None:
    try:
        url.get_dialect()
    except NoSuchModuleError:
        scheme = url.drivername.partition("+")[0]
        known = schemes()
        close = difflib.get_close_matches(scheme, known, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise SettingsError(
            f"unknown database scheme {url.drivername!r} in {mask_text(text)}{hint}; "
            f"supported: {', '.join(known)}, each optionally +driver"
        ) from None


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


class SecretURL:
    """A database URL that never shows its password: `str`, `repr` and formatting mask
    it; `reveal()` gives the text, only where an engine is created. (It pickles whole: a
    worker on another machine needs the password to connect.)"""

    __slots__ = ("_text",)

    def __init__(self, text: str | SecretURL) -> None:
        self._text = text.reveal() if isinstance(text, SecretURL) else text

    def reveal(self) -> str:
        return self._text

    def url(self) -> URL:
        """The parsed URL (its own repr masks the password too)."""
        return parse_url(self._text)

    def __str__(self) -> str:
        return mask_text(self._text)

    def __repr__(self) -> str:
        return f"SecretURL({mask_text(self._text)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretURL) and other._text == self._text

    def __hash__(self) -> int:
        return hash(self._text)

    def __getstate__(self) -> str:
        return self._text

    def __setstate__(self, state: str) -> None:
        self._text = state
