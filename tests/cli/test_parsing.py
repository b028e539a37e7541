"""The parser tree as a whole: every command described with runnable examples, flags
only by their full names, choices checked when parsing, suggestions for typos."""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Iterator

import pytest

from shipmate.cli import build_parser, choices, main
from shipmate.cli.parsing import Parser

#: Commands that print no data (a server, an agent, the demo story, a shell script).
_NO_DATA = {"shipmate serve", "shipmate agent", "shipmate demo", "shipmate completion"}


def _walk(
    parser: argparse.ArgumentParser, path: str = "shipmate"
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _walk(child, f"{path} {name}")


def _leaves() -> list[tuple[str, argparse.ArgumentParser]]:
    return [
        (path, p)
        for path, p in _walk(build_parser())
        if not any(isinstance(a, argparse._SubParsersAction) for a in p._actions)
    ]


_ALL = list(_walk(build_parser()))


def test_the_tree_has_every_group() -> None:
    paths = {path for path, _ in _ALL}
    assert {"shipmate record", "shipmate gates add", "shipmate runs list"} <= paths
    assert len(paths) > 40


@pytest.mark.parametrize(("path", "parser"), _ALL, ids=[p for p, _ in _ALL])
def test_no_prefix_abbreviations_on_any_parser(path: str, parser: argparse.ArgumentParser) -> None:
    assert isinstance(parser, Parser)
    assert parser.allow_abbrev is False


@pytest.mark.parametrize(("path", "parser"), _ALL, ids=[p for p, _ in _ALL])
def test_every_command_has_a_description_and_examples_that_parse(
    path: str, parser: argparse.ArgumentParser
) -> None:
    assert parser.description and len(parser.description) > 10
    assert parser.epilog and parser.epilog.startswith("Examples:\n  shipmate ")
    help_text = parser.format_help()
    assert "Examples:\n  shipmate " in help_text
    examples = [
        line.strip()
        for line in parser.epilog.split("\n\n")[0].splitlines()[1:]
        if line.startswith("  shipmate ")
    ]
    assert examples
    for example in examples:
        words = shlex.split(example.split(" > ")[0])
        assert words[: len(path.split())] == path.split(), example
        build_parser().parse_args(words[1:])  # a usage error exits: the test fails


@pytest.mark.parametrize(("path", "parser"), _leaves(), ids=[p for p, _ in _leaves()])
def test_every_command_that_prints_data_has_json(
    path: str, parser: argparse.ArgumentParser
) -> None:
    flags = {s for a in parser._actions for s in a.option_strings}
    assert ("--json" in flags) is (path not in _NO_DATA)


def test_required_flags_are_marked_in_help() -> None:
    text = dict(_ALL)["shipmate record"].format_help()
    assert "environment name (required; GitLab:" in text
    assert "status or alias (required)" in text
    assert "product name (required)" not in text


def _usage_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("shipmate: error [")
    return err


def test_a_mistyped_command_gets_did_you_mean(capsys: pytest.CaptureFixture[str]) -> None:
    assert "did you mean 'record'?" in _usage_error(capsys, "recrod")
    assert "did you mean 'check'?" in _usage_error(capsys, "gates", "chek")


def test_a_mistyped_flag_gets_did_you_mean(capsys: pytest.CaptureFixture[str]) -> None:
    err = _usage_error(capsys, "history", "--prodcut", "api")
    assert "unrecognized arguments: --prodcut api; did you mean '--product'?" in err
    assert "see 'shipmate history --help'" in err


def test_a_prefix_of_a_flag_is_not_taken_for_it(capsys: pytest.CaptureFixture[str]) -> None:
    err = _usage_error(capsys, "history", "--prod", "api")
    assert "unrecognized arguments: --prod api" in err
    assert "did you mean '--product'?" in err


@pytest.mark.parametrize(
    ("argv", "field", "listed", "suggested"),
    [
        (
            ["record", "--env", "e", "--status", "sucess"],
            "status",
            "pending, started, completed, failed, aborted, rolled_back",
            "success",
        ),
        (["history", "--kind", "rolback"], "kind", "deploy, rollback, rollforward", "rollback"),
        (
            ["keys", "create", "--name", "x", "--scope", "wirte"],
            "scope",
            "read, write, admin",
            "write",
        ),
        (
            ["gates", "add", "--kind", "freez"],
            "kind",
            "concurrency, freeze, flow, approval",
            "freeze",
        ),
        (
            ["gates", "set-mode", "r", "enabeld"],
            "usage",
            "enabled, report_only, disabled",
            "enabled",
        ),
        (["runs", "list", "--status", "runing"], "status", "running, interrupted", "running"),
        (["completion", "bsh"], "usage", "'bash', 'zsh', 'fish'", "bash"),
    ],
)
def test_choices_are_checked_when_parsing_with_the_valid_list(
    capsys: pytest.CaptureFixture[str], argv: list[str], field: str, listed: str, suggested: str
) -> None:
    err = _usage_error(capsys, *argv)
    assert err.startswith(f"shipmate: error [{field}]: ")
    assert listed in err
    assert f"did you mean '{suggested}'" in err


def test_choices_accept_any_case_and_aliases_where_the_service_does() -> None:
    args = build_parser().parse_args(["record", "--env", "e", "--status", "In-Progress"])
    assert args.status == "In-Progress"  # passed on as given; the service maps it
    args = build_parser().parse_args(["gates", "set-mode", "r", "report-only"])
    assert args.mode == "report-only"


def test_the_light_choice_lists_equal_their_sources() -> None:
    from shipmate.domain.environments import EnvironmentKind
    from shipmate.domain.gates.rules import RuleKind, RuleMode
    from shipmate.domain.lifecycle import STATUS_ALIASES, DeploymentKind, Status
    from shipmate.domain.releases.planning import Phase
    from shipmate.services.auth.keys import Scope
    from shipmate.services.notify.delivery_log import DELIVERY_STATUSES
    from shipmate.services.runs.journal import FINISHED_STATUSES
    from shipmate.services.runs.records import RUNNING
    from shipmate.store.schema_version_states import VERSION_STATES

    assert tuple(Status) == choices.STATUSES
    assert set(choices.STATUSES) | set(choices.STATUS_ALIASES) == set(STATUS_ALIASES)
    assert tuple(DeploymentKind) == choices.DEPLOYMENT_KINDS
    assert tuple(EnvironmentKind) == choices.ENVIRONMENT_KINDS
    assert tuple(Scope) == choices.KEY_SCOPES
    assert tuple(RuleKind) == choices.RULE_KINDS
    assert tuple(RuleMode) == choices.RULE_MODES
    assert tuple(Phase) == choices.PHASES
    assert (RUNNING, "interrupted", *FINISHED_STATUSES) == choices.RUN_STATUSES
    assert choices.DELIVERY_STATUSES == DELIVERY_STATUSES
    assert choices.VERSION_STATES == VERSION_STATES
