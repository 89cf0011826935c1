"""A second product line (installment loans: `IL_application`, `IL_contact`, slots of
collateral, warranties, policy exceptions, secondary contacts), written in the reference
format from its spec and loaded from the corpus' IL document: the importer knows no
element or table names of the credit-card contract."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path

from tests.reference.harness import mapping, rows, write
from xmlload.contract.importing import import_contract

APP = "/Provenir/Request/CustData/IL_application"
CONTACT = f"{APP}/IL_contact"
ADDRESS = f"{CONTACT}/IL_contact_address"
JOB = f"{CONTACT}/IL_contact_employment"
IL = {
    "source_application_table": "IL_application",
    "table_insertion_order": ["app_base", "app_contact_base", "app_contact_address",
                              "app_contact_employment", "app_collateral_rl"],
    "element_filtering": {"filter_rules": [
        {"element_type": "contact", "xml_child_path": CONTACT,
         "required_attributes": {"con_id": True, "ac_role_tp_c": ["PR", "SEC"]}},
        {"element_type": "address", "xml_child_path": ADDRESS,
         "required_attributes": {"address_type_code": ["CURR", "PREV", "PATR"]}},
        {"element_type": "employment", "xml_child_path": JOB,
         "required_attributes": {"employment_type_code": ["CURR", "PREV"]}},
    ]},
    "relationships": [
        {"parent_table": "app_base", "child_table": "app_contact_base", "xml_child_path": CONTACT},
        {"parent_table": "app_contact_base", "child_table": "app_contact_address",
         "xml_child_path": ADDRESS},
        {"parent_table": "app_contact_base", "child_table": "app_contact_employment",
         "xml_child_path": JOB},
    ],
    "enum_mappings": {"app_type_enum": {"RV": 1, "MC": 2}, "ownership": {"F": 7, "": 0},
                      "salary_basis": {"MONTH": 12, "ANNUM": 1}},
}  # fmt: skip


def contract() -> list[dict]:
    return [
        mapping("app_base", "app_type_enum", APP, "app_type_code", "smallint",
                mapping_type=["enum"]),
        mapping("app_base", "entry_date", APP, "app_entry_date", "datetime",
                mapping_type=["extract_date"]),
        mapping("app_loan_rl", "sale_price", APP, "app_sale_price", "decimal", data_length=2),
        mapping("app_loan_rl", "first_payment", APP, "app_receive_date", "datetime",
                mapping_type=["calculated_field"],
                expression="CASE WHEN requested_term_months > 0 THEN "
                           "DATEADD(day, 30, app_receive_date) END"),
        mapping("app_loan_rl", "sec_name", CONTACT, "first_name",
                mapping_type=["last_valid_sec_contact"]),
        mapping("app_contact_base", "con_id", CONTACT, "con_id", "int"),
        mapping("app_contact_base", "first_name", CONTACT, "first_name", data_length=50),
        mapping("app_contact_address", "city", ADDRESS, "city", data_length=50),
        mapping("app_contact_address", "ownership_enum", ADDRESS, "ownership_type_code",
                "smallint", mapping_type=["enum"], enum_name="ownership"),
        mapping("app_contact_address", "months_at_address", ADDRESS, "months_at_residence",
                "smallint", mapping_type=["calculated_field"],
                expression="months_at_residence + (years_at_residence * 12)"),
        mapping("app_contact_employment", "basis_enum", JOB, "salary_basis_type_code",
                "smallint", mapping_type=["calculated_field", "enum"], enum_name="salary_basis",
                expression="CASE WHEN salary_basis_type_code = 'WEEK' THEN 'ANNUM' END"),
        mapping("app_contact_employment", "business_name", JOB, "business_name", data_length=50),
        *(mapping("app_collateral_rl", column, f"{APP}/IL_collateral", f"coll{slot}_{attribute}",
                  kind, mapping_type=[f"add_collateral({slot})"])
          for slot in (1, 2)
          for column, attribute, kind in (("make", "make", "string"), ("year", "year", "smallint"),
                                          ("wholesale_value", "value", "decimal"))),
        mapping("app_warranties_rl", "amount", f"{APP}/IL_fund_checklist", "contract_gap_amount",
                "decimal", mapping_type=["warranty_field(3)"]),
        mapping("app_policy_exceptions_rl", "", f"{APP}/IL_fund_checklist",
                "loan_note_date_in_range", mapping_type=["policy_exceptions(9)"]),
    ]  # fmt: skip


def test_il_product_line_imports_and_loads(tmp_path: Path, corpus_dir: Path) -> None:
    source = write(tmp_path, contract(), **IL)
    result = import_contract(source)
    assert not result.problems, result.problems
    imported = tmp_path / "il.yaml"
    imported.write_text(result.text)
    xml = (corpus_dir / "sample-source-xml-wrong-schema--600000.xml").read_bytes()
    found = rows(imported, xml)
    base = found["app_base"][0]
    assert (base["app_id"], base["app_type_enum"]) == (600000, 1)
    assert base["entry_date"] == datetime(2025, 8, 27, 19, 2, 4, 924000)
    loan = found["app_loan_rl"][0]
    # Q10: `> 0` compares with '' -> true; DATEADD drops the time, 08/27/2025 + 30 days
    assert loan["first_payment"] == datetime(2025, 9, 26)
    assert (loan["sale_price"], loan["sec_name"]) == (Decimal("53500.00"), None)
    assert [(r["con_id"], r["first_name"]) for r in found["app_contact_base"]] == [
        (645981, "MAGDA")
    ]
    # COLL is not a listed type; the PREV and PATR addresses have no city, zip_code or
    # street_name: the reference's meaningful-row test drops them (§8.4)
    assert [(r["city"], r["ownership_enum"], r["months_at_address"])
            for r in found["app_contact_address"]] == [("MARQUETTE", 7, 56)]  # fmt: skip
    # the expression gives nothing for MONTH: the enum of the attribute (§5.7)
    assert [(r["business_name"], r["basis_enum"]) for r in found["app_contact_employment"]] == [
        ("DOOMBRINGER DESIGNS", 12)
    ]
    # slot 1 has data; slot 2's value 0 alone makes no row (§5.21)
    assert [(r["sort_order"], r["make"], r["year"], r["wholesale_value"])
            for r in found["app_collateral_rl"]] == [(1, "AIRSTREAM", 2025, 0)]  # fmt: skip
    assert [(r["warranty_type_enum"], r["amount"]) for r in found["app_warranties_rl"]] == [
        (3, Decimal("0.00"))
    ]
    assert [(r["policy_exception_type_enum"], r["reason_code"])
            for r in found["app_policy_exceptions_rl"]] == [(9, "Y")]  # fmt: skip
