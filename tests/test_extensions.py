"""Contract `extensions`: each plan sees the functions of the modules it lists, and no
others, however many contracts one process loads (the Python API, verify)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import write_contract
from xmlload.contract.loader import load_plan
from xmlload.errors import ContractError

MODULE = """
from xmlload.contract.functions import register_function
register_function("{name}", lambda formats, value: "{name}:" + str(value), 1, 1)
"""
CONTRACT = """
document:
  root: Doc
  element: /Doc/app
  id: {{path: /Doc/@id, column: doc_id, type: integer}}
{extensions}
tables:
  app:
    columns:
      shown: {{type: string(40), expr: "{call}(name)", inputs: {{name: "@name"}}}}
"""


@pytest.fixture
def modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    folder = tmp_path / "modules"
    folder.mkdir()
    names = []
    for name in ("shout", "whisper"):
        module = f"xl_ext_{name}_{tmp_path.name}".replace("-", "_")
        (folder / f"{module}.py").write_text(MODULE.format(name=name.upper()))
        names.append(module)
    (folder / f"{names[0]}_again.py").write_text(MODULE.format(name="SHOUT"))
    monkeypatch.syspath_prepend(str(folder))
    yield names
    for module in [*names, f"{names[0]}_again"]:
        sys.modules.pop(module, None)


def contract(tmp_path: Path, name: str, call: str, extensions: list[str]) -> Path:
    listed = f"extensions: [{', '.join(extensions)}]" if extensions else ""
    return write_contract(tmp_path, CONTRACT.format(extensions=listed, call=call), name)


def test_each_plan_sees_only_its_own_extensions(tmp_path: Path, modules: list[str]) -> None:
    shout, whisper = modules
    loud = load_plan(contract(tmp_path, "loud.yaml", "SHOUT", [shout]))
    quiet = load_plan(contract(tmp_path, "quiet.yaml", "WHISPER", [whisper]))
    assert "SHOUT" in loud.scope.functions and "WHISPER" not in loud.scope.functions
    assert "WHISPER" in quiet.scope.functions and "SHOUT" not in quiet.scope.functions
    with pytest.raises(ContractError, match="unknown function 'SHOUT'"):
        load_plan(contract(tmp_path, "plain.yaml", "SHOUT", []))  # after both were loaded


def test_one_name_from_two_extensions_is_a_contract_error(
    tmp_path: Path, modules: list[str]
) -> None:
    shout = modules[0]
    both = contract(tmp_path, "both.yaml", "SHOUT", [shout, f"{shout}_again"])
    with pytest.raises(ContractError, match="function SHOUT comes from two extensions"):
        load_plan(both)
