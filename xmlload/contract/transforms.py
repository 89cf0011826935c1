"""Column value conversion: trim, digits-only, value maps, type conversion, length and
scale checks, defaults. Built once per column into one closure."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from xmlload.contract.model import ColumnSpec, Defaults, ValueMap
from xmlload.contract.types import INTEGER_RANGES, ColumnType, parse_type
from xmlload.contract.values import parse_datetime_as_is, to_number
from xmlload.errors import ExpressionError, ValueProblem

Converter = Callable[[Any], Any]
FIRST_NUMBER = re.compile(r"\d+(?:\.\d+)?")
TRUE_WORDS = {"1", "true", "t", "yes", "y"}
FALSE_WORDS = {"0", "false", "f", "no", "n"}


@dataclass
class Notes:
    """Per-document counts of values that were changed rather than loaded as given."""

    counts: Counter[str] = field(default_factory=Counter)

    def add(self, kind: str, where: str) -> None:
        self.counts[f"{kind}: {where}"] += 1

    def take(self) -> Counter[str]:
        taken, self.counts = self.counts, Counter()
        return taken


def _to_text(value: Any) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _to_integer(value: Any, round_fractions: bool) -> int:
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass  # "12.0", "1,200" and errors take the decimal route below
    if isinstance(value, bool):
        return int(value)
    number = to_number(value)
    if number is None:
        raise ValueProblem(f"{value!r} is not a whole number")
    if number != number.to_integral_value():
        if not round_fractions:
            raise ValueProblem(f"{value!r} is not a whole number")
        number = number.quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return int(number)


def _to_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    word = _to_text(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueProblem(f"{value!r} is not a yes/no value")


def _type_converter(kind: ColumnType, formats: list[str], round_fractions: bool) -> Converter:
    if kind.kind in ("string", "text"):
        return _to_text
    if kind.kind in INTEGER_RANGES:
        low, high = INTEGER_RANGES[kind.kind]

        def integer(value: Any) -> int:
            number = _to_integer(value, round_fractions)
            if not low <= number <= high:
                raise ValueProblem(f"{number} is out of range for {kind.kind}")
            return number

        return integer
    if kind.kind == "decimal":
        return _decimal_converter(kind)
    if kind.kind == "float":
        return lambda value: float(to_number(value))  # blanks never get here
    if kind.kind == "boolean":
        return _to_boolean
    if kind.kind == "date":
        return lambda value: _to_datetime(value, formats).date()
    return lambda value: _to_datetime(value, formats)


def _decimal_converter(kind: ColumnType) -> Converter:
    assert kind.precision is not None and kind.scale is not None
    exponent = Decimal(1).scaleb(-kind.scale)
    limit = Decimal(10) ** (kind.precision - kind.scale)

    def decimal(value: Any) -> Decimal:
        number = to_number(value)
        assert number is not None
        rounded = number.quantize(exponent, rounding=ROUND_HALF_UP)
        if abs(rounded) >= limit:
            raise ValueProblem(f"{value!r} does not fit {kind}")
        return rounded

    return decimal


def _to_datetime(value: Any, formats: list[str]) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    try:
        return parse_datetime_as_is(_to_text(value), formats)
    except ValueError as error:
        raise ValueProblem(str(error)) from None


def value_map_lookup(spec: ValueMap, notes: Notes, where: str) -> Converter:
    """Exact key, then any case (unless switched off), then the map's default; unmapped
    values are counted in `notes`."""
    exact = dict(spec.values)
    folded = {key.casefold(): value for key, value in exact.items()} if spec.ignore_case else {}
    has_default = "default" in spec.model_fields_set

    def lookup(value: Any) -> Any:
        key = _to_text(value)
        if key in exact:
            return exact[key]
        folded_key = key.casefold()
        if folded_key in folded:
            return folded[folded_key]
        notes.add("unmapped", f"{where} {key!r}")
        return spec.default if has_default else None

    return lookup


@dataclass(frozen=True)
class ColumnRules:
    """Everything needed to convert values of one column, resolved against defaults."""

    where: str
    kind: ColumnType
    spec: ColumnSpec
    defaults: Defaults

    @property
    def formats(self) -> list[str]:
        if self.spec.formats is not None:
            return self.spec.formats
        if self.kind.kind == "date":
            return self.defaults.date_formats
        return self.defaults.datetime_formats

    @property
    def invalid(self) -> str:
        """What a value that does not convert gives: `fail`, `null` (NULL, then the
        column's default) or `null_no_default` (NULL even where the column has a default,
        unless it is NOT NULL). A required value must be valid: the contract-wide setting
        does not apply to it."""
        spec = self.spec
        return spec.invalid or ("fail" if spec.required else self.defaults.invalid)

    @property
    def lenient(self) -> bool:
        """Whether a value that does not convert is NULL (counted) rather than a failure."""
        return self.invalid != "fail"

    @property
    def default_on_invalid(self) -> bool:
        return self.invalid != "null_no_default" or not self.spec.nullable


class InvalidKeptNull(Exception):
    """A value that did not convert, in a column whose default must not replace it."""


def build_converter(rules: ColumnRules, value_maps: dict[str, ValueMap], notes: Notes) -> Converter:
    """One closure: raw value in, typed value (or None) out; ValueProblem when invalid."""
    spec, kind, where = rules.spec, rules.kind, rules.where
    trim = rules.defaults.trim if spec.trim is None else spec.trim
    overflow = spec.overflow or rules.defaults.overflow
    lenient, default_on_invalid = rules.lenient, rules.default_on_invalid
    mapper = value_map_lookup(value_maps[spec.map], notes, where) if spec.map else None
    round_fractions = rules.defaults.fractional_integers == "round_half_up"
    typed = _type_converter(kind, rules.formats, round_fractions)
    length = kind.length
    plain = not (spec.digits_only or spec.first_number or spec.drop_last)
    if kind.kind in ("string", "text") and mapper is None and trim and plain:
        return _plain_text(length, overflow, notes, where, kind)

    digits_only, first_number, drop_last = spec.digits_only, spec.first_number, spec.drop_last

    def convert(value: Any) -> Any:
        if value is None:
            return None
        if value.__class__ is str:
            if trim:
                value = value.strip()
            if digits_only:
                value = "".join(c for c in value if c.isdigit())
                if digits_only == "number" and value:
                    value = str(int(value))
            elif first_number and not value.isdigit():
                found = FIRST_NUMBER.search(value)
                value = found.group() if found else value
            if value == "":
                return None
        if mapper is not None:
            value = mapper(value)
            if value is None:
                return None
        try:
            value = typed(value)
        except (ValueProblem, ExpressionError, ArithmeticError) as problem:
            if not lenient:
                raise ValueProblem(str(problem)) from None
            notes.add("invalid set to NULL", where)
            if not default_on_invalid:
                raise InvalidKeptNull from None
            return None
        if length is not None and len(value) > length:
            if overflow == "reject":
                raise ValueProblem(f"{len(value)} characters exceed {kind}")
            notes.add("truncated", where)
            value = value[:length].rstrip() if trim else value[:length]
        if drop_last and isinstance(value, str):
            value = value[:-drop_last].rstrip() if trim else value[:-drop_last]
            return value or None
        return value

    return convert


def _plain_text(
    length: int | None, overflow: str, notes: Notes, where: str, kind: ColumnType
) -> Converter:
    """The common case, kept short because it runs for most values: trimmed text."""

    def convert(value: Any) -> str | None:
        if value is None:
            return None
        text = value.strip() if isinstance(value, str) else _to_text(value)
        if not text:
            return None
        if length is not None and len(text) > length:
            if overflow == "reject":
                raise ValueProblem(f"{len(text)} characters exceed {kind}")
            notes.add("truncated", where)
            return text[:length].rstrip()
        return text

    return convert


def convert_default(rules: ColumnRules) -> Any:
    """The column's default, converted to its type (checked when the contract loads)."""
    if rules.spec.default is None:
        return None
    plain = rules.spec.model_copy(update={"map": None, "digits_only": False})
    return build_converter(
        ColumnRules(rules.where, rules.kind, plain, rules.defaults), {}, Notes()
    )(rules.spec.default)


def column_type(spec: ColumnSpec) -> ColumnType:
    return parse_type(spec.type)
