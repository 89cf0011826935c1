"""`contract validate --sample`: map sample documents without writing anything, and say
which tables got no row and which columns no value in any sample (a misspelt name, a
missing namespace prefix), and what the samples hold that no path of the contract names."""

from __future__ import annotations

import gzip
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from lxml import etree

from xmlload.contract.compiler import CompiledTable, Plan
from xmlload.errors import DocumentError
from xmlload.sources.files import EXTENSIONS, canonical, read_file
from xmlload.stages.pipeline import DocumentPipeline
from xmlload.stages.records import RecordReader, RecordsStopped

UNREAD_SHOWN = 15  # most frequent unread attributes and elements listed
_NAME = re.compile(r"[A-Za-z_][\w.-]*")


@dataclass
class SampleReport:
    files: int = 0
    samples: int = 0  # documents: files, or with document.records the records of the files
    failed: list[tuple[str, str]] = field(default_factory=list)  # file, stage: message
    rows: Counter[str] = field(default_factory=Counter)  # table -> rows in all samples
    valued: Counter[tuple[str, str]] = field(default_factory=Counter)  # (table, column)
    present: Counter[str] = field(default_factory=Counter)  # `<e> @a` -> samples holding it
    empty_tables: list[str] = field(default_factory=list)
    empty_columns: list[str] = field(default_factory=list)
    unread: list[tuple[str, int]] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.failed or self.empty_tables or self.empty_columns)


def sample_files(locations: list[str]) -> Iterator[Path]:
    """Every XML file named, or under a named directory, once each, in order."""
    seen: set[str] = set()
    for location in locations:
        root = Path(location).expanduser()
        found = [root] if not root.is_dir() else sorted(
            path for path in root.rglob("*") if path.name.lower().endswith(EXTENSIONS)
        )  # fmt: skip
        for path in found:
            if (key := canonical(path)) not in seen:
                seen.add(key)
                yield path


def check_samples(plan: Plan, files: list[Path], max_bytes: int) -> SampleReport:
    """Map every sample document (every record of a sample, with document.records)."""
    pipeline = DocumentPipeline(plan, max_bytes)
    reader = None if plan.records is None else RecordReader(plan, pipeline.validator)
    report = SampleReport()
    for path in files:
        report.files += 1
        try:
            if reader is None:
                _map_file(pipeline, path, max_bytes, report)
            else:
                _map_records(pipeline, reader, path, report)
        except OSError as error:
            report.failed.append((str(path), f"source: cannot read file: {error}"))
    _conclude(plan, report)
    return report


def _map_file(pipeline: DocumentPipeline, path: Path, max_bytes: int, report: SampleReport) -> None:
    report.samples += 1
    try:
        root, _ = pipeline.parse(read_file(path, max_bytes))
        _map_one(pipeline, root, canonical(path), report)
    except DocumentError as error:
        report.failed.append((str(path), f"{error.stage}: {error.message}"))


def _map_records(
    pipeline: DocumentPipeline, reader: RecordReader, path: Path, report: SampleReport
) -> None:
    """Each record of the file as a sample; one that fails is said and the rest go on."""
    with _open(path) as stream:
        try:
            for record in reader.records(stream, canonical(path)):
                report.samples += 1
                try:
                    _map_one(pipeline, record.root, record.key, report)
                except DocumentError as error:
                    report.failed.append((record.key, f"{error.stage}: {error.message}"))
        except RecordsStopped as stop:
            report.samples += 1
            report.failed.append((stop.key, f"{stop.stage}: {stop.message}"))


def _open(path: Path) -> BinaryIO:
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else path.open("rb")


def _map_one(
    pipeline: DocumentPipeline, root: etree._Element, key: str, report: SampleReport
) -> None:
    element, document_id = pipeline.validator.check_tree(root, key)
    mapped = pipeline.mapper.map(root, element, document_id)
    for table in pipeline.mapper.plan.tables:
        rows = mapped.rows.get(table.name, [])
        report.rows[table.name] += len(rows)
        first = len(table.column_names) - len(table.columns)
        for position, column in enumerate(table.columns, start=first):
            if any(_is_value(row[position], column.default) for row in rows):
                report.valued[(table.name, column.name)] += 1
    report.present.update(_features(root))


def _is_value(value: Any, default: Any) -> bool:
    return value is not None and value != default


def _features(root: etree._Element) -> set[str]:
    """`<element> @attribute` for every attribute, `<element>` for every leaf with text."""
    found = set()
    for element in root.iter(etree.Element):
        name = etree.QName(element).localname
        for attribute in element.attrib:
            found.add(f"<{name}> @{etree.QName(attribute).localname}")
        if len(element) == 0 and (element.text or "").strip():
            found.add(f"<{name}>")
    return found


def _conclude(plan: Plan, report: SampleReport) -> None:
    mapped = report.samples - len(report.failed)
    if not mapped:
        return
    for table in plan.tables:
        if report.rows[table.name] == 0:
            report.empty_tables.append(f"tables.{table.name}: no row{_rows_of(plan, table)}")
            continue
        for column in table.columns:
            if not report.valued[(table.name, column.name)]:
                report.empty_columns.append(
                    f"tables.{table.name}.columns.{column.name}: NULL or its default in every row "
                    f"({column.source})"
                )
    named = _names_in(plan.contract.model_dump(mode="json"))
    unread = [
        (feature, count)
        for feature, count in report.present.items()
        if _NAME.findall(feature)[-1] not in named
    ]
    report.unread = sorted(unread, key=lambda pair: (-pair[1], pair[0]))[:UNREAD_SHOWN]


def _rows_of(plan: Plan, table: CompiledTable) -> str:
    rows = plan.contract.tables[table.name].rows
    if rows is None:
        return " (its where never held, or every value was empty)"
    paths = [spec.path for spec in (rows if isinstance(rows, list) else [rows])]
    return f" (rows.path {', '.join(paths)} matched nothing, or every row was empty)"


def _names_in(data: Any) -> set[str]:
    """Every name-like word in the contract's text: what its paths and expressions read."""
    if isinstance(data, dict):
        return set().union(*(_names_in(value) for value in data.values()))
    if isinstance(data, list):
        return set().union(*(_names_in(value) for value in data)) if data else set()
    if isinstance(data, str):
        return {word.rsplit(":", 1)[-1] for word in re.findall(r"[\w.:-]+", data)}
    return set()
