"""Load a contract file (YAML or JSON), validate it and compile it.

Every problem is reported as `FILE:LINE: dotted.place: message`, all at once, so a user
fixes a contract in one pass.
"""

from __future__ import annotations

import difflib
import importlib
import os
import stat
from copy import deepcopy
from functools import cache
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ValidationError

from xmlload.contract.compiler import Location, Plan, compile_contract
from xmlload.contract.depth import MAX_DEPTH, deepest_line
from xmlload.contract.functions import loading_extension
from xmlload.contract.model import Contract
from xmlload.errors import ContractError


def _line_index(node: yaml.Node, place: Location, lines: dict[Location, int]) -> None:
    lines.setdefault(place, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            lines[(*place, key.value)] = key.start_mark.line + 1
            _line_index(value, (*place, key.value), lines)
    elif isinstance(node, yaml.SequenceNode):
        for position, item in enumerate(node.value):
            _line_index(item, (*place, position), lines)


def _read(path: Path) -> tuple[Any, dict[Location, int]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ContractError(str(path), [f"cannot read: {error.strerror}"]) from None
    except UnicodeDecodeError as error:
        raise ContractError(str(path), [f"not UTF-8 text: {error}"]) from None
    if (line := deepest_line(text, MAX_DEPTH)) is not None:
        raise ContractError(str(path), [f"{path}:{line}: nested more than {MAX_DEPTH} levels deep"])
    try:
        return _lines_and_data(text)
    except RecursionError:
        raise ContractError(str(path), [f"{path}: nested too deeply to read"]) from None
    except yaml.YAMLError as error:
        if "maximum nesting depth" in str(error):  # libyaml's own limit
            raise ContractError(str(path), [f"{path}: nested too deeply to read"]) from None
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise ContractError(str(path), [f"{where}not valid YAML/JSON: {error}"]) from None


def _lines_and_data(text: str) -> tuple[Any, dict[Location, int]]:
    """Parse once (with libyaml where PyYAML has it): the line of every place, taken from
    the node tree before constructing the data expands its merge keys (`<<`)."""
    loader = _LOADER(text)
    try:
        node = loader.get_single_node()
        lines: dict[Location, int] = {}
        if node is None:
            return None, lines
        _line_index(node, (), lines)
        return loader.construct_document(node), lines
    finally:
        loader.dispose()


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _format(path: Path, lines: dict[Location, int], place: Location, message: str) -> str:
    probe = tuple(place)
    while probe and probe not in lines:
        probe = probe[:-1]
    line = lines.get(probe, 1)
    dotted = ".".join(str(part) for part in place) or "(top)"
    return f"{path}:{line}: {dotted}: {message}"


def _member_fits(tag: str, node: Any) -> bool:
    """Whether a union member pydantic tried (`list[...]`, `str`, a model) fits the value
    the user wrote, so only the errors of the member they meant are reported."""
    if tag.startswith("list["):
        return isinstance(node, list)
    if tag in ("str", "int", "float", "bool"):
        return not isinstance(node, dict | list)
    return isinstance(node, dict)


def _union_tag(part: Any) -> bool:
    """Pydantic names the union member it tried in the error's place: `RowsSpec`,
    `list[...]`, `function-after[...]`, `str`. Contract keys are never spelled so."""
    if not isinstance(part, str):
        return False
    return "[" in part or part in ("str", "int", "float", "bool") or part[:1].isupper()


def _user_place(data: Any, loc: tuple[Any, ...]) -> Location | None:
    """The error's place in the user's data without union tags; None when the error comes
    from a union member that does not fit what was written (a list where a mapping was)."""
    place: list[str | int] = []
    node = data
    for part in loc:
        if (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        ):
            node = node[part]
        elif _union_tag(part):
            if not _member_fits(part, node):
                return None
            continue
        else:
            node = None  # a missing key: the rest of the place is the model's
        place.append(part)
    return tuple(place)


def load_contract(path: str | Path) -> Contract:
    """Read and validate the model; raise ContractError listing every problem."""
    file = Path(path)
    contract, _, problems = _load_contract(file)
    if problems:
        raise ContractError(str(file), problems)
    assert contract is not None
    return contract


def _load_contract(file: Path) -> tuple[Contract | None, dict[Location, int], list[str]]:
    """The validated model, the line of every place in the file, and the problems. When
    the only problems are unknown keys, the model is that of the contract without them, so
    what the compiler finds can be said in the same pass."""
    data, lines = _read(file)
    if not isinstance(data, dict):
        raise ContractError(str(file), [f"{file}:1: the contract must be a mapping of keys"])
    try:
        return Contract.model_validate(data), lines, []
    except ValidationError as error:
        items = error.errors()
        placed = [(_user_place(data, tuple(item["loc"])), item) for item in items]
        kept = [(place, item) for place, item in placed if place is not None]
        problems = [
            _format(file, lines, place, _message(item))
            for place, item in (kept or [(tuple(item["loc"]), item) for item in items])
        ]
        unknown = [place for place, item in kept if item["type"] == "extra_forbidden"]
        contract = _model_or_none(_without(data, unknown)) if len(unknown) == len(items) else None
        return contract, lines, list(dict.fromkeys(problems))


def _model_or_none(data: Any) -> Contract | None:
    """The model of data whose first problems are already said; None if it has more (they
    are said once those are fixed)."""
    try:
        return Contract.model_validate(data)
    except ValidationError:
        return None


def _without(data: Any, places: list[Location]) -> Any:
    """A copy of the contract's data without the keys at these places."""
    copy = deepcopy(data)
    for place in places:
        node = copy
        for part in place[:-1]:
            node = node[part]
        node.pop(place[-1], None)
    return copy


def _message(item: Any) -> str:
    """Pydantic's message, with a suggestion for a key the language does not have."""
    message = str(item["msg"]).removeprefix("Value error, ")
    if item["type"] != "extra_forbidden" or not item["loc"]:
        return message
    close = difflib.get_close_matches(str(item["loc"][-1]), _contract_keys(), n=1, cutoff=0.7)
    return f"unknown key; did you mean {close[0]!r}?" if close else "unknown key"


@cache
def _contract_keys() -> list[str]:
    """Every key of the contract language, on any level."""
    keys: set[str] = set()
    pending: list[type[BaseModel]] = [Contract]
    seen: set[type[BaseModel]] = set()
    while pending:
        model = pending.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, info in model.model_fields.items():
            keys.add(info.alias or name)
            pending.extend(_models_in(info.annotation))
    return sorted(keys)


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in get_args(annotation) for model in _models_in(arg)]


def _check_owned(file: Path) -> None:
    """Extensions are code: they load only from a contract file the user running xmlload
    owns (or root owns) and nobody else can write."""
    if os.name != "posix":
        return
    status = file.stat()
    if status.st_uid not in (os.getuid(), 0):
        why = f"is owned by another user (uid {status.st_uid})"
    elif status.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        why = "is writable by other users"
    else:
        return
    raise ContractError(
        str(file),
        [f"{file}: the contract lists extensions (Python modules it imports) but {why}; "
         "extensions load only from a contract you own that nobody else can change"],
    )  # fmt: skip


def _import_extensions(file: Path, lines: dict[Location, int], modules: list[str]) -> None:
    _check_owned(file)
    problems = []
    for position, module in enumerate(modules):
        try:
            with loading_extension(module):
                importlib.import_module(module)
        except ImportError as error:
            place = ("extensions", position)
            problems.append(_format(file, lines, place, f"cannot import {module!r}: {error}"))
    if problems:
        raise ContractError(str(file), problems)


def load_plan(path: str | Path, extensions: bool = True) -> Plan:
    """Load, validate and compile a contract; raise ContractError with places on failure.
    With `extensions` off, the modules a contract lists are not imported (its functions
    then fail to compile)."""
    file = Path(path)
    contract, lines, found = _load_contract(file)
    if contract is None:
        raise ContractError(str(file), found)
    if extensions and contract.extensions:
        _import_extensions(file, lines, contract.extensions)
    plan, problems = compile_contract(contract)
    found += [_format(file, lines, place, msg) for place, msg in problems.items]
    if plan is None or found:
        raise ContractError(str(file), found)
    plan.warnings = [_format(file, lines, place, msg) for place, msg in problems.warnings]
    return plan
