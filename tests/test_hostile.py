"""Hostile and broken input in a real run: each bad document fails alone with its stage and
a clear message, the good ones load, local files never reach the database or the output,
and passwords never appear anywhere."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import CONTRACT, POSTGRES_URL, contract_with, write_contract
from tests.helpers import cli_command, copy_corpus_files, query, run_args, table_contents
from xmlload.cli import main

SECRET = "TOP-SECRET-c0ffee"
GOOD = ["sample--142305.xml", "sample--127582.xml"]
HEAD = b'<?xml version="1.0" encoding="UTF-8"?>'
LAUGHS = (
    b'<!DOCTYPE Provenir [<!ENTITY a "ha"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">'
    b'<!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;"><!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;">'
    b'<!ENTITY g "&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;"><!ENTITY h "&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;">]>'
)
APP = (
    b'<Provenir ID="1"><Request ID="%d"><CustData><application app_receive_date="01/01/2024" '
    b'assignedTo="%s"/></CustData></Request></Provenir>'
)


def hostile_documents(secret_file: Path) -> dict[str, tuple[bytes, str, str]]:
    """name -> (bytes, expected stage, expected message part)."""
    quadratic = b'<!DOCTYPE Provenir [<!ENTITY x "' + b"x" * 50_000 + b'">]>'
    return {
        "xxe-file.xml": (
            b'<!DOCTYPE Provenir [<!ENTITY s SYSTEM "file://'
            + str(secret_file).encode()
            + b'">]>'
            + APP % (1, b"&s;"),
            "validation",
            "<!DOCTYPE",
        ),
        "xxe-network.xml": (
            b'<!DOCTYPE Provenir [<!ENTITY n SYSTEM "http://127.0.0.1:9/x">]>' + APP % (2, b"&n;"),
            "validation",
            "<!DOCTYPE",
        ),
        "billion-laughs.xml": (LAUGHS + APP % (3, b"&h;"), "validation", "<!DOCTYPE"),
        "quadratic.xml": (quadratic + APP % (4, b"&x;" * 1000), "validation", "<!DOCTYPE"),
        "nested.xml": (
            b'<Provenir ID="5">' + b"<a>" * 5000 + b"</a>" * 5000 + b"</Provenir>",
            "parse",
            "not well-formed",
        ),
        "huge-attribute.xml": (APP % (6, b"y" * 11_000_000), "parse", "not well-formed"),
        "bad-utf8.xml": (HEAD + APP % (7, b"\xc3\x28"), "validation", "not valid UTF-8"),
        "wrong-encoding.xml": (
            b'<?xml version="1.0" encoding="UTF-16"?>' + APP % (8, b"x"),
            "validation",
            "declared encoding 'utf-16' is not accepted",
        ),
        "empty.xml": (b"", "validation", "empty document"),
        "blank.xml": (b" \n\t ", "validation", "empty document"),
        "garbage.xml": (bytes(range(256)) * 10, "validation", "not valid UTF-8"),
        "wrong-type.xml": (
            b'<Provenir><Request ID="9"><CustData><IL_application/></CustData>'
            b"</Request></Provenir>",
            "validation",
            "not found (wrong document type?)",
        ),
        "no-id.xml": (
            b"<Provenir><Request><CustData><application/></CustData></Request></Provenir>",
            "validation",
            "document id missing",
        ),
        "text-id.xml": (
            b'<Provenir><Request ID="12abc"><CustData><application/></CustData>'
            b"</Request></Provenir>",
            "validation",
            "bad document id",
        ),
    }


@pytest.fixture
def hostile_dir(corpus_dir: Path, tmp_path: Path) -> tuple[Path, dict]:
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(SECRET)
    folder = copy_corpus_files(corpus_dir, tmp_path / "xml", GOOD)
    documents = hostile_documents(secret_file)
    for name, (data, _, _) in documents.items():
        (folder / name).write_bytes(data)
    return folder, documents


def test_each_hostile_document_fails_alone(hostile_dir, tmp_path: Path) -> None:
    folder, documents = hostile_dir
    target = f"sqlite:///{tmp_path / 't.db'}"
    started = time.monotonic()
    result = subprocess.run(
        cli_command(
            "run",
            *run_args(str(folder), target, str(CONTRACT)),
            "--workers",
            "2",
        ),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 3 and time.monotonic() - started < 120
    logged = {
        Path(k).name: (s, g, m)
        for k, s, g, m in query(
            target, "SELECT source_key, status, stage, message FROM processing_log"
        )
    }
    for name, (_, stage, message) in documents.items():
        status, got_stage, got_message = logged[name]
        assert (status, got_stage) == ("failed", stage), (name, got_message)
        assert message.lower() in got_message.lower(), (name, got_message)
    assert [logged[name][0] for name in GOOD] == ["success", "success"]
    everything = json.dumps(table_contents(target, str(CONTRACT), include_log=True), default=str)
    assert SECRET not in everything + result.stdout + result.stderr


def test_entity_amplification_fails_even_when_entities_are_allowed(tmp_path: Path) -> None:
    text = CONTRACT.read_text(encoding="utf-8").replace(
        "  root: Provenir\n", "  root: Provenir\n  doctype: entities\n", 1
    )
    contract = write_contract(tmp_path, text, "allow.yaml")
    folder = tmp_path / "xml"
    folder.mkdir()
    (folder / "laughs.xml").write_bytes(LAUGHS + APP % (3, b"&h;"))
    target = f"sqlite:///{tmp_path / 't.db'}"
    assert main(["run", *run_args(str(folder), target, str(contract))]) == 3
    # libxml2 refuses the amplification while parsing: the document fails alone, at parse
    ((status, stage, message),) = query(target, "SELECT status, stage, message FROM processing_log")
    assert (status, stage) == ("failed", "parse"), message
    everything = json.dumps(table_contents(target, str(contract), include_log=True), default=str)
    assert "haha" not in everything  # not one expansion reached a table or the log


def test_passwords_never_appear(
    corpus_dir: Path, postgres_engine, postgres_schema: str, tmp_path: Path
) -> None:
    """The local server trusts any password, so a URL with one works end to end."""
    password = "Pw-S3cret-42"
    target = POSTGRES_URL.replace("postgres@", f"postgres:{password}@")
    folder = copy_corpus_files(
        corpus_dir, tmp_path / "xml", [*GOOD, "sample-source-xml-wrong-schema--600000.xml"]
    )
    contract = str(contract_with(tmp_path, target_schema=postgres_schema))
    report = tmp_path / "report.json"
    outputs = []
    for command in (
        (
            "run",
            *run_args(str(folder), target, contract),
            "--report",
            str(report),
            "--progress",
            "log",
        ),
        ("status", "--target", target, "--schema", postgres_schema, "--json"),
        ("verify", "--contract", contract, "--source", str(folder), "--target", target),
        ("contract", "check", contract, "--target", target),
        (
            "run",
            *run_args(str(folder), target.replace("5432", "1"), contract),
        ),
    ):
        result = subprocess.run(cli_command(*command), capture_output=True, text=True, timeout=120)
        outputs.append(result.stdout + result.stderr)
    assert "postgres:***@" in outputs[0] and "postgres:***@" in outputs[4]
    assert password not in "".join(outputs) + report.read_text()
    stored = table_contents(POSTGRES_URL, contract, include_log=True)
    assert password not in json.dumps(stored, default=str)


def test_verify_reports_differences(corpus_dir: Path, tmp_path: Path, capsys) -> None:
    folder = copy_corpus_files(corpus_dir, tmp_path / "xml", GOOD)
    target = f"sqlite:///{tmp_path / 't.db'}"
    base = ["--contract", str(CONTRACT), "--source", str(folder), "--target", target]
    assert main(["run", *base, "--create-tables"]) == 0
    assert main(["verify", *base]) == 0
    import sqlite3

    with sqlite3.connect(tmp_path / "t.db") as connection:
        connection.execute("UPDATE app_contact_base SET last_name = 'X' WHERE app_id = 142305")
        connection.execute("DELETE FROM processing_log WHERE document_id = 127582")
        # rows of a document that is neither in the source nor in the log
        connection.execute("INSERT INTO app_base (app_id, receive_date, product_line_enum) "
                           "VALUES (999000111, '2024-01-01 00:00:00', 600)")  # fmt: skip
    capsys.readouterr()
    assert main(["verify", *base]) == 3
    out = capsys.readouterr().out
    assert "(document 142305): app_contact_base: 1 row(s) missing, 1 unexpected" in out
    orphan = "but no logged success owns this document id"
    assert "(document 127582): rows in app_base, app_contact_base" in out and orphan in out
    assert f"(document 999000111): rows in app_base, {orphan}" in out
    assert (
        "verified 3 documents (2 rows without a logged success, 1 success): 3 with differences"
        in out
    )
    assert main(["verify", *base, "--ids", str(folder / "sample--127582.xml")]) == 3
    assert "not in the processing log, but has rows in app_base" in capsys.readouterr().out


def test_an_element_with_600000_attributes_is_mapped_within_the_deadline(
    corpus_dir: Path, tmp_path: Path
) -> None:
    """Through an imported contract (attributes read in any case): every attribute is
    listed in linear time, so the per-document deadline holds and no worker stops
    responding (lxml's `attrib.items()` is quadratic in C, holding the GIL for hours)."""
    from xmlload.contract.importing import import_contract

    imported = import_contract(corpus_dir.parent / "mapping_contract.json")
    assert not imported.problems
    contract = write_contract(tmp_path, imported.text, "imported.yaml")
    folder = copy_corpus_files(corpus_dir, tmp_path / "xml", GOOD[:1])
    text = (corpus_dir / GOOD[1]).read_text(encoding="utf-8")
    many = " ".join(f'a{i}="{i}"' for i in range(600_000))
    (folder / "wide.xml").write_text(text.replace("<application ", f"<application {many} ", 1))
    target = f"sqlite:///{tmp_path / 't.db'}"
    done = subprocess.run(
        cli_command("run", *run_args(str(folder), target, str(contract)), "--doc-timeout", "20",
                    "--max-document-bytes", str(64 << 20), "--progress", "none"),
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    rows = query(target, "SELECT status, message FROM processing_log")
    assert rows == [("success", None), ("success", None)]


def test_configs_that_cross_to_workers_never_show_a_password() -> None:
    """Settings, a table source and a worker's configuration keep URLs as secrets: their
    repr and str mask the password; pickling (to a Dask worker) keeps what it needs."""
    import pickle

    from xmlload.db.urls import SecretURL
    from xmlload.parallel.worker import WorkerConfig
    from xmlload.settings import Settings

    url = f"postgresql://loader:{SECRET}@db/apps"
    settings = Settings(target=url, source=url, source_table="docs")
    source = settings.source_config()
    config = WorkerConfig("c.yaml", source, SecretURL(url), "run", 1024)
    for shown in (repr(settings), str(settings), repr(source), repr(config), str(config)):
        assert SECRET not in shown and "loader:***@db" in shown
    again = pickle.loads(pickle.dumps(config))
    assert again.target_url.reveal() == url and again.source.url.reveal() == url
