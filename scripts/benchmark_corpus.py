#!/usr/bin/env python3
"""Single-worker throughput on the shared corpus, next to raw lxml parsing, in one run.

Copies the corpus K times (document ids rewritten so every copy is a new document), then
measures on the same bytes: raw `lxml.etree.fromstring`; validate+parse+map in process;
and a full `xmlload run` with one worker into the target (fresh tables). Raw parsing and
the in-process pipeline alternate `--repeat` times and the best of each counts, so a busy
moment on a shared machine does not decide the ratio.

    python scripts/benchmark_corpus.py --copies 10 --target postgresql://postgres@127.0.0.1/test
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa
import yaml
from lxml import etree

from xmlload.contract.loader import load_plan
from xmlload.db.urls import parse_url
from xmlload.processor import ProductionProcessor
from xmlload.settings import Settings
from xmlload.sources.base import SourceDocument
from xmlload.stages.pipeline import DocumentPipeline
from xmlload.summary import RunSummary

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "corpus" / "xmlconversion-cc" / "xml"
_ID = re.compile(rb'(<Request\b[^>]*?\sID=")(\d+)(")')


def copy_corpus(folder: Path, copies: int) -> list[bytes]:
    documents = []
    for copy in range(copies):
        for file in sorted(CORPUS.glob("*.xml")):
            data = _ID.sub(
                lambda m, offset=copy * 10_000_000: (
                    m.group(1) + str(int(m.group(2)) + offset).encode() + m.group(3)
                ),
                file.read_bytes(),
                count=1,
            )
            (folder / f"{copy:03d}-{file.name}").write_bytes(data)
            documents.append(data)
    return documents


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:8.1f} docs/s"


def load_once(
    contract: Path, folder: Path, target: str, workers: int, temp: Path
) -> tuple[RunSummary, float]:
    """One full run into fresh tables; returns the summary and the coordinator's CPU seconds."""
    schema = None
    if parse_url(target).get_backend_name() == "sqlite":
        target = f"sqlite:///{temp / f'target-{workers}.db'}"
    else:
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        data = yaml.safe_load(contract.read_text())
        data["target_schema"] = schema
        contract = temp / f"contract-{workers}.yaml"
        contract.write_text(yaml.safe_dump(data))
    settings = Settings(
        contract=contract,
        source=str(folder),
        target=target,
        workers=workers,
        create_tables=True,
        progress="none",
    )
    cpu = time.process_time()
    summary = ProductionProcessor(settings).run()
    cpu = time.process_time() - cpu
    if schema:
        engine = sa.create_engine(parse_url(target))
        with engine.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()
    return summary, cpu


def pipeline_seconds(contract: Path, documents: list[bytes]) -> float:
    """Validate+parse+map every document in this process, as a worker does, without a
    database."""
    pipeline = DocumentPipeline(load_plan(contract), 64 << 20)
    sources = [SourceDocument(f"doc-{number}", data) for number, data in enumerate(documents)]
    started = time.perf_counter()
    for document in sources:
        pipeline.process(document)  # the wrong-schema document fails by design
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--workers", default="1", help="comma-separated worker counts, e.g. 1,2")
    parser.add_argument("--target", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--repeat", type=int, default=3, help="best of N for parse and pipeline")
    parser.add_argument(
        "--contract", type=Path, default=REPO / "contracts" / "credit_application.yaml"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp) / "corpus"
        folder.mkdir()
        documents = copy_corpus(folder, args.copies)
        count, megabytes = len(documents), sum(map(len, documents)) / 1e6
        raw = pipeline = float("inf")
        for _ in range(args.repeat):
            started = time.perf_counter()
            for data in documents:
                etree.fromstring(data)
            raw = min(raw, time.perf_counter() - started)
            pipeline = min(pipeline, pipeline_seconds(args.contract, documents))
        target = args.target or f"sqlite:///{Path(temp) / 'target.db'}"
        runs = [
            (int(n), *load_once(args.contract, folder, target, int(n), Path(temp)))
            for n in args.workers.split(",")
        ]

    print(
        f"{count} documents, {megabytes:.1f} MB ({args.copies} copies of the shared corpus); "
        f"parse and pipeline: best of {args.repeat}"
    )
    print(f"raw lxml.etree.fromstring      {rate(count, raw)}  (1.00)")
    print(f"validate+parse+map, in process {rate(count, pipeline)}  ({raw / pipeline:.2f} of raw)")
    backend = parse_url(target).get_backend_name()
    base = runs[0][1].docs_per_second
    for workers, summary, coordinator_cpu in runs:
        fraction = summary.docs_per_second * raw / count
        print(
            f"xmlload run, {workers} worker(s), {backend}: {summary.docs_per_second:.1f} docs/s "
            f"({fraction:.2f} of 1-process raw; x{summary.docs_per_second / base:.2f} vs "
            f"{runs[0][0]} worker(s)); coordinator CPU "
            f"{coordinator_cpu * 1000 / summary.documents:.2f} ms/doc; "
            f"ok={summary.succeeded} failed={summary.failed}"
        )


if __name__ == "__main__":
    main()
