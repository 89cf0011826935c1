"""A file's source key identifies the file whatever the spelling of --source, and names
the loader cannot store fail alone with a clear message."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import CONTRACT
from tests.helpers import query
from xmlload.cli import main

FIRST = ["sample--127582.xml", "sample--127802.xml", "sample--142305.xml"]
SECOND = ["sample--145080.xml", "sample--154196.xml", "sample--154267.xml"]


def batch(corpus_dir: Path, folder: Path, names: list[str]) -> Path:
    folder.mkdir(parents=True)
    for name in names:
        shutil.copy(corpus_dir / name, folder / name)
    return folder


def load(source: str, target: str, *extra: str) -> int:
    args = ["run", "--contract", str(CONTRACT), "--source", source, "--target", target]
    return main([*args, "--create-tables", "--progress", "none", *extra])


def test_two_batches_loaded_as_dot_batch_from_different_directories(
    corpus_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch(corpus_dir, tmp_path / "monday" / "batch", FIRST)
    batch(corpus_dir, tmp_path / "tuesday" / "batch", SECOND)
    target = f"sqlite:///{tmp_path / 't.db'}"
    monkeypatch.chdir(tmp_path / "monday")
    assert load("./batch", target) == 0
    monkeypatch.chdir(tmp_path / "tuesday")
    assert load("./batch", target) == 0
    assert query(target, "SELECT count(*) FROM app_base") == [(6,)]
    keys = [k for (k,) in query(target, "SELECT source_key FROM processing_log")]
    assert all(Path(key).is_absolute() and Path(key).is_file() for key in keys)


def test_resume_under_another_spelling_of_the_same_files(
    corpus_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = batch(corpus_dir, tmp_path / "docs", FIRST + SECOND)
    (tmp_path / "link").symlink_to(docs)
    target = f"sqlite:///{tmp_path / 't.db'}"
    monkeypatch.chdir(tmp_path)
    assert load("./docs", target, "--limit", "2") == 0
    assert load(str(docs) + "/", target, "--limit", "2") == 0
    assert load("link", target) == 0
    assert query(target, "SELECT status, count(*) FROM processing_log GROUP BY status") == [
        ("success", 6)
    ]
    assert query(target, "SELECT max(attempts) FROM processing_log") == [(1,)]


def test_unstorable_names_fail_alone_and_keys_with_spaces_pipe_one_per_line(
    corpus_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    root = batch(corpus_dir, tmp_path / "in", FIRST)
    deep = root.joinpath(*(["d" * 200] * 3))
    deep.mkdir(parents=True)
    shutil.copy(corpus_dir / SECOND[0], deep / "long.xml")
    with open(os.path.join(os.fsencode(root), b"caf\xe9.xml"), "wb") as file:
        file.write((corpus_dir / SECOND[1]).read_bytes())
    spaced = root / "with space"
    spaced.mkdir()
    shutil.copy(corpus_dir / "sample-source-xml-wrong-schema--600000.xml", spaced / "a b.xml")
    target = f"sqlite:///{tmp_path / 't.db'}"

    assert load(str(root), target) == 3
    rows = query(target, "SELECT source_key, status, stage, message FROM processing_log")
    failed = {key: (stage, message) for key, status, stage, message in rows if status != "success"}
    assert len(rows) == 6 and len(failed) == 3
    long_key = next(key for key in failed if "long.xml" in key or "..." in key)
    assert len(long_key) <= 512
    assert failed[long_key][0] == "source" and "over the 512" in failed[long_key][1]
    bad_key = next(key for key in failed if "caf" in key)
    assert bad_key.endswith("caf\\xe9.xml")
    assert failed[bad_key] == (
        "source",
        "the file name is not valid UTF-8 (shown with \\x escapes); rename the file",
    )
    assert load(str(root), target) == 0  # resume: every key is found again, nothing retried

    capsys.readouterr()
    assert main(["status", "--target", target, "--failed-ids"]) == 0
    listed = capsys.readouterr().out
    assert str(spaced / "a b.xml") in listed.splitlines()
    monkeypatch.setattr("sys.stdin", io.StringIO(listed))
    common = ["--contract", str(CONTRACT), "--source", str(root), "--target", target]
    assert main(["reprocess", *common, "--ids-file", "-"]) == 3
    attempts = dict(query(target, "SELECT source_key, attempts FROM processing_log"))
    assert attempts[str(spaced / "a b.xml")] == 2
    assert attempts[bad_key] == 2 and attempts[long_key] == 2
