#!/usr/bin/env python3
"""Where a contract's mapping time goes, per document, by feature.

Parses the shared corpus once, then maps every document `--repeat` times with each part
of the compiled plan wrapped in a timer: row selection, unpivot, element lookups (paths,
picks), value getters by kind (paths, picks, expressions in each dialect), conversions
(with and without a value map). Prints milliseconds per document next to validate+parse
and raw `lxml.etree.fromstring` of the same bytes. Timers add their own cost, so the
parts sum to more than the untimed mapping, which is printed too.

    python scripts/profile_mapping.py --contract imported.yaml
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lxml import etree

from xmlload.contract.compiler import CompiledSource, Plan
from xmlload.contract.loader import load_plan
from xmlload.errors import DocumentError
from xmlload.stages.pipeline import DocumentPipeline

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "corpus" / "xmlconversion-cc" / "xml"
SPENT: Counter[str] = Counter()


def timed(feature: str, function: Callable[..., Any]) -> Callable[..., Any]:
    def run(*arguments: Any) -> Any:
        started = time.perf_counter()
        try:
            return function(*arguments)
        finally:
            SPENT[feature] += time.perf_counter() - started

    return run


def getter_feature(getter: Callable[..., Any]) -> str:
    """A getter's kind, from the compiler function that built it."""
    name = getter.__qualname__
    if "first_or_fallback" in name:
        return "value: with a fallback"
    if "reference_expression" in name:
        return "value: expression (xmlconversion dialect)"
    if "_evaluate" in name:
        return "value: expression"
    if "unescaped" in name:
        return "value: read + html unescape"
    if "item" in name:
        return "value: unpivot item"
    return "value: read (path or pick)"


def converter_feature(convert: Callable[..., Any]) -> str:
    cells = dict(zip(convert.__code__.co_freevars, convert.__closure__ or (), strict=True))
    mapper = cells.get("mapper")
    if mapper is not None and mapper.cell_contents is not None:
        return "convert: value map"
    return "convert: type"


def instrument_source(source: CompiledSource) -> None:
    if source.select is not None:
        source.select = timed("rows: selection", source.select)
    if source.unpivot is not None:
        source.unpivot.items = timed("rows: unpivot", source.unpivot.items)  # type: ignore[method-assign]
    source.locators = [
        (timed("lookup: pick" if "shared" in locate.__qualname__ else "lookup: path", locate), at)
        for locate, at in source.locators
    ]
    if source.condition is not None:
        source.condition = timed("rows: where", source.condition)
    source.pairs = [(column, timed(getter_feature(get), get)) for column, get in source.pairs]


def instrument(plan: Plan) -> None:
    for table in plan.tables:
        for column in table.columns:
            column.convert = timed(converter_feature(column.convert), column.convert)
        for source in table.sources:
            instrument_source(source)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--contract", type=Path, default=REPO / "contracts" / "credit_application.yaml"
    )
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    plan = load_plan(args.contract)
    pipeline = DocumentPipeline(plan, 64 << 20)
    documents = [file.read_bytes() for file in sorted(CORPUS.glob("*.xml"))]
    mapper = pipeline.mapper
    raw = parse = mapping = float("inf")
    trees: list[tuple[Any, ...]] = []
    for _ in range(args.repeat):  # alternated, best of each: a busy moment decides nothing
        started = time.perf_counter()
        for data in documents:
            etree.fromstring(data)
        raw = min(raw, (time.perf_counter() - started) / len(documents))
        trees, started = [], time.perf_counter()
        for data in documents:
            try:
                root, text = pipeline.parse(data)
                trees.append((root, *pipeline.validator.check_tree(root), text))
            except DocumentError:
                continue
        parse = min(parse, (time.perf_counter() - started) / len(documents))
        started = time.perf_counter()
        for tree in trees:
            mapper.map(*tree)
        mapping = min(mapping, (time.perf_counter() - started) / len(trees))
    instrument(plan)
    started = time.perf_counter()
    for _ in range(args.repeat):
        for tree in trees:
            mapper.map(*tree)
    timed_total = (time.perf_counter() - started) / args.repeat / len(trees)
    per_document = args.repeat * len(trees) / 1000
    print(f"{args.contract.name}: {len(trees)} documents mapped, best of {args.repeat}")
    print(f"{'raw lxml.etree.fromstring':42} {raw * 1000:7.3f} ms/doc")
    print(f"{'validate+parse':42} {parse * 1000:7.3f} ms/doc")
    print(f"{'map (untimed)':42} {mapping * 1000:7.3f} ms/doc = {mapping / raw:.2f} of raw")
    print(f"{'  in process, of raw':42} {raw / (parse + mapping):7.2f}")
    print(f"{'map (with timers)':42} {timed_total * 1000:7.3f} ms/doc, of which (nested):")
    for feature, seconds in sorted(SPENT.items(), key=lambda pair: -pair[1]):
        print(f"  {feature:40} {seconds / per_document:7.3f} ms/doc")


if __name__ == "__main__":
    main()
