"""``mark-rollback`` of a deployment already rolled back is a replay, everywhere the
same: local CLI, remote CLI, the API; another status stays ``illegal_transition``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from shipmate.cli import main
from shipmate.services.auth.keys import create_key
from shipmate.services.context import Context
from shipmate.store.schema import events
from tests.support.server import ServerProcess

Run = Callable[..., tuple[int, str, str]]


def rollback_events(ctx: Context) -> int:
    with ctx.read() as conn:
        query = select(func.count()).select_from(events)
        return int(conn.execute(query.where(events.c.type == "deployment.rolled_back")).scalar())


def _runner(capsys: pytest.CaptureFixture[str]) -> Run:
    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def local(
    ctx: Context,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> Run:
    monkeypatch.setenv("SHIPMATE_DATABASE_URL", ctx.settings.database_url)
    monkeypatch.chdir(tmp_path)
    return _runner(capsys)


@pytest.fixture
def remote(
    ctx: Context,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[Run]:
    token = create_key(ctx, "ci", "write").token
    with ServerProcess(ctx.settings.database_url, log_path=tmp_path / "server.log") as server:
        monkeypatch.setenv("SHIPMATE_URL", server.base_url)
        monkeypatch.setenv("SHIPMATE_TOKEN", token)
        monkeypatch.setenv("SHIPMATE_RETRY_SECONDS", "2")
        monkeypatch.chdir(tmp_path)
        yield _runner(capsys)


def _record(
    run: Run, version: str, status: str = "completed", env: str = "production", ci_run: str = "1"
) -> str:
    code, out, err = run(
        "record", "--product", "api", "--env", env, "--version", version, "--status", status,
        "--no-detect", "--ci-run-id", ci_run,
    )  # fmt: skip
    assert code == 0, err
    return out.split()[0]


@pytest.mark.parametrize("mode", ["local", "remote"])
def test_mark_rollback_twice_is_one_mark(
    mode: str, request: pytest.FixtureRequest, ctx: Context
) -> None:
    run: Run = request.getfixturevalue(mode)
    first = _record(run, "1.0.0+build.1")
    _record(run, "1.1.0+build.1")
    again = _record(run, "1.0.0+build.1")  # the same build deployed twice in production
    code, out, _ = run("mark-rollback", "1.0.0+build.1", "--product", "api", "--env", "production")
    assert (code, out) == (0, f"{again} api 1.0.0+build.1 production rolled_back\n")
    # The retry (by full version, then by id) answers the same and marks nothing else:
    # the older deployment of that build stays completed.
    assert run("mark-rollback", "1.0.0+build.1") == (0, out, "")
    assert run("mark-rollback", again, "--reason", "retry") == (0, out, "")
    assert rollback_events(ctx) == 1
    code, shown, _ = run("show", first)
    assert "completed" in shown and "rolled_back" not in shown
    code, current, _ = run("current")
    assert "1.1.0+build.1" in current
    # A deployment in another state is still refused.
    failed = _record(run, "1.2.0", status="failed")
    code, _, err = run("mark-rollback", failed)
    assert code == 1
    assert err.strip() == (
        f"shipmate: error [status]: deployment {failed} is failed and cannot become "
        "rolled_back; failed is final"
    )


def test_bloqr_rollback_status_twice_marks_once(ctx: Context, local: Run) -> None:
    """bloqr's ``rollback`` status sent again does not mark an older deployment."""
    older = _record(local, "0.11.3+build.42", ci_run="1")
    latest = _record(local, "0.11.3+build.42", ci_run="2")  # a redeploy by another run
    assert latest != older
    for _ in range(2):
        assert _record(local, "0.11.3+build.42", status="rollback", ci_run="2") == latest
    assert rollback_events(ctx) == 1
    _code, shown, _ = local("show", older)
    assert "rolled_back" not in shown
