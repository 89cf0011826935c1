"""Operators and functions available to expressions. Each function takes the contract's
date formats first, then its arguments; NULL in gives NULL out unless stated."""

from __future__ import annotations

import calendar
import html
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any

from xmlload.contract.values import blank, to_datetime, to_number, truth
from xmlload.errors import ExpressionError

__all__ = [
    "BINARY",
    "FUNCTIONS",
    "PURE",
    "UNIT_FUNCTIONS",
    "function_table",
    "loading_extension",
    "register_function",
    "truth",
]


def _arith(operation: Callable[[Decimal, Decimal], Decimal]) -> Callable[[Any, Any], Any]:
    def run(left: Any, right: Any) -> Decimal | None:
        a, b = to_number(left), to_number(right)
        if a is None or b is None:
            return None
        return operation(a, b)

    return run


def _divide(a: Decimal, b: Decimal) -> Decimal:
    if b == 0:
        raise ExpressionError("division by zero")
    return a / b


def _modulo(a: Decimal, b: Decimal) -> Decimal:
    if b == 0:
        raise ExpressionError("division by zero")
    return a % b


def _concat(left: Any, right: Any) -> str | None:
    if left is None or right is None:
        return None
    return _text(left) + _text(right)


def _text(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "+": _arith(lambda a, b: a + b),
    "-": _arith(lambda a, b: a - b),
    "*": _arith(lambda a, b: a * b),
    "/": _arith(_divide),
    "%": _arith(_modulo),
    "||": _concat,
}


def negate(value: Any) -> Decimal | None:
    number = to_number(value)
    return None if number is None else -number


def is_empty(value: Any) -> bool:
    return blank(value)


@lru_cache(maxsize=256)
def like_regex(pattern: str) -> re.Pattern[str]:
    """SQL LIKE: % any run, _ one character; everything else literal."""
    parts = ("." if c == "_" else ".*" if c == "%" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.DOTALL)


def like(value: Any, regex: re.Pattern[str], negate_result: bool) -> bool | None:
    if value is None:
        return None
    return (regex.fullmatch(_text(value)) is not None) != negate_result


UNITS = {"year", "month", "day", "hour", "minute", "second"}
UNIT_FUNCTIONS = {"DATEADD", "DATEDIFF"}


def check_unit(unit: str) -> str:
    lowered = unit.lower()
    if lowered not in UNITS:
        raise ExpressionError(f"unknown date unit {unit!r}; use one of {sorted(UNITS)}")
    return lowered


def _add_months(moment: datetime, months: int) -> datetime:
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def _dateadd(formats: list[str], unit: str, amount: Any, value: Any) -> datetime | None:
    moment, count = to_datetime(value, formats), to_number(amount)
    if moment is None or count is None:
        return None
    if unit in {"year", "month"}:
        return _add_months(moment, int(count) * (12 if unit == "year" else 1))
    return moment + timedelta(**{unit + "s": float(count)})


def _datediff(formats: list[str], unit: str, start: Any, end: Any) -> Decimal | None:
    first, second = to_datetime(start, formats), to_datetime(end, formats)
    if first is None or second is None:
        return None
    if unit in {"year", "month"}:
        months = (second.year - first.year) * 12 + second.month - first.month
        return Decimal(months // 12 if unit == "year" else months)
    seconds = {"day": 86400, "hour": 3600, "minute": 60, "second": 1}[unit]
    return Decimal(int((second - first).total_seconds() // seconds))


def _string(function: Callable[..., Any]) -> Callable[..., Any]:
    def run(formats: list[str], value: Any, *rest: Any) -> Any:
        return None if value is None else function(_text(value), *rest)

    return run


def _substr(text: str, start: Any, length: Any = None) -> str:
    begin = max(int(to_number(start) or 1) - 1, 0)
    if length is None:
        return text[begin:]
    return text[begin : begin + int(to_number(length) or 0)]


def _round(formats: list[str], value: Any, places: Any = 0) -> Decimal | None:
    number = to_number(value)
    if number is None:
        return None
    exponent = Decimal(1).scaleb(-int(to_number(places) or 0))
    return number.quantize(exponent, rounding=ROUND_HALF_UP)


def _date(formats: list[str], value: Any) -> date | None:
    moment = to_datetime(value, formats)
    return None if moment is None else moment.date()


def _coalesce(formats: list[str], *values: Any) -> Any:
    return next((value for value in values if not blank(value)), None)


def _nullif(formats: list[str], value: Any, other: Any) -> Any:
    return None if value == other else value


def _absolute(formats: list[str], value: Any) -> Decimal | None:
    number = to_number(value)
    return None if number is None else abs(number)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "UPPER": _string(str.upper),
    "LOWER": _string(str.lower),
    "TRIM": _string(str.strip),
    "LENGTH": _string(lambda text: Decimal(len(text))),
    "SUBSTR": _string(_substr),
    "REPLACE": _string(lambda text, old, new: text.replace(_text(old), _text(new or ""))),
    "DIGITS": _string(lambda text: "".join(c for c in text if c.isdigit())),
    "HTML_UNESCAPE": _string(html.unescape),
    "CONCAT": lambda formats, *values: "".join(_text(v) for v in values if v is not None),
    "COALESCE": _coalesce,
    "NULLIF": _nullif,
    "NUMBER": lambda formats, value: to_number(value),
    "ROUND": _round,
    "ABS": _absolute,
    "DATE": _date,
    "DATETIME": lambda formats, value: to_datetime(value, formats),
    "DATEADD": _dateadd,
    "DATEDIFF": _datediff,
}
# The built-in functions depend on their arguments only: with literal arguments they are
# evaluated once, when the expression is compiled. Extension functions are not assumed pure.
PURE = frozenset(FUNCTIONS)
# The time of evaluation (UTC), for defaults such as "now when the document has none".
FUNCTIONS["NOW"] = lambda formats: datetime.now(UTC).replace(tzinfo=None)
_ARITY: dict[str, tuple[int, int]] = {
    "SUBSTR": (2, 3),
    "REPLACE": (3, 3),
    "CONCAT": (1, 99),
    "COALESCE": (1, 99),
    "NULLIF": (2, 2),
    "ROUND": (1, 2),
    "DATEADD": (3, 3),
    "DATEDIFF": (3, 3),
    "NOW": (0, 0),
}


FunctionTable = Mapping[str, Callable[..., Any]]
# Functions extension modules registered, by module: a plan sees only its own extensions'.
_BY_MODULE: dict[str, dict[str, Callable[..., Any]]] = {}
_LOADING: list[str] = []  # the extension module being imported for a plan, if any


def register_function(name: str, function: Callable[..., Any], low: int, high: int) -> None:
    """Make `NAME(args)` available to the expressions of contracts that list the calling
    module in `extensions` (call it when the module is imported).

    `function` receives the contract's date formats first, then the argument values.
    """
    key = name.upper()
    if key in FUNCTIONS:
        raise ValueError(f"function {key} is built in")
    module = _LOADING[-1] if _LOADING else sys._getframe(1).f_globals.get("__name__", "")
    _BY_MODULE.setdefault(module, {})[key] = function
    _ARITY[key] = (low, high)


@contextmanager
def loading_extension(module: str) -> Iterator[None]:
    """While `module` is imported, the functions registered are its own."""
    _LOADING.append(module)
    try:
        yield
    finally:
        _LOADING.pop()


def function_table(modules: Sequence[str] = ()) -> FunctionTable:
    """The built-in functions and those the given extension modules registered; the same
    name from two modules is a ValueError."""
    table: dict[str, Callable[..., Any]] = dict(FUNCTIONS)
    for module in modules:
        for name, function in _BY_MODULE.get(module, {}).items():
            if table.get(name, function) is not function:
                raise ValueError(f"function {name} comes from two extensions")
            table[name] = function
    return table


def check_arity(name: str, count: int, position: int) -> None:
    low, high = _ARITY.get(name, (1, 1))
    if not low <= count <= high:
        wanted = str(low) if low == high else f"{low} to {high}"
        raise ExpressionError(
            f"{name} at position {position} takes {wanted} argument(s), got {count}"
        )
