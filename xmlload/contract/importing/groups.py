"""Grouped row tables (§5.19-§5.21): policy exceptions, warranty groups and collateral
slots. Each group or slot is a row source of the application element that `read`s its
own columns; a parameterised policy exception is one unpivoted attribute."""

from __future__ import annotations

from typing import Any

from xmlload.contract.importing.columns import Untranslatable, translate
from xmlload.contract.importing.fields import Column, FieldContext, column_type, value_path
from xmlload.contract.importing.keyvalue import ignored, row_element
from xmlload.contract.importing.layout import Kind
from xmlload.contract.importing.reference import EXTRACTORS, Mapping, Step, parse_chain
from xmlload.contract.importing.tables import Problem, Table
from xmlload.contract.importing.values import ValueMaps

NOT_VALUES = ["null", "none"]


def group_table(
    name: str, mappings: list[tuple[int, Mapping]], ctx: FieldContext, maps: ValueMaps,
    problems: list[Problem],
) -> Table:  # fmt: skip
    table = Table(name, ctx.kind, {"parent": ctx.layout.application_table})
    parsed = []
    for index, mapping in mappings:
        steps, messages = parse_chain(mapping.types)
        step = next((s for s in steps if s.name == ctx.kind.value), None)
        if step is None:
            if messages:
                problems += [(index, mapping, message) for message in messages]
            else:
                table.comments.append(ignored(index, ctx.kind))
            continue
        if step.parameter is None:
            messages.append(f"{ctx.kind.value} needs a parameter in parentheses")
        elif step.parameter and not _integer(step.parameter):
            messages.append(f"{ctx.kind.value}({step.parameter}): the parameter must be an integer")
        problems += [(index, mapping, message) for message in messages]
        if not messages:
            parsed.append((index, mapping, steps, step))
    if ctx.kind is Kind.POLICY:
        _policy(table, parsed, ctx, problems)
    else:
        _slots(table, parsed, ctx, maps)
    return table


def _integer(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def _policy(table: Table, parsed: list, ctx: FieldContext, problems: list[Problem]) -> None:
    notes = next(((i, m) for i, m, _, step in parsed if step.parameter == ""), None)
    sources = []
    for index, mapping, steps, step in parsed:
        if step.parameter == "":
            continue
        try:
            element, attribute, raw = row_element(mapping, steps, ctx)
        except Untranslatable as error:
            problems.append((index, mapping, str(error)))
            continue
        unpivot = {"attributes": {attribute: step.parameter}, "skip_values": NOT_VALUES}
        if raw and not ctx.fix:
            unpivot["html_unescape"] = False  # read from lxml (§4.1)
        sources.append({"#": [f"mappings[{index}]"], **element, "unpivot": unpivot})
    table.header["rows"] = sources
    table.comments.append("policy_exceptions(enum): one row per meaningful reason (§5.19)")
    table.columns = [
        Column("policy_exception_type_enum", {"type": "integer", "item": "key",
                                              "counts_as_data": False}, "the parameter"),
        Column("reason_code", {"type": "text", "item": "value"}, "trimmed text"),
    ]  # fmt: skip
    if notes is None:
        table.columns.append(Column("notes", {"type": "text", "const": None}, "no notes mapping"))
        return
    index, mapping = notes
    source = f"{mapping.xml_path.rstrip('/')}/@{mapping.xml_attribute}"
    notes_spec = {
        "type": "text",
        "counts_as_data": False,
        "expr": "CASE WHEN LOWER(TRIM(v)) IN ('null', 'none') THEN NULL ELSE TRIM(v) END",
        "inputs": {"v": source},
    }
    comment = f"mappings[{index}]: policy_exceptions() (shared notes)"
    table.columns.append(Column("notes", notes_spec, comment))


def _slots(table: Table, parsed: list, ctx: FieldContext, maps: ValueMaps) -> None:
    key = "warranty_type_enum" if ctx.kind is Kind.WARRANTY else "sort_order"
    columns: dict[str, Column] = {key: Column(key, {"type": "integer", "const": None},
                                              f"the {ctx.kind.value} parameter")}  # fmt: skip
    sources: dict[str, dict[str, Any]] = {}
    for index, mapping, steps, step in parsed:
        column_name = str(mapping.target_column)
        source = sources.setdefault(step.parameter, {"#": [], "path": ".",
                                                     "set": {key: int(step.parameter)},
                                                     "read": {}})  # fmt: skip
        source["#"].append(f"mappings[{index}] -> {column_name}")
        column = columns.get(column_name) or Column(column_name, {}, "")
        columns[column_name] = column
        source["read"][column_name] = _read(mapping, steps, ctx, column, maps)
    if ctx.kind is Kind.WARRANTY and "merrick_lienholder_flag" not in columns:
        columns["merrick_lienholder_flag"] = Column(
            "merrick_lienholder_flag", {"type": "boolean", "const": 0},
            "set to 0 by the reference when no mapping gives it (§5.20)")  # fmt: skip
    table.header["rows"] = list(sources.values())
    table.columns = list(columns.values())
    what = "warranty_field(enum)" if ctx.kind is Kind.WARRANTY else "add_collateral(slot)"
    table.comments.append(f"{what}: one row per group with a meaningful value (§5.20, §5.21)")


def _read(mapping: Mapping, steps: list[Step], ctx: FieldContext, column: Column,
          maps: ValueMaps) -> Any:  # fmt: skip
    """This group's source for the column; the column's rules are set from the mapping."""
    names = [step.name for step in steps]
    spec = column.spec
    if not spec:
        spec.update({"type": column_type(mapping, 2), "const": None})
        column.comment = f"from {mapping.xml_attribute}"
    if mapping.default_value and ctx.kind is Kind.COLLATERAL:
        spec["default"] = mapping.default_value
    if "char_to_bit" in names:
        spec.update({"map": maps.bits("char_to_bit"), "default": 0, "counts_as_data": False})
    elif "calculated_field" in names and ctx.kind is Kind.COLLATERAL:
        spec["counts_as_data"] = False
        expression = str(mapping.expression or "").strip()
        return {"expr": expression, "dialect": "xmlconversion",
                "inputs": ctx.resolver().inputs(expression)}  # fmt: skip
    elif {"numbers_only", "extract_numeric"} & set(names):
        spec["digits_only"] = "number"
    elif str(mapping.target_column) == "wholesale_value":
        spec["counts_as_data"] = "nonzero"
    if EXTRACTORS & set(names):
        extractors = [step for step in steps if step.name in EXTRACTORS]
        plain = mapping.model_copy(update={"data_type": "string", "data_length": None})
        return translate(plain, extractors, ctx, maps).spec["pick"]
    return value_path(mapping.xml_path, mapping.xml_attribute, ctx.layout)
