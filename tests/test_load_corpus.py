"""The shared corpus, loaded end to end into SQLite and PostgreSQL with the example
contract; values in chosen rows are checked against the source XML."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from tests.conftest import CONTRACT, POSTGRES_URL, contract_with
from tests.helpers import query, run_args, table_contents
from xmlload.cli import main

WRONG_SCHEMA = "sample-source-xml-wrong-schema--600000.xml"


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request, tmp_path: Path) -> tuple[str, str, str]:
    """(url, contract path, table prefix) for a fresh target."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'target.db'}", str(CONTRACT), ""
    request.getfixturevalue("postgres_engine")
    schema = request.getfixturevalue("postgres_schema")
    return POSTGRES_URL, str(contract_with(tmp_path, target_schema=schema)), f"{schema}."


def load(corpus_dir: Path, url: str, contract: str, *extra: str) -> int:
    return main(
        [
            "run",
            *run_args(str(corpus_dir), url, contract),
            *extra,
        ]
    )


def expected_contacts(root: etree._Element) -> list[int]:
    """PR/AUTHU contacts with a con_id, one per con_id (PR preferred), in document order."""
    best: dict[str, tuple[int, int]] = {}
    contacts = root.findall("Request/CustData/application/contact")
    for position, contact in enumerate(contacts):
        role, con_id = contact.get("ac_role_tp_c"), (contact.get("con_id") or "").strip()
        if not con_id or role not in ("PR", "AUTHU"):
            continue
        rank = 0 if role == "PR" else 1
        if con_id not in best or rank < best[con_id][0]:
            best[con_id] = (rank, position)
    return [int(contacts[p].get("con_id")) for _, p in sorted(best.values(), key=lambda x: x[1])]


def test_corpus_loads_and_values_match_the_xml(corpus_dir: Path, target) -> None:
    url, contract, prefix = target
    assert load(corpus_dir, url, contract) == 3  # wrong-schema fails; exit 3
    files = sorted(corpus_dir.glob("*.xml"))
    log = dict(
        ((k.rsplit("/", 1)[-1], (s, st)))
        for k, s, st in query(url, f"SELECT source_key, status, stage FROM {prefix}processing_log")
    )
    assert len(log) == len(files) == 82
    assert log.pop(WRONG_SCHEMA) == ("failed", "validation")
    assert set(log.values()) == {("success", None)}

    contents = table_contents(url, contract)
    app_ids = [row[0] for row in contents["app_base"]]
    contacts_by_app: dict[int, list[int]] = {}
    for row in contents["app_contact_base"]:
        contacts_by_app.setdefault(row[0], []).append(row[2])
    indicators_by_app: dict[int, int] = {}
    for row in contents["indicators"]:
        indicators_by_app[row[0]] = indicators_by_app.get(row[0], 0) + 1
    expected_ids = []
    for file in files:
        if file.name == WRONG_SCHEMA:
            continue
        root = etree.parse(str(file)).getroot()
        app_id = int(root.find("Request").get("ID"))
        expected_ids.append(app_id)
        assert contacts_by_app.get(app_id, []) == expected_contacts(root), file.name
        indicators = [
            i
            for i in root.findall("Request/CustData/application/Indicators/Indicator")
            if (i.get("ID") or "").strip()
        ]
        assert indicators_by_app.get(app_id, 0) == len(indicators), file.name
    assert sorted(app_ids) == sorted(expected_ids)
    assert 600000 not in app_ids


def test_chosen_values_of_one_application(corpus_dir: Path, target) -> None:
    url, contract, prefix = target
    load(corpus_dir, url, contract)
    root = etree.parse(str(corpus_dir / "sample--142305.xml")).getroot()
    application = root.find("Request/CustData/application")
    contact = application.find("contact")
    address = contact.find("contact_address")
    employment = contact.find("contact_employment")
    app_id = int(root.find("Request").get("ID"))

    (base,) = query(
        url, f"SELECT receive_date, decision_enum FROM {prefix}app_base WHERE app_id = :i", i=app_id
    )
    assert application.get("app_receive_date") == "01/25/2016"
    assert str(base[0])[:19] == "2016-01-25 00:00:00"
    assert application.find("app_product").get("decision_tp_c") == "APPRV"
    assert base[1] == 50  # decision value map

    (person,) = query(
        url,
        f"SELECT first_name, last_name, ssn, birth_date, home_phone "
        f"FROM {prefix}app_contact_base WHERE app_id = :i",
        i=app_id,
    )
    assert person[:3] == ("FERNANDO", "GROSS", "666374706")
    assert str(person[3]) == "1972-12-06"
    assert person[4] == "".join(c for c in address.get("home_phone") if c.isdigit())

    (place,) = query(
        url,
        f"SELECT city, zip, months_at_address, address_type_enum "
        f"FROM {prefix}app_contact_address WHERE app_id = :i",
        i=app_id,
    )
    months = int(address.get("months_at_residence")) + 12 * int(address.get("years_at_residence"))
    assert place == (address.get("city"), address.get("zip"), months, 320)

    (job,) = query(
        url,
        f"SELECT monthly_salary FROM {prefix}app_contact_employment WHERE app_id = :i",
        i=app_id,
    )
    assert employment.get("b_salary_basis_tp_c") == "ANNUM"
    expected_salary = (Decimal(employment.get("b_salary")) / 12).quantize(Decimal("0.01"))
    assert Decimal(str(job[0])).quantize(Decimal("0.01")) == expected_salary

    product = application.find("app_product")
    scores = dict(
        query(
            url, f"SELECT score_identifier, score FROM {prefix}scores WHERE app_id = :i", i=app_id
        )
    )
    assert Decimal(str(scores["EX_DIE"])) == Decimal(product.get("EX_DIE_score"))
    assert Decimal(str(scores["prescreen_fico_score"])) == Decimal(
        product.get("prescreen_fico_score")
    )

    (solicited,) = query(
        url, f"SELECT ssn, zip FROM {prefix}app_solicited_cc WHERE app_id = :i", i=app_id
    )
    rmts = application.find("rmts_info")
    assert solicited == (rmts.get("primary_ssn"), rmts.get("pri_zip_code"))


def test_duplicate_contact_ids_keep_the_primary(corpus_dir: Path, target) -> None:
    url, contract, prefix = target
    load(corpus_dir, url, contract)
    rows = query(
        url,
        f"SELECT con_id, contact_type_enum FROM {prefix}app_contact_base "
        "WHERE app_id = 443309 ORDER BY contact_seq",
    )
    con_ids = [row[0] for row in rows]
    assert len(con_ids) == len(set(con_ids)) >= 1
    assert rows[0][1] == 281  # PR


def test_running_twice_leaves_identical_contents(corpus_dir: Path, target) -> None:
    url, contract, prefix = target
    load(corpus_dir, url, contract)
    first = table_contents(url, contract)
    assert load(corpus_dir, url, contract, "--no-resume") == 3
    assert table_contents(url, contract) == first
    attempts = query(url, f"SELECT min(attempts), max(attempts) FROM {prefix}processing_log")
    assert attempts == [(2, 2)]
    # a plain second run resumes: everything is already logged, nothing is touched
    assert load(corpus_dir, url, contract) == 0
    assert table_contents(url, contract) == first
