"""The command line says what it did, or that it did nothing: ids that match no document,
verifying nothing, an empty or missing source, an impossible id range, more workers than
work, a read-only command on a mistyped database path."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import CONTRACT
from tests.helpers import copy_corpus_files, query, run_args
from xmlload.cli import main

FILES = ["sample--127582.xml", "sample--142305.xml"]


@pytest.fixture
def loaded(corpus_dir: Path, tmp_path: Path) -> tuple[Path, str]:
    folder = copy_corpus_files(corpus_dir, tmp_path / "xml", FILES)
    target = f"sqlite:///{tmp_path / 't.db'}"
    assert main(["run", *run_args(str(folder), target, str(CONTRACT))]) == 0
    return folder, target


def log(target: str) -> list[tuple]:
    return query(target, "SELECT source_key, status, attempts FROM processing_log ORDER BY 1")


def test_reprocess_takes_document_ids_on_a_file_source(loaded, capsys) -> None:
    folder, target = loaded
    before = log(target)
    assert (
        main(["reprocess", *run_args(str(folder), target, str(CONTRACT)), "--ids", "127582"]) == 0
    )
    after = log(target)
    assert [key for key, _, _ in after] == [key for key, _, _ in before]  # no phantom row
    attempts = {Path(key).name: n for key, _, n in after}
    assert attempts == {"sample--127582.xml": 2, "sample--142305.xml": 1}


def test_ids_that_match_nothing_are_listed_and_nothing_is_written(loaded, capsys) -> None:
    folder, target = loaded
    before = log(target)
    args = run_args(str(folder), target, str(CONTRACT))
    assert main(["reprocess", *args, "--ids", "127582,999999,no-such.xml"]) == 2
    error = capsys.readouterr().err
    assert "2 of 3 ids match no document" in error and "999999, no-such.xml" in error
    assert log(target) == before
    assert main(["verify", *args, "--ids", "999999"]) == 2


def test_verify_by_document_id_and_verifying_nothing(loaded, corpus_dir: Path, capsys) -> None:
    folder, target = loaded
    args = run_args(str(folder), target, str(CONTRACT))
    assert main(["verify", *args, "--ids", "127582"]) == 0
    assert "verified 1 documents (1 success): 0 with differences" in capsys.readouterr().out
    unloaded = folder / "later.xml"
    unloaded.write_bytes((corpus_dir / "sample--447945.xml").read_bytes())
    assert main(["verify", *args, "--ids", str(unloaded)]) == 2
    assert "nothing to verify: none of the 1 documents" in capsys.readouterr().err


def test_an_empty_or_missing_source_is_said_before_any_table_is_made(tmp_path, capsys) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    target_file = tmp_path / "t.db"
    target = f"sqlite:///{target_file}"
    assert main(["run", *run_args(str(empty), target, str(CONTRACT))]) == 2
    assert f"no documents found in the source: files {empty}" in capsys.readouterr().err
    assert main(["run", *run_args(str(tmp_path / "missing"), target, str(CONTRACT))]) == 2
    assert "no such file or directory" in capsys.readouterr().err
    assert not target_file.exists()


def test_an_inverted_id_range_is_refused(tmp_path, capsys) -> None:
    command = ["run", "--contract", str(CONTRACT), "--source", "sqlite:///x.db",
               "--source-table", "apps", "--target", f"sqlite:///{tmp_path / 't.db'}",
               "--id-start", "10", "--id-end", "5"]  # fmt: skip
    assert main(command) == 2
    assert "--id-start 10 is above --id-end 5" in capsys.readouterr().err


def test_more_workers_than_documents_is_a_warning(corpus_dir: Path, tmp_path, capsys) -> None:
    folder = copy_corpus_files(corpus_dir, tmp_path / "xml", FILES)
    target = f"sqlite:///{tmp_path / 't.db'}"
    assert main(["run", *run_args(str(folder), target, str(CONTRACT)), "--workers", "3"]) == 0
    assert "warning: --workers 3 is more than the 2 documents" in capsys.readouterr().err


def test_status_on_a_mistyped_sqlite_path_creates_nothing(tmp_path, capsys) -> None:
    mistyped = tmp_path / "tagret.db"
    assert main(["status", "--target", f"sqlite:///{mistyped}"]) == 2
    assert f"no SQLite database file at {mistyped}" in capsys.readouterr().err
    assert not mistyped.exists()


def test_upper_case_and_gzip_compressed_files_are_read(corpus_dir: Path, tmp_path) -> None:
    import gzip

    folder = tmp_path / "xml"
    folder.mkdir()
    (folder / "UPPER.XML").write_bytes((corpus_dir / FILES[0]).read_bytes())
    (folder / "packed.xml.gz").write_bytes(gzip.compress((corpus_dir / FILES[1]).read_bytes()))
    (folder / "broken.xml.gz").write_bytes(gzip.compress(b"<Provenir/>")[:12])
    (folder / "notes.txt").write_text("not a document")
    target = f"sqlite:///{tmp_path / 't.db'}"
    assert main(["run", *run_args(str(folder), target, str(CONTRACT))]) == 3
    rows = query(target, "SELECT source_key, status, stage FROM processing_log ORDER BY 1")
    assert [(Path(key).name, status, stage) for key, status, stage in rows] == [
        ("UPPER.XML", "success", None),
        ("broken.xml.gz", "failed", "source"),
        ("packed.xml.gz", "success", None),
    ]


def test_the_size_cap_applies_before_reading_and_to_decompressed_data(
    corpus_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    """A file over --max-document-bytes is refused from its size, never read; a .xml.gz is
    decompressed up to the same cap and no further."""
    import gzip

    from xmlload.sources.files import FileSource, FileSourceConfig

    folder = tmp_path / "xml"
    folder.mkdir()
    (folder / "big.xml").write_bytes(b"<Provenir>" + b" " * 300_000 + b"</Provenir>")
    (folder / "bomb.xml.gz").write_bytes(gzip.compress(b"<a>" + b"x" * 5_000_000 + b"</a>"))
    (folder / "small.xml").write_bytes((corpus_dir / FILES[0]).read_bytes())
    opened: list[str] = []
    real_open = Path.open

    def watching(path: Path, *args, **kwargs):  # type: ignore[no-untyped-def]
        opened.append(path.name)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(Path, "open", watching)
    source = FileSource(FileSourceConfig(str(folder), max_bytes=100_000))
    found = {Path(str(d.item)).name: d for d in source.read(sorted(map(str, folder.iterdir())))}
    assert "big.xml" not in opened  # refused from its size alone
    assert found["big.xml"].data is None
    assert "300,021 bytes, over the 100,000-byte cap (max_document_bytes)" in found["big.xml"].error
    assert found["bomb.xml.gz"].data is None
    assert "more than the 100,000-byte cap" in found["bomb.xml.gz"].error
    assert found["small.xml"].data == (corpus_dir / FILES[0]).read_bytes()
