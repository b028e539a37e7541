"""Only the chosen command's parser is built, and it is the same parser the whole tree
holds; without a command, or with a typo, the whole tree is built."""

from __future__ import annotations

import argparse

import pytest

from shipmate.cli import build_parser, main
from shipmate.cli.chosen import chosen_command


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("no subcommands")


FULL = _commands(build_parser())


@pytest.mark.parametrize(
    ("argv", "chosen"),
    [
        (["record", "--env", "prod"], "record"),
        (["--url", "http://h:8000", "version", "next"], "version"),
        (["--url=http://h:8000", "--traceback", "history"], "history"),
        (["--token-file", "-", "current"], "current"),
        (["--database-url", "sqlite:///x.db", "gates", "list"], "gates"),
        (["--help"], None),
        (["--version"], None),
        (["--bogus", "record"], None),
        ([], None),
    ],
)
def test_the_command_is_read_past_the_global_flags(argv: list[str], chosen: str | None) -> None:
    assert chosen_command(argv) == chosen


@pytest.mark.parametrize("name", sorted(FULL))
def test_the_chosen_parser_is_the_one_the_whole_tree_holds(name: str) -> None:
    only = _commands(build_parser([name]))
    assert list(only) == [name]
    assert only[name].format_help() == FULL[name].format_help()


def test_a_typo_builds_the_whole_tree_so_the_suggestion_can_name_the_command(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["recrod", "--env", "prod"]) == 2
    assert "record" in capsys.readouterr().err


def test_without_a_command_every_command_is_listed() -> None:
    assert set(_commands(build_parser([]))) == set(FULL)
    assert set(_commands(build_parser(["--help"]))) == set(FULL)
