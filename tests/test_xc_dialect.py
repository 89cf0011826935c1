"""The `xmlconversion` expression dialect evaluates as the reference does (spec §7),
quirks included: each case is one of the spec's examples."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.conftest import write_contract
from xmlload.contract import xc_dialect
from xmlload.contract.loader import load_plan
from xmlload.errors import ExpressionError
from xmlload.sources.base import SourceDocument
from xmlload.stages.pipeline import DocumentPipeline


def value(expression: str, **context: str):
    return xc_dialect.evaluate(expression, context)


@pytest.mark.parametrize(("x", "expected"), [("0", "yes"), ("-5", "yes"), ("", None), (None, None)])
def test_unquoted_numbers_are_names_so_compare_with_empty(x, expected) -> None:
    # Q10: `x > 0` is true for any non-empty x
    context = {} if x is None else {"x": x}
    assert xc_dialect.evaluate("CASE WHEN x > 0 THEN 'yes' END", context) == expected


def test_equality_of_a_single_condition_respects_case_and_chains_uppercase() -> None:
    # Q9
    assert value("CASE WHEN t = 'CM' THEN 'y' ELSE 'n' END", t="cm") == "n"
    assert (
        value("CASE WHEN t = 'cm' AND x IS NOT EMPTY THEN 'y' ELSE 'n' END", t="cm", x="1") == "n"
    )
    assert (
        value("CASE WHEN t = 'cm' AND x IS NOT EMPTY THEN 'y' ELSE 'n' END", t="CM", x="1") == "y"
    )


def test_like_ignores_case_and_dot_is_a_wildcard() -> None:
    assert value("CASE WHEN c LIKE 'V4_%' THEN 'y' ELSE 'n' END", c="v4x") == "y"
    assert value("CASE WHEN c LIKE 'V4_%' THEN 'y' ELSE 'n' END", c="V4") == "n"
    assert value("CASE WHEN c LIKE 'a.c' THEN 'y' ELSE 'n' END", c="abc") == "y"


def test_and_or_mixing_and_parentheses_are_not_parsed() -> None:
    # Q11
    assert value("CASE WHEN (m > 0 OR y > 0) THEN (m + (y * 12)) END", m="3", y="") is None
    assert value("CASE WHEN a='1' OR b='2' AND c='3' THEN 'y' ELSE 'n' END", a="1") == "n"


def test_case_and_end_are_deleted_inside_literals() -> None:
    # Q12
    assert value("CASE WHEN x IS NOT EMPTY THEN 'END' END", x="1") == ""


def test_value_names_are_exact_but_conditions_ignore_case() -> None:
    # Q13: the context key is lowercased; THEN looks it up exactly
    context = {"app_product.mixedcase": "v"}
    text = "CASE WHEN app_product.MixedCase IS NOT EMPTY THEN app_product.MixedCase END"
    assert xc_dialect.evaluate(text, context) is None
    text = "CASE WHEN app_product.MixedCase IS NOT EMPTY THEN app_product.mixedcase END"
    assert xc_dialect.evaluate(text, context) == "v"


def test_arithmetic_needs_every_name_and_counts_text_as_zero() -> None:
    # Q15
    assert value("m + (y * 12)", m="3") is None
    assert value("m + (y * 12)", m="3", y="abc") == 3.0
    assert value("m + (y * 12)", m="3", y="2") == 27.0
    assert value("x % 2", x="3") is None
    assert value("a / b", a="1", b="0") is None


def test_salary_basis_example() -> None:
    # Q16: MONTH * 12, HOURLY as is, lowercase basis falls to ELSE
    text = ("CASE WHEN basis = 'ANNUM' THEN s / 12 WHEN basis = 'MONTH' THEN s * 12 "
            "WHEN basis = 'HOURLY' THEN s ELSE s END")  # fmt: skip
    assert value(text, basis="MONTH", s="1200") == 14400.0
    assert value(text, basis="HOURLY", s="20") == "20"
    assert value(text, basis="annum", s="1200") == "1200"


def test_dates_compare_only_in_the_known_formats() -> None:
    # Q34: ISO 'T' values never compare with DATE(...)
    text = "CASE WHEN r > DATE('2023-10-11') THEN 'after' ELSE 'before' END"
    assert value(text, r="2023-10-12") == "after"
    assert value(text, r="10/12/2023") == "after"
    assert value(text, r="2023-10-12T00:00:00") == "before"
    # Q33: DATE(name) inside an AND chain never matches
    chained = "CASE WHEN x IS NOT EMPTY AND DATE(r) > DATE('2023-01-01') THEN 'y' ELSE 'n' END"
    assert value(chained, x="1", r="2023-10-12") == "n"


def test_dateadd_only_as_a_whole_value_and_drops_the_time() -> None:
    text = "CASE WHEN d IS NOT EMPTY THEN DATEADD(day, n, d) END"
    assert value(text, d="2023-01-30 10:00:00", n="3") == "2023-02-02"
    assert value(text, d="2023-01-30", n="") == "2023-01-30"
    assert value(text, d="2023-01-30", n="x") is None
    assert value("DATEADD(day, 1, d)", d="2023-01-30") is None


def test_numbers_and_literals_as_values() -> None:
    assert value("CASE WHEN x IS EMPTY THEN 5 ELSE 2.5 END") == 5
    assert value("CASE WHEN x IS EMPTY THEN 5 ELSE 2.5 END", x="1") == 2.5
    assert value("CASE WHEN x IS NULL THEN NULL ELSE x END") is None


def test_check_rejects_what_can_never_give_a_value() -> None:
    for text in ("CASE WHEN x THEN", "", "a ; b"):
        with pytest.raises(ExpressionError):
            xc_dialect.check(text)
    xc_dialect.check("CASE WHEN x IS EMPTY THEN 1 END")


def test_arithmetic_that_does_not_parse_is_null_for_that_document_only(tmp_path) -> None:
    # Before: Python's SyntaxError escaped the evaluator and ended the whole run with a
    # traceback; the reference engine gives None for any failure.
    assert value("a +", a="1") is None
    assert value("CASE WHEN a IS NOT EMPTY THEN (a * 2 END", a="1") is None
    contract = write_contract(
        tmp_path,
        """document: {root: r, element: /r, id: {path: "/r/@id", column: id, type: bigint}}
tables:
  t:
    columns:
      broken: {type: text, expr: "a +", dialect: xmlconversion, inputs: {a: "@a"}}
      doubled: {type: integer, expr: "a * 2", dialect: xmlconversion, inputs: {a: "@a"}}
""",
    )
    pipeline = DocumentPipeline(load_plan(contract), 1 << 20)
    outcome = pipeline.process(SourceDocument("d.xml", b'<r id="1" a="5"/>'))
    assert outcome.message is None and outcome.rows == {"t": [(1, None, 10)]}


def test_a_condition_that_does_not_parse_fails_its_branch_when_reached() -> None:
    assert value("CASE WHEN x THEN 1 ELSE 2 END", x="1") == 2
    assert value("CASE WHEN x IS NOT EMPTY AND y THEN 1 ELSE 2 END", x="1") == 2
    assert value("CASE WHEN y OR x IS NOT EMPTY THEN 1 ELSE 2 END", x="1") == 2
    assert value("CASE WHEN x IS NOT EMPTY OR y THEN 1 ELSE 2 END", x="1") == 1


_CONDITIONS = [
    "x IS NOT EMPTY AND t = 'A'",
    "x IS NOT EMPTY AND t = 'B'",
    "x IS NOT EMPTY AND t = 'a'",
    "x IS NOT EMPTY AND T = 'B' AND y IS EMPTY",
    "t = 'A'",
    "t = 'B'",
    "T = 'A'",
    "t = '1'",
    "t = ''",
    "x IS EMPTY",
    "t = 'A' OR y IS NOT EMPTY",
    "y",
    "t > 'B'",
    "DATE(d) > DATE('2020-01-01')",
    "x IS NOT EMPTY AND DATE(d) > DATE('2020-01-01')",
]


@settings(max_examples=400, deadline=None)
@example(["x IS NOT EMPTY AND t = 'A'", "x IS NOT EMPTY AND t = 'B'", "x IS NOT EMPTY AND t = 'A'"],
         {"x": "1", "t": "A"})  # fmt: skip
@example(["t = 'B'", "t = 'A'", "y", "t = 'A'", "t = 'B'"], {"t": "B"})
@given(
    st.lists(st.sampled_from(_CONDITIONS), min_size=1, max_size=8),
    st.fixed_dictionaries(
        {},
        optional={
            "x": st.sampled_from(["", "1", " "]),
            "y": st.sampled_from(["", "v"]),
            "t": st.sampled_from(["A", "B", "a", "1", "1.0", "", "C"]),
            "d": st.sampled_from(["2021-05-01", "2019-01-01", "junk"]),
        },
    ),
)
def test_a_case_gives_what_its_branches_give_one_by_one(conditions, context) -> None:
    """Shared first conditions and literal lookups change nothing: the value is that of
    the first branch that holds when it is the only branch, else the ELSE."""
    whens = " ".join(f"WHEN {c} THEN 'b{i}'" for i, c in enumerate(conditions))
    whole = xc_dialect.evaluate(f"CASE {whens} ELSE 'none' END", context)
    alone = [
        xc_dialect.evaluate(f"CASE WHEN {c} THEN 'b{i}' ELSE 'none' END", context)
        for i, c in enumerate(conditions)
    ]
    assert whole == next((hit for hit in alone if hit != "none"), "none")
