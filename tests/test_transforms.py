from datetime import date, datetime
from decimal import Decimal

import pytest

from xmlload.contract.model import ColumnSpec, Defaults, ValueMap
from xmlload.contract.transforms import (
    ColumnRules,
    Notes,
    build_converter,
    column_type,
    convert_default,
)
from xmlload.errors import ValueProblem

MAPS = {
    "decision": ValueMap(values={"APPRV": 50, "DECLN": 51}),
    "with_default": ValueMap(values={"A": 1}, default=99),
    "exact_only": ValueMap(values={"A": 1}, ignore_case=False),
    "bits": ValueMap(values={"Y": 1, "N": 0, "U": 1}),
}


def converter(notes: Notes | None = None, defaults: Defaults | None = None, **spec: object):
    column = ColumnSpec.model_validate({"path": "@x", **spec})
    rules = ColumnRules("t.c", column_type(column), column, defaults or Defaults())
    return build_converter(rules, MAPS, notes or Notes())


def test_trim_and_empty_become_null() -> None:
    convert = converter(type="string(10)")
    assert convert("  ab  ") == "ab"
    assert convert("   ") is None
    assert convert(None) is None
    assert converter(type="string(10)", trim=False)(" ab ") == " ab "


def test_digits_only() -> None:
    convert = converter(type="string(10)", digits_only=True)
    assert convert("(555) 555-5555") == "5555555555"
    assert convert("n/a") is None


def test_value_map_exact_then_case_insensitive_then_default() -> None:
    notes = Notes()
    convert = converter(notes, type="smallint", map="decision")
    assert convert("APPRV") == 50
    assert convert("apprv") == 50
    assert convert("WHAT") is None
    assert notes.take() == {"unmapped: t.c 'WHAT'": 1}
    assert converter(type="smallint", map="with_default")("zzz") == 99
    assert converter(type="smallint", map="exact_only")("a") is None


def test_boolean_words_and_char_map() -> None:
    convert = converter(type="boolean")
    assert [convert(v) for v in ("yes", "N", "true", "0", "T")] == [True, False, True, False, True]
    with pytest.raises(ValueProblem, match="not a yes/no value"):
        convert("maybe")
    assert converter(type="boolean", map="bits")("U") is True


def test_integer_types_check_range_and_wholeness() -> None:
    assert converter(type="integer")(" 42 ") == 42
    assert converter(type="integer")("42.0") == 42
    with pytest.raises(ValueProblem, match="not a whole number"):
        converter(type="integer")("4.5")
    with pytest.raises(ValueProblem, match="out of range for tinyint"):
        converter(type="tinyint")("256")
    with pytest.raises(ValueProblem, match="not a number"):
        converter(type="integer")("42710-not-1100")


def test_decimal_rounds_to_scale_and_rejects_overflow() -> None:
    convert = converter(type="decimal(6,2)")
    assert convert("1250.505") == Decimal("1250.51")
    assert convert("1,250.5") == Decimal("1250.50")
    with pytest.raises(ValueProblem, match="does not fit decimal"):
        convert("12345.6")


def test_dates_in_several_formats() -> None:
    convert = converter(type="datetime")
    assert convert("2023-9-21 8:46:18.164") == datetime(2023, 9, 21, 8, 46, 18, 164000)
    assert convert("09/21/2023") == datetime(2023, 9, 21)
    assert convert("2023-09-21T08:46:18") == datetime(2023, 9, 21, 8, 46, 18)
    assert converter(type="date")("12/6/1972") == date(1972, 12, 6)
    assert converter(type="date", formats=["%d.%m.%Y"])("06.12.1972") == date(1972, 12, 6)
    with pytest.raises(ValueProblem, match="matches none of the formats"):
        convert("yesterday")


def test_overflow_truncates_and_counts_or_rejects() -> None:
    notes = Notes()
    assert converter(notes, type="string(3)", overflow="truncate")("abcdef") == "abc"
    assert notes.take() == {"truncated: t.c": 1}
    with pytest.raises(ValueProblem, match="6 characters exceed string"):
        converter(type="string(3)")("abcdef")
    lenient = Defaults(overflow="truncate")
    assert converter(defaults=lenient, type="string(2)")("xyz") == "xy"


def test_invalid_policy_null_counts() -> None:
    notes = Notes()
    assert converter(notes, type="integer", invalid="null")("abc") is None
    assert notes.take() == {"invalid set to NULL: t.c": 1}


def test_default_is_converted_to_the_column_type() -> None:
    column = ColumnSpec(type="date", path="@x", default="1900-01-01")
    rules = ColumnRules("t.c", column_type(column), column, Defaults())
    assert convert_default(rules) == date(1900, 1, 1)
    bad = ColumnSpec(type="integer", path="@x", default="zero")
    with pytest.raises(ValueProblem):
        convert_default(ColumnRules("t.c", column_type(bad), bad, Defaults()))


@pytest.mark.parametrize(
    "text",
    [
        "2023-9-21 8:46:18.164",
        "2016-1-25 11:17:7.521",
        "09/21/2023",
        "9/1/2023",
        "2023-09-21 08:46:18",
        "20230921",
        "12/6/1972 10:05:00",
        "4/2/2020 5:53:20 AM",
        "6/1/2020 10:16:55 PM",
        "6/1/2020 12:16:55 am",
        "6/1/2020 12:00:00 PM",
        "6/1/2020 13:00:00 PM",
    ],
)
def test_fast_date_formats_agree_with_strptime(text: str) -> None:
    from xmlload.contract.values import parse_datetime

    formats = [
        "%Y-%m-%d %H:%M:%S.%f",
        "%Y-%m-%d %H:%M:%S",
        "%m/%d/%Y",
        "%Y%m%d",
        "%m/%d/%Y %H:%M:%S",
        "%m/%d/%Y %I:%M:%S %p",
    ]
    expected = None
    for pattern in formats:
        try:
            expected = datetime.strptime(text, pattern)
            break
        except ValueError:
            continue
    if expected is None:
        with pytest.raises(ValueError, match="matches none"):
            parse_datetime(text, formats)
    else:
        assert parse_datetime(text, formats) == expected


def test_fast_date_formats_reject_impossible_dates() -> None:
    from xmlload.contract.values import parse_datetime

    with pytest.raises(ValueError, match="matches none"):
        parse_datetime("02/30/2023", ["%m/%d/%Y"])
    assert parse_datetime("Sep 21 2023", ["%b %d %Y"]) == datetime(2023, 9, 21)


def test_iso_times_with_a_zone_become_plain_utc_timestamps() -> None:
    from xmlload.contract.values import parse_datetime

    assert parse_datetime("2023-10-03T16:26:23Z", []) == datetime(2023, 10, 3, 16, 26, 23)
    assert parse_datetime("2023-10-03T16:26:23+02:00", []) == datetime(2023, 10, 3, 14, 26, 23)
