"""Templates: `for: {n: [1, 2]}` repeats a column or a row source once per value, with
`{n}` in its text replaced (`slot{n}_make`, `factor_{n}`). Expanded when compiling."""

from __future__ import annotations

import re
from typing import Any, TypeVar

from pydantic import BaseModel

from xmlload.contract.model import Template, TemplateRange

Model = TypeVar("Model", bound=BaseModel)
Bindings = dict[str, str]


def bindings(template: Template | None) -> list[Bindings]:
    """Every set of values, in order; several names advance together (equal lengths)."""
    if not template:
        return [{}]
    columns: dict[str, list[str]] = {}
    for name, values in template.items():
        if isinstance(values, TemplateRange):
            columns[name] = [str(n) for n in range(values.from_, values.to + 1)]
        else:
            columns[name] = [str(value) for value in values]
    lengths = {len(values) for values in columns.values()}
    if len(lengths) != 1 or 0 in lengths:
        sizes = {name: len(values) for name, values in columns.items()}
        raise ValueError(f"template lists must be non-empty and equally long; got {sizes}")
    count = lengths.pop()
    return [{name: values[i] for name, values in columns.items()} for i in range(count)]


def fill(text: str, values: Bindings) -> str:
    for name, value in values.items():
        text = text.replace("{" + name + "}", value)
    return text


def _fill_any(data: Any, values: Bindings) -> Any:
    if isinstance(data, str):
        return fill(data, values)
    if isinstance(data, dict):
        return {_fill_any(k, values): _fill_any(v, values) for k, v in data.items()}
    if isinstance(data, list):
        return [_fill_any(item, values) for item in data]
    return data


def instantiate(spec: Model, values: Bindings) -> Model:
    """A copy of `spec` with the template names replaced everywhere in its text."""
    if not values:
        return spec
    data = spec.model_dump(by_alias=True, exclude_unset=True)
    data.pop("for", None)
    return type(spec).model_validate(_fill_any(data, values))


_NAME = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}")


def unfilled(text: str) -> str | None:
    """The first `{name}` left in `text`, if any."""
    found = _NAME.search(text)
    return found.group(0) if found else None
