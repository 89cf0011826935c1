"""`xmlload run` behaviour: exit codes, settings, sources, workers, failure isolation."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import CONTRACT, POSTGRES_URL, contract_with
from tests.helpers import query, row_id, table_contents, table_run_args
from xmlload.cli import main
from xmlload.contract.loader import load_plan
from xmlload.db.check import prepare_target
from xmlload.db.urls import parse_url
from xmlload.errors import SettingsError
from xmlload.generate import DocumentGenerator, write_table
from xmlload.settings import load_settings

GOOD = ["sample--142305.xml", "sample--127582.xml", "sample-source-xml-dupe-con_id--443309.xml"]


@pytest.fixture
def good_dir(corpus_dir: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "good"
    folder.mkdir()
    for name in GOOD:
        shutil.copy(corpus_dir / name, folder / name)
    return folder


def run(*args: str) -> int:
    return main(["run", "--contract", str(CONTRACT), *args])


def run_table(source: str, target: str, *extra: str) -> int:
    """Load the `docs` source table into target, creating tables."""
    return main(["run", *table_run_args(source, target), *extra])


def test_exit_zero_when_every_document_loads(good_dir: Path, tmp_path: Path) -> None:
    target = f"sqlite:///{tmp_path / 't.db'}"
    assert run("--source", str(good_dir), "--target", target, "--create-tables") == 0
    assert query(target, "SELECT count(*) FROM app_base") == [(3,)]


def test_missing_tables_are_a_clear_error_before_reading(
    good_dir: Path, tmp_path: Path, capsys
) -> None:
    target = f"sqlite:///{tmp_path / 't.db'}"
    assert run("--source", str(good_dir), "--target", target) == 2
    error = capsys.readouterr().err
    assert "ERROR app_base: table is missing" in error and "--create-tables" in error
    assert "ERROR processing_log: table is missing" in error


def test_unreachable_database_masks_the_password(good_dir: Path, capsys) -> None:
    target = "postgresql://loader:s3cr3t-pw@127.0.0.1:1/nowhere"
    assert run("--source", str(good_dir), "--target", target, "--create-tables") == 2
    error = capsys.readouterr().err
    assert "s3cr3t-pw" not in error
    assert "loader:***@127.0.0.1:1/nowhere" in error


def test_bad_settings_name_their_origin(
    good_dir: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("XMLLOAD_WORKERS", "many")
    assert run("--source", str(good_dir), "--target", str(tmp_path / "t.db")) == 2
    assert "XMLLOAD_WORKERS" in capsys.readouterr().err
    monkeypatch.delenv("XMLLOAD_WORKERS")
    assert (
        run(
            "--source",
            str(tmp_path / "absent"),
            "--target",
            str(tmp_path / "t.db"),
            "--create-tables",
        )
        == 2
    )
    assert "no such file or directory" in capsys.readouterr().err


def test_settings_precedence(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "xmlload.toml"
    config.write_text("workers = 3\nchunk_size = 10\nlimit = 5\n")
    settings = load_settings({"limit": 7}, config, {"XMLLOAD_CHUNK_SIZE": "20"})
    assert (settings.workers, settings.chunk_size, settings.limit) == (3, 20, 7)
    assert load_settings({}, None, {}).chunk_size == 50  # default
    with pytest.raises(SettingsError, match=r"xmlload.toml: workers: Input should be greater"):
        config.write_text("workers = 0\n")
        load_settings({}, config, {})
    # an unknown variable is a warning naming the closest setting, not a refusal; the
    # test suite's own XMLLOAD_TEST_* variables are not settings and pass silently
    environ = {"XMLLOAD_WROKERS": "4", "XMLLOAD_TEST_POSTGRES_URL": "postgresql://x/y"}
    assert load_settings({}, None, environ).workers == 1
    warned = capsys.readouterr().err
    assert (
        "warning: XMLLOAD_WROKERS is not a setting, ignored; did you mean XMLLOAD_WORKERS?"
        in warned
    )
    assert "XMLLOAD_TEST" not in warned


@pytest.fixture
def source_table(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'source.db'}"
    write_table(DocumentGenerator(seed=5, median_kb=6, bad_ratio=0.1), 120, 1000, url, "docs")
    return url


def test_table_source_with_id_range_limit_and_keyset_pages(
    source_table: str, tmp_path: Path
) -> None:
    target = f"sqlite:///{tmp_path / 't.db'}"
    code = run_table(
        source_table, target, "--id-start", "1010", "--id-end", "1059", "--limit", "40"
    )
    assert code in (0, 3)
    keys = [row_id(k) for (k,) in query(target, "SELECT source_key FROM processing_log")]
    assert sorted(keys) == list(range(1010, 1050))


def test_generated_bad_documents_fail_alone_at_their_stage(
    source_table: str, tmp_path: Path
) -> None:
    target = f"sqlite:///{tmp_path / 't.db'}"
    assert run_table(source_table, target, "--chunk-size", "7") == 3
    generator = DocumentGenerator(seed=5, median_kb=6, bad_ratio=0.1)
    expected_stage = {
        "malformed": "parse",
        "wrong_schema": "validation",
        "missing_id": "validation",
        "doctype": "validation",
        "bad_value": "map",
    }
    logged = {
        row_id(k): (status, stage)
        for k, status, stage in query(
            target, "SELECT source_key, status, stage FROM processing_log"
        )
    }
    assert len(logged) == 120
    for document in generator.documents(120, 1000):
        if document.bad_kind:
            assert logged[document.document_id] == ("failed", expected_stage[document.bad_kind])
        else:
            assert logged[document.document_id] == ("success", None)
    failed_ids = {i for i, (status, _) in logged.items() if status == "failed"}
    assert failed_ids and not failed_ids & {
        i for (i,) in query(target, "SELECT app_id FROM app_base")
    }


def test_two_worker_processes_write_what_one_writes(source_table: str, tmp_path: Path) -> None:
    one, two = f"sqlite:///{tmp_path / 'one.db'}", f"sqlite:///{tmp_path / 'two.db'}"
    report = tmp_path / "two.json"
    run_table(source_table, one, "--workers", "1", "--chunk-size", "5")
    run_table(source_table, two, "--workers", "2", "--chunk-size", "5", "--report", str(report))
    assert table_contents(one, str(CONTRACT)) == table_contents(two, str(CONTRACT))
    # two workers were started (one may have finished every chunk before the other was up)
    figures = json.loads(report.read_text())
    assert figures["settings"]["workers"] == 2
    assert 1 <= len(figures["workers"]) <= 2


def test_database_rejection_fails_only_that_document(
    good_dir: Path, postgres_engine: sa.Engine, postgres_schema: str, tmp_path: Path
) -> None:
    """A constraint the contract does not know (the shape check cannot see it): PostgreSQL
    rejects one document's row; it is logged failed at the load stage with no rows, and the
    others load."""
    contract = str(contract_with(tmp_path, target_schema=postgres_schema))
    prepare_target(parse_url(POSTGRES_URL), load_plan(contract), create=True)
    with postgres_engine.begin() as connection:
        connection.execute(
            sa.text(
                f"ALTER TABLE {postgres_schema}.app_contact_base "
                "ADD CONSTRAINT short_first_name CHECK (char_length(first_name) <= 6)"
            )
        )
    assert (
        main(["run", "--contract", contract, "--source", str(good_dir), "--target", POSTGRES_URL])
        == 3
    )
    rows = query(
        POSTGRES_URL,
        f"SELECT source_key, status, stage, message FROM "
        f"{postgres_schema}.processing_log ORDER BY source_key",
    )
    failed = sorted(Path(row[0]).name for row in rows if row[1] == "failed")
    # FERNANDO and FPPINTRO are longer than 6; MARK and Connie are not
    assert len(rows) == 3
    assert failed == ["sample--127582.xml", "sample--142305.xml"]
    assert {(row[2], row[3]) for row in rows if row[1] == "failed"} == {
        (
            "load",
            'CheckViolation: new row for relation "app_contact_base" violates check '
            'constraint "short_first_name"',
        )
    }
    loaded = query(POSTGRES_URL, f"SELECT app_id FROM {postgres_schema}.app_base ORDER BY 1")
    assert loaded == [(443309,)]
    children = query(POSTGRES_URL, f"SELECT DISTINCT app_id FROM {postgres_schema}.scores")
    assert children in ([], [(443309,)])


def test_a_document_that_now_fails_keeps_the_rows_loaded_before(
    good_dir: Path, tmp_path: Path
) -> None:
    """Reprocessing a loaded document whose source became unreadable XML: only a successful
    new version replaces a document, so its rows stay and the log says what failed."""
    target = f"sqlite:///{tmp_path / 't.db'}"
    assert run("--source", str(good_dir), "--target", target, "--create-tables") == 0
    broken = good_dir / "sample--142305.xml"
    broken.write_bytes(b"<Provenir><Request")
    assert (
        main(
            [
                "reprocess",
                "--contract",
                str(CONTRACT),
                "--source",
                str(good_dir),
                "--target",
                target,
                "--ids",
                str(broken),
            ]
        )
        == 3
    )
    assert query(
        target,
        "SELECT status, stage, attempts FROM processing_log WHERE source_key = :k",
        k=str(broken),
    ) == [("success", "parse", 2)]
    for table in ("app_base", "app_contact_base"):
        assert query(target, f"SELECT count(*) FROM {table} WHERE app_id = 142305") == [(1,)]
    assert query(target, "SELECT count(*) FROM app_base") == [(3,)]


@pytest.mark.parametrize("chunk_size", ["1", "10"])
def test_two_sources_with_one_document_id_load_once(
    good_dir: Path, tmp_path: Path, chunk_size: str
) -> None:
    """Two files carrying the same document id (in one chunk or in two): the first loads,
    the second fails alone with a clear message, and the rows are there once."""
    shutil.copy(good_dir / "sample--142305.xml", good_dir / "zz-copy-of-142305.xml")
    target = f"sqlite:///{tmp_path / 't.db'}"
    assert (
        run(
            "--source",
            str(good_dir),
            "--target",
            target,
            "--create-tables",
            "--chunk-size",
            chunk_size,
        )
        == 3
    )
    rows = query(
        target,
        "SELECT source_key, status, stage, message FROM processing_log "
        "WHERE document_id = 142305 ORDER BY source_key",
    )
    assert [(Path(k).name, s, g) for k, s, g, _ in rows] == [
        ("sample--142305.xml", "success", None),
        ("zz-copy-of-142305.xml", "failed", "validation"),
    ]
    assert "duplicate document id 142305: already loaded from source key" in rows[1][3]
    assert query(target, "SELECT count(*) FROM app_base WHERE app_id = 142305") == [(1,)]
    assert query(target, "SELECT count(*) FROM app_contact_base WHERE app_id = 142305") == [(1,)]
    # reprocessing the first source key still replaces its own rows
    assert (
        main(
            [
                "reprocess",
                "--contract",
                str(CONTRACT),
                "--source",
                str(good_dir),
                "--target",
                target,
                "--ids",
                str(good_dir / "sample--142305.xml"),
            ]
        )
        == 0
    )
    assert query(target, "SELECT count(*) FROM app_base WHERE app_id = 142305") == [(1,)]


@pytest.mark.parametrize("how", ["reprocess-failed", "ids-file", "no-resume"])
def test_reprocessing_a_duplicate_keeps_the_first_documents_rows(
    good_dir: Path, tmp_path: Path, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second source key of one document id is logged failed (duplicate). Reprocessing
    it — as the README's daily recipe does — must not delete the first key's rows."""
    import io

    shutil.copy(good_dir / "sample--142305.xml", good_dir / "zz-copy-of-142305.xml")
    target = f"sqlite:///{tmp_path / 't.db'}"
    assert run("--source", str(good_dir), "--target", target, "--create-tables") == 3
    counted = "SELECT count(*) FROM app_contact_base WHERE app_id = 142305"
    assert query(target, counted) == [(1,)]
    common = ["--contract", str(CONTRACT), "--source", str(good_dir), "--target", target]
    if how == "reprocess-failed":
        assert main(["reprocess", *common, "--failed"]) == 3
    elif how == "ids-file":
        failed = query(target, "SELECT source_key FROM processing_log WHERE status = 'failed'")
        monkeypatch.setattr("sys.stdin", io.StringIO("".join(f"{k}\n" for (k,) in failed)))
        assert main(["reprocess", *common, "--ids-file", "-"]) == 3
    else:
        assert run("--source", str(good_dir), "--target", target, "--no-resume") == 3
    assert query(target, "SELECT count(*) FROM app_base WHERE app_id = 142305") == [(1,)]
    assert query(target, counted) == [(1,)]
    statuses = query(
        target,
        "SELECT status FROM processing_log WHERE document_id = 142305 ORDER BY source_key",
    )
    assert statuses == [("success",), ("failed",)]
