from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from shipmate.cli import main
from shipmate.store.migrate import HEAD


def test_version_next_writes_file_and_github_output(cli, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    gh = tmp_path / "gh_output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(gh))
    assert cli("version", "next", "--product", "api", "--version", "0.11.3") == (
        0,
        "0.11.3+build.1\n",
        "",
    )
    code, out, _ = cli("version", "next", "--product", "api", "--version", "0.11.3", "--json")
    assert code == 0
    body = json.loads(out)
    assert (body["build_number"], body["full_version"], body["source"]) == (
        2,
        "0.11.3+build.2",
        "--version",
    )
    data = json.loads(Path(".deployment-version.json").read_text())
    assert data["version"] == "0.11.3" and data["buildNumber"] == 2
    assert data["fullVersion"] == "0.11.3+build.2" and data["product"] == "api"
    assert gh.read_text().splitlines()[-3:] == [
        "version=0.11.3",
        "build_number=2",
        "full_version=0.11.3+build.2",
    ]


def test_version_next_reads_project_file(cli) -> None:  # type: ignore[no-untyped-def]
    Path("package.json").write_text('{"name": "x", "version": "3.2.1"}')
    assert cli("version", "next", "--product", "web")[1] == "3.2.1+build.1\n"


def test_record_uses_version_file_and_advances(cli) -> None:  # type: ignore[no-untyped-def]
    cli("version", "next", "--product", "api", "--version", "1.4.0", "--commit", "abc")
    code, out, err = cli("record", "--env", "production", "--status", "started", "--ci-run-id", "5")
    assert (code, err) == (0, "")
    dep_id = out.split()[0]
    assert out.strip() == f"{dep_id} api 1.4.0+build.1 production started"
    code, out, _ = cli(
        "record", "--env", "production", "--status", "success", "--ci-run-id", "5", "--json"
    )
    body = json.loads(out)
    assert body["id"] == dep_id and body["status"] == "completed"
    assert body["commit_sha"] == "abc" and body["duration_ms"] is not None
    code, out, _ = cli("show", dep_id)
    assert "started -> completed" in out and "api 1.4.0+build.1 -> production" in out
    code, out, _ = cli("current", "--json")
    cell = json.loads(out)["cells"][0]
    assert (cell["product"], cell["environment"], cell["full_version"]) == (
        "api",
        "production",
        "1.4.0+build.1",
    )


def test_history_stats_and_rollback(cli) -> None:  # type: ignore[no-untyped-def]
    for version in ("1.0.0", "1.1.0"):
        cli(
            "record",
            "--product",
            "api",
            "--env",
            "prod",
            "--status",
            "completed",
            "--version",
            version,
        )
    cli("record", "--product", "api", "--env", "prod", "--status", "failed", "--version", "1.2.0")
    code, out, _ = cli("history", "--product", "api")
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:5] == ["ID", "PRODUCT", "ENV", "VERSION", "STATUS"]
    assert [line.split()[3] for line in lines[1:]] == ["1.2.0", "1.1.0", "1.0.0"]
    code, out, _ = cli("history", "--status", "failed", "--json")
    assert [d["version"] for d in json.loads(out)["items"]] == ["1.2.0"]
    code, out, _ = cli("mark-rollback", "1.1.0", "--reason", "bad")
    assert code == 0 and out.strip().endswith("rolled_back")
    code, out, _ = cli("stats", "--json")
    body = json.loads(out)
    assert (
        body["completed"],
        body["failed"],
        body["rolled_back"],
        body["latest_full_version"],
    ) == (
        1,
        1,
        1,
        "1.0.0",
    )
    code, out, _ = cli("current")
    assert "1.0.0" in out and "1.1.0" not in out
    code, out, _ = cli("history", "--limit", "2")
    assert "--cursor" in out


@pytest.mark.parametrize(
    ("argv", "code", "needle"),
    [
        (
            [
                "record",
                "--product",
                "a",
                "--env",
                "e",
                "--version",
                "1.0.0",
                "--status",
                "completed",
                "--metadata",
                "{x",
            ],
            2,
            "[metadata]",
        ),
        (
            [
                "record",
                "--product",
                "a",
                "--env",
                "e",
                "--version",
                "1.0.0",
                "--status",
                "completed",
                "--started-at",
                "yesterday",
            ],
            2,
            "[started_at]",
        ),
        (
            [
                "record",
                "--product",
                "a",
                "--env",
                "e",
                "--version",
                "1.0.0",
                "--status",
                "completed",
                "--started-at",
                "2026-01-01T10:00:00",
            ],
            2,
            "no time zone",
        ),
        (
            [
                "record",
                "--product",
                "a",
                "--env",
                "e",
                "--version",
                "1.0.0",
                "--status",
                "completed",
                "--deployed-by",
                "x" * 300,
            ],
            2,
            "[deployed_by]",
        ),
        (["record", "--env", "e", "--version", "1.0.0", "--status", "completed"], 2, "[product]"),
        (["record", "--env", "e", "--status", "completed", "--id", "999"], 1, "does not exist"),
        (["show", "999"], 1, "deployment 999 does not exist"),
        (["show", "abc"], 2, "[id]"),
        (["history", "--product", "ghost"], 1, "[product]"),
        (["history", "--cursor", "zzz"], 2, "[cursor]"),
        (["history", "--since", "last week"], 2, "[since]"),
        (["mark-rollback", "9.9.9+build.1"], 1, "no completed deployment"),
        (["version", "next", "--product", "a", "--version", "not valid!"], 2, "[version]"),
        (
            ["version", "next", "--product", "a", "--version", "abc", "--strict-semver"],
            2,
            "not a semantic version",
        ),
    ],
)
def test_errors_are_one_line_with_exit_code(cli, argv: list[str], code: int, needle: str) -> None:  # type: ignore[no-untyped-def]
    got, out, err = cli(*argv)
    assert got == code
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("shipmate: error")
    assert needle in err
    assert "Traceback" not in err


def test_illegal_transition_exit_1_and_nothing_changes(cli) -> None:  # type: ignore[no-untyped-def]
    _, out, _ = cli(
        "record", "--product", "a", "--env", "e", "--version", "1.0.0", "--status", "failed"
    )
    dep_id = out.split()[0]
    code, _, err = cli("record", "--env", "e", "--status", "completed", "--id", dep_id)
    assert code == 1 and "cannot become completed" in err
    _, out, _ = cli("show", dep_id, "--json")
    assert json.loads(out)["status"] == "failed"
    assert len(json.loads(out)["events"]) == 1


def test_traceback_flag(cli) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("--traceback", "show", "12345")
    assert code == 1 and "Traceback" in err


def test_an_unknown_status_is_refused_when_parsing_with_the_valid_list(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["record", "--product", "a", "--env", "e", "--status", "exploded"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("shipmate: error [status]:")
    assert "choose from pending, started, completed, failed, aborted, rolled_back" in err


def test_usage_error_exits_2(cli, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["record", "--env", "prod"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("shipmate: error [usage]:") and "--status" in err


def test_metadata_and_metadata_file_conflict(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "m.json").write_text("{}")
    code, _, err = cli(
        "record",
        "--product",
        "a",
        "--env",
        "e",
        "--version",
        "1.0.0",
        "--status",
        "completed",
        "--metadata",
        "{}",
        "--metadata-file",
        str(tmp_path / "m.json"),
    )
    assert code == 2 and "[metadata]" in err


def test_version_file_commit_beats_checkout(cli) -> None:  # type: ignore[no-untyped-def]
    cli("version", "next", "--product", "api", "--version", "1.0.0", "--commit", "buildsha")
    code, out, _ = cli("record", "--env", "prod", "--status", "completed", "--json")
    assert code == 0 and json.loads(out)["commit_sha"] == "buildsha"


def test_db_commands(cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("db", "upgrade")[0] == 0
    code, out, _ = cli("db", "current")
    assert (code, out.strip()) == (0, HEAD)
    assert cli("db", "check") == (0, "schema matches the models\n", "")


def test_python_dash_m_and_help(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "shipmate", "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    for command in (
        "version",
        "record",
        "mark-rollback",
        "history",
        "show",
        "current",
        "stats",
        "db",
    ):
        assert command in result.stdout
