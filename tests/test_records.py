"""`document.records`: every element at an absolute path of a big file (plain, .xml.gz or a
table cell) is a document of its own, keyed `FILE#ordinal`, read streaming, resumable and
refreshable record by record. Through the command line into SQLite."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import POSTGRES_URL, write_contract
from tests.helpers import cli_command, query, wait_for_log
from xmlload.cli import main
from xmlload.stages.migration import GrowthTrigger

CONTRACT = """namespaces: {m: "urn:mime"}
document:
  root: m:mime-info
  records: /m:mime-info/m:mime-type
  element: /m:mime-info/m:mime-type
  id: {path: /m:mime-info/m:mime-type/@type, column: mime_type, type: string(60)}
tables:
  mime_type:
    columns:
      comment: {type: string(60), path: "m:comment"}
      lang: {type: string(5), path: "../@xml:lang"}
  glob:
    parent: mime_type
    rows: {path: m:glob}
    columns:
      pattern: {type: string(20), path: "@pattern"}
"""
RECORD = (
    '<mime-type type="text/x-{n}"><comment>Type {n}</comment>'
    '<glob pattern="*.{n}"/><glob pattern="*.x{n}"/></mime-type>\n'
)
NOISE = (
    "<!-- <mime-type type='text/in-a-comment'/> -->"
    "<![CDATA[<mime-type type='text/in-cdata'/>]]>"
    '<other note="&lt;mime-type type=&quot;text/in-attribute&quot;/&gt;">'
    '<mime-type type="text/nested-not-a-record"/></other>\n'
)


def mime_file(count: int, broken_at: int | None = None) -> bytes:
    body = "".join(
        ("<broken " if n == broken_at else "") + RECORD.replace("{n}", str(n)) + NOISE
        for n in range(1, count + 1)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\r\n<!DOCTYPE mime-info>\r\n'
        f'<mime-info xmlns="urn:mime" xml:lang="en">{body}</mime-info>'
    ).encode()


def run(tmp_path: Path, source: str, *extra: str) -> int:
    contract = write_contract(tmp_path, CONTRACT)
    target = f"sqlite:///{tmp_path / 't.db'}"
    return main(["run", "--contract", str(contract), "--source", source, "--target", target,
                 "--create-tables", "--progress", "none", *extra])  # fmt: skip


def test_each_record_is_a_document(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "xml"
    folder.mkdir()
    (folder / "mime.xml").write_bytes(mime_file(30))
    with gzip.open(folder / "more.xml.gz", "wb") as compressed:
        compressed.write(mime_file(3).replace(b"text/x-", b"text/gz-"))
    assert run(tmp_path, str(folder)) == 0
    target = f"sqlite:///{tmp_path / 't.db'}"
    assert query(target, "SELECT count(*) FROM mime_type") == [(33,)]
    assert query(target, "SELECT count(*) FROM glob") == [(66,)]
    assert query(target, "SELECT comment, lang FROM mime_type WHERE mime_type = 'text/x-7'") == [
        ("Type 7", "en")  # the ancestor's xml:lang, through ../@xml:lang
    ]
    keys = query(target, "SELECT source_key FROM processing_log WHERE document_id = 'text/x-7'")
    assert keys == [(f"{(folder / 'mime.xml').resolve()}#7",)]
    # a second run loads nothing again; a changed record alone is reloaded by --refresh
    capsys.readouterr()
    assert run(tmp_path, str(folder)) == 0
    assert "0 ok, 0 failed; 33 skipped" in capsys.readouterr().out
    data = (folder / "mime.xml").read_bytes().replace(b"Type 9<", b"Type nine<")
    (folder / "mime.xml").write_bytes(data)
    assert run(tmp_path, str(folder), "--refresh") == 0
    refreshed = capsys.readouterr().out
    assert "refresh: 0 new, 1 changed (reloaded), 32 unchanged (parsed to compare" in refreshed
    assert query(target, "SELECT comment FROM mime_type WHERE mime_type = 'text/x-9'") == [
        ("Type nine",)
    ]


def test_a_file_that_stops_being_readable_keeps_what_came_before(tmp_path: Path) -> None:
    folder = tmp_path / "xml"
    folder.mkdir()
    (folder / "mime.xml").write_bytes(mime_file(400, broken_at=350))
    assert run(tmp_path, str(folder)) == 3
    target = f"sqlite:///{tmp_path / 't.db'}"
    ((loaded,),) = query(target, "SELECT count(*) FROM mime_type")
    assert 0 < loaded < 350  # lxml reads ahead: a few records before the fault are not loaded
    ((key, stage, message),) = query(
        target, "SELECT source_key, stage, message FROM processing_log WHERE status = 'failed'"
    )
    assert key.endswith(f"mime.xml#{loaded + 1}") and stage == "parse"
    assert f"the file stops being readable after record {loaded}" in message


def test_records_in_a_table_cell(tmp_path: Path) -> None:
    source = f"sqlite:///{tmp_path / 's.db'}"
    engine = sa.create_engine(source)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE dumps (id INTEGER PRIMARY KEY, xml TEXT)")
        connection.execute(sa.text("INSERT INTO dumps VALUES (5, :x)"),
                           {"x": mime_file(4).decode()})  # fmt: skip
    engine.dispose()
    assert run(tmp_path, source, "--source-table", "dumps") == 0
    target = f"sqlite:///{tmp_path / 't.db'}"
    keys = [key for (key,) in query(target, "SELECT source_key FROM processing_log")]
    assert sorted(key.rpartition(":")[2] for key in keys) == [f"dumps#5#{n}" for n in (1, 2, 3, 4)]


def test_records_contracts_are_checked(tmp_path: Path, capsys) -> None:
    anywhere = CONTRACT.replace("records: /m:mime-info/m:mime-type", "records: //m:mime-type")
    outside = CONTRACT.replace("  element: /m:mime-info/m:mime-type", "  element: /m:mime-info")
    checks = [
        (anywhere, "must name each element from the root (no // or *)"),
        (outside, "must be the record (/m:mime-info/m:mime-type) or inside it"),
    ]
    for text, said in checks:
        assert main(["contract", "validate", str(write_contract(tmp_path, text))]) == 2
        assert said in capsys.readouterr().err
    folder = tmp_path / "xml"
    folder.mkdir()
    assert run(tmp_path, str(folder), "--refresh", "--close-missing") == 2
    assert "--close-missing does not apply to a contract with document.records" in (
        capsys.readouterr().err
    )
    (folder / "mime.xml").write_bytes(mime_file(2))
    assert run(tmp_path, str(folder)) == 0
    contract = str(write_contract(tmp_path, CONTRACT))
    target = f"sqlite:///{tmp_path / 't.db'}"
    assert main(["verify", "--contract", contract, "--source", str(folder), "--target",
                 target]) == 2  # fmt: skip
    assert "verify does not apply to a contract with document.records yet" in (
        capsys.readouterr().err
    )


# -- one big file on several workers ---------------------------------------------------
BIG = 6000  # records; about 1.9 MB with the noise: parts of 118 KB for two workers


def big_file(folder: Path, bad: int | None = None, huge: int | None = None) -> Path:
    """A file of BIG records, split among workers; record `bad` has a glob too long for
    its column, record `huge` 5,000 bytes of text no column reads."""
    folder.mkdir(exist_ok=True)
    data = mime_file(BIG)
    if bad is not None:
        data = data.replace(b'"*.%d"' % bad, b'"*.%s"' % (b"x" * 30), 1)
    if huge is not None:
        data = data.replace(b"<comment>Type %d<" % huge, b"<x>%s</x><comment>Type %d<"
                            % (b"y" * 5000, huge), 1)  # fmt: skip
    (folder / "big.xml").write_bytes(data)
    return folder / "big.xml"


def check_each_record_once(target: str, failed: int = 0) -> None:
    successes = "sum(CASE WHEN status = 'success' THEN 1 ELSE 0 END)"
    log = query(target, f"SELECT count(*), count(DISTINCT source_key), {successes} "
                        "FROM processing_log")  # fmt: skip
    assert log == [(BIG, BIG, BIG - failed)]
    rows = query(target, "SELECT count(*), count(DISTINCT mime_type) FROM mime_type")
    assert rows == [(BIG - failed, BIG - failed)]
    assert query(target, "SELECT count(*) FROM glob") == [(2 * (BIG - failed),)]


def test_one_file_on_two_workers_fails_bad_records_alone(tmp_path: Path, capsys) -> None:
    path = big_file(tmp_path / "xml", bad=4321, huge=77)
    assert run(tmp_path, str(path.parent), "--workers", "2", "--max-document-bytes", "4000") == 3
    target = f"sqlite:///{tmp_path / 't.db'}"
    check_each_record_once(target, failed=2)
    failed = query(target, "SELECT source_key, stage, message FROM processing_log "
                           "WHERE status = 'failed' ORDER BY stage")  # fmt: skip
    assert [(key, stage) for key, stage, _ in failed] == [
        (f"{path.resolve()}#4321", "map"),
        (f"{path.resolve()}#77", "validation"),
    ]
    assert "over the 4,000-byte cap (max_document_bytes)" in failed[1][2]
    workers = query(target, "SELECT count(DISTINCT worker) FROM processing_log")
    assert workers == [(2,)]  # the file was shared


@pytest.mark.parametrize("how", ["SIGKILL a worker", "SIGTERM the run"])
def test_a_file_shared_by_workers_survives_a_kill_and_a_stop(tmp_path: Path, how: str) -> None:
    path = big_file(tmp_path / "xml")
    contract = write_contract(tmp_path, CONTRACT)
    target = f"sqlite:///{tmp_path / 't.db'}"
    command = cli_command("run", "--contract", str(contract), "--source", str(path.parent),
                          "--target", target, "--create-tables", "--progress", "none",
                          "--workers", "2")  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for_log(target, 600, process)
    if how == "SIGKILL a worker":
        (worker,) = query(target, "SELECT worker FROM processing_log LIMIT 1")[0]
        os.kill(int(worker.removeprefix("worker-")), signal.SIGKILL)
    else:
        process.send_signal(signal.SIGTERM)
    stderr = process.communicate(timeout=300)[1].decode()
    assert process.returncode == (0 if how == "SIGKILL a worker" else 143), stderr[-2000:]
    if how == "SIGTERM the run":
        ((logged,),) = query(target, "SELECT count(*) FROM processing_log")
        assert 600 <= logged < BIG
        resumed = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert resumed.returncode == 0, resumed.stderr[-2000:]
        assert f"{logged:,} skipped" in resumed.stdout
    check_each_record_once(target)


def test_growth_trigger_fires_at_a_constant_share_of_the_work() -> None:
    trigger = GrowthTrigger(first=100, growth=4)
    fired = [n for n in range(1, 2001) if trigger.add(1)]
    assert fired == [100, 400, 1600]
    assert GrowthTrigger(first=100, growth=4).add(1000) and trigger.next == 6400


def test_a_long_load_keeps_postgresql_planning_from_fresh_statistics(
    tmp_path: Path, postgres_engine: sa.Engine, postgres_schema: str
) -> None:
    """A log look-up planned for an empty log scans the whole log: a 637,000-record load
    stalled at 77 ms a batch. Statistics are refreshed as a worker's writes grow."""
    folder = tmp_path / "xml"
    folder.mkdir()
    (folder / "mime.xml").write_bytes(mime_file(2_100))
    contract = write_contract(tmp_path, f"target_schema: {postgres_schema}\n{CONTRACT}")
    assert main(["run", "--contract", str(contract), "--source", str(folder), "--target",
                 POSTGRES_URL, "--create-tables", "--progress", "none"]) == 0  # fmt: skip
    with postgres_engine.connect() as connection:
        analyzed = connection.execute(
            sa.text("SELECT relname, n_live_tup > 0 FROM pg_stat_user_tables "
                    "WHERE schemaname = :s AND last_analyze IS NOT NULL ORDER BY relname"),
            {"s": postgres_schema},
        ).all()  # fmt: skip
    assert analyzed == [("glob", True), ("mime_type", True), ("processing_log", True)]
