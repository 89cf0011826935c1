import re
from datetime import datetime
from decimal import Decimal

import pytest

from xmlload.contract.expressions import compile_expression
from xmlload.errors import ExpressionError

FORMATS = ["%m/%d/%Y", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d"]


def ev(source: str, **env: object) -> object:
    return compile_expression(source, FORMATS).evaluate(env)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("1 + 2 * 3", Decimal(7)),
        ("(1 + 2) * 3", Decimal(9)),
        ("10 - 4 - 3", Decimal(3)),
        ("2 * 3 / 4", Decimal("1.5")),
        ("-2 * 3", Decimal(-6)),
        ("7 % 4", Decimal(3)),
        ("'a' || 'b' || 1", "ab1"),
    ],
)
def test_arithmetic_precedence(source: str, expected: object) -> None:
    assert ev(source) == expected


def test_boolean_precedence_and_before_or_not_binds_tightest() -> None:
    assert ev("TRUE OR FALSE AND FALSE") is True  # AND first
    assert ev("(TRUE OR FALSE) AND FALSE") is False
    assert ev("NOT FALSE AND FALSE") is False  # (NOT FALSE) AND FALSE
    assert ev("NOT (FALSE AND FALSE)") is True


def test_attribute_strings_convert_for_arithmetic_and_comparison() -> None:
    assert ev("months + years * 12", months="3", years="2") == Decimal(27)
    assert ev("salary / 12", salary="120000") == Decimal(10000)
    assert ev("score > 700", score="712") is True
    assert ev("score > 700", score="") is None  # empty is NULL against a number


def test_null_propagates_and_three_valued_logic() -> None:
    assert ev("a + 1", a="") is None
    assert ev("a + 1") is None
    assert ev("a = 'x'") is None
    assert ev("a = 'x' OR TRUE") is True
    assert ev("a = 'x' AND FALSE") is False
    assert ev("NOT (a = 'x')") is None


def test_is_null_and_is_empty() -> None:
    assert ev("a IS NULL") is True
    assert ev("a IS NULL", a="") is False
    assert ev("a IS EMPTY", a="  ") is True
    assert ev("a IS NOT EMPTY", a="v") is True
    assert ev("a IS NOT NULL", a="v") is True


def test_case_searched_and_simple() -> None:
    searched = "CASE WHEN b = 'ANNUM' THEN s / 12 WHEN b = 'MONTH' THEN s ELSE 0 END"
    assert ev(searched, b="ANNUM", s="1200") == Decimal(100)
    assert ev(searched, b="MONTH", s="1200") == "1200"  # a value passes through unchanged
    assert ev(searched, b="other", s="1200") == Decimal(0)
    assert ev("CASE b WHEN 'X' THEN 1 WHEN 'Y' THEN 2 END", b="Y") == Decimal(2)
    assert ev("CASE b WHEN 'X' THEN 1 END", b="Z") is None


def test_like_in_and_negations() -> None:
    assert ev("m LIKE 'TU%'", m="TU FICO 09") is True
    assert ev("m LIKE 'V4_%'", m="V4_01") is True
    assert ev("m LIKE 'V4_%'", m="V4") is False
    assert ev("m NOT LIKE 'a.c'", m="abc") is True  # dot is literal
    assert ev("r IN ('PR', 'AUTHU')", r="AUTHU") is True
    assert ev("r NOT IN ('PR', 'AUTHU')", r="SEC") is True
    assert ev("r IN ('PR')") is None


def test_dates_compare_and_shift() -> None:
    assert ev("d > DATE('2023-10-11')", d="2023-9-21 8:46:18.164") is False
    assert ev("d > DATE('2023-10-11')", d="10/12/2023") is True
    assert ev("DATEADD(month, 1, d)", d="01/31/2024") == datetime(2024, 2, 29)
    assert ev("DATEADD(day, -1, d)", d="2024-03-01") == datetime(2024, 2, 29)
    assert ev("DATEDIFF(day, a, b)", a="2024-01-01", b="2024-03-01") == Decimal(60)
    assert ev("DATEDIFF(year, a, b)", a="2000-05-01", b="2024-06-01") == Decimal(24)


def test_string_functions() -> None:
    assert ev("UPPER(TRIM(a))", a="  ab ") == "AB"
    assert ev("SUBSTR(a, 2, 3)", a="abcdef") == "bcd"
    assert ev("LENGTH(a)", a="abc") == Decimal(3)
    assert ev("DIGITS(a)", a="(555) 555-5555") == "5555555555"
    assert ev("COALESCE(a, b, 'z')", a="", b="y") == "y"
    assert ev("REPLACE(a, '-', '')", a="1-2-3") == "123"
    assert ev("ROUND(a, 1)", a="2.25") == Decimal("2.3")
    assert ev("NULLIF(a, 'x')", a="x") is None


def test_names_are_collected() -> None:
    expression = compile_expression("a + b * CASE WHEN c IS EMPTY THEN 1 END", FORMATS)
    assert expression.names == {"a", "b", "c"}


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("1 +", "position 4"),
        ("a + * b", "position 5"),
        ("CASE WHEN a THEN 1", "expected END"),
        ("FOO(a)", "unknown function 'FOO'"),
        ("SUBSTR(a)", "takes 2 to 3"),
        ("DATEADD(week, 1, a)", "unknown date unit"),
        ("a $ b", "unexpected character '$'"),
        ("a NOT b", "expected LIKE or IN"),
        ("app.field = 1", "use inputs to bind a path"),
    ],
)
def test_syntax_errors_say_where(source: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=re.escape(message)):
        compile_expression(source, FORMATS)


def test_runtime_errors_are_expression_errors() -> None:
    with pytest.raises(ExpressionError, match="division by zero"):
        ev("a / 0", a="1")
    with pytest.raises(ExpressionError, match="not a number"):
        ev("a + 1", a="42710-not-1100")
    with pytest.raises(ExpressionError, match="not true/false"):
        ev("CASE WHEN a THEN 1 END", a="x")
