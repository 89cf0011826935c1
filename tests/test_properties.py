"""Property-based tests: no input makes the expression language, the transforms or the
value maps raise anything but their documented error types."""

from __future__ import annotations

import contextlib
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xmlload.contract.expressions import compile_expression
from xmlload.contract.model import ColumnSpec, Defaults, ValueMap
from xmlload.contract.transforms import ColumnRules, Notes, build_converter, column_type
from xmlload.errors import ExpressionError, ValueProblem

FORMATS = Defaults().datetime_formats
TYPES = [
    "string(5)",
    "text",
    "tinyint",
    "smallint",
    "integer",
    "bigint",
    "decimal(6,2)",
    "float",
    "boolean",
    "date",
    "datetime",
]
TOKENS = [
    "a",
    "b",
    "1",
    "2.5",
    "'x'",
    "''",
    "NULL",
    "TRUE",
    "+",
    "-",
    "*",
    "/",
    "%",
    "||",
    "=",
    "<>",
    "<",
    ">=",
    "AND",
    "OR",
    "NOT",
    "(",
    ")",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "IS",
    "EMPTY",
    "LIKE",
    "'a%'",
    "IN",
    ",",
    "UPPER",
    "DATEADD",
    "day",
    "COALESCE",
    "SUBSTR",
    "DATE",
    "'2024-02-30'",
]
values = st.one_of(
    st.none(),
    st.text(max_size=12),
    st.sampled_from(
        ["0", "12", "-3.5", "1e999", "NaN", "Infinity", "2024-01-31", "01/31/2024", "yes", "  "]
    ),
)
settings_ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@settings_
@given(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=14), values, values)
def test_expressions_only_raise_expression_errors(tokens: list[str], a: object, b: object) -> None:
    try:
        expression = compile_expression(" ".join(tokens), FORMATS)
    except ExpressionError:
        return
    with contextlib.suppress(ExpressionError):
        expression.evaluate({"a": a, "b": b})


@settings_
@given(st.text(max_size=30))
def test_arbitrary_text_never_crashes_the_parser(source: str) -> None:
    with contextlib.suppress(ExpressionError):
        compile_expression(source, FORMATS)


@settings_
@given(
    st.sampled_from(TYPES),
    st.booleans(),
    st.sampled_from(["truncate", "reject"]),
    st.sampled_from(["fail", "null"]),
    st.one_of(
        values,
        st.integers(),
        st.booleans(),
        st.decimals(allow_nan=True, allow_infinity=True),
        st.floats(),
    ),
)
def test_converters_only_raise_value_problems(
    kind: str, digits: bool, overflow: str, invalid: str, value: object
) -> None:
    spec = ColumnSpec(type=kind, path="@x", digits_only=digits, overflow=overflow, invalid=invalid)
    convert = build_converter(ColumnRules("t.c", column_type(spec), spec, Defaults()), {}, Notes())
    try:
        result = convert(value)
    except ValueProblem:
        assert invalid == "fail" or (kind == "string(5)" and overflow == "reject")
        return
    if kind == "string(5)" and result is not None:
        assert len(result) <= 5
    if kind == "decimal(6,2)" and result is not None:
        assert isinstance(result, Decimal) and abs(result) < 10_000


@settings_
@given(
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=5),
    st.text(max_size=6),
    st.booleans(),
)
def test_value_maps_never_raise(mapping: dict[str, int], value: str, ignore_case: bool) -> None:
    mapping = {key: number for key, number in mapping.items() if key.strip()}
    maps = {"m": ValueMap(values=mapping, ignore_case=ignore_case)}
    spec = ColumnSpec(type="bigint", path="@x", map="m")
    convert = build_converter(
        ColumnRules("t.c", column_type(spec), spec, Defaults()), maps, Notes()
    )
    result = convert(value)
    if value.strip() in mapping:
        assert result == mapping[value.strip()]
