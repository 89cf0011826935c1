"""Help text people read: what xmlload is, every flag explained, a mistyped flag answered
by its command with the closest spelling."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from xmlload.cli import build_parser, main


def test_top_level_help_says_what_xmlload_is(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    shown = capsys.readouterr().out
    assert "Load XML documents into relational databases" in shown
    for command in ("run", "reprocess", "status", "verify", "contract", "generate", "bench"):
        assert f"    {command} " in shown  # each command listed with what it does


def test_every_flag_of_every_command_has_help() -> None:
    parser = build_parser()
    missing = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, command in action.choices.items():
                for option in command._actions:
                    if option.option_strings and not option.help:
                        missing.append(f"{name} {option.option_strings[0]}")
    assert missing == []


def test_a_mistyped_flag_gets_the_commands_usage_and_a_suggestion(capsys) -> None:
    with pytest.raises(SystemExit) as exit_code:
        main(["run", "--contract", "c.yaml", "--wrokers", "3"])
    assert exit_code.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith("usage: xmlload run ")
    assert "unrecognized arguments: --wrokers (did you mean --workers?)" in error


def test_help_loads_no_heavy_library() -> None:
    """`xmlload --help` (and a mistyped flag) answer without SQLAlchemy, pydantic, rich or
    lxml: what each command needs is imported when it runs."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "xmlload", "--help"],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0 and "contract" in done.stdout
    imported = {line.split("|")[-1].strip().split(".")[0] for line in done.stderr.splitlines()}
    assert "xmlload" in imported
    assert not imported & {"sqlalchemy", "pydantic", "rich", "lxml", "psycopg", "yaml"}
