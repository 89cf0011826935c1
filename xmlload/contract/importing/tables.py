"""Row tables of an imported contract: the application table, generic one-row tables,
contacts, and their address and employment rows (§3, §4.3, §4.4, §8)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from xmlload.contract.expressions import text_literal
from xmlload.contract.importing.columns import Untranslatable, translate
from xmlload.contract.importing.fields import Column, FieldContext
from xmlload.contract.importing.layout import Kind
from xmlload.contract.importing.reference import Mapping, parse_chain
from xmlload.contract.importing.values import ValueMaps

# The reference's hard-coded tests (§4.3, §8.4): which values make a contact or child row.
MEANINGFUL_CONTACT = ["birth_date", "first_name", "last_name", "ssn"]
MEANINGFUL_CHILD = {
    Kind.ADDRESS: (["zip", "city", "street_name", "street_number", "state"],
                   ["zip_code", "city", "street_name"]),
    Kind.EMPLOYMENT: (["business_name", "monthly_salary", "job_title", "zip", "city"],
                      ["business_name", "zip_code", "city"]),
}  # fmt: skip
KEY_COLUMNS = {"app_id"}  # the reference overwrites these with the document id


@dataclass
class Table:
    name: str
    kind: Kind
    header: dict[str, Any] = field(default_factory=dict)
    columns: list[Column] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)


Problem = tuple[int, Mapping, str]


def row_table(
    name: str, mappings: list[tuple[int, Mapping]], ctx: FieldContext, maps: ValueMaps,
    problems: list[Problem],
) -> Table:  # fmt: skip
    table = Table(name, ctx.kind)
    for index, mapping in mappings:
        if (mapping.target_column or "") in KEY_COLUMNS:
            continue
        steps, messages = parse_chain(mapping.types)
        for message in messages:
            problems.append((index, mapping, message))
        if messages:
            continue
        try:
            column = translate(mapping, steps, ctx, maps)
        except Untranslatable as error:
            problems.append((index, mapping, str(error)))
            continue
        column.comment = f"mappings[{index}]: {column.comment}"
        _add(table, column, index, mapping, problems)
    _shape(table, ctx)
    return table


def _add(table: Table, column: Column, index: int, mapping: Mapping,
         problems: list[Problem]) -> None:  # fmt: skip
    """Two mappings to one column: the later one's value when it has one (§2.1)."""
    for position, earlier in enumerate(table.columns):
        if earlier.name != column.name:
            continue
        source = {key: earlier.spec[key] for key in ("path", "pick") if key in earlier.spec}
        if not source or "fallback" in column.spec or not ({"path", "pick"} & set(column.spec)):
            problems.append((index, mapping, f"a second mapping to {column.name} that "
                                             "cannot fall back on the first"))  # fmt: skip
            return
        column.spec["fallback"] = source
        column.comment += f"; else {earlier.comment}"
        column.always = column.always or earlier.always
        table.columns[position] = column
        return
    table.columns.append(column)


def _shape(table: Table, ctx: FieldContext) -> None:
    layout, header = ctx.layout, table.header
    if ctx.kind is Kind.APPLICATION:
        table.comments.append("one row per accepted document")
        return
    if ctx.kind is Kind.GENERIC:
        header["parent"] = layout.application_table
        if any(column.always for column in table.columns):
            header["keep_empty"] = True
            table.comments.append("always written: some column always has a value (§8.3)")
        else:
            table.comments.append("written when some value other than a default is present")
        return
    if ctx.kind is Kind.CONTACT:
        _contact_rows(table, ctx)
    else:
        _child_rows(table, ctx)


def _con_id(table: Table, path: str) -> None:
    """Contact-driven rows always carry the contact's con_id (§3)."""
    for column in table.columns:
        if column.name == "con_id":
            column.spec.pop("const", None)
            column.spec.update({"path": path, "counts_as_data": False})
            column.spec.pop("first_number", None)
            return
    table.columns.insert(0, Column("con_id", {"type": "bigint", "path": path,
                                              "counts_as_data": False},
                                   "added by the reference to every row"))  # fmt: skip


def _contact_rows(table: Table, ctx: FieldContext) -> None:
    roles = ctx.layout.roles
    attribute, values = roles.contact_type
    listed = ", ".join(text_literal(value) for value in values)
    meaningful = " OR ".join(f"{name} IS NOT EMPTY" for name in MEANINGFUL_CONTACT)
    table.header.update({
        "parent": ctx.layout.application_table,
        "rows": {
            "path": f"/{ctx.contract.xml_root_element}//{roles.contact.element}",
            "where": f"con_id IS NOT EMPTY AND TRIM({attribute}) IN ({listed}) AND ({meaningful})",
            "distinct_by": "con_id",
            "priority": {"attribute": attribute, "order": values},
            "keep": "last",
            "ignore_attribute_case": False,  # names as written: con_id, the role, … (§4.3)
        },
        "keep_empty": True,
    })  # fmt: skip
    table.comments.append(
        f"one row per valid contact anywhere in the document (§4.3): con_id, a known "
        f"{attribute}, some personal data; one per con_id, {values[0]} first, the later "
        "among equals"
    )
    _con_id(table, "@con_id")


def _child_rows(table: Table, ctx: FieldContext) -> None:
    roles = ctx.layout.roles
    rule = roles.address if ctx.kind is Kind.ADDRESS else roles.employment
    assert rule is not None
    attribute, values = rule.type_attribute or ("", [])
    listed = ", ".join(text_literal(value.upper()) for value in values)
    tests = [f"UPPER({attribute}) IN ({listed})"]
    tests += [f"{name} IS NOT EMPTY" for name in rule.required_names]
    meaningful = _meaningful_child(table, ctx.kind)
    if meaningful:
        tests.append(f"({meaningful})")
    contact_tables = ctx.layout.tables_of(Kind.CONTACT)
    contact = roles.contact
    # §4.4: the contacts at the rule's path that pass its rule, the last per its required
    # attributes' values, those whose con_id is the contact row's; then their children
    checks = [_required(name, rule) for name, rule in contact.required_attributes.items()]
    if not ctx.fix:
        checks.append("con_id = TRIM(con_id)")  # a con_id with spaces loses its rows (Q31)
    rows: dict[str, Any] = {
        "path": contact.xml_child_path.rstrip("/"),
        "link": {"@con_id": "@con_id"},
        "where": " AND ".join(check for check in checks if check),
        "distinct_by": sorted(contact.required_attributes),
        "keep": "last",
        "then": [{"path": rule.element, "where": " AND ".join(tests)}],
    }
    table.header.update({
        "parent": contact_tables[0] if contact_tables else ctx.layout.application_table,
        "rows": rows,
    })  # fmt: skip
    type_column = f"{rule.element_type}_type_enum"
    if any(column.name == type_column for column in table.columns):
        table.header["unique_by"] = ["con_id", type_column]
    if any(column.always for column in table.columns):
        table.header["keep_empty"] = True
    table.comments.append(
        f"one row per {rule.element} of every {contact.element} at {contact.xml_child_path} "
        f"that passes its rule, whose con_id is a valid contact's and whose {attribute} is "
        f"listed (§4.4, Q20); the first per (con_id, {type_column}) (§9)"
        + ("" if meaningful else "; the reference's meaningful-row test always passes here")
    )
    _con_id(table, "../@con_id")


def _required(name: str, rule: Any) -> str | None:
    """§4.4 step 2 for one required attribute: `true` non-empty, a list in any case."""
    if rule is True:
        return f"{name} IS NOT EMPTY"
    if isinstance(rule, list) and rule:
        listed = ", ".join(text_literal(str(value).upper()) for value in rule)
        return f"UPPER({name}) IN ({listed})"
    return None


def _meaningful_child(table: Table, kind: Kind) -> str | None:
    """§8.4 as a condition over the element's attributes; None when it always holds."""
    record, source = MEANINGFUL_CHILD[kind]
    tests: list[str] = []
    for column in table.columns:
        if column.name not in record or column.attribute is None:
            continue
        if column.spec.get("default") is not None:
            return None
        test = f"{column.attribute} IS NOT EMPTY"
        if column.spec["type"] != "text" and not column.spec["type"].startswith("string"):
            # the reference tests the value's truth: a number 0 does not count
            test = f"({test} AND TRIM({column.attribute}) NOT IN ('0', '0.0', '0.00'))"
        tests.append(test)
    tests += [f"{name} IS NOT EMPTY" for name in source]
    return " OR ".join(dict.fromkeys(tests))
