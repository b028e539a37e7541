"""Versions as CI hands them: ``--version v1.4.0`` means ``1.4.0`` (the ``version_prefix``
setting), a base version that already names a build is refused, and ``record`` without
``.deployment-version.json`` finds the version the way ``version next`` does."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from shipmate.cli import build_parser
from shipmate.cli.arguments import VERSION_ARGUMENTS
from tests.services.test_project import commit, git, git_env  # noqa: F401 (a fixture)


def _subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                found.extend(_subparsers(child))
    return found


def test_every_version_flag_is_one_the_prefix_comes_off() -> None:
    dests = {
        action.dest
        for p in _subparsers(build_parser())
        for action in p._actions
        if action.metavar == "VERSION"
    }
    assert dests, "the parser has --version flags"
    assert dests <= set(VERSION_ARGUMENTS)


def test_version_next_takes_a_tag_name(cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("version", "next", "--product", "api", "--version", "v1.4.0") == (
        0,
        "1.4.0+build.1\n",
        "",
    )
    assert json.loads(Path(".deployment-version.json").read_text())["version"] == "1.4.0"


def test_record_history_and_rollback_target_take_a_tag_name(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli(
        "record", "--product", "api", "--env", "prod", "--status", "completed",
        "--version", "v2.0.0+build.3",
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert out.split()[2] == "2.0.0+build.3"
    code, out, _ = cli("history", "--version", "v2.0.0", "--json")
    assert [item["full_version"] for item in json.loads(out)["items"]] == ["2.0.0+build.3"]
    code, out, _ = cli("mark-rollback", "v2.0.0+build.3", "--product", "api", "--env", "prod")
    assert code == 0 and "rolled_back" in out


def test_the_prefix_is_configurable(cli, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SHIPMATE_VERSION_PREFIX", "release-")
    assert cli("version", "next", "--product", "api", "--version", "release-3.1.0")[1] == (
        "3.1.0+build.1\n"
    )
    assert cli("version", "next", "--product", "api", "--version", "v3.1.0")[:2] == (
        0,
        "v3.1.0+build.1\n",
    )


def test_an_empty_prefix_strips_nothing(cli) -> None:  # type: ignore[no-untyped-def]
    Path("shipmate.toml").write_text('version_prefix = ""\n')
    assert cli("version", "next", "--product", "api", "--version", "v1.0.0")[1] == (
        "v1.0.0+build.1\n"
    )


def test_a_prefix_with_digits_is_a_config_error(cli) -> None:  # type: ignore[no-untyped-def]
    Path("shipmate.toml").write_text('version_prefix = "v1"\n')
    code, _, err = cli("version", "show")
    assert code == 2 and "[version_prefix]" in err


def test_version_files_lose_the_prefix_too(cli) -> None:  # type: ignore[no-untyped-def]
    Path("VERSION").write_text("v5.0.1\n")
    assert cli("version", "show") == (0, "5.0.1\n", "")


@pytest.mark.parametrize("flag", ["1.4.0+build.3", "v1.4.0+build.3"])
def test_version_next_refuses_a_version_that_names_a_build(cli, flag: str) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli("version", "next", "--product", "api", "--version", flag)
    assert (code, out) == (2, "")
    assert err == (
        "shipmate: error [version]: 1.4.0+build.3 already carries build metadata; "
        "give the base version 1.4.0\n"
    )
    assert not Path(".deployment-version.json").exists()
    assert cli("version", "next", "--product", "api", "--version", "1.4.0")[1] == (
        "1.4.0+build.1\n"
    ), "the refusal allocated nothing"


def test_version_next_refuses_a_project_file_that_names_a_build(cli) -> None:  # type: ignore[no-untyped-def]
    Path("VERSION").write_text("2.0.0+build.9\n")
    code, _, err = cli("version", "next", "--product", "api")
    assert code == 2 and "give the base version 2.0.0" in err


def test_record_refuses_a_full_version_with_two_builds(cli) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli(
        "record", "--product", "api", "--env", "prod", "--status", "started",
        "--version", "1.4.0+build.3+build.1",
    )  # fmt: skip
    assert code == 2 and "give the base version 1.4.0" in err
    assert json.loads(cli("history", "--json")[1])["items"] == []


# --- record in a job that did not run version next --------------------------------


def test_record_without_a_version_file_reads_the_version_sources(cli) -> None:  # type: ignore[no-untyped-def]
    Path("pyproject.toml").write_text('[project]\nname = "x"\nversion = "2.1.0"\n')
    code, out, err = cli("record", "--product", "api", "--env", "prod", "--status", "started")
    assert code == 0
    assert out.split()[2] == "2.1.0"
    assert err == "shipmate: version 2.1.0 from pyproject.toml (no .deployment-version.json here)\n"


@pytest.mark.usefixtures("git_env")
def test_record_without_a_version_file_takes_the_git_tag(cli) -> None:  # type: ignore[no-untyped-def]
    work = Path.cwd()
    git(work, "init", "-q", "-b", "main")
    (work / "log.txt").write_text("")
    commit(work, "first")
    git(work, "tag", "v3.0.0")
    code, out, err = cli(
        "record", "--product", "api", "--env", "prod", "--status", "started", "--no-detect"
    )
    assert code == 0, err
    assert out.split()[2] == "3.0.0"
    assert "version 3.0.0 from git" in err


def test_record_without_any_version_names_the_file_the_command_and_the_flag(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli("record", "--product", "api", "--env", "prod", "--status", "started")
    assert (code, out) == (2, "")
    assert err.startswith("shipmate: error [version]: no version to record: ")
    for needle in (".deployment-version.json", "shipmate version next", "--version", "VERSION"):
        assert needle in err
    assert json.loads(cli("history", "--json")[1])["items"] == []
