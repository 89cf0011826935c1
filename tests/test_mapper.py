"""The mapper on a small contract that exercises every row source and value source."""

from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from tests.conftest import write_contract
from xmlload.contract.loader import load_plan
from xmlload.errors import DocumentError
from xmlload.stages.mapper import DataMapper, MappedDocument
from xmlload.stages.parser import XMLParser
from xmlload.stages.validator import PreProcessingValidator

CONTRACT = """
document:
  root: Doc
  element: /Doc/Body/app
  id: {path: /Doc/@id, column: doc_id, type: integer}
defaults: {overflow: truncate}
value_maps:
  role: {values: {PR: 1, AU: 2}}
tables:
  app:
    columns:
      received: {type: datetime, path: "@received"}
      product: {type: string(20), path: product/@code}
      name: {type: string(5), paths: ["@nickname", "@name"]}
      fixed: {type: smallint, const: 7}
      last_pr_line: {type: integer, pick: {path: person, where: "role = 'PR' AND pid <> ''",
                                           take: last,
                                           value: card/@line}}
      first_pr_line: {type: integer, pick: {path: person, where: "role = 'PR'", take: first,
                                            value: card/@line}}
      doubled: {type: integer, expr: "a * 2", inputs: {a: product/@count}}
  person:
    parent: app
    rows:
      path: person
      where: pid IS NOT EMPTY AND role IN ('PR', 'AU')
      distinct_by: pid
      priority: {attribute: role, order: [PR, AU]}
    sequence_column: person_seq
    columns:
      pid: {type: integer, path: "@pid", required: true}
      role: {type: smallint, path: "@role", map: role}
      phone: {type: string(10), digits_only: true,
              pick: {path: address, where: "kind = 'CURR'", take: first, value: "@phone"}}
      app_name: {type: string(20), path: "../@name"}
  address:
    parent: person
    rows: {path: address}
    sequence_column: address_seq
    columns:
      kind: {type: string(4), path: "@kind"}
      months: {type: smallint, expr: "COALESCE(m, 0) + COALESCE(y, 0) * 12"}
  score:
    parent: app
    rows:
      path: product
      unpivot: {fico: FICO, vantage: V4}
    sequence_column: score_seq
    columns:
      name: {type: string(10), item: key}
      value: {type: integer, item: value}
  flag:
    parent: app
    rows: {path: flags/flag}
    sequence_column: flag_seq
    columns:
      code: {type: string(10), path: "@id"}
      value: {type: string(10), path: "."}
"""

DOCUMENT = b"""<?xml version="1.0" encoding="UTF-8"?>
<Doc id="42"><Body>
 <app received="2023-9-21 8:46:18.164" name="Alexandra">
  <product code="CC" count="21" fico="712" vantage="" />
  <person pid="1" role="AU"><card line="100"/></person>
  <person pid="2" role="PR"><card line="200"/>
    <address kind="PREV" phone="111" m="1"/>
    <address kind="CURR" phone="(555) 555-5555" m="2" y="3"/>
  </person>
  <person pid="1" role="PR"><card line="300"/><address kind="CURR" phone="999"/></person>
  <person pid="" role="PR"><card line="400"/></person>
  <person pid="5" role="SEC"><card line="500"/></person>
  <person pid="6" role="AU"><address kind="" /></person>
  <flags><flag id="F1">yes</flag><flag id="F2">no</flag></flags>
 </app>
</Body></Doc>"""


@pytest.fixture
def plan(tmp_path: Path):
    return load_plan(write_contract(tmp_path, CONTRACT))


def run(plan, data: bytes = DOCUMENT) -> MappedDocument:
    validator = PreProcessingValidator(plan, 1 << 20)
    root = XMLParser().parse(validator.check_bytes(data))
    element, document_id = validator.check_tree(root)
    return DataMapper(plan).map(root, element, document_id)


def test_insert_order_follows_parent_links(plan) -> None:
    assert [t.name for t in plan.tables] == ["app", "person", "address", "score", "flag"]


def test_document_row_values(plan) -> None:
    mapped = run(plan)
    assert mapped.document_id == 42
    assert mapped.rows["app"] == [
        (42, datetime(2023, 9, 21, 8, 46, 18, 164000), "CC", "Alexa", 7, 300, 200, 42)
    ]
    assert mapped.notes == {"truncated: app.name": 1}


def test_element_rows_are_filtered_deduplicated_by_priority_and_numbered(plan) -> None:
    people = run(plan).rows["person"]
    # columns: doc_id, person_seq, pid, role, phone, app_name
    # pid 1 appears as AU then PR: PR wins and keeps its own position; pid '' and SEC drop out.
    assert people == [
        (42, 1, 2, 1, "5555555555", "Alexandra"),
        (42, 2, 1, 1, "999", "Alexandra"),
        (42, 3, 6, 2, None, "Alexandra"),
    ]


def test_nested_rows_carry_the_parent_key_and_empty_rows_are_skipped(plan) -> None:
    addresses = run(plan).rows["address"]
    # columns: doc_id, person_seq (parent), address_seq, kind, months
    assert addresses == [
        (42, 1, 1, "PREV", 1),
        (42, 1, 2, "CURR", 38),
        (42, 2, 3, "CURR", 0),
        (42, 3, 4, None, 0),
    ]


def test_unpivot_makes_one_row_per_non_empty_attribute(plan) -> None:
    assert run(plan).rows["score"] == [(42, 1, "FICO", 712)]


def test_repeated_key_value_elements_and_element_text(plan) -> None:
    assert run(plan).rows["flag"] == [(42, 1, "F1", "yes"), (42, 2, "F2", "no")]


def test_missing_required_value_names_column_and_path(plan) -> None:
    data = DOCUMENT.replace(b'pid="2" role="PR"><card line="200"/>', b'pid="x" role="PR">')
    with pytest.raises(DocumentError, match=r"person\.pid \(path @pid\): 'x' is not a number"):
        run(plan, data)


def test_expression_errors_fail_the_document_with_the_column(plan) -> None:
    data = DOCUMENT.replace(b'count="21"', b'count="lots"')
    with pytest.raises(DocumentError) as error:
        run(plan, data)
    assert error.value.stage == "map"
    assert "app.doubled (expr)" in error.value.message
    assert "'lots' is not a number" in error.value.message


def test_not_null_without_value_or_default_fails(tmp_path: Path) -> None:
    text = CONTRACT.replace(
        "fixed: {type: smallint, const: 7}",
        "must: {type: string(3), path: '@nope', nullable: false}",
    )
    plan = load_plan(write_contract(tmp_path, text))
    with pytest.raises(DocumentError, match=r"NOT NULL column app\.must"):
        run(plan)


def test_defaults_fill_empty_values_but_do_not_create_rows(tmp_path: Path) -> None:
    text = CONTRACT.replace(
        'kind: {type: string(4), path: "@kind"}',
        'kind: {type: string(4), path: "@kind", default: NONE}',
    ).replace("COALESCE(m, 0) + COALESCE(y, 0) * 12", "m + y * 12")
    plan = load_plan(write_contract(tmp_path, text))
    # pid 6's address has neither kind nor m/y: the default alone does not make a row
    assert [row[3:] for row in run(plan).rows["address"]] == [
        ("PREV", None),
        ("CURR", 38),
        ("CURR", None),
    ]
    with_data = DOCUMENT.replace(b'<address kind="" />', b'<address kind="" m="4" y="0"/>')
    assert run(plan, with_data).rows["address"][-1][3:] == ("NONE", 4)


def test_rows_are_deterministic(plan) -> None:
    assert run(plan).rows == run(plan).rows


def test_decimal_values_are_decimal(tmp_path: Path) -> None:
    text = CONTRACT.replace(
        "value: {type: integer, item: value}", 'value: {type: "decimal(6,1)", item: value}'
    )
    assert run(load_plan(write_contract(tmp_path, text))).rows["score"][0][3] == Decimal("712.0")


def map_corpus(path: Path) -> MappedDocument:
    from tests.conftest import CONTRACT

    return run(load_plan(CONTRACT), path.read_bytes())


def test_junk_reaching_an_expression_is_null_and_counted(corpus_dir: Path, tmp_path) -> None:
    """An expression input that does not convert follows `defaults.invalid` (NULL, counted)
    as a column's own value does; the application loads."""
    text = (corpus_dir / "sample--142305.xml").read_text(encoding="utf-8")
    junk = text.replace('months_at_residence="0"', 'months_at_residence="not a valid year"')
    junk = junk.replace('app_receive_date="01/25/2016"', 'app_receive_date="someday"')
    assert junk.count("not a valid year") >= 1 and "someday" in junk
    (tmp_path / "junk.xml").write_text(junk, encoding="utf-8")
    good = map_corpus(corpus_dir / "sample--142305.xml")
    mapped = map_corpus(tmp_path / "junk.xml")
    assert mapped.notes["invalid set to NULL: app_contact_address.months_at_address"] >= 1
    assert mapped.notes["invalid set to NULL: app_base.receive_date"] == 1
    assert len(mapped.rows["app_contact_address"]) == len(good.rows["app_contact_address"])


def test_junk_in_an_expression_is_null_under_invalid_null(tmp_path: Path) -> None:
    text = CONTRACT.replace("defaults: {overflow: truncate}",
                            'defaults: {overflow: truncate, invalid: "null"}')  # fmt: skip
    plan = load_plan(write_contract(tmp_path, text))
    mapped = run(plan, DOCUMENT.replace(b'count="21"', b'count="lots"'))
    names = next(table.column_names for table in plan.tables if table.name == "app")
    (app,) = mapped.rows["app"]
    assert dict(zip(names, app, strict=True))["doubled"] is None
    assert mapped.notes["invalid set to NULL: app.doubled"] == 1
