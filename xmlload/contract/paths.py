"""Contract paths: a small, checked subset of XPath.

`/Root/a/b/@attr` (absolute), `a/b/@attr` or `@attr` (relative to the row element),
`a/b` (element text). Steps are element names, `.` or `..`; no predicates: filtering is
done with `where` expressions, which keeps every lookup a plain `find`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from lxml import etree

_NAME = r"[A-Za-z_][A-Za-z0-9_.-]*"
_STEP = re.compile(rf"^(?:{_NAME}|\.|\.\.)$")
_ATTRIBUTE = re.compile(rf"^@{_NAME}$")

Element = etree._Element
Locator = Callable[[Element, Element], "Element | None"]


@dataclass(frozen=True)
class XmlPath:
    """A parsed path: where the element is, and which attribute (None: element text)."""

    absolute: bool
    steps: tuple[str, ...]
    attribute: str | None

    @property
    def element_key(self) -> str:
        """Identifies the element part, so columns reading one element share one lookup."""
        return ("/" if self.absolute else "") + "/".join(self.steps)

    def __str__(self) -> str:
        leaf = [f"@{self.attribute}"] if self.attribute else []
        return ("/" if self.absolute else "") + "/".join([*self.steps, *leaf])


def parse_path(text: str, allow_attribute: bool = True) -> XmlPath:
    """Parse and check a path; ValueError says what is wrong."""
    raw = text.strip()
    if not raw:
        raise ValueError("empty path")
    absolute = raw.startswith("/")
    parts = raw.strip("/").split("/") if raw.strip("/") else []
    attribute = None
    if parts and parts[-1].startswith("@"):
        if not allow_attribute:
            raise ValueError(f"{text!r} must name elements, not an attribute")
        if not _ATTRIBUTE.match(parts[-1]):
            raise ValueError(f"bad attribute step {parts[-1]!r} in {text!r}")
        attribute = parts.pop()[1:]
    for step in parts:
        if not _STEP.match(step):
            raise ValueError(
                f"bad step {step!r} in {text!r}: use element names, '.', '..' and a final "
                "'@attribute'; filters go in 'where'"
            )
    if absolute and not parts:
        raise ValueError(f"absolute path {text!r} must name the root element")
    return XmlPath(absolute, tuple(step for step in parts if step != "."), attribute)


def element_locator(path: XmlPath) -> Locator:
    """A function (row element, root) -> the first element the path names, or None."""
    if path.absolute:
        root_tag, rest = path.steps[0], "/".join(path.steps[1:])
        if not rest:
            return lambda element, root: root if root.tag == root_tag else None
        return lambda element, root: root.find(rest) if root.tag == root_tag else None
    if not path.steps:
        return lambda element, root: element
    relative = "/".join(path.steps)
    return lambda element, root: element.find(relative)


def elements_locator(path: XmlPath) -> Callable[[Element, Element], list[Element]]:
    """A function (row element, root) -> every element the path names, in document order."""
    if path.absolute:
        root_tag, rest = path.steps[0], "/".join(path.steps[1:])
        if not rest:
            return lambda element, root: [root] if root.tag == root_tag else []
        return lambda element, root: root.findall(rest) if root.tag == root_tag else []
    relative = "/".join(path.steps) or "."
    return lambda element, root: element.findall(relative)
