"""One reference mapping of a row table -> one column of ours (the field pipeline, §2.1).

The mapping's chain decides where the value comes from (a path, a contact pick, an
expression) and how it is converted; each reference conversion rule is spelled with a
column key of ours (`first_number`, `digits_only: number`, value maps for enums and bits,
`drop_last`, `fallback`, the `xmlconversion` expression dialect).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from xmlload.contract.importing.layout import Kind, Layout
from xmlload.contract.importing.names import NameResolver
from xmlload.contract.importing.reference import (
    Mapping,
    ReferenceContract,
)

INTEGERS = {"int": "integer", "smallint": "smallint", "bigint": "bigint", "tinyint": "tinyint"}
ENUM_PATTERNS = [("status", "status_enum"), ("process", "process_enum"),
                 ("app_source", "app_source_enum"), ("contact_type", "contact_type_enum"),
                 ("address_type", "address_type_enum"), ("ownership_type", "ownership_type_enum"),
                 ("employment_type", "employment_type_enum"), ("income_type", "income_type_enum"),
                 ("other_income_type", "other_income_type_enum"),
                 ("population_assignment", "population_assignment_enum"),
                 ("decision", "decision_enum")]  # fmt: skip


class Alias(str):
    """A YAML alias (`*name`) to one of the contract's fragments."""


@dataclass
class Column:
    name: str
    spec: dict[str, Any]
    comment: str
    always: bool = False  # the reference always has a value: the row always exists
    attribute: str | None = None  # the mapping's xml_attribute
    notes: list[str] = field(default_factory=list)  # where ours differs, said at the column


@dataclass
class FieldContext:
    contract: ReferenceContract
    layout: Layout
    kind: Kind
    fix: bool  # --fix-reference-defects
    element_paths: dict[str, str]
    has_calculated: bool  # the table has a calculated field: the app context exists (§4.2)
    fragments: dict[str, dict[str, Any]] = field(default_factory=dict)

    def resolver(self) -> NameResolver:
        context = {Kind.CONTACT: "contact", Kind.ADDRESS: "child", Kind.EMPLOYMENT: "child"}
        return NameResolver(context.get(self.kind, "application"),
                            self.contract.xml_root_element, self.layout.application_element,
                            self.element_paths)  # fmt: skip


def column_type(mapping: Mapping, places: int | None) -> str:
    kind = mapping.data_type.strip().lower()
    length = mapping.data_length
    if kind in INTEGERS:
        return INTEGERS[kind]
    if kind == "decimal":
        scale = places if places is not None and 0 <= places <= 10 else 2
        return f"decimal(18,{scale})"
    if kind == "float":
        return "float"
    if kind in ("datetime", "smalldatetime"):
        return "datetime"
    if kind == "date":
        return "date"
    if kind in ("bit", "boolean"):
        return "boolean"
    return f"string({length})" if length and length > 0 else "text"


def relative(path: str, layout: Layout) -> str:
    """An absolute element path, relative to the application element where it is below it."""
    path = path.rstrip("/")
    if path == layout.application_path:
        return "."
    if path.startswith(layout.application_path + "/"):
        return path[len(layout.application_path) + 1 :]
    return path


def value_path(path: str, attribute: str | None, layout: Layout) -> str:
    base = relative(path, layout)
    if attribute is None or attribute.lower() == "text":
        return base
    return f"@{attribute}" if base == "." else f"{base}/@{attribute}"


def enum_map_name(mapping: Mapping, contract: ReferenceContract) -> str | None:
    """§5.1: enum_name, else the column's own name, its `_enum` name, or a name pattern."""
    if mapping.enum_name:
        return mapping.enum_name
    column = mapping.target_column or ""
    if column in contract.enum_mappings or column.endswith("_enum"):
        return column
    for pattern, name in ENUM_PATTERNS:
        if pattern in column:
            return name
    return None
