"""How a worker goes through a chunk of documents: read a few at a time, processed, written
in one transaction."""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from tests.conftest import CONTRACT
from tests.helpers import query
from xmlload.contract.loader import load_plan
from xmlload.db.check import prepare_target
from xmlload.db.urls import SecretURL, parse_url
from xmlload.outcome import DocumentOutcome
from xmlload.parallel.board import ProgressBoard
from xmlload.parallel.worker import READ_AHEAD, Worker, WorkerConfig
from xmlload.sources.base import SourceDocument, SourceItem
from xmlload.sources.files import FileSource, FileSourceConfig


def test_a_chunk_is_read_a_few_documents_at_a_time_and_written_at_once(
    corpus_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker holds the bytes of at most READ_AHEAD documents of its chunk (50 corpus
    documents are 13 MB), yet loads the chunk in one transaction, every document once."""
    folder = tmp_path / "xml"
    folder.mkdir()
    files = sorted(corpus_dir.glob("sample--*.xml"))[:20]
    for file in files:
        shutil.copy(file, folder / file.name)
    target = f"sqlite:///{tmp_path / 't.db'}"
    prepare_target(parse_url(target), load_plan(CONTRACT), create=True)
    events: list[str] = []
    real_read = FileSource.read

    def read(self: FileSource, items: Sequence[SourceItem]) -> Iterator[SourceDocument]:
        for document in real_read(self, items):
            events.append("read")
            yield document

    real_process, real_write = Worker.process_document, Worker._write

    def process(self: Worker, document: SourceDocument) -> DocumentOutcome:
        events.append("process")
        return real_process(self, document)

    def write(self: Worker, outcomes: list[DocumentOutcome], report: object) -> None:
        events.append(f"write {len(outcomes)}")
        real_write(self, outcomes, report)  # type: ignore[arg-type]

    monkeypatch.setattr(FileSource, "read", read)
    monkeypatch.setattr(Worker, "process_document", process)
    monkeypatch.setattr(Worker, "_write", write)
    config = WorkerConfig(
        str(CONTRACT), FileSourceConfig(str(folder)), SecretURL(target), "run-1", 32 << 20
    )
    worker = Worker(config, ProgressBoard({}), "worker-1")
    try:
        report = worker.process_chunk(1, [str(folder / file.name) for file in files])
    finally:
        worker.close()
    read_ahead = most = 0
    for event in events:
        read_ahead += {"read": 1, "process": -1}.get(event, 0)
        most = max(most, read_ahead)
    assert most == READ_AHEAD < len(files)
    assert events.count("read") == events.count("process") == len(files)
    assert events[-1] == f"write {len(files)}" and events.count(f"write {len(files)}") == 1
    assert report.documents == report.succeeded == len(files)
    loaded = query(target, "SELECT count(*), count(DISTINCT app_id) FROM app_base")
    assert loaded == [(len(files), len(files))]
