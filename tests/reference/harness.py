"""Small XmlConversion-format contracts for the importer's tests: a base contract with the
usual filter rules and relationships, mappings added per test, the import written to a
file, loaded and run on one document; rows come back as dicts."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from xmlload.contract.importing import import_contract
from xmlload.contract.loader import load_plan
from xmlload.stages.mapper import DataMapper
from xmlload.stages.parser import XMLParser
from xmlload.stages.validator import PreProcessingValidator

APP = "/Provenir/Request/CustData/application"
BASE: dict[str, Any] = {
    "xml_root_element": "Provenir",
    "source_application_table": "application",
    "target_schema": "dbo",
    "table_insertion_order": ["app_base", "app_contact_base", "app_contact_address",
                              "app_contact_employment"],
    "element_filtering": {"filter_rules": [
        {"element_type": "contact", "xml_child_path": f"{APP}/contact",
         "required_attributes": {"con_id": True, "ac_role_tp_c": ["PR", "AUTHU"]}},
        {"element_type": "address", "xml_child_path": f"{APP}/contact/contact_address",
         "required_attributes": {"address_tp_c": ["CURR", "PREV"]}},
        {"element_type": "employment", "xml_child_path": f"{APP}/contact/contact_employment",
         "required_attributes": {"employment_tp_c": ["CURR", "PREV"]}},
    ]},
    "relationships": [
        {"parent_table": "app_base", "child_table": "app_contact_base",
         "xml_child_path": f"{APP}/contact"},
        {"parent_table": "app_contact_base", "child_table": "app_contact_address",
         "xml_child_path": f"{APP}/contact/contact_address"},
        {"parent_table": "app_contact_base", "child_table": "app_contact_employment",
         "xml_child_path": f"{APP}/contact/contact_employment"},
    ],
    "enum_mappings": {
        "status_enum": {"A": 1, "B": 2},
        "kind_enum": {"X": 10, "y": 11, "": 99},
        "contact_type_enum": {"PR": 281, "AUTHU": 280},
        "address_type_enum": {"CURR": 320, "PREV": 321},
        "email_by_code": {"S": "sales@example.com"},
    },
    "bit_conversions": {
        "char_to_bit": {"Y": 1, "N": 0},
        "boolean_to_bit": {"true": 1, "false": 0, "TRUE": 1},
    },
    "mappings": [],
}  # fmt: skip


def mapping(table: str, column: str, path: str, attribute: str | None, data_type: str = "string",
            **extra: Any) -> dict[str, Any]:  # fmt: skip
    entry = {"xml_path": path, "xml_attribute": attribute, "target_table": table,
             "target_column": column, "data_type": data_type, "nullable": True}  # fmt: skip
    entry.update(extra)
    return entry


def base_row() -> dict[str, Any]:
    return mapping("app_base", "receive_date", APP, "app_receive_date", "datetime")


def write(tmp_path: Path, mappings: list[dict[str, Any]], **top: Any) -> Path:
    contract = copy.deepcopy(BASE)
    contract.update(top)
    contract["mappings"] = [base_row(), *mappings]
    path = tmp_path / "reference.json"
    path.write_text(json.dumps(contract, indent=1), encoding="utf-8")
    return path


def imported(tmp_path: Path, mappings: list[dict[str, Any]], fix: bool = False,
             **top: Any) -> Path:  # fmt: skip
    result = import_contract(write(tmp_path, mappings, **top), fix)
    assert not result.problems, result.problems
    out = tmp_path / "imported.yaml"
    out.write_text(result.text, encoding="utf-8")
    return out


def document(app_attributes: str = "", body: str = "", request: str = 'ID="42"') -> bytes:
    return (
        f'<Provenir><Request {request}><CustData><application app_receive_date="2023-01-02" '
        f"{app_attributes}>{body}</application></CustData></Request></Provenir>"
    ).encode()


def rows(contract: Path, xml: bytes) -> dict[str, list[dict[str, Any]]]:
    plan = load_plan(contract)
    validator = PreProcessingValidator(plan, 1 << 20)
    root = XMLParser().parse(validator.check_bytes(xml))
    element, document_id = validator.check_tree(root)
    mapped = DataMapper(plan).map(root, element, document_id)
    names = {table.name: table.column_names for table in plan.tables}
    return {table: [dict(zip(names[table], row, strict=True)) for row in found]
            for table, found in mapped.rows.items()}  # fmt: skip


def load(tmp_path: Path, mappings: list[dict[str, Any]], xml: bytes, fix: bool = False,
         **top: Any) -> dict[str, list[dict[str, Any]]]:  # fmt: skip
    return rows(imported(tmp_path, mappings, fix, **top), xml)


def one(found: dict[str, list[dict[str, Any]]], table: str) -> dict[str, Any]:
    assert len(found[table]) == 1, found[table]
    return found[table][0]
