"""Bad contracts are rejected at load time with the file, line and place of each problem."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CONTRACT, write_contract
from xmlload.contract.loader import load_plan
from xmlload.errors import ContractError

BASE = """document:
  root: Doc
  element: /Doc/app
  id: {path: /Doc/@id, column: doc_id}
tables:
  app:
    columns:
      name: {type: string(20), path: "@name"}
  child:
    parent: app
    rows: {path: item}
    columns:
      value: {type: integer, path: "@v"}
"""


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ContractError) as error:
        load_plan(write_contract(tmp_path, text))
    return error.value.problems


def test_base_contract_is_valid(tmp_path: Path) -> None:
    plan = load_plan(write_contract(tmp_path, BASE))
    assert [table.name for table in plan.tables] == ["app", "child"]
    assert plan.tables[1].column_names == ["doc_id", "child_seq", "value"]


@pytest.mark.parametrize(
    ("old", "new", "place", "message"),
    [
        (
            "      name: {type: string(20)",
            "      name: {type: strng(20)",
            ":8: tables.app.columns.name.type",
            "unknown type 'strng(20)'",
        ),
        (
            "      name: {type: string(20), path",
            "      name: {type: string(20), colour: red, path",
            ":8: tables.app.columns.name.colour",
            "unknown key",
        ),
        ("  app:\n", "  'x; DROP TABLE y':\n", "tables", "is not a plain identifier"),
        ("      name:", '      "na\'me":', "tables.app.columns", "is not a plain identifier"),
        ("      name:", "      " + "n" * 64 + ":", "tables.app.columns", "at most 63 characters"),
        (
            "    parent: app",
            "    parent: nowhere",
            ":10: tables.child.parent",
            "unknown parent table 'nowhere'",
        ),
        (
            'path: "@name"}',
            'path: "@name", map: nomap}',
            ":8: tables.app.columns.name.map",
            "unknown value map 'nomap'",
        ),
        (
            'path: "@v"}',
            'expr: "v + * 2"}',
            ":13: tables.child.columns.value.expr",
            "expression does not parse",
        ),
        (
            'path: "@v"}',
            'path: "item[1]/@v"}',
            "tables.child.columns.value.path",
            "bad step 'item[1]'",
        ),
        (
            'path: "@name"}',
            'path: "@name", const: 1}',
            "tables.app.columns.name",
            "give exactly one value source",
        ),
        (
            'path: "@name"}',
            'path: "@name", required: true, default: x}',
            "tables.app.columns.name.default",
            "a required column cannot have a default",
        ),
        (
            'path: "@v"}',
            "item: key}",
            "tables.child.columns.value.item",
            "item applies only to tables with rows.unpivot",
        ),
        (
            "value: {type: integer",
            "doc_id: {type: integer",
            "tables.child.columns.doc_id",
            "is a key column the loader fills in",
        ),
        (
            'path: "@v"}',
            'path: "@v", default: abc}',
            "tables.child.columns.value.default",
            "default does not fit integer",
        ),
        (
            "  element: /Doc/app",
            "  element: /Other/app",
            "document.element",
            "must start with the root element /Doc",
        ),
        ("tables:", "tablez:", ":5: tablez", "unknown key; did you mean 'tables'?"),
        ("    columns:", "    colums:", "tables.app.colums", "did you mean 'columns'?"),
    ],
)
def test_each_problem_is_reported_with_its_place(
    tmp_path: Path, old: str, new: str, place: str, message: str
) -> None:
    assert old in BASE
    found = problems(tmp_path, BASE.replace(old, new, 1))
    assert any(place in p and message in p for p in found), found


def test_cycles_are_reported(tmp_path: Path) -> None:
    text = BASE.replace("  app:\n", "  app:\n    parent: child\n    rows: {path: x}\n")
    assert any("cycle" in p for p in problems(tmp_path, text))


def test_all_problems_at_once(tmp_path: Path) -> None:
    text = BASE.replace("string(20)", "strng").replace("type: integer", "type: int")
    assert len(problems(tmp_path, text)) == 2


def test_a_misspelt_key_does_not_hide_what_the_compiler_finds(tmp_path: Path) -> None:
    text = BASE.replace('path: "@name"}', 'path: "@name", trimm: true}').replace(
        "  element: /Doc/app", "  element: /Other/app"
    )
    found = problems(tmp_path, text)
    assert len(found) == 2, found
    assert "tables.app.columns.name.trimm: unknown key; did you mean 'trim'?" in found[0]
    assert "must start with the root element /Doc" in found[1]


def test_not_yaml_and_missing_file(tmp_path: Path) -> None:
    assert "not valid YAML" in problems(tmp_path, "tables: [unclosed")[0]
    with pytest.raises(ContractError, match="cannot read"):
        load_plan(tmp_path / "absent.yaml")


def test_json_contracts_load(tmp_path: Path) -> None:
    import json

    import yaml

    data = yaml.safe_load(BASE)
    path = tmp_path / "c.json"
    path.write_text(json.dumps(data))
    assert len(load_plan(path).tables) == 2


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "xmlload", *args], capture_output=True, text=True)


def test_cli_validate_exit_codes(tmp_path: Path) -> None:
    good = cli("contract", "validate", str(CONTRACT))
    assert good.returncode == 0, good.stderr
    assert "13 tables" in good.stdout
    bad = cli(
        "contract", "validate", str(write_contract(tmp_path, BASE.replace("string(20)", "x")))
    )
    assert bad.returncode == 2
    assert "contract.yaml:8: tables.app.columns.name.type: unknown type 'x'" in bad.stderr


@pytest.mark.parametrize(
    ("dialect", "expected"),
    [
        ("sqlite", "CREATE TABLE app_contact_base"),
        ("postgresql", "receive_date TIMESTAMP WITHOUT TIME ZONE"),
        ("mysql", "card_intro_purchase_apr DECIMAL(12, 5)"),
        ("mssql", "first_name NVARCHAR(50) NOT NULL"),
    ],
)
def test_cli_ddl_per_dialect(dialect: str, expected: str) -> None:
    result = cli("contract", "ddl", str(CONTRACT), "--dialect", dialect)
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout
    assert "CREATE TABLE processing_log" in result.stdout
    assert "FOREIGN KEY(app_id, contact_seq) REFERENCES app_contact_base (app_id, contact_seq)" in (
        result.stdout
    )
