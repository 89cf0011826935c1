"""`xmlload status` and `xmlload reprocess`: what operators run after a load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import CONTRACT
from tests.helpers import (
    copy_corpus_files,
    query,
    row_id,
    run_args,
    table_contents,
    table_run_args,
    table_source,
)
from xmlload.cli import main
from xmlload.contract.loader import load_plan
from xmlload.db.check import prepare_target
from xmlload.db.urls import parse_url

NAMES = [
    "sample--142305.xml",
    "sample--127582.xml",
    "sample-source-xml-dupe-con_id--443309.xml",
    "sample-source-xml-wrong-schema--600000.xml",
]


@pytest.fixture
def loaded(corpus_dir: Path, tmp_path: Path) -> tuple[Path, str, Path]:
    """Four corpus files loaded with a contract whose last_name column is too strict:
    the documents with a last name longer than 5 characters fail at the map stage."""
    folder = copy_corpus_files(corpus_dir, tmp_path / "xml", NAMES)
    data = yaml.safe_load(CONTRACT.read_text(encoding="utf-8"))
    data["tables"]["app_contact_base"]["columns"]["last_name"]["overflow"] = "reject"
    data["tables"]["app_contact_base"]["columns"]["last_name"]["type"] = "string(5)"
    data["tables"]["app_contact_base"]["columns"]["last_name"]["default"] = "UNK"
    strict = tmp_path / "strict.yaml"
    strict.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    target = f"sqlite:///{tmp_path / 't.db'}"
    # the tables as the example contract makes them: fixing the contract later needs no DDL
    prepare_target(parse_url(target), load_plan(CONTRACT), create=True)
    assert (
        main(
            [
                "run",
                *run_args(str(folder), target, str(strict)),
            ]
        )
        == 3
    )
    return folder, target, strict


def test_status_counts_messages_and_failed_ids(loaded, capsys) -> None:
    _, target, _ = loaded
    capsys.readouterr()
    assert main(["status", "--target", target, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    counts = {(c["status"], c["stage"]): c["documents"] for c in report["counts"]}
    assert counts == {("failed", "map"): 2, ("failed", "validation"): 1, ("success", None): 1}
    assert report["top_messages"][0]["stage"] == "map"
    assert "exceed string(5)" in report["top_messages"][0]["message"]
    assert report["last_run"]["documents"] == 4

    assert main(["status", "--target", target, "--failed-ids", "--stage", "map"]) == 0
    keys = capsys.readouterr().out.split()
    assert sorted(Path(k).name for k in keys) == [
        "sample--127582.xml",
        "sample-source-xml-dupe-con_id--443309.xml",
    ]


def test_reprocess_failed_after_fixing_the_contract(loaded, capsys) -> None:
    folder, target, _ = loaded
    base = ["--contract", str(CONTRACT), "--source", str(folder), "--target", target]
    assert main(["reprocess", *base, "--failed", "--stage", "map"]) == 0
    statuses = query(target, "SELECT source_key, status, attempts FROM processing_log")
    by_name = {Path(k).name: (s, a) for k, s, a in statuses}
    assert by_name["sample--142305.xml"] == ("success", 1)
    assert by_name["sample--127582.xml"] == ("success", 2)
    assert by_name["sample-source-xml-dupe-con_id--443309.xml"] == ("success", 2)
    assert by_name["sample-source-xml-wrong-schema--600000.xml"] == ("failed", 1)
    assert query(target, "SELECT count(*), count(DISTINCT app_id) FROM app_base") == [(3, 3)]
    before = table_contents(target, str(CONTRACT))
    # reprocessing explicit ids replaces rows: nothing duplicates
    keys = ",".join(str(folder / name) for name in NAMES[:2])
    assert main(["reprocess", *base, "--ids", keys]) == 0
    assert table_contents(target, str(CONTRACT)) == before


def test_reprocess_ids_file_from_stdin_and_id_validation(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    from io import StringIO

    source = table_source(tmp_path, 10, seed=2, median_kb=5)
    base = table_run_args(source, f"sqlite:///{tmp_path / 't.db'}")
    target = base[base.index("--target") + 1]
    monkeypatch.setattr("sys.stdin", StringIO("3\n5\n"))
    assert main(["reprocess", *base, "--ids-file", "-"]) == 0
    keys = [row_id(k) for (k,) in query(target, "SELECT source_key FROM processing_log")]
    assert sorted(keys) == [3, 5]
    assert main(["reprocess", *base, "--ids", "3,5;DROP TABLE docs"]) == 2
    assert "not a document id" in capsys.readouterr().err


KEPT = ["sample--142305.xml", "sample--127582.xml", "sample--447945.xml"]


@pytest.mark.parametrize("how", ["reprocess", "no-resume"])
def test_a_failed_new_attempt_keeps_the_rows_loaded_before(
    corpus_dir: Path, tmp_path: Path, capsys, how: str
) -> None:
    folder = copy_corpus_files(corpus_dir, tmp_path / "xml", KEPT)
    target = f"sqlite:///{tmp_path / 't.db'}"
    assert main(["run", *run_args(str(folder), target)]) == 0
    before = table_contents(target, str(CONTRACT))
    gone, cut = folder / KEPT[0], folder / KEPT[1]
    gone.rename(tmp_path / "moved.xml")
    cut.write_bytes(cut.read_bytes()[:500])
    capsys.readouterr()
    if how == "reprocess":
        keys = f"{gone},{cut}"
        base = ["--contract", str(CONTRACT), "--source", str(folder), "--target", target]
        assert main(["reprocess", *base, "--ids", keys, "--progress", "none"]) == 3
    else:
        assert main(["run", *run_args(str(folder), target), "--no-resume"]) == 3
    kept = 2 if how == "reprocess" else 1  # a run lists only the files still there
    assert f"{kept} of the failed documents had loaded before" in capsys.readouterr().out
    assert table_contents(target, str(CONTRACT)) == before
    log = {
        Path(key).name: rest
        for key, *rest in query(
            target, "SELECT source_key, status, stage, attempts, message FROM processing_log"
        )
    }
    status, stage, attempts, message = log[KEPT[1]]
    assert (status, stage, attempts) == ("success", "parse", 2)
    assert message.startswith("rows of the earlier load kept")
    if how == "reprocess":  # the folder's listing no longer has the moved file
        assert tuple(log[KEPT[0]][:3]) == ("success", "source", 2)
    # once the file is back and whole, a reprocess replaces the rows and clears the note
    gone.write_bytes((tmp_path / "moved.xml").read_bytes())
    cut.write_bytes((corpus_dir / KEPT[1]).read_bytes())
    assert main(["run", *run_args(str(folder), target), "--no-resume"]) == 0
    assert table_contents(target, str(CONTRACT)) == before
    assert query(target, "SELECT count(*) FROM processing_log WHERE stage IS NOT NULL") == [(0,)]
