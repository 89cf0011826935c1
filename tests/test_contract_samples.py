"""`contract validate --sample`: samples mapped without writing; tables with no row and
columns with no value in any sample are reported (exit 3), with what the samples hold
that no path reads."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import CONTRACT, write_contract
from xmlload.cli import main

SYSCALLS = (
    '<syscalls_info xmlns:g="urn:gdb"><g:group name="io"/>'
    '<syscall name="read" number="0" weight="2"/><syscall name="%s" number="1"/></syscalls_info>'
)
GOOD = """document:
  root: syscalls_info
  element: /syscalls_info
  id: {source: stem, column: arch, type: string(40)}
namespaces: {g: "urn:gdb"}
tables:
  syscall:
    rows: {path: syscall}
    columns:
      name: {type: string(40), path: "@name"}
      number: {type: integer, path: "@number"}
  group:
    rows: {path: g:group}
    columns:
      label: {type: string(40), path: "@name"}
"""


def samples(tmp_path: Path) -> Path:
    folder = tmp_path / "xml"
    folder.mkdir()
    for arch in ("amd64", "i386"):
        (folder / f"{arch}.xml").write_text(SYSCALLS % f"{arch}_only")
    return folder


def test_paths_that_match_nothing_are_reported(tmp_path: Path, capsys) -> None:
    folder = samples(tmp_path)
    wrong = GOOD.replace('"@number"', '"@nubmer"').replace("g:group", "group")
    contract = write_contract(tmp_path, wrong)
    assert main(["contract", "validate", str(contract), "--sample", str(folder)]) == 3
    out = capsys.readouterr().out
    assert "samples: 2 files, 2 documents, 2 mapped, 0 failed" in out
    assert "tables.group: no row (rows.path group matched nothing" in out
    assert "tables.syscall.columns.number: NULL or its default in every row (path @nubmer)" in out
    assert "<syscall> @number: in 2 of 2 samples" in out
    assert "<syscall> @weight: in 2 of 2 samples" in out
    assert not list(tmp_path.glob("*.db"))  # nothing written anywhere


def test_a_contract_whose_paths_all_match_exits_0(tmp_path: Path, capsys) -> None:
    folder = samples(tmp_path)
    contract = write_contract(tmp_path, GOOD)
    assert main(["contract", "validate", str(contract), "--sample", str(folder / "amd64.xml"),
                 str(folder)]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "samples: 2 files, 2 documents, 2 mapped, 0 failed" in out
    assert "matched nothing" not in out
    assert "<syscall> @weight: in 2 of 2 samples" in out  # a hint, not a finding


def test_failed_samples_are_listed_and_no_samples_is_an_error(
    tmp_path: Path, corpus_dir: Path, capsys
) -> None:
    code = main(["contract", "validate", str(CONTRACT), "--sample", str(corpus_dir)])
    out = capsys.readouterr().out
    assert code == 3
    assert "samples: 82 files, 82 documents, 81 mapped, 1 failed" in out
    assert "sample-source-xml-wrong-schema--600000.xml: validation: document element" in out
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["contract", "validate", str(CONTRACT), "--sample", str(empty)]) == 2
    assert "no XML files there" in capsys.readouterr().err
