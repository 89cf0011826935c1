"""Which algorithm the reference applies to each table, derived from the contract itself.

The reference dispatches on table names (§3). The importer does not know those names: it
finds the contact table through the relationship whose element is the contact rule's
element, the address and employment tables likewise, the application table as their
parent, and key-value tables by the row-creating type their mappings use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from xmlload.contract.importing.reference import (
    ROW_CREATING,
    FilterRule,
    ReferenceContract,
    last_segment,
    parse_chain,
)

APPLICATION_PREFIX = "/Provenir/Request/CustData"  # hard-coded in the reference (§0.1)


class Kind(Enum):
    APPLICATION = "application"  # one row per document, always
    CONTACT = "contact"
    ADDRESS = "address"
    EMPLOYMENT = "employment"
    GENERIC = "generic"  # one row per document when some value is meaningful
    SCORE = "add_score"
    INDICATOR = "add_indicator"
    HISTORY = "add_history"
    REPORT = "add_report_lookup"
    POLICY = "policy_exceptions"
    WARRANTY = "warranty_field"
    COLLATERAL = "add_collateral"


@dataclass
class Roles:
    """The element-filter rules: element names, type attribute and its values by priority."""

    contact: FilterRule
    address: FilterRule
    employment: FilterRule | None

    @property
    def contact_type(self) -> tuple[str, list[str]]:
        found = self.contact.type_attribute
        assert found is not None
        return found

    @property
    def address_type(self) -> tuple[str, list[str]]:
        found = self.address.type_attribute
        assert found is not None
        return found


@dataclass
class Layout:
    application_element: str
    application_path: str
    roles: Roles
    kinds: dict[str, Kind] = field(default_factory=dict)  # table -> kind, in mapping order
    application_table: str = ""

    def tables_of(self, kind: Kind) -> list[str]:
        return [table for table, found in self.kinds.items() if found is kind]


def build_layout(contract: ReferenceContract, problems: list[str]) -> Layout | None:
    """The layout, or None (with problems) when the reference could not run the contract."""
    contact, address = contract.rule("contact"), contract.rule("address")
    for name, rule in (("contact", contact), ("address", address)):
        if rule is None:
            problems.append(f"element_filtering: no '{name}' filter rule (the reference needs one)")
        elif rule.type_attribute is None:
            problems.append(
                f"element_filtering: the '{name}' rule has no attribute with a list of values"
            )
    if contact is None or address is None or not contact.type_attribute:
        return None
    if not address.type_attribute:
        return None
    element = contract.source_application_table or "application"
    layout = Layout(element, f"{APPLICATION_PREFIX}/{element}",
                    Roles(contact, address, contract.rule("employment")))  # fmt: skip
    elements = {rel.child_table: last_segment(rel.xml_child_path) for rel in contract.relationships}
    by_element = {
        layout.roles.contact.element: Kind.CONTACT,
        layout.roles.address.element: Kind.ADDRESS,
    }
    if layout.roles.employment is not None:
        by_element[layout.roles.employment.element] = Kind.EMPLOYMENT
    parents = {rel.child_table: rel.parent_table for rel in contract.relationships}
    kinds = {table: by_element[el] for table, el in elements.items() if el in by_element}
    contact_tables = [table for table, kind in kinds.items() if kind is Kind.CONTACT]
    if contact_tables and parents.get(contact_tables[0]):
        layout.application_table = str(parents[contact_tables[0]])
    elif contract.table_insertion_order:
        layout.application_table = contract.table_insertion_order[0]
    for mapping in contract.mappings:
        table = mapping.target_table
        if table in layout.kinds:
            continue
        if table == layout.application_table:
            layout.kinds[table] = Kind.APPLICATION
        elif table in kinds:
            layout.kinds[table] = kinds[table]
        else:
            layout.kinds[table] = _row_creating_kind(contract, table) or Kind.GENERIC
    if layout.application_table not in layout.kinds:
        problems.append(
            f"no mapping targets the application table {layout.application_table!r} "
            "(the parent of the contact table in relationships)"
        )
    return layout


def _row_creating_kind(contract: ReferenceContract, table: str) -> Kind | None:
    for mapping in contract.mappings:
        if mapping.target_table != table:
            continue
        steps, _ = parse_chain(mapping.types)
        for step in steps:
            if step.name in ROW_CREATING:
                return Kind(step.name)
    return None
