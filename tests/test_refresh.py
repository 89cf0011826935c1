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
