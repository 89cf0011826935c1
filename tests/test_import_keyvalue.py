"""`contract import`: row-creating types (spec §5.15-§5.21) and the problems the importer
reports (unknown type, bad parameter, expression that does not parse, malformed files)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.reference.harness import APP, document, load, mapping, write
from xmlload.contract.importing import import_contract

PRODUCT = f"{APP}/app_product"
CONTACT = f"{APP}/contact"
DOC = document('notes="  see file " reason_a="R1" reason_b="null" w1="Acme" w1_flag="Y" '
               'w2_flag="Y" make="Ford" value1="1200" value2="0" year="x1999"',
               '<app_product s1="1,234" s2="-5.5" s3="abc" s4="0" s5="" f1="yes" f2="T" f3="N" '
               'h1=" kept " h2="null" h3="None" giact="PASS" idv="7"/>'
               '<contact con_id="1" ac_role_tp_c="PR" first_name="A" spouse="Sam"/>'
               '<contact con_id="2" ac_role_tp_c="PR" first_name="B" spouse="Pat"/>')  # fmt: skip


def by(rows: list[dict], *columns: str) -> list[tuple]:
    return [tuple(row[c] for c in columns) for row in rows]


def test_scores_indicators_history_and_report_lookups(tmp_path) -> None:
    found = load(tmp_path, [
        *(mapping("scores", "", PRODUCT, f"s{n}", "int", mapping_type=[f"add_score(S{n})"])
          for n in range(1, 6)),
        *(mapping("indicators", "", PRODUCT, f"f{n}", mapping_type=[f"add_indicator(I{n})"])
          for n in range(1, 4)),
        *(mapping("app_historical_lookup", "", PRODUCT, f"h{n}", mapping_type=["add_history"])
          for n in range(1, 4)),
        mapping("app_historical_lookup", "", CONTACT, "spouse",
                mapping_type=["last_valid_pr_contact", "add_history"]),
        mapping("app_report_results_lookup", "", PRODUCT, "giact",
                mapping_type=["add_report_lookup(GIACT)"]),
        mapping("app_report_results_lookup", "", PRODUCT, "idv",
                mapping_type=["add_report_lookup"]),
    ], DOC)  # fmt: skip
    # §5.15: commas removed, half-up, junk and blank make no row, 0 does
    assert by(found["scores"], "score_identifier", "score") == [("S1", 1234), ("S2", -6), ("S4", 0)]
    # §5.16: y/yes/true/t/1 in any case, value '1'
    assert by(found["indicators"], "indicator", "value") == [("I1", "1"), ("I2", "1")]
    # §5.17: [attribute], [element], trimmed text; null/none are not values; the primary
    # contact's value for last_valid_pr_contact
    assert by(found["app_historical_lookup"], "name", "source", "value") == [
        ("[h1]", "[app_product]", "kept"),
        ("[spouse]", "[contact]", "Pat"),
    ]
    # §5.18: name, value and the key ('' without a parameter: NULL)
    assert by(found["app_report_results_lookup"], "name", "value", "source_report_key") == [
        ("giact", "PASS", "GIACT"),
        ("idv", "7", None),
    ]


def test_policy_exceptions_warranties_and_collateral(tmp_path) -> None:
    found = load(tmp_path, [
        mapping("app_policy_exceptions_rl", "", APP, "notes", mapping_type=["policy_exceptions()"]),
        mapping("app_policy_exceptions_rl", "", APP, "reason_a",
                mapping_type=["policy_exceptions(5)"]),
        mapping("app_policy_exceptions_rl", "", APP, "reason_b",
                mapping_type=["policy_exceptions(6)"]),
        mapping("app_warranties_rl", "provider", APP, "w1", mapping_type=["warranty_field(1)"]),
        mapping("app_warranties_rl", "active_flag", APP, "w1_flag", "bit",
                mapping_type=["warranty_field(1)", "char_to_bit"]),
        mapping("app_warranties_rl", "active_flag", APP, "w2_flag", "bit",
                mapping_type=["warranty_field(2)", "char_to_bit"]),
        mapping("app_collateral_rl", "make", APP, "make", mapping_type=["add_collateral(1)"]),
        mapping("app_collateral_rl", "wholesale_value", APP, "value1", "decimal",
                mapping_type=["add_collateral(1)"]),
        mapping("app_collateral_rl", "year", APP, "year", "smallint",
                mapping_type=["add_collateral(1)", "numbers_only"]),
        mapping("app_collateral_rl", "condition", APP, "missing", default_value="USED",
                mapping_type=["add_collateral(1)"]),
        mapping("app_collateral_rl", "wholesale_value", APP, "value2", "decimal",
                mapping_type=["add_collateral(2)"]),
        mapping("app_collateral_rl", "condition", APP, "missing", default_value="USED",
                mapping_type=["add_collateral(2)"]),
    ], DOC)  # fmt: skip
    # §5.19: a row per meaningful reason with the shared notes
    assert by(found["app_policy_exceptions_rl"], "policy_exception_type_enum", "reason_code",
              "notes") == [(5, "R1", "see file")]  # fmt: skip
    # §5.20: group 2 has only a bit: no row; merrick_lienholder_flag 0 when unmapped
    assert by(found["app_warranties_rl"], "warranty_type_enum", "provider", "active_flag",
              "merrick_lienholder_flag") == [(1, "Acme", True, False)]  # fmt: skip
    # §5.21: slot 2's wholesale_value 0 alone makes no row; defaults only on rows that exist
    assert by(found["app_collateral_rl"], "sort_order", "make", "wholesale_value", "year",
              "condition") == [(1, "Ford", 1200, 1999, "USED")]  # fmt: skip


@pytest.mark.parametrize(("entry", "message"), [
    (mapping("app_things", "x", APP, "x", mapping_type=["frobnicate"]),
     "unknown mapping type 'frobnicate'"),
    (mapping("scores", "", APP, "x", mapping_type=["add_score()"]), "add_score() needs a name"),
    (mapping("app_things", "x", APP, "x", mapping_type=["calculated_field"],
             expression="CASE WHEN x IS EMPTY THEN 1"), "expression does not parse"),
    (mapping("app_things", "x", APP, "x", mapping_type=["calculated_field"]),
     "without an expression"),
    (mapping("app_warranties_rl", "x", APP, "x", mapping_type=["warranty_field(one)"]),
     "the parameter must be an integer"),
    (mapping("app_things", "x", APP, "x", mapping_type=["enum"]), "is not in enum_mappings"),
    ({"xml_path": APP, "target_table": "app_things", "target_column": "x"}, "data_type"),
    (mapping("app_things", "x", APP, None), "no xml_attribute"),
])  # fmt: skip
def test_problems_name_the_mapping(tmp_path, entry: dict, message: str) -> None:
    path = write(tmp_path, [mapping("app_things", "ok", APP, "ok"), entry])
    result = import_contract(path)
    assert result.text == ""
    place = f"{path}: mappings[2] ({entry['target_table']}.{entry['target_column']})"
    assert any(p.startswith(place) and message in p for p in result.problems), result.problems


def test_every_problem_is_listed_and_the_command_exits_2(tmp_path) -> None:
    path = write(tmp_path, [
        mapping("app_things", "a", APP, "a", mapping_type=["frobnicate"]),
        mapping("scores", "", APP, "b", mapping_type=["add_score()"]),
    ])  # fmt: skip
    out = tmp_path / "out.yaml"
    done = subprocess.run([sys.executable, "-m", "xmlload", "contract", "import", str(path),
                           "--out", str(out)], capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 2
    assert f"{path}: mappings[1] (app_things.a): unknown mapping type 'frobnicate'" in done.stderr
    assert f"{path}: mappings[2] (scores.): add_score() needs a name" in done.stderr
    assert not out.exists()


def test_malformed_files(tmp_path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"mappings": [\n  {"xml_path": }\n]}')
    assert "broken.json:2: not valid JSON" in import_contract(broken).problems[0]
    no_rules = write(tmp_path, [], element_filtering={"filter_rules": []})
    problems = import_contract(no_rules).problems
    assert any("no 'contact' filter rule" in p for p in problems)
    assert any("no 'address' filter rule" in p for p in problems)
    missing = tmp_path / "missing.json"
    assert "cannot read" in import_contract(missing).problems[0]


def test_imported_contract_is_written_and_validates(tmp_path) -> None:
    path = write(tmp_path, [mapping("app_things", "a", APP, "a")])
    out = tmp_path / "contract.yaml"
    done = subprocess.run([sys.executable, "-m", "xmlload", "contract", "import", str(path),
                           "--out", str(out)], capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "lines of YAML from" in done.stderr
    check = subprocess.run([sys.executable, "-m", "xmlload", "contract", "validate", str(out)],
                           capture_output=True, text=True)  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
    assert "# mappings[1]: /Provenir/Request/CustData/application@a [no type]" in out.read_text()
    json.loads(path.read_text())


def test_a_mapping_without_the_tables_type_is_ignored_as_the_reference_does(tmp_path) -> None:
    # §3: a key-value table ignores mappings that lack its row-creating type; said, not dropped
    path = write(
        tmp_path,
        [
            mapping("scores", "", PRODUCT, "s1", "int", mapping_type=["add_score(A)"]),
            mapping("scores", "extra", PRODUCT, "s2", "int"),
        ],
    )
    result = import_contract(path)
    assert not result.problems, result.problems
    assert "# mappings[2] has no add_score type: the reference ignores it" in result.text


def test_grouped_rows_read_contacts_through_extractors(tmp_path) -> None:
    # §4.2 rules 1-3 apply to every table: the last primary contact's values
    found = load(tmp_path, [
        mapping("app_policy_exceptions_rl", "", CONTACT, "spouse",
                mapping_type=["last_valid_pr_contact", "policy_exceptions(4)"]),
        mapping("app_warranties_rl", "holder", CONTACT, "first_name",
                mapping_type=["last_valid_pr_contact", "warranty_field(2)"]),
    ], DOC)  # fmt: skip
    assert by(found["app_policy_exceptions_rl"], "policy_exception_type_enum", "reason_code") == [
        (4, "Pat")
    ]
    assert by(found["app_warranties_rl"], "warranty_type_enum", "holder") == [(2, "B")]
