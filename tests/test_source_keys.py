"""A file's source key identifies the file whatever the spelling of --source, and names
the loader cannot store fail alone with a clear message."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

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


def staging(url: str, table: str, rows: dict[int, int]) -> None:
    """Table `table(id, xml)` holding, at each row id, the document with that id."""
    from xmlload.generate import DocumentGenerator
    from xmlload.generate.output import source_table

    generator = DocumentGenerator(seed=5, median_kb=4)
    engine = sa.create_engine(url)
    staged = source_table(table, sa.MetaData())
    with engine.begin() as connection:
        staged.create(connection)
        connection.execute(
            staged.insert(),
            [{"id": row, "xml": generator.document(doc).xml.decode()} for row, doc in rows.items()],
        )
    engine.dispose()


def table_load(source: str, table: str, target: str, *extra: str) -> int:
    args = ["run", "--contract", str(CONTRACT), "--source", source, "--source-table", table]
    return main([*args, "--target", target, "--create-tables", "--progress", "none", *extra])


def test_two_staging_tables_with_overlapping_row_ids_are_different_documents(
    tmp_path: Path, capsys
) -> None:
    source, target = f"sqlite:///{tmp_path / 's.db'}", f"sqlite:///{tmp_path / 't.db'}"
    staging(source, "day1", {row: row for row in range(1, 21)})
    staging(source, "day2", {row: 100 + row for row in range(1, 21)})
    assert table_load(source, "day1", target) == 0
    capsys.readouterr()
    assert table_load(source, "day2", target) == 0
    assert "0 skipped (already in the processing log)" in capsys.readouterr().out
    assert query(target, "SELECT count(*) FROM app_base") == [(40,)]
    keys = {k for (k,) in query(target, "SELECT source_key FROM processing_log")}
    database = str((tmp_path / "s.db").resolve())
    assert keys == {f"{database}:day{d}#{row}" for d in (1, 2) for row in range(1, 21)}
    # a reprocess names rows by id or by the key the log holds
    assert main(["reprocess", "--contract", str(CONTRACT), "--source", source,
                 "--source-table", "day2", "--target", target, "--progress", "none",
                 "--ids", f"3,{database}:day2#4"]) == 0  # fmt: skip
    attempts = dict(query(target, "SELECT source_key, attempts FROM processing_log"))
    assert attempts[f"{database}:day2#3"] == attempts[f"{database}:day2#4"] == 2
    assert attempts[f"{database}:day1#3"] == 1


def test_a_log_keyed_by_bare_row_ids_still_resumes(tmp_path: Path, capsys) -> None:
    source, target = f"sqlite:///{tmp_path / 's.db'}", f"sqlite:///{tmp_path / 't.db'}"
    staging(source, "docs", {row: row for row in range(1, 11)})
    assert table_load(source, "docs", target, "--limit", "6") == 0
    database = str((tmp_path / "s.db").resolve())
    engine = sa.create_engine(target)
    with engine.begin() as connection:  # as a log written before keys named their table
        connection.execute(sa.text("UPDATE processing_log SET source_key = "
                                   "substr(source_key, instr(source_key, '#') + 1)"))  # fmt: skip
    engine.dispose()
    capsys.readouterr()
    assert table_load(source, "docs", target) == 0
    captured = capsys.readouterr()
    assert "6 entries keyed by a bare row id" in captured.err
    rows = query(target, "SELECT source_key, attempts FROM processing_log ORDER BY 1")
    assert sorted(rows) == sorted((f"{database}:docs#{row}", 1) for row in range(1, 11))


def test_negative_ids_each_belong_to_exactly_one_shard(tmp_path: Path) -> None:
    source, target = f"sqlite:///{tmp_path / 's.db'}", f"sqlite:///{tmp_path / 't.db'}"
    staging(source, "docs", {row: row + 21 for row in range(-20, 20)})
    for shard in ("0/3", "1/3", "2/3"):
        assert table_load(source, "docs", target, "--shard", shard) == 0
    database = str((tmp_path / "s.db").resolve())
    rows = query(target, "SELECT source_key, attempts FROM processing_log")
    assert sorted(rows) == sorted((f"{database}:docs#{row}", 1) for row in range(-20, 20))


@pytest.mark.postgresql
def test_shards_in_sql_match_python_on_postgresql(postgres_engine: sa.Engine) -> None:
    from xmlload.sources.table import shard_condition

    value = sa.func.generate_series(-20, 19).column_valued("value")
    with postgres_engine.connect() as connection:
        for index in range(3):
            found = connection.execute(
                sa.select(value).where(shard_condition(value, (index, 3)))
            ).scalars()
            assert sorted(found) == [i for i in range(-20, 20) if i % 3 == index]


def test_linked_directories_are_followed_once_and_odd_files_fail_aloud(
    corpus_dir: Path, tmp_path: Path, capsys
) -> None:
    incoming = batch(corpus_dir, tmp_path / "incoming", FIRST[:2])
    other = batch(corpus_dir, tmp_path / "elsewhere" / "other", SECOND)
    (incoming / "batch2").symlink_to(other, target_is_directory=True)
    (other / "back").symlink_to(incoming, target_is_directory=True)  # a cycle
    (incoming / "again").symlink_to(other, target_is_directory=True)  # the same place twice
    os.mkfifo(incoming / "pipe.xml")
    (incoming / "dangling.xml").symlink_to(tmp_path / "nowhere.xml")
    target = f"sqlite:///{tmp_path / 't.db'}"
    assert load(str(incoming), target) == 3
    captured = capsys.readouterr()
    assert "5 ok, 2 failed" in captured.out
    assert "already listed" in captured.err
    rows = query(target, "SELECT source_key, status, stage, message FROM processing_log")
    failed = {Path(k).name: m for k, s, st, m in rows if s == "failed" and st == "source"}
    assert set(failed) == {"pipe.xml", "nowhere.xml"}
    assert "a FIFO, not a regular file" in failed["pipe.xml"]
    assert query(target, "SELECT count(*) FROM app_base") == [(5,)]
