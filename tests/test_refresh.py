"""`run --refresh`: new documents load, documents whose source bytes changed are reloaded
(replace semantics), unchanged ones are not parsed; an older processing log gains its
fingerprint column in place. Real databases through the command line."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import MYSQL_URL, POSTGRES_URL, contract_with
from tests.helpers import copy_corpus_files, query
from xmlload.cli import main

FILES = ["sample--142305.xml", "sample--127582.xml", "sample--447945.xml"]


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def target(request, tmp_path: Path) -> tuple[str, str, str]:
    """(URL, contract, table prefix) on a fresh database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 't.db'}", str(contract_with(tmp_path)), ""
    if request.param == "postgresql":
        schema = request.getfixturevalue("postgres_schema")
        return POSTGRES_URL, str(contract_with(tmp_path, target_schema=schema)), f"{schema}."
    database = request.getfixturevalue("mysql_databases")[0]
    return MYSQL_URL, str(contract_with(tmp_path, target_schema=database)), f"{database}."


def load(folder: Path, target: tuple[str, str, str], *extra: str, capsys=None) -> str:
    url, contract, _ = target
    code = main(["run", "--contract", contract, "--source", str(folder), "--target", url,
                 "--create-tables", "--progress", "none", *extra])  # fmt: skip
    assert code == 0
    return capsys.readouterr().out if capsys is not None else ""


def change(path: Path, date: str) -> None:
    text = path.read_text(encoding="utf-8")
    start = text.index('app_receive_date="') + len('app_receive_date="')
    end = text.index('"', start)
    path.write_text(text[:start] + date + text[end:], encoding="utf-8")


def test_refresh_reloads_only_what_changed(
    corpus_dir: Path, tmp_path: Path, target: tuple[str, str, str], capsys
) -> None:
    url, _, prefix = target
    folder = copy_corpus_files(corpus_dir, tmp_path / "xml", FILES)
    load(folder, target)
    capsys.readouterr()
    out = load(folder, target, "--refresh", capsys=capsys)
    assert "refresh: 0 new, 0 changed (reloaded), 3 unchanged (not parsed)" in out
    change(folder / FILES[0], "03/04/2021")
    (folder / "new.xml").write_bytes(
        (corpus_dir / "sample--127802.xml").read_bytes()
    )  # a new document
    out = load(folder, target, "--refresh", capsys=capsys)
    assert "refresh: 1 new, 1 changed (reloaded), 2 unchanged (not parsed)" in out
    received = query(url, f"SELECT receive_date FROM {prefix}app_base WHERE app_id = 142305")
    assert str(received[0][0]).startswith("2021-03-04")
    for name in FILES:
        change(folder / name, "05/06/2022")
    out = load(folder, target, "--refresh", capsys=capsys)
    assert "refresh: 0 new, 3 changed (reloaded), 1 unchanged (not parsed)" in out
    counts = query(url, f"SELECT count(*), count(DISTINCT app_id) FROM {prefix}app_base")
    assert counts == [(4, 4)]  # replaced, never duplicated
    attempts = dict(query(url, f"SELECT source_key, attempts FROM {prefix}processing_log"))
    assert attempts[str((folder / FILES[0]).resolve())] == 3
    assert attempts[str((folder / "new.xml").resolve())] == 1


def test_an_older_log_gains_fingerprints_in_place(corpus_dir: Path, tmp_path: Path) -> None:
    folder = copy_corpus_files(corpus_dir, tmp_path / "xml", FILES)
    url = f"sqlite:///{tmp_path / 't.db'}"
    target = (url, str(contract_with(tmp_path)), "")
    load(folder, target)
    engine = sa.create_engine(url)
    with engine.begin() as connection:  # as a log written before fingerprints were kept
        connection.execute(sa.text("ALTER TABLE processing_log DROP COLUMN fingerprint"))
    engine.dispose()
    change(folder / FILES[0], "03/04/2021")
    assert main(["run", "--contract", target[1], "--source", str(folder), "--target", url,
                 "--refresh", "--progress", "none"]) == 0  # fmt: skip
    # logged before fingerprints: unchanged until --rehash re-reads them
    assert query(url, "SELECT count(*) FROM processing_log WHERE fingerprint IS NULL") == [(3,)]
    assert query(url, "SELECT max(attempts) FROM processing_log") == [(1,)]
    assert main(["run", "--contract", target[1], "--source", str(folder), "--target", url,
                 "--refresh", "--rehash", "--progress", "none"]) == 0  # fmt: skip
    assert query(url, "SELECT count(*) FROM processing_log WHERE fingerprint IS NULL") == [(0,)]
    received = query(url, "SELECT receive_date FROM app_base WHERE app_id = 142305")
    assert str(received[0][0]).startswith("2021-03-04")


def test_rehash_without_refresh_is_refused(tmp_path: Path, capsys) -> None:
    code = main(["run", "--contract", str(contract_with(tmp_path)), "--source", str(tmp_path),
                 "--target", f"sqlite:///{tmp_path / 't.db'}", "--rehash"])  # fmt: skip
    assert code == 2
    assert "--rehash applies to --refresh runs only" in capsys.readouterr().err


def loaded_folder(corpus_dir: Path, tmp_path: Path) -> tuple[Path, str, tuple[str, str, str]]:
    """The three corpus files loaded into a new SQLite target: (folder, URL, target)."""
    folder = copy_corpus_files(corpus_dir, tmp_path / "xml", FILES)
    url = f"sqlite:///{tmp_path / 't.db'}"
    target = (url, str(contract_with(tmp_path)), "")
    load(folder, target)
    return folder, url, target


def test_close_missing_deletes_documents_gone_from_a_folder(
    corpus_dir: Path, tmp_path: Path, capsys
) -> None:
    folder, url, target = loaded_folder(corpus_dir, tmp_path)
    kept = query(url, "SELECT count(*) FROM app_contact_base")
    gone = folder / FILES[1]
    moved = tmp_path / "moved.xml"
    gone.rename(moved)
    out = load(folder, target, "--refresh", "--close-missing", capsys=capsys)
    assert "1 logged documents are gone from the source" in out
    assert query(url, "SELECT count(*) FROM app_base WHERE app_id = 127582") == [(0,)]
    assert query(url, "SELECT count(*) FROM app_base") == [(2,)]
    assert query(url, "SELECT count(*) FROM app_contact_base") < kept
    status = query(url, "SELECT status, message FROM processing_log WHERE source_key = :k",
                   k=str(gone.resolve()))  # fmt: skip
    assert status[0][0] == "removed" and "gone from the source" in status[0][1]
    # nothing else is gone on the next run; the document back again loads as new
    out = load(folder, target, "--refresh", "--close-missing", capsys=capsys)
    assert "gone from the source" not in out
    moved.rename(gone)
    out = load(folder, target, "--refresh", "--close-missing", capsys=capsys)
    assert "refresh: 1 new, 0 changed (reloaded), 2 unchanged (not parsed)" in out
    assert query(url, "SELECT count(*) FROM app_base") == [(3,)]


def test_close_missing_on_a_table_source(tmp_path: Path, postgres_schema: str, capsys) -> None:
    from tests.test_checkpoints import staging

    engine = sa.create_engine(POSTGRES_URL)
    with engine.begin() as connection:
        connection.exec_driver_sql(f"CREATE SCHEMA {postgres_schema}")
    table = f"{postgres_schema}.docs"
    staging(POSTGRES_URL, table, 10)
    contract = str(contract_with(tmp_path, target_schema=postgres_schema))
    common = ["run", "--contract", contract, "--source", POSTGRES_URL, "--source-table", table,
              "--target", POSTGRES_URL, "--create-tables", "--progress", "none",
              "--source-updated-column", "updated"]  # fmt: skip
    assert main(common) == 0
    with engine.begin() as connection:
        connection.exec_driver_sql(f"DELETE FROM {table} WHERE id IN (2, 3)")
    engine.dispose()
    capsys.readouterr()
    # the checkpoint lists no row, yet the whole table decides what is gone;
    # --source-updated-column implies --refresh
    assert main([*common, "--close-missing"]) == 0
    assert "2 logged documents are gone from the source" in capsys.readouterr().out
    base = f"{postgres_schema}.app_base"
    assert query(POSTGRES_URL, f"SELECT count(*) FROM {base}") == [(8,)]
    removed = f"SELECT count(*) FROM {postgres_schema}.processing_log WHERE status = 'removed'"
    assert query(POSTGRES_URL, removed) == [(2,)]


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (["--close-missing"], "bad settings: --close-missing applies to --refresh runs only"),
        (["--refresh", "--close-missing", "--shard", "0/2"], "needs the whole source"),
    ],
)
def test_close_missing_is_refused_where_it_cannot_be_right(
    tmp_path: Path, capsys, extra: list[str], said: str
) -> None:
    code = main(["run", "--contract", str(contract_with(tmp_path)), "--source", str(tmp_path),
                 "--target", f"sqlite:///{tmp_path / 't.db'}", *extra])  # fmt: skip
    assert code == 2
    assert said in capsys.readouterr().err


def test_verify_after_close_missing_finds_no_difference(
    corpus_dir: Path, tmp_path: Path, capsys
) -> None:
    folder = copy_corpus_files(corpus_dir, tmp_path / "xml", FILES)
    url = f"sqlite:///{tmp_path / 't.db'}"
    contract = str(contract_with(tmp_path))
    load(folder, (url, contract, ""))
    (folder / FILES[2]).unlink()
    load(folder, (url, contract, ""), "--refresh", "--close-missing")
    common = ["--contract", contract, "--source", str(folder), "--target", url]
    assert main(["verify", *common]) == 0, capsys.readouterr().out


def test_status_shows_each_run_new_changed_unchanged_and_closed(
    corpus_dir: Path, tmp_path: Path, capsys
) -> None:
    import json

    folder, url, target = loaded_folder(corpus_dir, tmp_path)
    change(folder / FILES[0], "03/04/2021")
    (folder / FILES[1]).unlink()
    load(folder, target, "--refresh", "--close-missing")
    capsys.readouterr()
    assert main(["status", "--target", url, "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)["runs"]
    counts = [{k: run[k] for k in ("new", "changed", "unchanged", "closed", "failed")}
              for run in runs]  # fmt: skip
    assert counts == [
        {"new": 0, "changed": 1, "unchanged": 1, "closed": 1, "failed": 0},
        {"new": 3, "changed": 0, "unchanged": 0, "closed": 0, "failed": 0},
    ]
    assert main(["status", "--target", url]) == 0
    assert "Recent runs" in capsys.readouterr().out
