"""An imported contract is data: text in the XmlConversion JSON never adds YAML keys, and
`extensions` (code) load only from a contract file the user owns and nobody else writes."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import write_contract
from tests.reference.harness import APP, mapping, write
from xmlload.cli import main
from xmlload.contract.importing import import_contract
from xmlload.contract.importing.emit import block, comment
from xmlload.contract.loader import load_plan
from xmlload.errors import ContractError

INJECTED = "x\nextensions: [this]\ntables:\n  app_base:\n    columns:\n      # x"


@pytest.mark.parametrize("field", ["xml_attribute", "xml_path", "target_column"])
def test_a_line_break_in_a_name_is_refused(tmp_path: Path, field: str, capsys) -> None:
    entry = mapping("app_base", "status", APP, "status")
    entry[field] = entry[field] + INJECTED
    source = write(tmp_path, [entry])
    result = import_contract(source)
    assert result.text == ""
    assert any(f"mappings[1].{field}" in p and "control character" in p for p in result.problems)
    out = tmp_path / "out.yaml"
    assert main(["contract", "import", str(source), "--out", str(out)]) == 2
    assert not out.exists()
    assert "mappings[1]" in capsys.readouterr().err


def test_comments_and_long_values_stay_on_their_lines() -> None:
    assert comment("a\nb\u2028c\x85d") == "# a\\nb\\u2028c\\x85d"
    value = {"expression": "1 + " * 30 + "\nextensions: [this]", "type": "int"}
    lines = block({"col": value}, 0)
    assert yaml.safe_load("\n".join(lines)) == {"col": value}


def test_a_multiline_expression_imports_without_new_keys(tmp_path: Path) -> None:
    expression = "CASE WHEN status = 'A'\nTHEN 'yes'\nELSE 'no' END"
    entry = mapping("app_base", "verdict", APP, "status", expression=expression,
                    mapping_type=["calculated_field"])  # fmt: skip
    result = import_contract(write(tmp_path, [entry]))
    assert not result.problems, result.problems
    data = yaml.safe_load(result.text)
    assert "extensions" not in data
    assert data["tables"]["app_base"]["columns"]["verdict"]["expr"].count("\n") == 2


MARKER_MODULE = """
from pathlib import Path
Path({marker!r}).write_text("imported")
"""


@pytest.fixture
def extension(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path]:
    name = f"xmlload_test_extension_{os.getpid()}_{tmp_path.name}".replace("-", "_")
    marker = tmp_path / "marker.txt"
    package = tmp_path / "modules"
    package.mkdir()
    (package / f"{name}.py").write_text(MARKER_MODULE.format(marker=str(marker)))
    monkeypatch.syspath_prepend(str(package))
    yield name, marker
    sys.modules.pop(name, None)


CONTRACT = """
document:
  root: Doc
  element: /Doc/app
  id: {{path: /Doc/@id, column: doc_id, type: integer}}
extensions: [{module}]
tables:
  app:
    columns:
      name: {{type: string(20), path: "@name"}}
"""


@pytest.mark.skipif(os.name != "posix", reason="file ownership is POSIX")
def test_extensions_from_a_contract_others_can_write_are_refused(tmp_path, extension) -> None:
    module, marker = extension
    contract = write_contract(tmp_path, CONTRACT.format(module=module))
    contract.chmod(0o666)
    with pytest.raises(ContractError) as error:
        load_plan(contract)
    assert "writable by other users" in str(error.value)
    assert not marker.exists()
    contract.chmod(0o644)
    load_plan(contract)
    assert marker.read_text() == "imported"


def test_the_importer_check_never_imports_extensions(tmp_path, extension) -> None:
    module, marker = extension
    contract = write_contract(tmp_path, CONTRACT.format(module=module))
    assert load_plan(contract, extensions=False).contract.extensions == [module]
    assert not marker.exists()


def test_names_yaml_would_misread_are_written_as_strings(tmp_path: Path) -> None:
    """Column names like `yes`, `null`, `on` are booleans or null to a YAML reader unless
    quoted: they come back as the same strings, each with its path."""
    names = ["yes", "null", "on"]
    result = import_contract(write(tmp_path, [mapping("app_base", name, APP, f"a_{name}")
                                              for name in names]))  # fmt: skip
    assert not result.problems, result.problems
    columns = yaml.safe_load(result.text)["tables"]["app_base"]["columns"]
    assert {name: columns[name]["path"] for name in names} == {name: f"@a_{name}" for name in names}
