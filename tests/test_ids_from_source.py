"""`document.id.source`: documents that carry no id take it from their source key (a
file's name or stem, a table row's id, the whole key)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import write_contract
from tests.helpers import query
from xmlload.cli import main
from xmlload.contract.model import IdFromSource
from xmlload.stages.validator import id_from_key

CONTRACT = """document:
  root: syscalls_info
  element: /syscalls_info
  id: {source: %s, column: arch, type: %s}
tables:
  syscall:
    rows: {path: syscall}
    columns:
      name: {type: string(40), path: "@name"}
"""
SYSCALLS = '<syscalls_info><syscall name="read"/><syscall name="%s_only"/></syscalls_info>'


def run(contract: Path, source: str, target: str, *extra: str) -> int:
    return main(["run", "--contract", str(contract), "--source", source, "--target", target,
                 "--create-tables", "--progress", "none", *extra])  # fmt: skip


def test_files_that_name_the_same_things_load_by_file_name(tmp_path: Path) -> None:
    folder = tmp_path / "xml"
    folder.mkdir()
    for arch in ("amd64", "i386", "arm"):
        (folder / f"{arch}-linux.xml").write_text(SYSCALLS % arch)
    target = f"sqlite:///{tmp_path / 't.db'}"
    contract = write_contract(tmp_path, CONTRACT % ("stem", "string(40)"))
    assert run(contract, str(folder), target) == 0
    rows = query(target, "SELECT arch, name FROM syscall ORDER BY arch, syscall_seq")
    assert rows == [("amd64-linux", "read"), ("amd64-linux", "amd64_only"),
                    ("arm-linux", "read"), ("arm-linux", "arm_only"),
                    ("i386-linux", "read"), ("i386-linux", "i386_only")]  # fmt: skip


def test_a_table_row_takes_its_row_id(tmp_path: Path) -> None:
    source = f"sqlite:///{tmp_path / 's.db'}"
    engine = sa.create_engine(source)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE docs (id INTEGER PRIMARY KEY, xml TEXT)")
        for row, arch in ((41, "x"), (42, "y")):
            connection.execute(sa.text("INSERT INTO docs VALUES (:i, :x)"),
                               {"i": row, "x": SYSCALLS % arch})  # fmt: skip
    engine.dispose()
    target = f"sqlite:///{tmp_path / 't.db'}"
    contract = write_contract(tmp_path, CONTRACT % ("row", "bigint"))
    assert run(contract, source, target, "--source-table", "docs") == 0
    assert query(target, "SELECT DISTINCT arch FROM syscall ORDER BY 1") == [(41,), (42,)]


@pytest.mark.parametrize(
    ("key", "part", "expected"),
    [
        ("/data/x/amd64.XML", IdFromSource.STEM, "amd64"),
        ("/data/x/amd64.xml.gz", IdFromSource.STEM, "amd64"),
        ("/data/x/amd64.xml.gz#3", IdFromSource.STEM, "amd64#3"),
        ("/data/x/amd64.xml.gz", IdFromSource.NAME, "amd64.xml.gz"),
        ("/data/x/amd64.xml#12", IdFromSource.NAME, "amd64.xml#12"),
        ("/data/s.db:docs#17", IdFromSource.ROW, "17"),
        ("test:docs#17#2", IdFromSource.ROW, "17#2"),
        ("/data/x/a.xml", IdFromSource.KEY, "/data/x/a.xml"),
    ],
)
def test_parts_of_a_key(key: str, part: IdFromSource, expected: str) -> None:
    assert id_from_key(key, part) == expected


def test_an_id_needs_exactly_one_origin(tmp_path: Path, capsys) -> None:
    both = CONTRACT.replace("{source: %s,", '{path: "@n", source: %s,') % ("stem", "bigint")
    assert main(["contract", "validate", str(write_contract(tmp_path, both))]) == 2
    assert "give the id's path in the document, or source: name | stem | row | key" in (
        capsys.readouterr().err
    )
