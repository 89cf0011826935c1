"""Value semantics shared by expressions and column conversion.

Documents deliver strings; these helpers turn them into numbers and datetimes on demand,
compare mixed types the way a SQL user expects, and implement three-valued logic.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from xmlload.errors import ExpressionError

_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<>": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def blank(value: Any) -> bool:
    """None or a string of only white space."""
    return value is None or (isinstance(value, str) and not value.strip())


def to_number(value: Any) -> Decimal | None:
    """Decimal from a number or numeric string; None for blank; ExpressionError otherwise."""
    if blank(value):
        return None
    if isinstance(value, Decimal):
        if value.is_finite():
            return value
        raise ExpressionError(f"{value!r} is not a finite number")
    if isinstance(value, bool):
        return Decimal(int(value))
    if isinstance(value, int | float):
        return Decimal(str(value))
    if isinstance(value, str):
        try:
            number = Decimal(value.strip().replace(",", ""))
        except InvalidOperation:
            raise ExpressionError(f"{value!r} is not a number") from None
        if number.is_finite():
            return number
    raise ExpressionError(f"{value!r} is not a number")


_DIRECTIVES = {"Y": r"(?P<year>\d{4})", "m": r"(?P<month>\d{1,2})", "d": r"(?P<day>\d{1,2})",
               "H": r"(?P<hour>\d{1,2})", "M": r"(?P<minute>\d{1,2})",
               "S": r"(?P<second>\d{1,2})", "f": r"(?P<fraction>\d{1,6})",
               "I": r"(?P<hour12>\d{1,2})", "p": r"(?P<half>[AaPp][Mm])"}  # fmt: skip


def _numeric_pattern(pattern: str) -> re.Pattern[str] | None:
    """A regex equivalent to a strptime format made only of numeric directives (and
    %I/%p for 12-hour times), else None."""
    parts, position = [], 0
    while position < len(pattern):
        char = pattern[position]
        if char == "%":
            directive = pattern[position + 1 : position + 2]
            if directive not in _DIRECTIVES:
                return None
            parts.append(_DIRECTIVES[directive])
            position += 2
        else:
            parts.append(re.escape(char))
            position += 1
    return re.compile("".join(parts) + r"\Z")


@lru_cache(maxsize=64)
def _compiled_formats(formats: tuple[str, ...]) -> tuple[tuple[str, re.Pattern[str] | None], ...]:
    return tuple((pattern, _numeric_pattern(pattern)) for pattern in formats)


def _hour(fields: dict[str, str | None]) -> int:
    twelve, half = fields.get("hour12"), fields.get("half")
    if twelve is None:
        return int(fields.get("hour") or 0)
    hour = int(twelve)
    if not 1 <= hour <= 12:
        raise ValueError(f"hour {hour} is not on a 12-hour clock")
    return hour % 12 + (12 if half is not None and half.upper() == "PM" else 0)


def _from_match(match: re.Match[str]) -> datetime:
    fields = match.groupdict()
    fraction = fields.get("fraction")
    return datetime(
        int(fields.get("year") or 1900),
        int(fields.get("month") or 1),
        int(fields.get("day") or 1),
        _hour(fields),
        int(fields.get("minute") or 0),
        int(fields.get("second") or 0),
        int(fraction.ljust(6, "0")) if fraction else 0,
    )


def parse_datetime(text: str, formats: list[str]) -> datetime:
    """Parse with ISO first, then each format in order; ValueError if none fits.

    Formats made only of numeric directives run as precompiled regexes (strptime is slow);
    like strptime they accept unpadded numbers (`2023-9-21 8:46:18.164`). Results are
    cached: one document compares the same date many times (CASE branches, templates).
    """
    return _parse_datetime(text.strip(), tuple(formats))


def parse_datetime_as_is(text: str, formats: list[str]) -> datetime:
    """parse_datetime without trimming first (a column that says `trim: false`)."""
    return _parse_datetime(text, tuple(formats))


@lru_cache(maxsize=4096)
def _parse_datetime(text: str, formats: tuple[str, ...]) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        pass  # not ISO: try the contract's formats
    else:
        if moment.tzinfo is None:
            return moment
        # `2023-10-03T16:26:23Z`, `...+02:00`: columns hold plain timestamps, in UTC
        return moment.astimezone(UTC).replace(tzinfo=None)
    for pattern, regex in _compiled_formats(formats):
        try:
            if regex is None:
                return datetime.strptime(text, pattern)
            match = regex.match(text)
            if match:
                return _from_match(match)
        except ValueError:
            continue
    raise ValueError(f"{text!r} matches none of the formats {formats}")


def to_datetime(value: Any, formats: list[str]) -> datetime | None:
    if blank(value):
        return None
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        try:
            return parse_datetime(value, formats)
        except ValueError as error:
            raise ExpressionError(str(error)) from None
    raise ExpressionError(f"{value!r} is not a date")


def _coerce_pair(left: Any, right: Any, formats: list[str]) -> tuple[Any, Any]:
    """Bring two non-null operands to a common type for comparison."""
    if isinstance(left, bool) or isinstance(right, bool):
        return bool(left) if not isinstance(left, str) else left, right
    if isinstance(left, date) or isinstance(right, date):
        return to_datetime(left, formats), to_datetime(right, formats)
    if isinstance(left, Decimal | int | float) or isinstance(right, Decimal | int | float):
        return to_number(left), to_number(right)
    return str(left), str(right)


def compare(op: str, left: Any, right: Any, formats: list[str]) -> bool | None:
    """SQL comparison: NULL if either side is NULL; mixed types coerced sensibly.

    Empty strings compare as strings ('' = '' is true); against a number or date an empty
    string is NULL.
    """
    if left is None or right is None:
        return None
    if isinstance(left, str) and isinstance(right, str):
        return _ORDER[op](left, right)
    left_value, right_value = _coerce_pair(left, right, formats)
    if left_value is None or right_value is None:
        return None
    return _ORDER[op](left_value, right_value)


def truth(value: Any) -> bool:
    """Whether a condition holds; NULL counts as not holding."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    raise ExpressionError(f"condition gave {value!r}, not true/false")


def _tri(value: Any) -> bool | None:
    return None if value is None else truth(value)


def logical_and(
    left: Callable[[Any], Any], right: Callable[[Any], Any], env: Mapping[str, Any]
) -> bool | None:
    first = _tri(left(env))
    if first is False:
        return False
    second = _tri(right(env))
    if second is False:
        return False
    return None if first is None or second is None else True


def logical_or(
    left: Callable[[Any], Any], right: Callable[[Any], Any], env: Mapping[str, Any]
) -> bool | None:
    first = _tri(left(env))
    if first is True:
        return True
    second = _tri(right(env))
    if second is True:
        return True
    return None if first is None or second is None else False


def logical_not(value: Any) -> bool | None:
    state = _tri(value)
    return None if state is None else not state
