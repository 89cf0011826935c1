"""Help text people read: what xmlload is, every flag explained, a mistyped flag answered
by its command with the closest spelling."""

from __future__ import annotations

import argparse

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
