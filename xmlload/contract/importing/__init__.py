"""`xmlload contract import`: an XmlConversion JSON contract -> a contract of ours.

Faithful by default: the imported contract writes the reference's rows, defects included
(../shared/reference/xmlconversion-contract-format.md). With `fix_defects`, the defects the
spec lists are corrected instead, each said at its column. Every mapping that cannot be
translated is a problem; nothing is dropped or approximated silently.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

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
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as error:
        return ImportResult("", [f"{file}:{error.lineno}: not valid JSON: {error.msg}"])
    if not isinstance(data, dict):
        return ImportResult("", [f"{file}: the contract must be a JSON object"])
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
            load_plan(written)
        except ContractError as error:
            return [f"{file}: the imported contract does not validate (an importer defect): "
                    f"{error}"]  # fmt: skip
    return []
