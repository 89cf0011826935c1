"""`xmlload contract check`: the contract against live SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import CONTRACT, MYSQL_URL, POSTGRES_URL, contract_with
from xmlload.cli import main
from xmlload.contract.loader import load_plan
from xmlload.db.check import prepare_target
from xmlload.db.urls import parse_url


def check(contract: Path | str, target: str) -> int:
    return main(["contract", "check", str(contract), "--target", target])


def test_sqlite_missing_then_matching(tmp_path: Path, capsys) -> None:
    target = f"sqlite:///{tmp_path / 't.db'}"
    assert check(CONTRACT, target) == 2
    assert "ERROR app_base: table is missing" in capsys.readouterr().out
    prepare_target(parse_url(target), load_plan(CONTRACT), create=True)
    assert check(CONTRACT, target) == 0
    assert "matches the contract" in capsys.readouterr().out


@pytest.mark.parametrize("backend", ["postgresql", "mariadb"])
def test_each_kind_of_difference(backend: str, tmp_path: Path, request, capsys) -> None:
    if backend == "postgresql":
        engine = request.getfixturevalue("postgres_engine")
        schema, url = request.getfixturevalue("postgres_schema"), POSTGRES_URL
        alter = {
            "narrow": "ALTER TABLE {t} ALTER COLUMN first_name TYPE varchar(6)",
            "widen": "ALTER TABLE {t} ALTER COLUMN last_name TYPE varchar(80)",
            "not_null": "ALTER TABLE {t} ALTER COLUMN email SET NOT NULL",
            "retype": "ALTER TABLE {t} ALTER COLUMN suffix TYPE integer USING NULL",
        }
    else:
        engine = request.getfixturevalue("mysql_engine")
        schema, url = request.getfixturevalue("mysql_databases")[0], MYSQL_URL
        alter = {
            "narrow": "ALTER TABLE {t} MODIFY first_name varchar(6) NOT NULL",
            "widen": "ALTER TABLE {t} MODIFY last_name varchar(80) NOT NULL",
            "not_null": "ALTER TABLE {t} MODIFY email varchar(100) NOT NULL",
            "retype": "ALTER TABLE {t} MODIFY suffix integer",
        }
    contract = contract_with(tmp_path, target_schema=schema)
    prepare_target(parse_url(url), load_plan(contract), create=True)
    assert check(contract, url) == 0
    table = f"{schema}.app_contact_base"
    with engine.begin() as connection:
        for statement in alter.values():
            connection.execute(sa.text(statement.format(t=table)))
        connection.execute(sa.text(f"ALTER TABLE {table} ADD extra_code integer NOT NULL"))
        connection.execute(sa.text(f"ALTER TABLE {table} ADD spare integer"))
        connection.execute(sa.text(f"ALTER TABLE {schema}.scores DROP COLUMN score"))
    capsys.readouterr()
    assert check(contract, url) == 2
    out = capsys.readouterr().out
    lines = {
        line.split(":")[0].replace(f"{schema}.", ""): line
        for line in out.splitlines()
        if line.startswith(("ERROR", "note"))
    }
    assert "shorter than string(50)" in lines["ERROR app_contact_base.first_name"]
    assert "longer than string(50)" in lines["note  app_contact_base.last_name"]
    assert "is NOT NULL" in lines["ERROR app_contact_base.email"]
    assert "the contract needs string" in lines["ERROR app_contact_base.suffix"]
    assert "inserts would fail" in lines["ERROR app_contact_base.extra_code"]
    assert "is not in the contract" in lines["note  app_contact_base.spare"]
    assert "column is missing" in lines["ERROR scores.score"]
    assert "7 difference(s), 5 that would fail loads" in out
