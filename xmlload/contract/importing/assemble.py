"""Translate every table of a reference contract and write the result as YAML."""

from __future__ import annotations

from pathlib import Path

from xmlload.contract.importing.emit import anchored, comment, flow, table_lines, value_map_lines
from xmlload.contract.importing.fields import FieldContext, relative
from xmlload.contract.importing.groups import group_table
from xmlload.contract.importing.keyvalue import keyvalue_table
from xmlload.contract.importing.layout import Kind, Layout, build_layout
from xmlload.contract.importing.reference import Mapping, ReferenceContract, last_segment
from xmlload.contract.importing.tables import Problem, Table, row_table
from xmlload.contract.importing.values import ValueMaps

# The reference's date formats (§6.6), then ISO forms its fromisoformat fallback accepts.
REFERENCE_FORMATS = ["%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d", "%m/%d/%Y",
                     "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %I:%M:%S %p", "%d/%m/%Y",
                     "%d/%m/%Y %H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S",
                     "%Y%m%d"]  # fmt: skip
ROW_KINDS = {Kind.APPLICATION, Kind.GENERIC, Kind.CONTACT, Kind.ADDRESS, Kind.EMPLOYMENT}
KEY_VALUE_KINDS = {Kind.SCORE, Kind.INDICATOR, Kind.HISTORY, Kind.REPORT}


def assemble(contract: ReferenceContract, file: Path, fix: bool) -> tuple[str, list[str]]:
    messages: list[str] = []
    layout = build_layout(contract, messages)
    if layout is None or messages:
        return "", messages
    problems: list[Problem] = []
    maps = ValueMaps(contract, fix)
    fragments: dict = {}
    paths = _element_paths(contract, layout)
    tables: list[Table] = []
    for name, mappings in _by_table(contract).items():
        kind = layout.kinds[name]
        has_calculated = any("calculated_field" in m.types for _, m in mappings)
        ctx = FieldContext(contract, layout, kind, fix, paths, has_calculated, fragments)
        if kind in ROW_KINDS:
            tables.append(row_table(name, mappings, ctx, maps, problems))
        elif kind in KEY_VALUE_KINDS:
            tables.append(keyvalue_table(name, mappings, ctx, maps, problems))
        else:
            tables.append(group_table(name, mappings, ctx, maps, problems))
    if problems:
        return "", [f"mappings[{i}] ({m.label}): {why}" for i, m, why in problems]
    return _text(contract, file, layout, tables, maps, fragments, fix), []


def _by_table(contract: ReferenceContract) -> dict[str, list[tuple[int, Mapping]]]:
    """Mappings per table, tables in order of first appearance (§3)."""
    grouped: dict[str, list[tuple[int, Mapping]]] = {}
    for index, mapping in enumerate(contract.mappings):
        grouped.setdefault(mapping.target_table, []).append((index, mapping))
    return grouped


def _element_paths(contract: ReferenceContract, layout: Layout) -> dict[str, str]:
    """Element name -> the path a `tag.attr` expression name reads (the last such element)."""
    found: dict[str, str] = {}
    for mapping in contract.mappings:
        path = mapping.xml_path.rstrip("/")
        if path.startswith("/"):
            found.setdefault(last_segment(path), relative(path, layout))
    return found


def _text(contract: ReferenceContract, file: Path, layout: Layout, tables: list[Table],
          maps: ValueMaps, fragments: dict, fix: bool) -> str:  # fmt: skip
    mode = (
        "with --fix-reference-defects"
        if fix
        else "faithful: the reference's rows, defects included"
    )
    root = contract.xml_root_element
    lines = [
        comment(f"Imported from {file.name} by `xmlload contract import` ({mode})."),
        "# Each column's comment names the reference mapping it comes from; section",
        "# numbers (§) and defects (Q) refer to the XmlConversion contract-format spec.",
        f"name: {flow(file.stem)}",
        "document:",
        f"  root: {flow(root)}",
        f"  element: {flow(layout.application_path.replace('/Provenir', '/' + root, 1))}",
        f"  id: {flow({'path': f'/{root}/Request/@ID', 'column': 'app_id', 'type': 'bigint'})}",
        comment(
            f"the reference writes to schema {contract.target_schema!r}: set target_schema to do"
        ),
        "# the same (its table and column names are kept as they are)",
        "defaults:",
        "  trim: true",
        "  overflow: truncate          # over-long text is cut, as the reference does",
        (
            '  invalid: "null"             # a value that does not convert is NULL (or the default)'
            if fix
            else "  invalid: null_no_default    # a value that does not convert is NULL, even "
            "where a default exists (Q8)"
        ),
        "  fractional_integers: round_half_up",
        "  ignore_attribute_case: true # exact attribute name first, then any case",
        "  path_match: last            # a path naming several elements reads the last (§4.1)",
        *(
            []
            if fix
            else ["  html_unescape: true         # values are html-unescaped after lxml (§4.1)"]
        ),
        f"  datetime_formats: &reference_formats {flow(REFERENCE_FORMATS)}",
        "  date_formats: *reference_formats",
    ]
    lines += anchored(fragments)
    lines += value_map_lines(maps.maps, maps.comments)
    lines.append("tables:")
    for table in tables:
        lines += table_lines(table)
    return "\n".join(lines) + "\n"
