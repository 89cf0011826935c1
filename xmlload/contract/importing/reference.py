"""The XmlConversion JSON contract format, read as that system reads it.

Only the keys it reads are modelled (see ../shared/reference/xmlconversion-contract-format.md
§1-§2); everything else is ignored, as there. Each mapping's `mapping_type` becomes a
`Chain` of steps such as `enum` or `add_score(AJ)`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

_STEP = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\((.*)\))?$")

EXTRACTORS = {"last_valid_pr_contact", "last_valid_sec_contact", "authu_contact"}
VALUE_STEPS = {
    "enum",
    "char_to_bit",
    "boolean_to_bit",
    "numbers_only",
    "extract_numeric",
    "default_getutcdate_if_null",
    "calculated_field",
    "curr_address_only",
}
# Types the reference treats as a plain conversion (it does not know them either).
PLAIN_STEPS = {"identity_insert", "extract_date", "direct"}
ROW_CREATING = {
    "add_score",
    "add_indicator",
    "add_history",
    "add_report_lookup",
    "policy_exceptions",
    "warranty_field",
    "add_collateral",
}
KNOWN = EXTRACTORS | VALUE_STEPS | PLAIN_STEPS | ROW_CREATING


class Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class FilterRule(Loose):
    element_type: str
    xml_child_path: str
    required_attributes: dict[str, Any] = {}

    @property
    def element(self) -> str:
        return last_segment(self.xml_child_path)

    @property
    def type_attribute(self) -> tuple[str, list[str]] | None:
        """The first attribute whose rule is a non-empty list: (name, values by priority)."""
        for name, rule in self.required_attributes.items():
            if isinstance(rule, list) and rule:
                return name, [str(value) for value in rule]
        return None

    @property
    def required_names(self) -> list[str]:
        return [name for name, rule in self.required_attributes.items() if rule is True]


class ElementFiltering(Loose):
    filter_rules: list[FilterRule] = []


class Relationship(Loose):
    parent_table: str | None = None
    child_table: str
    xml_child_path: str = ""


class Mapping(Loose):
    xml_path: str
    xml_attribute: str | None = None
    target_table: str
    target_column: str | None = None
    data_type: str
    data_length: int | None = None
    nullable: bool | None = None
    default_value: Any = None
    mapping_type: list[str] | str | None = None
    expression: str | None = None
    enum_name: str | None = None

    @field_validator("data_length", mode="before")
    @classmethod
    def _length(cls, value: Any) -> int | None:
        """A string length goes through int(); a non-numeric one is ignored (§6.3)."""
        if value is None or isinstance(value, int):
            return value
        try:
            return int(value)
        except (TypeError, ValueError):
            return None

    @field_validator("xml_path", "target_table", "data_type")
    @classmethod
    def _not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    @property
    def types(self) -> list[str]:
        if self.mapping_type is None:
            return []
        if isinstance(self.mapping_type, str):
            return [part.strip() for part in self.mapping_type.split(",") if part.strip()]
        return [part.strip() for part in self.mapping_type]

    @property
    def label(self) -> str:
        return f"{self.target_table}.{self.target_column or ''}"


class ReferenceContract(Loose):
    xml_root_element: str
    source_application_table: str | None = None
    target_schema: str = "dbo"
    table_insertion_order: list[str] = []
    element_filtering: ElementFiltering = ElementFiltering()
    relationships: list[Relationship] = []
    mappings: list[Mapping]
    enum_mappings: dict[str, dict[str, Any]] = {}
    bit_conversions: dict[str, dict[str, Any]] = {}

    def rule(self, element_type: str) -> FilterRule | None:
        for rule in self.element_filtering.filter_rules:
            if rule.element_type == element_type:
                return rule
        return None


@dataclass(frozen=True)
class Step:
    name: str
    parameter: str | None  # None: no parentheses; "" for `name()`


def parse_chain(types: list[str]) -> tuple[list[Step], list[str]]:
    """The steps of a mapping_type list, and a message per step that is not understood."""
    steps, problems = [], []
    for text in types:
        match = _STEP.match(text)
        if match is None:
            problems.append(f"mapping type {text!r} is not a name or name(parameter)")
            continue
        name, parameter = match.group(1), match.group(2)
        if name not in KNOWN:
            problems.append(f"unknown mapping type {text!r}")
            continue
        steps.append(Step(name, None if parameter is None else parameter.strip()))
    return steps, problems


def last_segment(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]
