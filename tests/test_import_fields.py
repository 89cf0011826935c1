"""`contract import`, the field pipeline (spec §2.1, §4.2, §5.1-§5.9, §6, §8.2): each rule
as a small reference contract and document, expected values written from the spec."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from tests.reference.harness import APP, document, load, mapping, one

T = "app_things"


def things(*columns: dict) -> list[dict]:
    return list(columns)


def test_standard_path_reads_the_last_element_and_any_attribute_case(tmp_path) -> None:
    # §4.1/Q17: the last element with the path wins; §4.2 rule 7: exact, then any case
    found = load(tmp_path, things(
        mapping(T, "model", f"{APP}/app_product", "Model"),
        mapping(T, "code", f"{APP}/app_product", "CODE"),
        mapping(T, "note", f"{APP}/app_product/note", "text"),
    ), document(body='<app_product model="first" code="c1"/><app_product model="second">'
                     '<note>  hello </note></app_product>'))  # fmt: skip
    row = one(found, T)
    assert (row["model"], row["code"], row["note"]) == ("second", None, "hello")


def test_integers_without_a_type_take_the_first_number(tmp_path) -> None:
    # §6.4/Q3: "36.50" -> 37, "12abc" -> 12, "1,234" -> 1, "-5" -> 5; with a type: strict
    cases = {"a": "36.50", "b": "12abc", "c": "1,234", "d": "-5", "e": "abc"}
    columns = [mapping(T, f"n_{k}", APP, k, "int") for k in cases]
    columns += [
        mapping(T, f"t_{k}", APP, k, "int", mapping_type=["identity_insert"])
        for k in ("c", "d", "b")
    ]
    attributes = " ".join(f'{k}="{v}"' for k, v in cases.items())
    row = one(load(tmp_path, columns, document(attributes)), T)
    assert [row[f"n_{k}"] for k in cases] == [37, 12, 1, 5, None]
    assert [row["t_c"], row["t_d"], row["t_b"]] == [1234, -5, None]


def test_decimal_places_follow_data_length_without_a_type_and_2_after_one(tmp_path) -> None:
    # §6.5/Q36/Q37: half-up on the decimal text; data_length places only without a type
    columns = [mapping(T, "plain", APP, "x", "decimal", data_length=1),
               mapping(T, "typed", APP, "x", "decimal", data_length=1,
                       mapping_type=["extract_date"]),
               mapping(T, "half", APP, "y", "decimal")]  # fmt: skip
    row = one(load(tmp_path, columns, document('x="12.345" y="1.005"')), T)
    assert (row["plain"], row["typed"], row["half"]) == (
        Decimal("12.3"), Decimal("12.35"), Decimal("1.01"))  # fmt: skip


def test_bit_without_char_to_bit_is_true_for_any_text(tmp_path) -> None:
    # §6.1/Q4: "0", "N", "false" -> 1; a default "0" -> 1; blank -> default
    columns = [mapping(T, f"b_{k}", APP, k, "bit") for k in ("zero", "n", "false")]
    columns.append(mapping(T, "blank", APP, "missing", "bit", default_value="0"))
    row = one(load(tmp_path, columns, document('zero="0" n="N" false="false"')), T)
    assert [row["b_zero"], row["b_n"], row["b_false"], row["blank"]] == [True] * 4


def test_fixed_bits_read_yes_and_no(tmp_path) -> None:
    columns = [mapping(T, f"b_{k}", APP, k, "bit") for k in ("zero", "n", "yes")]
    row = one(load(tmp_path, columns, document('zero="0" n="N" yes="Y"'), fix=True), T)
    assert [row["b_zero"], row["b_n"], row["b_yes"]] == [False, False, True]


def test_negative_and_zero_lengths_are_slices(tmp_path) -> None:
    # Q1: -1 cuts the last character, -3 three; 0 gives '' (NULL); cut then trimmed
    columns = [mapping(T, "minus1", APP, "s", data_length=-1),
               mapping(T, "minus3", APP, "s", data_length=-3),
               mapping(T, "zero", APP, "s", data_length=0),
               mapping(T, "four", APP, "t", data_length=4)]  # fmt: skip
    row = one(load(tmp_path, columns, document('s="ABCDEF" t="abc def"')), T)
    assert (row["minus1"], row["minus3"], row["zero"], row["four"]) == ("ABCDE", "ABC", None, "abc")
    fixed = one(load(tmp_path, columns, document('s="ABCDEF" t="abc def"'), fix=True), T)
    assert (fixed["minus1"], fixed["minus3"]) == ("ABCDEF", "ABCDEF")


def test_defaults_for_blank_values_and_not_null_fallbacks(tmp_path) -> None:
    # §8.2: a truthy default applies to blank values, nullable or not; a NOT NULL
    # column whose value does not convert gets the raw default; a falsy default of a
    # nullable column is ignored
    columns = [
        mapping(T, "city", APP, "city", default_value="MISSING"),
        mapping(T, "when", APP, "when", "datetime", nullable=False, default_value="1900-01-01"),
        mapping(T, "count", APP, "count", "int", default_value=0),
        mapping(T, "name", APP, "name"),
    ]
    row = one(load(tmp_path, columns, document('city="" when="not a date" name="n"')), T)
    assert row["city"] == "MISSING"
    assert row["when"] == datetime(1900, 1, 1)
    assert row["count"] is None


def test_an_unconvertible_value_of_a_nullable_column_is_null_despite_its_default(
    tmp_path,
) -> None:
    # Q8: nullable with a default: "" -> the default, "bad" -> NULL (left out); NOT NULL
    # with "bad" -> the default
    columns = [
        mapping(T, "blank", APP, "blank", "datetime", default_value="1900-01-01"),
        mapping(T, "bad", APP, "bad", "datetime", default_value="1900-01-01"),
        mapping(T, "strict", APP, "bad", "datetime", nullable=False, default_value="1900-01-01"),
        mapping(T, "name", APP, "name"),
    ]  # fmt: skip
    data = document('blank="" bad="31/31/2020" name="n"')
    row = one(load(tmp_path, columns, data), T)
    assert (row["blank"], row["bad"], row["strict"]) == (
        datetime(1900, 1, 1), None, datetime(1900, 1, 1))  # fmt: skip
    # --fix-reference-defects: the default stands in for what does not convert
    fixed = one(load(tmp_path, columns, data, fix=True), T)
    assert fixed["bad"] == datetime(1900, 1, 1)


def test_dates_in_the_reference_formats(tmp_path) -> None:
    # §6.6: month first, then day first; a date column keeps the date
    values = {"a": "2023-9-21 8:46:18.164", "b": "03/04/2023", "c": "14/12/1988",
              "d": "2023-10-03T16:26:23", "e": "junk"}  # fmt: skip
    columns = [mapping(T, k, APP, k, "datetime") for k in values]
    columns.append(mapping(T, "day", APP, "b", "date"))
    row = one(
        load(tmp_path, columns, document(" ".join(f'{k}="{v}"' for k, v in values.items()))), T
    )
    assert row["a"] == datetime(2023, 9, 21, 8, 46, 18, 164000)
    assert row["b"] == datetime(2023, 3, 4)
    assert row["c"] == datetime(1988, 12, 14)
    assert row["d"] == datetime(2023, 10, 3, 16, 26, 23)
    assert row["e"] is None
    assert row["day"] == date(2023, 3, 4)


def test_enum_lookup_catch_all_and_misses(tmp_path) -> None:
    # §5.1: exact, then any case; the "" key maps blank and unknown codes (Q35); a miss is
    # NULL when nullable, the default when NOT NULL; enum_name picks the map; string values
    columns = [
        mapping(T, "status_enum", APP, "s", "smallint", mapping_type=["enum"]),
        mapping(
            T, "lower", APP, "lower", "smallint", mapping_type=["enum"], enum_name="status_enum"
        ),
        mapping(T, "kind_enum", APP, "k", "smallint", mapping_type=["enum"]),
        mapping(
            T, "kind_blank", APP, "none", "smallint", mapping_type=["enum"], enum_name="kind_enum"
        ),
        mapping(T, "missed", APP, "s2", "smallint", mapping_type=["enum"], enum_name="status_enum"),
        mapping(
            T,
            "strict",
            APP,
            "s2",
            "smallint",
            mapping_type=["enum"],
            enum_name="status_enum",
            nullable=False,
            default_value=7,
        ),
        mapping(
            T,
            "email",
            APP,
            "code",
            "string",
            data_length=50,
            mapping_type=["enum"],
            enum_name="email_by_code",
        ),
    ]
    row = one(load(tmp_path, columns, document('s="B" lower="a" k="zzz" s2="Q" code="S"')), T)
    assert [row[c] for c in ("status_enum", "lower", "kind_enum", "kind_blank", "missed",
                             "strict", "email")] == [
        2, 1, 99, 99, None, 7, "sales@example.com"]  # fmt: skip


@pytest.mark.parametrize(("value", "char", "boolean"), [
    ("Y", 1, 0), ("y", 1, 0), ("N", 0, 0), ("", 0, 0), ("true", 0, 1), ("TRUE", 0, 1), ("?", 0, 0),
])  # fmt: skip
def test_char_and_boolean_to_bit(tmp_path, value: str, char: int, boolean: int) -> None:
    # §5.2/§5.3: unknown and blank are 0; boolean_to_bit lowercases the value first
    columns = [
        mapping(T, "c", APP, "v", "bit", mapping_type=["char_to_bit"]),
        mapping(T, "b", APP, "v", "bit", mapping_type=["boolean_to_bit"]),
    ]
    row = one(load(tmp_path, columns, document(f'v="{value}"')), T)
    assert (row["c"], row["b"]) == (bool(char), bool(boolean))


def test_numbers_only_and_extract_numeric_read_a_number(tmp_path) -> None:
    # §5.4/§5.5/Q2: digits -> int(): leading zeros and points go; "00000" as a default stays
    columns = [
        mapping(T, "ssn", APP, "ssn", data_length=9, mapping_type=["numbers_only"]),
        mapping(
            T,
            "zip",
            APP,
            "zip",
            data_length=9,
            mapping_type=["numbers_only"],
            default_value="00000",
        ),
        mapping(T, "amount", APP, "amount", "decimal", mapping_type=["numbers_only"]),
        mapping(T, "fee", APP, "fee", "int", mapping_type=["extract_numeric"]),
        mapping(T, "none", APP, "na", "int", mapping_type=["extract_numeric"]),
    ]
    row = one(load(tmp_path, columns, document('ssn="012-34-5678" zip="" amount="12.50" '
                                               'fee="Up to $40" na="N/A"')), T)  # fmt: skip
    assert [row[c] for c in ("ssn", "zip", "amount", "fee", "none")] == [
        "12345678", "00000", Decimal("1250.00"), 40, None]  # fmt: skip
    fixed = one(load(tmp_path, columns, document('ssn="012-34-5678"'), fix=True), T)
    assert fixed["ssn"] == "012345678"


def test_default_getutcdate_if_null(tmp_path) -> None:
    # §5.6: a blank value is the current UTC time
    columns = [
        mapping(T, "stamp", APP, "s", "datetime", mapping_type=["default_getutcdate_if_null"]),
        mapping(T, "given", APP, "g", "datetime", mapping_type=["default_getutcdate_if_null"]),
    ]
    row = one(load(tmp_path, columns, document('g="2020-05-06"')), T)
    assert abs(row["stamp"] - datetime.utcnow()) < timedelta(minutes=1)
    assert row["given"] == datetime(2020, 5, 6)


def test_generic_table_rows_exist_only_with_meaningful_values(tmp_path) -> None:
    # §8.3: a default does not make the row; a value does; a bit mapping always does
    quiet = [mapping(T, "a", APP, "a", default_value="D"), mapping(T, "b", APP, "b")]
    assert load(tmp_path, quiet, document())[T] == []
    assert one(load(tmp_path, quiet, document('b="x"')), T)["a"] == "D"
    loud = [*quiet, mapping(T, "flag", APP, "f", "bit", mapping_type=["char_to_bit"])]
    assert one(load(tmp_path, loud, document()), T)["flag"] is False
