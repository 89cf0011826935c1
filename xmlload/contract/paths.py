"""Contract paths: a small, checked subset of XPath.

`/Root/a/b/@attr` (absolute), `a/b/@attr` or `@attr` (relative to the row element),
`a/b` (element text), `//a` or `a//b` (anywhere below), `p:name` (a namespace prefix the
contract declares). Steps are element names, `*` (any element), `.` or `..`; no
predicates: filtering is done with `where` expressions, which keeps every lookup a plain
ElementPath `find`.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from lxml import etree

from xmlload.contract.document_text import DocumentText

_NAME = r"[A-Za-z_][A-Za-z0-9_.-]*"
_QNAME = rf"(?:{_NAME}:)?{_NAME}"
_STEP = re.compile(rf"^(?:{_QNAME}|\.|\.\.|\*)$")
_ATTRIBUTE = re.compile(rf"^@{_QNAME}$")
DESCENDANTS = "//"  # a step meaning "at any depth below"

Element = etree._Element
Locator = Callable[[Element, Element], "Element | None"]
AttributeReader = Callable[[Element], "str | None"]


@dataclass(frozen=True)
class XmlPath:
    """A parsed path: where the element is, and which attribute (None: element text).

    Names are in Clark notation (`{uri}local`) once namespace prefixes are resolved."""

    absolute: bool
    steps: tuple[str, ...]
    attribute: str | None

    @property
    def element_key(self) -> str:
        """Identifies the element part, so columns reading one element share one lookup."""
        text = ""
        for step in self.steps:
            text += "/" if step == DESCENDANTS else ("/" if text else "") + step
        return ("/" if self.absolute else "") + text

    def __str__(self) -> str:
        if self.attribute is None:
            return self.element_key
        key = self.element_key
        return f"{key}/@{self.attribute}" if key else f"@{self.attribute}"


def qualify(name: str, namespaces: Mapping[str, str], text: str) -> str:
    """`p:local` -> `{uri}local` for a declared prefix; plain names stay as they are."""
    if ":" not in name:
        return name
    prefix, local = name.split(":", 1)
    if prefix not in namespaces:
        declared = sorted(namespaces) or "none"
        raise ValueError(f"unknown namespace prefix {prefix!r} in {text!r}; declared: {declared}")
    return f"{{{namespaces[prefix]}}}{local}"


def _steps(body: str, text: str, namespaces: Mapping[str, str]) -> list[str]:
    parts = body.split("/")
    steps: list[str] = []
    for position, part in enumerate(parts):
        if part == "":
            if position == len(parts) - 1:
                continue  # a trailing '/' is harmless
            if not steps or steps[-1] != DESCENDANTS:
                steps.append(DESCENDANTS)
            continue
        if not _STEP.match(part):
            raise ValueError(
                f"bad step {part!r} in {text!r}: use element names, '.', '..', '//' and a "
                "final '@attribute'; filters go in 'where'"
            )
        if part != ".":
            steps.append(qualify(part, namespaces, text))
    if steps and steps[-1] == DESCENDANTS:
        raise ValueError(f"'//' must be followed by an element name in {text!r}")
    return steps


def parse_path(
    text: str, allow_attribute: bool = True, namespaces: Mapping[str, str] | None = None
) -> XmlPath:
    """Parse and check a path; ValueError says what is wrong."""
    namespaces = namespaces or {}
    raw = text.strip()
    if not raw:
        raise ValueError("empty path")
    absolute = raw.startswith("/") and not raw.startswith("//")
    body = raw[1:] if absolute else raw
    attribute = None
    head, _, last = body.rpartition("/")
    if last.startswith("@"):
        if not allow_attribute:
            raise ValueError(f"{text!r} must name elements, not an attribute")
        if not _ATTRIBUTE.match(last):
            raise ValueError(f"bad attribute step {last!r} in {text!r}")
        if head.endswith("/") or (not head and body.startswith("/")):
            raise ValueError(f"'//' must be followed by an element name in {text!r}")
        attribute = qualify(last[1:], namespaces, text)
        body = head
    steps = _steps(body, text, namespaces)
    if absolute and (not steps or steps[0] in (DESCENDANTS, "..")):
        raise ValueError(f"absolute path {text!r} must name the root element")
    return XmlPath(absolute, tuple(steps), attribute)


def _element_path(steps: tuple[str, ...]) -> str:
    """ElementPath text for steps relative to an element: `./a//b`."""
    text = "."
    for step in steps:
        text += "/" if step == DESCENDANTS else "/" + step
    return text


Walk = Callable[[Element], list[Element]]


def _step(step: str) -> Callable[[Element], Iterable[Element]]:
    if step == "..":
        return lambda element: () if (up := element.getparent()) is None else (up,)
    if step == "*":
        return lambda element: element.iterchildren(tag=etree.Element)
    return lambda element: element.iterchildren(step)


def _walker(steps: tuple[str, ...]) -> tuple[Callable[[Element], Element | None], Walk]:
    """(first match, all matches) below an element, in document order.

    Child and parent steps walk the tree directly (about twice as fast as ElementPath's
    `find`, which matters at a few dozen lookups per document); `//` uses ElementPath."""
    if len(steps) == 2 and steps[0] == DESCENDANTS and steps[1] not in ("*", ".."):
        name = steps[1]  # `//name`: lxml's tag iterator, twice as fast as XPath
        return (
            lambda element: next(element.iterdescendants(name), None),
            lambda element: list(element.iterdescendants(name)),
        )
    if DESCENDANTS in steps:
        text = _element_path(steps)
        if not any("{" in step for step in steps):  # XPath runs in C; ElementPath does not
            query = etree.XPath(text)

            def first(element: Element) -> Element | None:
                found = query(element)
                return found[0] if found else None  # type: ignore[index,return-value]

            return first, lambda element: query(element)  # type: ignore[return-value]
        return (lambda element: element.find(text)), (lambda element: element.findall(text))
    if not steps:
        return (lambda element: element), (lambda element: [element])
    moves = [_step(step) for step in steps]
    if len(moves) == 1:
        move = moves[0]
        return (lambda element: next(iter(move(element)), None)), (lambda e: list(move(e)))

    def every(element: Element) -> list[Element]:
        found = [element]
        for move in moves:
            found = [hit for current in found for hit in move(current)]
        return found

    def first(element: Element) -> Element | None:
        found = every(element)
        return found[0] if found else None

    return first, every


def _last(walk: Walk) -> Callable[[Element], Element | None]:
    def last(element: Element) -> Element | None:
        found = walk(element)
        return found[-1] if found else None

    return last


def element_locator(path: XmlPath, last: bool = False) -> Locator:
    """A function (row element, root) -> the first (or `last`) element the path names."""
    steps = path.steps[1:] if path.absolute else path.steps
    find, every = _walker(steps)
    if last and steps and steps != ("..",):
        find = _last(every)
    if path.absolute:
        root_tag = path.steps[0]
        return lambda element, root: find(root) if root.tag == root_tag else None
    return lambda element, root: find(element)


def elements_locator(
    path: XmlPath,
    having: str | None = None,
    ignore_case: bool = False,
    text: DocumentText | None = None,
) -> Callable[[Element, Element], list[Element]]:
    """A function (row element, root) -> every element the path names, in document order;
    with `having`, only those carrying that attribute (in any case with `ignore_case`),
    filtered inside libxml2 for `//` paths, where a scan of the tree would be slow; `//*`
    looks only at the elements the document's text says can carry it."""
    steps = path.steps[1:] if path.absolute else path.steps
    _, every = _walker(steps)
    if having is not None:
        every = _having(steps, every, having, ignore_case)
        if text is not None and steps == (DESCENDANTS, "*") and _plain(having, ignore_case):
            every = _guided(every, having, text)
    if path.absolute:
        root_tag = path.steps[0]
        return lambda element, root: every(root) if root.tag == root_tag else []
    return lambda element, root: every(element)


def _plain(attribute: str, ignore_case: bool) -> bool:
    return not ignore_case and "{" not in attribute


def _guided(every: Walk, attribute: str, text: DocumentText) -> Walk:
    """Descendants carrying the attribute, found from where the text writes its name."""
    text.searched = True

    def carrying(element: Element) -> list[Element]:
        root = element.getroottree().getroot()
        found = text.carriers(root, attribute)
        if found is None:
            return every(element)
        if element is root:
            return [hit for hit in found if hit is not root]
        return [hit for hit in found if any(up is element for up in hit.iterancestors())]

    return carrying


def _having(steps: tuple[str, ...], every: Walk, attribute: str, ignore_case: bool) -> Walk:
    plain = not any("{" in step for step in (*steps, attribute))
    if DESCENDANTS in steps and plain and ignore_case:
        folded = attribute.lower()
        test = f"translate(name(), '{string.ascii_uppercase}', '{string.ascii_lowercase}')"
        query = etree.XPath(f"{_element_path(steps)}[@*[{test} = '{folded}']]")
        return lambda element: query(element)  # type: ignore[return-value]
    if DESCENDANTS in steps and not ignore_case:
        text = f"{_element_path(steps)}[@{attribute}]"
        if plain:  # the attributes, then their elements: twice as fast as `*[@name]`
            carried = etree.XPath(f"{_element_path(steps)}/@{attribute}")
            return lambda element: [value.getparent() for value in carried(element)]  # type: ignore[union-attr]
        return lambda element: element.findall(text)
    read = attribute_reader(attribute, ignore_case)
    return lambda element: [hit for hit in every(element) if read(hit) is not None]


def attribute_reader(
    name: str, ignore_case: bool, memo: dict[Any, Any] | None = None
) -> AttributeReader:
    """Reads one attribute; with `ignore_case`, an exact match first, then any spelling."""
    if not ignore_case:
        return lambda element: element.get(name)
    other_spelling = other_spelling_reader(name, memo)

    def read(element: Element) -> str | None:
        value = element.get(name)
        return other_spelling(element) if value is None else value

    return read


def other_spelling_reader(name: str, memo: dict[Any, Any] | None) -> AttributeReader:
    """Reads the attribute spelled in another case (for when the exact name is absent).
    With a per-document `memo`, each element's attribute names are folded once, not per
    read (elements with a hundred attributes are common)."""
    folded = name.casefold()

    def read(element: Element) -> str | None:
        if memo is None:
            spelling = folded_names(element).get(folded)
        else:
            slot = ("folded attributes", element)
            table = memo.get(slot)
            if table is None:
                table = memo[slot] = folded_names(element)
            spelling = table.get(folded)
        return None if spelling is None else element.get(spelling)

    return read


def folded_names(element: Element) -> dict[str, str]:
    """Each attribute name folded to one case -> its first spelling in document order.
    Names only: `keys()` is linear in the attributes, where lxml's `attrib.items()` and
    `values()` look each value up by name again, quadratic in C (an element with 600,000
    attributes held the GIL for hours)."""
    return {key.casefold(): key for key in reversed(element.keys())}
