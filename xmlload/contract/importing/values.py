"""Value maps for the imported contract: enums, bit conversions, and the CASE shape test."""

from __future__ import annotations

import re
from typing import Any

from xmlload.contract.importing.reference import ReferenceContract

_ELSE_LITERAL = re.compile(r"\sELSE\s+('[^']*'|\"[^\"]*\"|-?\d+(\.\d+)?)\s+END\s*$", re.I)


class ValueMaps:
    """The value maps the imported contract uses, built on first use, in order of use."""

    def __init__(self, contract: ReferenceContract, fix: bool) -> None:
        self.contract = contract
        self.fix = fix
        self.maps: dict[str, dict[str, Any]] = {}
        self.comments: dict[str, str] = {}

    def enum(self, name: str) -> str:
        if name not in self.maps:
            source = self.contract.enum_mappings[name]
            values = {str(key): value for key, value in source.items() if str(key).strip()}
            spec: dict[str, Any] = {"values": values}
            if "" in source:
                spec["default"] = source[""]
                self.comments[name] = 'the "" key maps blank and unknown codes alike (Q35)'
            self.maps[name] = spec
        return name

    def catch_all(self, name: str) -> Any:
        return self.contract.enum_mappings[name].get("")

    def bits(self, step: str) -> str:
        if step not in self.maps:
            source = self.contract.bit_conversions.get(step, {})
            values = {str(key): value for key, value in source.items() if str(key).strip()}
            if step == "boolean_to_bit":
                # the reference lowercases the value first: other keys never match
                values = {key: value for key, value in values.items() if key == key.lower()}
            self.maps[step] = {"values": values, "default": 0}
            self.comments[step] = f"{step}: unknown and blank values are 0"
        return step

    def truthy(self) -> str:
        name = "any_text_is_1"
        if name not in self.maps:
            self.maps[name] = {"values": {}, "default": 1}
            self.comments[name] = "a bit column without char_to_bit: any text is 1 (Q4)"
        return name


def literal_else(expression: str) -> bool:
    """True when a CASE ends in ELSE <literal>: the reference always has a value then."""
    return bool(_ELSE_LITERAL.search(expression.strip()))
