"""Remote mode: the same CLI commands against a real `shipmate serve`, same output and exit codes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipmate.cli import main
from shipmate.services.auth.keys import create_key
from shipmate.services.context import Context
from tests.support.server import ServerProcess


@pytest.fixture
def server(ctx: Context, tmp_path: Path) -> Iterator[ServerProcess]:
    with ServerProcess(ctx.settings.database_url, log_path=tmp_path / "server.log") as s:
        yield s


@pytest.fixture
def remote(
    server: ServerProcess, ctx: Context, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys
):  # type: ignore[no-untyped-def]
    token = create_key(ctx, "ci", "admin").token
    monkeypatch.setenv("SHIPMATE_URL", server.base_url)
    monkeypatch.setenv("SHIPMATE_TOKEN", token)
    monkeypatch.setenv("SHIPMATE_RETRY_SECONDS", "2")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_remote_round_trip(remote) -> None:  # type: ignore[no-untyped-def]
    code, out, err = remote("version", "next", "--product", "api", "--version", "2.0.0")
    assert (code, out, err) == (0, "2.0.0+build.1\n", "")
    code, out, _ = remote("record", "--env", "staging", "--status", "started", "--ci-run-id", "1")
    dep_id = out.split()[0]
    assert out.strip() == f"{dep_id} api 2.0.0+build.1 staging started"
    code, out, _ = remote(
        "record", "--env", "staging", "--status", "completed", "--ci-run-id", "1", "--json"
    )
    assert json.loads(out)["id"] == dep_id and json.loads(out)["status"] == "completed"
    code, out, _ = remote("show", dep_id)
    assert "started -> completed" in out and "(key ci)" in out
    code, out, _ = remote("current", "--json")
    assert json.loads(out)["cells"][0]["full_version"] == "2.0.0+build.1"
    code, out, _ = remote("history", "--product", "api")
    assert code == 0 and "2.0.0+build.1" in out
    code, out, _ = remote("stats", "--product", "api", "--json")
    assert json.loads(out)["completed"] == 1
    code, out, _ = remote("mark-rollback", "2.0.0+build.1")
    assert code == 0 and out.strip().endswith("rolled_back")
    code, out, _ = remote("keys", "list", "--json")
    assert [k["name"] for k in json.loads(out)["items"]] == ["ci"]


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
                "exploded",
            ],
            2,
            "[status]",
        ),
        (["show", "999"], 1, "deployment 999 does not exist"),
        (["history", "--product", "ghost"], 1, "[product]"),
        (["history", "--cursor", "zzz"], 2, "[cursor]"),
    ],
)
def test_remote_errors_match_local(remote, argv: list[str], code: int, needle: str) -> None:  # type: ignore[no-untyped-def]
    got, out, err = remote(*argv)
    assert (got, out) == (code, "")
    assert err.startswith("shipmate: error") and needle in err and len(err.splitlines()) == 1


def test_bad_token_and_unreachable(remote, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SHIPMATE_TOKEN", "shm_bad_bad")
    code, _, err = remote("history")
    assert code == 1 and "Invalid authentication credentials" in err
    monkeypatch.setenv("SHIPMATE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("SHIPMATE_RETRY_SECONDS", "0.5")
    code, _, err = remote("history")
    assert code == 1 and "cannot reach" in err and "gave up" in err
