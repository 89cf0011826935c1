"""The names of a reference expression, and where each one's value comes from.

The reference evaluates expressions against a dictionary (§7.1-§7.2): for application
tables a flattened view of the whole document (`tag.attr` keys, `application.attr`, bare
attribute names meaning the last element carrying them), for contact rows the contact's
attributes, for address and employment rows the element's attributes and `con_id`.
`expression_inputs` turns each name into an input of an `xmlconversion`-dialect column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_WORDS = {"CASE", "WHEN", "THEN", "ELSE", "END", "AND", "OR", "IS", "NOT", "EMPTY", "NULL",
          "LIKE", "DATE", "DATEADD", "DAY"}  # fmt: skip


@dataclass
class NameResolver:
    """Where names point, for one kind of reference context."""

    context: str  # "application", "contact" or "child"
    root: str  # the document's root element name
    application_element: str
    element_paths: dict[str, str] = field(default_factory=dict)  # tag -> path from the app

    def names(self, expression: str) -> list[str]:
        found: list[str] = []
        for name in _NAME.findall(_QUOTED.sub(" ", expression)):
            if name.upper() in _WORDS or name in found:
                continue
            found.append(name)
        return found

    def inputs(self, expression: str) -> dict[str, Any]:
        """Input name -> path or pick, in the order the reference context would list them."""
        inputs: dict[str, Any] = {}
        for name in self.names(expression):
            key, source = self.resolve(name)
            if source is not None and key not in inputs:
                inputs[key] = source
        return inputs

    def resolve(self, name: str) -> tuple[str, Any]:
        """(the key the reference context holds for the name, our path/pick or None)."""
        if self.context == "contact":
            return name, None if "." in name else f"@{name}"
        if self.context == "child":
            if "." in name:
                return name, None
            return name, "../@con_id" if name == "con_id" else f"@{name}"
        if name == "app_id":
            return name, f"/{self.root}/Request/@ID"
        if "." not in name:
            return name, self.anywhere(name)
        tag, attribute = name.split(".", 1)
        key = f"{tag}.{attribute.lower()}"
        if tag == "application" or tag == self.application_element:
            return key, f"@{attribute}"
        if tag in self.element_paths:
            return key, f"{self.element_paths[tag]}/@{attribute}"
        # the reference's tag.attr: of the paths ending in the tag, in the order each first
        # occurs, the last whose last element has the attribute (§7.2)
        return key, {"path": f"/{self.root}//{tag}", "take": "last_of_paths",
                     "value": f"@{attribute}"}  # fmt: skip

    def anywhere(self, attribute: str) -> dict[str, Any]:
        """A bare name (Q14): the reference's flattened context, where each element path,
        in the order it first occurs, holds its last element's attributes, and a later path
        carrying the attribute overwrites an earlier one (§7.2)."""
        return {"path": f"/{self.root}//*", "take": "last_of_paths", "value": f"@{attribute}",
                "ignore_attribute_case": False}  # fmt: skip
