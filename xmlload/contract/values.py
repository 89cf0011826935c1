"""Value semantics shared by expressions and column conversion.

Documents deliver strings; these helpers turn them into numbers and datetimes on demand,
compare mixed types the way a SQL user expects, and implement three-valued logic.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
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
        return value
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


def parse_datetime(text: str, formats: list[str]) -> datetime:
    """Parse with ISO first, then each format in order; ValueError if none fits."""
    text = text.strip()
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    for pattern in formats:
        try:
            return datetime.strptime(text, pattern)
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
