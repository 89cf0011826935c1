"""Translate one field-pipeline mapping (§2.1, §5.1-§5.14) into a column of ours."""

from __future__ import annotations

import re
from typing import Any

from xmlload.contract import xc_dialect
from xmlload.contract.expressions import compile_expression, text_literal
from xmlload.contract.importing.fields import (
    Alias,
    Column,
    FieldContext,
    column_type,
    enum_map_name,
    value_path,
)
from xmlload.contract.importing.layout import APPLICATION_PREFIX, Kind
from xmlload.contract.importing.reference import EXTRACTORS, PLAIN_STEPS, Mapping, Step
from xmlload.contract.importing.values import ValueMaps, literal_else
from xmlload.errors import ExpressionError

CONVERTING = {"enum", "char_to_bit", "boolean_to_bit", "numbers_only", "extract_numeric",
              "default_getutcdate_if_null"}  # fmt: skip


class Untranslatable(ValueError):
    """The mapping cannot be written in the contract language; the message says why."""


def translate(mapping: Mapping, steps: list[Step], ctx: FieldContext, maps: ValueMaps) -> Column:
    names = [step.name for step in steps]
    converting = [name for name in names if name in CONVERTING]
    calculated = "calculated_field" in names
    if calculated and names[0] != "calculated_field":
        raise Untranslatable("calculated_field must come first in mapping_type (§2.1)")
    if calculated and converting not in ([], ["enum"]):
        raise Untranslatable(f"calculated_field followed by {converting} is not supported")
    if not calculated and len(converting) > 1:
        raise Untranslatable(f"a chain of {converting} is not supported")
    if calculated and not (mapping.expression or "").strip():
        raise Untranslatable("calculated_field without an expression")
    if not calculated and not (mapping.xml_attribute or "").strip():
        raise Untranslatable("no xml_attribute: the reference writes the text of a dictionary")
    column = Column(str(mapping.target_column), {}, _comment(mapping))
    column.attribute = mapping.xml_attribute
    spec = column.spec
    step = converting[0] if converting else None
    extractor = next((name for name in names if name in EXTRACTORS), None)
    places = _places(names, step, extractor, calculated, mapping)
    spec["type"] = column_type(mapping, places)
    source = _source(mapping, names, ctx, column)
    raw = not ctx.fix and _read_raw(source, names, ctx)
    if raw:
        source["html_unescape"] = False  # read from lxml, not unescaped again (§4.1, Q18)
    spec.update(source)
    _convert(mapping, step, names, ctx, maps, column)
    if raw and (spec["type"] in ("date", "datetime") or "map" in spec):
        spec["trim"] = False  # dates and value maps see the raw value (Q18)
    if calculated and literal_else(mapping.expression or ""):
        column.always = True
    _length(mapping, extractor, ctx, column)
    if calculated and step == "enum":
        name = _enum_name(mapping, ctx, maps)
        orig = ctx.resolver().resolve(str(mapping.xml_attribute))[1]
        spec["fallback"] = {"path": orig} if isinstance(orig, str) else {"pick": orig}
        spec["fallback"]["map"] = name
        column.comment += "; an empty result takes the enum of the attribute (§5.7)"
    return column


def _comment(mapping: Mapping) -> str:
    types = ", ".join(mapping.types) or "no type"
    return f"{mapping.xml_path}@{mapping.xml_attribute} [{types}]"


def _places(names: list[str], step: str | None, extractor: str | None, calculated: bool,
            mapping: Mapping) -> int | None:  # fmt: skip
    """Decimal places: data_length with no type or after an extractor, else 2 (§6.5)."""
    if calculated or step in ("numbers_only", "extract_numeric"):
        return 2
    if any(name in PLAIN_STEPS for name in names) and extractor is None:
        return 2
    return mapping.data_length


LXML_READERS = ("last_valid_pr_contact", "last_valid_sec_contact", "authu_contact",
                "curr_address_only")  # fmt: skip


def _read_raw(source: dict, names: list[str], ctx: FieldContext) -> bool:
    """Whether the reference reads this value from lxml (contacts, their addresses and
    employments, the contact-finding types) rather than from its html-unescaped xml_data
    (§4.1): only a source that reads the XML and is not the application's own path."""
    if "const" in source:
        return False
    if any(name in LXML_READERS for name in names):
        return True
    if ctx.kind in (Kind.ADDRESS, Kind.EMPLOYMENT):
        return True
    return ctx.kind is Kind.CONTACT and not str(source.get("path", "")).startswith("/")


def _source(mapping: Mapping, names: list[str], ctx: FieldContext, column: Column) -> dict:
    """Where the raw value comes from (§4.2), in the reference's order of rules."""
    attribute = mapping.xml_attribute or ""
    path, layout, kind = mapping.xml_path.rstrip("/"), ctx.layout, ctx.kind
    if "last_valid_pr_contact" in names or "last_valid_sec_contact" in names:
        which = 0 if "last_valid_pr_contact" in names else 1
        return {"pick": _contact_pick(ctx, mapping, which), "ignore_attribute_case": False}
    if "authu_contact" in names:
        return {"pick": _authu_pick(ctx, mapping), "ignore_attribute_case": False}
    if "calculated_field" in names:
        return _calculated(str(mapping.expression).strip(), ctx, column)
    if "curr_address_only" in names and kind is Kind.CONTACT:
        return _current_address(ctx, attribute, column)
    if kind is Kind.CONTACT and path == f"{APPLICATION_PREFIX}/application":
        return {"path": f"/{ctx.contract.xml_root_element}/Request/CustData/application/"
                        f"@{attribute}", "ignore_attribute_case": False}  # fmt: skip
    if kind in (Kind.ADDRESS, Kind.EMPLOYMENT):
        return {"path": f"@{attribute}"}
    if "contact" in path and (kind is Kind.CONTACT or ctx.has_calculated):
        return _contact_context(ctx, path, attribute, column)
    return {"path": value_path(path, mapping.xml_attribute, layout)}


def _calculated(expression: str, ctx: FieldContext, column: Column) -> dict[str, Any]:
    """Faithful: the reference's own evaluation. Fixed: our expression language (operator
    precedence, numbers compared as numbers, names in any case) when the text parses."""
    rejected = None  # arithmetic the reference's character filter refuses: always NULL there
    try:
        xc_dialect.check(expression)
    except ExpressionError as error:
        if "CASE" in expression.upper() or not expression.strip():
            raise Untranslatable(f"expression does not parse: {error}") from None
        rejected = str(error)
    inputs = ctx.resolver().inputs(expression)
    if ctx.fix:
        renamed, ours = expression, {}
        for name in sorted(inputs, key=len, reverse=True):
            safe = name.replace(".", "__")
            renamed = re.sub(rf"(?<![A-Za-z0-9_.]){re.escape(name)}(?![A-Za-z0-9_])",
                             safe, renamed, flags=re.IGNORECASE)  # fmt: skip
            ours[safe] = inputs[name]
        try:
            compile_expression(renamed, [], {})
        except ExpressionError as error:
            column.notes.append(f"kept as the reference evaluates it: ours does not parse it "
                                f"({error})")  # fmt: skip
        else:
            column.notes.append("evaluated with operator precedence and typed comparisons (Q9-Q15)")
            return {"expr": renamed, "inputs": ours}
    if rejected is not None:
        column.comment += f"; always NULL in the reference ({rejected}; Q15)"
        return {"const": None}
    return {"expr": expression, "dialect": "xmlconversion", "inputs": inputs}


def _contact_context(ctx: FieldContext, path: str, attribute: str, column: Column) -> dict:
    """Rule 6: the path's segments after the first one naming a contact, walked as keys."""
    segments = path.strip("/").split("/")
    first = next(i for i, segment in enumerate(segments) if "contact" in segment)
    rest = segments[first + 1 :]
    if not rest:
        if ctx.kind is Kind.CONTACT:
            return {"path": f"@{attribute}"}
        return {"pick": ctx.resolver().anywhere(attribute)}
    children = {ctx.layout.roles.address.element, "contact_address", "contact_employment"}
    if ctx.layout.roles.employment is not None:
        children.add(ctx.layout.roles.employment.element)
    if rest[0] in children:
        raise Untranslatable(
            f"the reference writes the text of a Python list here ({rest[0]} is a list in "
            "its context); use curr_address_only or last_valid_pr_contact"
        )
    column.comment += "; always NULL in the reference (no such key in its context)"
    return {"const": None}


def _contact_pick(ctx: FieldContext, mapping: Mapping, which: int) -> dict[str, Any]:
    roles = ctx.layout.roles
    type_attribute, values = roles.contact_type
    label = "primary" if which == 0 else "secondary"
    if len(values) <= which:
        return {"path": ".", "where": "FALSE", "take": "last", "value": "@none"}
    name = f"last_{label}_contact"
    ctx.fragments[name] = {
        "path": f"/{ctx.contract.xml_root_element}//{roles.contact.element}",
        "where": f"{type_attribute} = {text_literal(values[which])} AND con_id IS NOT EMPTY",
        "take": "last",
    }
    pick: dict[str, Any] = {"<<": Alias(name)}
    attribute, path = mapping.xml_attribute, mapping.xml_path
    address = roles.address.element
    if ctx.kind is Kind.ADDRESS or address in path:
        # the preferred type's addresses, else all; the first with a value; none at all:
        # the contact's own attribute (§5.10)
        address_type, kinds = roles.address_type
        preferred = f"{address_type} = {text_literal(kinds[0])}"
        pick["then"] = [{"path": f"//{address}", "prefer": preferred,
                         "take": "first_with_value", "optional": True}]  # fmt: skip
    elif which == 0 and "app_prod_bcard" in path:
        pick["then"] = [_CARD_STEP]
    pick["value"] = f"@{attribute}"
    return pick


# the contact's last app_prod_bcard; without one, the contact itself (§5.10, §5.12)
_CARD_STEP = {"path": "//app_prod_bcard", "take": "last", "optional": True}


def _authu_pick(ctx: FieldContext, mapping: Mapping) -> dict[str, Any]:
    type_attribute, values = ctx.layout.roles.contact_type
    if len(values) < 2:
        return {"path": ".", "where": "FALSE", "take": "last", "value": "@none"}
    ctx.fragments["last_authorized_user"] = {
        "path": f"/{ctx.contract.xml_root_element}//contact",
        "where": f"{type_attribute} = {text_literal(values[1])}",
        "take": "last",
    }
    pick: dict[str, Any] = {"<<": Alias("last_authorized_user")}
    if "app_prod_bcard" in mapping.xml_path:
        pick["then"] = [_CARD_STEP]
    pick["value"] = f"@{mapping.xml_attribute}"
    return pick


def _current_address(ctx: FieldContext, attribute: str, column: Column) -> dict[str, Any]:
    """§5.13 in the contact table: the contact's last address of the preferred type."""
    roles = ctx.layout.roles
    if roles.contact.element != "contact" or roles.address.element != "contact_address":
        column.comment += "; always NULL in the reference (it looks for contact_address)"
        return {"const": None}
    # the last contact element of the document with this con_id, any role (Q19); its last
    # direct contact_address of the preferred type
    address_type, kinds = roles.address_type
    where = f"{address_type} = {text_literal(kinds[0])}"
    step = {"path": "contact_address", "where": where, "take": "last"}
    return {"pick": {"path": f"/{ctx.contract.xml_root_element}//contact",
                     "link": {"@con_id": "@con_id"}, "take": "last", "then": [step],
                     "value": f"@{attribute}"},
            "ignore_attribute_case": False}  # fmt: skip


def _enum_name(mapping: Mapping, ctx: FieldContext, maps: ValueMaps) -> str:
    name = enum_map_name(mapping, ctx.contract)
    if name is None or name not in ctx.contract.enum_mappings:
        raise Untranslatable(
            f"enum map {name or mapping.target_column!r} is not in enum_mappings "
            "(give enum_name or name the map after the column)"
        )
    return maps.enum(name)


def _convert(mapping: Mapping, step: str | None, names: list[str], ctx: FieldContext,
             maps: ValueMaps, column: Column) -> None:  # fmt: skip
    """The conversion rules of the chain's value step, and which default applies (§8.2)."""
    spec, default = column.spec, mapping.default_value
    integer = spec["type"] in ("integer", "smallint", "bigint", "tinyint")
    not_null_default = not mapping.nullable and default is not None
    extracted = any(name in EXTRACTORS for name in names) or "curr_address_only" in names
    transformation = (
        bool(default)
        and step in (None, "numbers_only", "extract_numeric")
        and not (extracted or "calculated_field" in names)
    )
    if step == "enum" and "calculated_field" not in names:
        name = _enum_name(mapping, ctx, maps)
        spec["map"] = name
        catch_all = maps.catch_all(name)
        if catch_all is not None:
            spec["default"] = catch_all
            column.always = True
        elif not_null_default:
            spec["default"] = default
            spec["nullable"] = False
        return
    if step in ("char_to_bit", "boolean_to_bit"):
        name = maps.bits(step)
        if extracted:  # an extractor that finds nothing stops the chain: NULL (§2.1)
            source = {key: spec.pop(key) for key in ("path", "pick") if key in spec}
            mapped = f"COALESCE(MAP({text_literal(name)}, v), 0)"
            spec["expr"] = f"CASE WHEN v IS NULL THEN NULL ELSE {mapped} END"
            spec["inputs"] = {"v": source.get("path") or source.get("pick")}
            return
        spec["map"] = name
        spec["default"] = 0
        spec["nullable"] = False
        column.always = True
        return
    if step in ("numbers_only", "extract_numeric"):
        spec["digits_only"] = "number" if not ctx.fix else True
        if ctx.fix:
            column.notes.append("leading zeros kept (the reference reads the digits as a number)")
    elif step == "default_getutcdate_if_null":
        source = {key: spec.pop(key) for key in ("path", "pick") if key in spec}
        spec["expr"] = "COALESCE(v, NOW())"
        spec["inputs"] = {"v": source.get("path") or source.get("pick")}
    if spec["type"] == "boolean" and step is None:
        _truthy_bit(ctx, maps, column, default)
        return
    if integer and not names and not ctx.fix:
        spec["first_number"] = True
    if transformation or not_null_default:
        spec["default"] = default
    if not_null_default:
        spec["nullable"] = False  # what does not convert takes the default here (Q8)


def _truthy_bit(ctx: FieldContext, maps: ValueMaps, column: Column, default: Any) -> None:
    """A bit column without char_to_bit: any non-blank text is 1 (Q4)."""
    if ctx.fix:
        if default is not None and str(default).strip():
            column.spec["default"] = default
        column.notes.append("Y/N, true/false and 0/1 read as such (the reference: any text is 1)")
        return
    column.spec["map"] = maps.truthy()
    if default is not None and str(default).strip():
        column.spec["default"] = 1
    column.always = False


def _length(mapping: Mapping, extractor: str | None, ctx: FieldContext, column: Column) -> None:
    """Negative and zero string lengths are slices in the reference (Q1)."""
    length, spec = mapping.data_length, column.spec
    if mapping.data_type.strip().lower() not in ("string", "varchar", "char", "nvarchar", "text"):
        return
    if length is None or length > 0:
        return
    if length == 0:
        spec.clear()
        spec.update({"type": "text", "const": None})
        column.comment += "; length 0: always empty (NULL) in the reference"
        return
    if ctx.fix:
        column.notes.append(f"length {length} read as unlimited (the reference cuts the end)")
        return
    cuts = 2 if extractor is not None and "pick" in spec and "then" not in spec["pick"] else 1
    spec["drop_last"] = -length * cuts
    column.comment += (
        f"; length {length}: the reference cuts the last {-length * cuts} character(s)"
    )
