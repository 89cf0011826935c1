"""Which elements give rows (`rows`) and which element a `pick` column reads from:
filters, de-duplication with a priority rule, first/last, steps."""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Callable, Iterator, Mapping
from functools import lru_cache
from typing import Any

from lxml import etree

from xmlload.contract.model import PickSpec, PickStep, Priority, RowsSpec
from xmlload.contract.paths import (
    AttributeReader,
    Element,
    XmlPath,
    attribute_reader,
    element_locator,
    elements_locator,
    folded_names,
)
from xmlload.contract.scope import Scope
from xmlload.contract.values import blank, truth

Selector = Callable[[Element, Element], list[Element]]
Filter = Callable[[list[Element]], list[Element]]


class CaselessAttributes(Mapping[str, Any]):
    """An element's attributes for expressions, found in any case when not exact (the
    element's folded names kept in the per-document `memo`)."""

    def __init__(self, element: Element, memo: dict[Any, Any]) -> None:
        self.element, self.attrib, self.memo = element, element.attrib, memo

    def __getitem__(self, name: str) -> Any:
        value = self.attrib.get(name)
        if value is not None:
            return value
        slot = ("folded attributes", self.element)
        table = self.memo.get(slot)
        if table is None:
            table = self.memo[slot] = folded_names(self.element)
        spelling = table.get(name.casefold())
        if spelling is None:
            raise KeyError(name)
        return self.attrib[spelling]

    def __iter__(self) -> Iterator[str]:
        return iter(self.attrib)

    def __len__(self) -> int:
        return len(self.attrib)


def element_filter(where: str | None, scope: Scope) -> Filter:
    if where is None:
        return lambda elements: elements
    test = scope.expression(where).evaluate
    if scope.ignore_attribute_case:
        memo = scope.memo
        return lambda elements: [e for e in elements if truth(test(CaselessAttributes(e, memo)))]
    return lambda elements: [element for element in elements if truth(test(element.attrib))]


def _distinct(attributes: str | list[str], priority: Priority | None, keep: str) -> Filter:
    """Keep one element per value of the attributes (trimmed, together): the best by
    priority, then the first or last."""
    names = [attributes] if isinstance(attributes, str) else list(attributes)
    rank = {value: position for position, value in enumerate(priority.order)} if priority else {}
    ranked_by = priority.attribute if priority else None
    worst = len(rank)
    later_wins = keep == "last"

    def distinct(elements: list[Element]) -> list[Element]:
        best: dict[tuple[str, ...], tuple[int, int]] = {}
        for position, element in enumerate(elements):
            key = tuple((element.get(name) or "").strip() for name in names)
            score = rank.get(element.get(ranked_by), worst) if ranked_by else worst
            if key not in best or score < best[key][0] or (later_wins and score == best[key][0]):
                best[key] = (score, position)
        keep_positions = sorted(position for _, position in best.values())
        return [elements[position] for position in keep_positions]

    return distinct


def build_selector(rows: RowsSpec, scope: Scope) -> Selector:
    kept = _kept(rows, scope)
    linked = _linked(rows.link, scope) if rows.link else None
    distinct = _distinct(rows.distinct_by, rows.priority, rows.keep) if rows.distinct_by else None
    take = rows.take
    steps = [_step(step, scope) for step in rows.then]

    def select(element: Element, root: Element) -> list[Element]:
        chosen = kept(element, root)
        if linked is not None:
            chosen = linked(chosen, element, root)
        if distinct is not None:
            chosen = distinct(chosen)
        chosen = _taken(chosen, take)
        for step in steps:
            chosen = step(chosen, root)
        return chosen

    return select


def _kept(rows: RowsSpec, scope: Scope) -> Selector:
    """The elements at the rows' path that pass their `where` (both element by element, like
    `link`, so the order of the filters does not matter): for an absolute path, once per
    document, however many parent rows select from them."""
    path = scope.path(rows.path, allow_attribute=False)
    locate, keep = _locator(path, scope), _row_filter(rows, scope)
    if not path.absolute or rows.where is None:
        return lambda element, root: keep(locate(element, root), root)
    test = rows.model_dump_json(include={"path", "where", "inputs", "ignore_attribute_case"})
    return _filtered_once(f"rows:{test}", locate, keep, scope)


def _locator(
    path: XmlPath, scope: Scope, having: str | None = None
) -> Callable[[Element, Element], list[Element]]:
    """The elements at `path`; an absolute path's are found once per document, however many
    rows and picks look for them (callers must not change the list)."""
    locate = elements_locator(path, having, scope.ignore_attribute_case, scope.text)
    if not path.absolute:
        return locate
    key = f"all:{path}" if having is None else f"all:{path}:{having}:{scope.ignore_attribute_case}"
    found = scope.shared(key, lambda element, root: locate(root, root))
    return lambda element, root: found(root, root)


def _row_filter(rows: RowsSpec, scope: Scope) -> Callable[[list[Element], Element], list[Element]]:
    if rows.inputs and rows.where is not None:
        return _filter_with_inputs(rows.where, rows.inputs, scope)
    plain = element_filter(rows.where, scope)

    def keep(elements: list[Element], root: Element) -> list[Element]:
        return plain(elements)

    return keep


ValueReader = Callable[[Element, Element], "str | None"]


def value_reader(text: str, scope: Scope) -> ValueReader:
    """(element, root) -> the value at a path from the element (an attribute or text)."""
    path = scope.path(text)
    locate = element_locator(XmlPath(path.absolute, path.steps, None), scope.last_match)
    read = _reader(path, scope)

    def value(element: Element, root: Element) -> str | None:
        found = locate(element, root)
        return None if found is None else read(found)

    return value


def _filter_with_inputs(
    where: str, inputs: dict[str, str], scope: Scope
) -> Callable[[list[Element], Element], list[Element]]:
    """`where` over each candidate's attributes and the named values of paths from it."""
    test = scope.expression(where).evaluate
    readers = [(name, value_reader(text, scope)) for name, text in inputs.items()]
    caseless, memo = scope.ignore_attribute_case, scope.memo

    def keep(elements: list[Element], root: Element) -> list[Element]:
        kept = []
        for element in elements:
            named = {name: read(element, root) for name, read in readers}
            attributes = CaselessAttributes(element, memo) if caseless else element.attrib
            if truth(test(ChainMap(named, attributes))):  # type: ignore[arg-type]
                kept.append(element)
        return kept

    return keep


def _linked(
    link: dict[str, str], scope: Scope
) -> Callable[[list[Element], Element, Element], list[Element]]:
    """Candidates whose values at the `link` paths equal (trimmed) the parent's."""
    pairs = [(value_reader(mine, scope), value_reader(theirs, scope))
             for mine, theirs in link.items()]  # fmt: skip

    def linked(candidates: list[Element], parent: Element, root: Element) -> list[Element]:
        wanted = [(mine, _trimmed(theirs(parent, root))) for mine, theirs in pairs]
        if any(value is None for _, value in wanted):
            return []
        return [c for c in candidates if all(_trimmed(mine(c, root)) == v for mine, v in wanted)]

    return linked


def _trimmed(value: str | None) -> str | None:
    if value is None:
        return None
    return value.strip() or None


def _taken(elements: list[Element], take: str) -> list[Element]:
    if take == "first":
        return elements[:1]
    if take == "last":
        return elements[-1:]
    return elements


def _own_attribute(value: XmlPath) -> str | None:
    """The attribute a value is read from on the candidate itself: only elements carrying
    it can have a value, so the step keeps only those."""
    return None if value.steps or value.attribute is None else value.attribute


def _step(
    step: PickStep, scope: Scope, having: str | None = None
) -> Callable[[list[Element], Element], list[Element]]:
    """One step of a pick: candidates below the elements so far, filtered by `where`, the
    preferred ones if any (`prefer`), then taken; an `optional` step that finds nothing
    leaves the elements as they were. `having` keeps only candidates carrying that
    attribute (a shortcut that would change what `prefer` and `optional` see)."""
    path = scope.path(step.path, allow_attribute=False)
    plain = step.prefer is None and not step.optional and not step.link
    locate = _locator(path, scope, having if plain else None)
    keep = element_filter(step.where, scope)
    if path.absolute and step.where is not None and not step.optional:
        # the same candidates whatever the elements so far: filtered once per document
        # (`where` and `link` both judge each candidate alone, so their order is free)
        key = f"step:{path}:{having if plain else None}:{step.where}:{scope.ignore_attribute_case}"
        where = keep
        locate = _filtered_once(key, locate, lambda elements, root: where(elements), scope)
        keep = _unchanged
    preferred = element_filter(step.prefer, scope) if step.prefer is not None else None
    linked = _linked(step.link, scope) if step.link else None
    take, optional = step.take, step.optional

    def run(elements: list[Element], root: Element) -> list[Element]:
        if plain:
            return _taken([hit for e in elements for hit in keep(locate(e, root))], take)
        if linked is None:
            found = [hit for element in elements for hit in locate(element, root)]
        else:
            found = [hit for e in elements for hit in linked(locate(e, root), e, root)]
        if optional and not found:
            return elements
        found = keep(found)
        if preferred is not None:
            found = preferred(found) or found
        return _taken(found, take)

    return run


def _filtered_once(
    key: str,
    locate: Callable[[Element, Element], list[Element]],
    keep: Callable[[list[Element], Element], list[Element]],
    scope: Scope,
) -> Callable[[Element, Element], list[Element]]:
    """The elements an absolute path names that pass a filter (which judges each alone),
    found once per document whatever row or pick asks (callers must not change the list)."""
    found = scope.shared(f"filtered:{key}", lambda element, root: keep(locate(root, root), root))
    return lambda element, root: found(root, root)


def _unchanged(elements: list[Element]) -> list[Element]:
    return elements


def build_pick_steps(pick: PickSpec, scope: Scope) -> Callable[[Element, Element], Element | None]:
    """(row element, root) -> the element the pick's steps end on (first/last take)."""
    runs = [_step(step, scope) for step in pick.steps]

    def picked(element: Element, root: Element) -> Element | None:
        elements = [element]
        for run in runs:
            elements = run(elements, root)
        return elements[0] if elements else None

    return picked


def build_value_picker(
    pick: PickSpec, value: XmlPath, scope: Scope
) -> Callable[[Element, Element], Element | None]:
    """For a last step taking `first_with_value`/`last_with_value`: (row element, root) ->
    the element `value`'s attribute or text is read from."""
    steps = pick.steps
    last = steps[-1]
    runs = [_step(step, scope) for step in steps[:-1]]
    by_paths = last.take == "last_of_paths"
    final = _step(last.model_copy(update={"take": "all"}), scope, _own_attribute(value))
    sub = element_locator(XmlPath(False, value.steps, None), scope.last_match)
    read = _reader(value, scope)
    first = last.take == "first_with_value"

    def picker(element: Element, root: Element) -> Element | None:
        elements = [element]
        for run in runs:
            elements = run(elements, root)
        candidates = [sub(chosen, root) for chosen in final(elements, root)]
        if by_paths:
            return _last_of_paths(candidates, read, root)
        for candidate in candidates if first else reversed(candidates):
            if candidate is not None and not blank(read(candidate)):
                return candidate
        return None

    return picker


def _last_of_paths(
    candidates: list[Element | None], read: Callable[[Element], str | None], root: Element
) -> Element | None:
    """`take: last_of_paths`: the candidates grouped by element path (tag names from the
    root), the groups in the order each path first occurs, each standing for its last
    element; the last group whose element has the value at all (blank included). Only
    the candidates' own paths are looked up, each with one XPath, so a document is not
    walked element by element."""
    groups = []
    for path in dict.fromkeys(_tag_path(c) for c in candidates if c is not None):
        same = _path_finder(path)(root)
        if same and read(same[-1]) is not None:
            groups.append(same)
    if len(groups) < 2:
        return groups[0][-1] if groups else None
    first_places = [
        int(same[0].xpath("count(preceding::*) + count(ancestor::*)")) for same in groups
    ]
    return groups[first_places.index(max(first_places))][-1]


def _tag_path(element: Element) -> tuple[str, ...]:
    names = [etree.QName(element).localname]
    names += [etree.QName(ancestor).localname for ancestor in element.iterancestors()]
    return tuple(reversed(names))


@lru_cache(maxsize=1024)
def _path_finder(path: tuple[str, ...]) -> etree.XPath:
    """Every element whose tag names from the root are `path`, whatever their namespaces."""
    return etree.XPath("/" + "/".join(f"*[local-name()='{name}']" for name in path))


def _reader(value: XmlPath, scope: Scope) -> Callable[[Element], str | None]:
    if value.attribute is None:
        return lambda element: element.text
    reader: AttributeReader = attribute_reader(
        value.attribute, scope.ignore_attribute_case, scope.memo
    )
    return reader
