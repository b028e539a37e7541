"""Remote mode prints what local mode prints: each command, run on the same data
through the database and through a real ``shipmate serve``, gives the same exit code,
standard output and standard error.

Commands that need the database itself refuse in remote mode with a message naming
SHIPMATE_URL (exit 2) instead of answering for the local default database.
"""

from __future__ import annotations

import json

import pytest

from shipmate.cli import main
from tests.cli import remote_world
from tests.cli.remote_world import World

world = remote_world.world  # the module's server and data


#: Reading commands with a remote backend, text and JSON.  ``show 3`` is api 1.5.0 in
#: staging (a current version: its state line is "active"), ``show 4`` the failed one.
READS: tuple[tuple[str, ...], ...] = (
    ("history",),
    ("history", "--json"),
    ("history", "--product", "api", "--env", "production"),
    ("history", "--status", "failed", "--json"),
    ("history", "--limit", "2"),
    ("show", "3"),
    ("show", "3", "--json"),
    ("show", "4"),
    ("show", "999"),
    ("current",),
    ("current", "--json"),
    ("current", "--product", "web"),
    ("stats",),
    ("stats", "--product", "api", "--json"),
    ("keys", "list"),
    ("keys", "list", "--json"),
    ("gates", "list"),
    (
        "dora",
        "--product",
        "api",
        "--since",
        "2025-12-01T00:00:00Z",
        "--until",
        "2026-02-01T00:00:00Z",
    ),
    ("dora", "--since", "2025-12-01T00:00:00Z", "--until", "2026-02-01T00:00:00Z", "--json"),
)


def _without_ages(out: str) -> str:
    """``current --json`` gives each cell's age at the moment it answered."""
    data = json.loads(out)
    for cell in data["cells"]:
        assert cell.pop("age_seconds") > 0
    return json.dumps(data)


def _run(
    argv: tuple[str, ...],
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> tuple[int, str, str]:
    with monkeypatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("argv", READS, ids=" ".join)
def test_remote_prints_what_local_prints(
    world: World,
    argv: tuple[str, ...],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(world.work)
    local = _run(argv, world.local_env(), monkeypatch, capsys)
    remote = _run(argv, world.remote_env(), monkeypatch, capsys)
    if argv == ("current", "--json"):
        local, remote = [(c, _without_ages(out), err) for c, out, err in (local, remote)]
    assert remote == local
    assert local[0] == (1 if argv == ("show", "999") else 0), local


def test_show_prints_the_version_state_in_both_modes(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(world.work)
    for env in (world.local_env(), world.remote_env()):
        code, out, _ = _run(("show", "3"), env, monkeypatch, capsys)
        assert code == 0 and "Version state: active" in out, out


@pytest.mark.parametrize(
    "argv", [("db", "current"), ("db", "upgrade"), ("db", "check")], ids=" ".join
)
@pytest.mark.parametrize("how", ["SHIPMATE_URL", "--url"])
def test_db_commands_refuse_in_remote_mode(
    world: World,
    argv: tuple[str, ...],
    how: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(world.work)
    env = world.remote_env()
    if how == "--url":
        argv = ("--url", env.pop("SHIPMATE_URL"), *argv)
    code, out, err = _run(argv, env, monkeypatch, capsys)
    assert (code, out) == (2, "")
    assert err.startswith("shipmate: error [url]: shipmate db ") and "SHIPMATE_URL" in err
    assert len(err.splitlines()) == 1
