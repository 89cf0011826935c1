"""Which elements give rows (`rows`) and which element a `pick` column reads from:
filters, de-duplication with a priority rule, first/last."""

from __future__ import annotations

from collections.abc import Callable

from xmlload.contract.expressions import compile_expression
from xmlload.contract.model import PickSpec, Priority, RowsSpec
from xmlload.contract.paths import Element, elements_locator, parse_path
from xmlload.contract.values import truth

Selector = Callable[[Element, Element], list[Element]]


def _filter(where: str | None, formats: list[str]) -> Callable[[list[Element]], list[Element]]:
    if where is None:
        return lambda elements: elements
    expression = compile_expression(where, formats)
    test = expression.evaluate
    return lambda elements: [element for element in elements if truth(test(element.attrib))]


def _distinct(
    attribute: str, priority: Priority | None
) -> Callable[[list[Element]], list[Element]]:
    """Keep one element per value of `attribute`: the best by priority, then the first."""
    rank = {value: position for position, value in enumerate(priority.order)} if priority else {}
    ranked_by = priority.attribute if priority else None
    worst = len(rank)

    def distinct(elements: list[Element]) -> list[Element]:
        best: dict[str, tuple[int, int]] = {}
        for position, element in enumerate(elements):
            key = (element.get(attribute) or "").strip()
            score = rank.get(element.get(ranked_by), worst) if ranked_by else worst
            if key not in best or score < best[key][0]:
                best[key] = (score, position)
        keep = sorted(position for _, position in best.values())
        return [elements[position] for position in keep]

    return distinct


def build_selector(rows: RowsSpec, formats: list[str]) -> Selector:
    locate = elements_locator(parse_path(rows.path, allow_attribute=False))
    keep = _filter(rows.where, formats)
    distinct = _distinct(rows.distinct_by, rows.priority) if rows.distinct_by else None
    take = rows.take

    def select(element: Element, root: Element) -> list[Element]:
        chosen = keep(locate(element, root))
        if distinct is not None:
            chosen = distinct(chosen)
        if take == "first":
            return chosen[:1]
        if take == "last":
            return chosen[-1:]
        return chosen

    return select


def build_picker(
    pick: PickSpec, formats: list[str]
) -> Callable[[Element, Element], Element | None]:
    locate = elements_locator(parse_path(pick.path, allow_attribute=False))
    keep = _filter(pick.where, formats)
    index = 0 if pick.take == "first" else -1

    def picker(element: Element, root: Element) -> Element | None:
        chosen = keep(locate(element, root))
        return chosen[index] if chosen else None

    return picker
