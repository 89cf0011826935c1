"""Key-value tables (§5.15-§5.21): each row-creating mapping becomes one attribute of an
unpivoted row source; warranty and collateral groups become row sources that `read`
their own columns."""

from __future__ import annotations

from typing import Any

from xmlload.contract.importing.columns import Untranslatable, translate
from xmlload.contract.importing.fields import (
    Alias,
    Column,
    FieldContext,
    column_type,
    relative,
)
from xmlload.contract.importing.layout import Kind
from xmlload.contract.importing.reference import Mapping, Step, last_segment, parse_chain
from xmlload.contract.importing.tables import Problem, Table
from xmlload.contract.importing.values import ValueMaps
from xmlload.contract.model import IDENTIFIER

NOT_VALUES = ["null", "none"]  # "meaningful" values exclude these, in any case (§5.17)
TRUE_VALUES = "('y', 'yes', 'true', 't', '1')"


def keyvalue_table(
    name: str, mappings: list[tuple[int, Mapping]], ctx: FieldContext, maps: ValueMaps,
    problems: list[Problem],
) -> Table:  # fmt: skip
    table = Table(name, ctx.kind, {"parent": ctx.layout.application_table})
    sources: list[dict[str, Any]] = []
    typed: Mapping | None = None
    for index, mapping in mappings:
        steps, messages = parse_chain(mapping.types)
        if not messages and not any(step.name == ctx.kind.value for step in steps):
            table.comments.append(ignored(index, ctx.kind))
            continue
        messages += _check(mapping, steps, ctx.kind)
        for message in messages:
            problems.append((index, mapping, message))
        if messages:
            continue
        step = next(step for step in steps if step.name == ctx.kind.value)
        try:
            element, attribute, raw = row_element(mapping, steps, ctx)
        except Untranslatable as error:
            problems.append((index, mapping, str(error)))
            continue
        key, extra = _key(mapping, step, ctx.kind)
        source = _place(sources, element, attribute, key, extra, index, mapping)
        source["raw"] = raw and not ctx.fix
        typed = typed or mapping
    for source in sources:
        unpivot = source.pop("attributes")
        comments = source.pop("comments")
        source["unpivot"] = _unpivot(unpivot, ctx.kind)
        if source.pop("raw", False):
            source["unpivot"]["html_unescape"] = False  # read from lxml (§4.1)
        source["#"] = comments
    table.header["rows"] = sources
    table.columns = _columns(ctx.kind, typed, sources)
    table.comments.append(_KIND_COMMENT[ctx.kind])
    return table


_KIND_COMMENT = {
    Kind.SCORE: "add_score(id): one row per score that converts (0 included)",
    Kind.INDICATOR: "add_indicator(name): one row per flag set to y/yes/true/t/1, value '1'",
    Kind.HISTORY: "add_history: name [attribute], source [element], the value as text",
    Kind.REPORT: "add_report_lookup(key): name, value as text, source_report_key",
}


def ignored(index: int, kind: Kind) -> str:
    return f"mappings[{index}] has no {kind.value} type: the reference ignores it (§3)"


def _check(mapping: Mapping, steps: list[Step], kind: Kind) -> list[str]:
    step = next(step for step in steps if step.name == kind.value)
    if kind in (Kind.SCORE, Kind.INDICATOR) and not step.parameter:
        return [f"{kind.value}() needs a name in parentheses"]
    if kind is Kind.HISTORY and step.parameter is not None:
        return ["add_history takes no parameter"]
    if not (mapping.xml_attribute or "").strip():
        return ["a key-value mapping needs xml_attribute"]
    if "calculated_field" in [s.name for s in steps]:
        return ["calculated_field in a key-value table: the reference writes its placeholder"]
    return []


def row_element(mapping: Mapping, steps: list[Step], ctx: FieldContext) -> tuple[Any, str, bool]:
    """The row source's elements (path or pick fields), the attribute path below them, and
    whether the reference reads the value from lxml (a contact's) rather than xml_data."""
    names = [step.name for step in steps]
    attribute = str(mapping.xml_attribute)
    contact = "last_valid_pr_contact" in names or "last_valid_sec_contact" in names
    if contact or "authu_contact" in names:
        pick = translate(_plain(mapping), _extractors(steps), ctx, ValueMaps(ctx.contract, False))
        spec = pick.spec["pick"]
        value = spec.pop("value")
        if "then" in spec:  # the contact's last card, or the contact itself (§5.10, §5.12)
            if "app_prod_bcard" not in mapping.xml_path:
                raise Untranslatable("a key-value row from a contact's address is not supported")
        elif ctx.kind is Kind.HISTORY and "last_valid_pr_contact" in names:
            spec = _history_fallback(ctx, attribute)
        return spec, value, True
    path = relative(mapping.xml_path, ctx.layout)
    return {"path": path, "take": "last"}, f"@{attribute}", False


def _history_fallback(ctx: FieldContext, attribute: str) -> dict[str, Any]:
    """§5.10 step 4: a history value the last primary contact lacks comes from the latest
    earlier primary contact that has it (so: the last primary contact that has it)."""
    fragment = ctx.fragments["last_primary_contact"]
    if not IDENTIFIER.match(attribute):
        return {"<<": Alias("last_primary_contact")}
    meaningful = f"{attribute} IS NOT EMPTY AND LOWER(TRIM({attribute})) NOT IN ('null', 'none')"
    return {"path": fragment["path"], "where": f"{fragment['where']} AND {meaningful}",
            "take": "last"}  # fmt: skip


def _plain(mapping: Mapping) -> Mapping:
    return mapping.model_copy(update={"data_type": "string", "data_length": None})


def _extractors(steps: list[Step]) -> list[Step]:
    names = ("last_valid_pr_contact", "last_valid_sec_contact", "authu_contact")
    return [step for step in steps if step.name in names]


def _key(mapping: Mapping, step: Step, kind: Kind) -> tuple[str, dict[str, Any]]:
    attribute = str(mapping.xml_attribute)
    if kind is Kind.HISTORY:
        return f"[{attribute}]", {"source": f"[{last_segment(mapping.xml_path)}]"}
    if kind is Kind.REPORT:
        return step.parameter or "", {}
    return str(step.parameter), {}


def _place(sources: list[dict[str, Any]], element: Any, attribute: str, key: str,
           extra: dict[str, Any], index: int, mapping: Mapping) -> dict[str, Any]:  # fmt: skip
    """Attributes of the same elements share one row source, in mapping order; returns
    the source the attribute went to."""
    for source in sources:
        same = source["element"] == element and source["set"] == extra
        if same and attribute not in source["attributes"]:
            source["attributes"][attribute] = key
            source["comments"].append(f"mappings[{index}]")
            return source
    sources.append({"element": element, "set": extra, "attributes": {attribute: key},
                    "comments": [f"mappings[{index}]"]})  # fmt: skip
    return sources[-1]


def _unpivot(attributes: dict[str, str], kind: Kind) -> dict[str, Any]:
    spec: dict[str, Any] = {"attributes": attributes}
    if kind in (Kind.HISTORY, Kind.REPORT):
        spec["skip_values"] = NOT_VALUES
    if kind is Kind.INDICATOR:
        spec["where"] = f"LOWER(TRIM(value)) IN {TRUE_VALUES}"
    return spec


def _columns(kind: Kind, typed: Mapping | None, sources: list[dict[str, Any]]) -> list[Column]:
    for source in sources:
        element = source.pop("element")
        source.update({key: element[key] for key in element if key != "<<"})
        if "<<" in element:
            source["<<"] = element["<<"]
            for key in ("path", "where", "take"):
                source.pop(key, None)
        if not source["set"]:
            source.pop("set")
    if kind is Kind.SCORE:
        score_type = column_type(typed, 2) if typed is not None else "integer"
        return [Column("score_identifier", {"type": "string(50)", "item": "key",
                                            "counts_as_data": False}, "the add_score name"),
                Column("score", {"type": score_type, "item": "value"},
                       "the attribute's value; junk makes no row")]  # fmt: skip
    if kind is Kind.INDICATOR:
        return [
            Column("indicator", {"type": "string(100)", "item": "key"}, "the name"),
            Column("value", {"type": "string(250)", "const": "1"}, "always '1'"),
        ]
    if kind is Kind.HISTORY:
        return [
            Column("name", {"type": "string(64)", "item": "key"}, "[attribute]"),
            Column("source", {"type": "string(64)", "const": None}, "[element]"),
            Column("value", {"type": "text", "item": "value"}, "trimmed text"),
        ]
    return [
        Column("name", {"type": "string(64)", "item": "attribute"}, "the attribute"),
        Column("value", {"type": "text", "item": "value"}, "trimmed text"),
        Column("source_report_key", {"type": "string(20)", "item": "key"}, "the key"),
    ]
