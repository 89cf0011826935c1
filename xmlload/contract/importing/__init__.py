"""`xmlload contract import`: an XmlConversion JSON contract -> a contract of ours.

Faithful by default: the imported contract writes the reference's rows, defects included
(../shared/reference/xmlconversion-contract-format.md). With `fix_defects`, the defects the
spec lists are corrected instead, each said at its column. Every mapping that cannot be
translated is a problem; nothing is dropped or approximated silently.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from xmlload.contract.depth import MAX_DEPTH, deepest_line
from xmlload.contract.importing.assemble import assemble
from xmlload.contract.importing.reference import ReferenceContract
from xmlload.errors import ContractError


@dataclass
class ImportResult:
    text: str  # the contract, YAML; empty when there are problems
    problems: list[str] = field(default_factory=list)  # "FILE: place (table.column): why"
    json_lines: int = 0
    yaml_lines: int = 0


def import_contract(path: str | Path, fix_defects: bool = False) -> ImportResult:
    file = Path(path)
    try:
        raw = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return ImportResult("", [f"{file}: cannot read: {error}"])
    if (line := deepest_line(raw, MAX_DEPTH)) is not None:
        return ImportResult(
            "", [f"{file}:{line}: nested more than {MAX_DEPTH} levels deep; not a contract"]
        )
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as error:
        return ImportResult("", [f"{file}:{error.lineno}: not valid JSON: {error.msg}"])
    if not isinstance(data, dict):
        return ImportResult("", [f"{file}: the contract must be a JSON object"])
    if control := list(_control_characters(data, "")):
        return ImportResult("", [f"{file}: {place}" for place in control])
    try:
        contract = ReferenceContract.model_validate(data)
    except ValidationError as error:
        return ImportResult("", [_place(file, data, problem) for problem in error.errors()])
    text, problems = assemble(contract, file, fix_defects)
    result = ImportResult("" if problems else text, [f"{file}: {p}" for p in problems])
    result.json_lines = raw.count("\n") + 1
    if not problems:
        result.problems += _check(text, file)
        result.yaml_lines = text.count("\n")
    if result.problems:
        result.text = ""
    return result


def _control_characters(node: object, place: str) -> Iterator[str]:
    """Every string (key or value) holding a line break or another control character: a
    name or path is one line of printable text. Expressions may span lines."""
    if isinstance(node, dict):
        for name, value in node.items():
            inner = f"{place}.{name}" if place else str(name)
            if not str(name).isprintable():
                yield f"{place or '(top)'}: key {name!r} holds a control character"
            yield from _control_characters(value, inner)
    elif isinstance(node, list):
        for position, item in enumerate(node):
            yield from _control_characters(item, f"{place}[{position}]")
    elif isinstance(node, str) and not node.isprintable():
        allowed = "\t\n\r" if place.endswith(".expression") else ""
        if any(not char.isprintable() and char not in allowed for char in node):
            yield f"{place}: {node!r} holds a control character (names and paths are one line)"


def _place(file: Path, data: dict, problem: dict) -> str:
    location = problem["loc"]
    where = ".".join(str(part) for part in location)
    if len(location) >= 2 and location[0] == "mappings" and isinstance(location[1], int):
        where = f"mappings[{location[1]}]"
        entry = data["mappings"][location[1]] if location[1] < len(data["mappings"]) else {}
        if isinstance(entry, dict):
            label = f"{entry.get('target_table', '?')}.{entry.get('target_column', '')}"
            where += f" ({label})"
        if len(location) > 2:
            where += f" {location[2]}"
    return f"{file}: {where}: {problem['msg']}"


def _check(text: str, file: Path) -> list[str]:
    """The written contract must load: a failure here is a defect of the importer."""
    from xmlload.contract.loader import load_plan

    with tempfile.TemporaryDirectory() as folder:
        written = Path(folder) / f"{file.stem}.yaml"
        written.write_text(text, encoding="utf-8")
        try:
            plan = load_plan(written, extensions=False)
        except ContractError as error:
            return [f"{file}: the imported contract does not validate (an importer defect): "
                    f"{error}"]  # fmt: skip
    if plan.contract.extensions:
        return [f"{file}: the imported contract would import Python modules (an importer defect)"]
    return []
