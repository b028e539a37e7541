"""``drain check`` keeps "still draining" (exit 5) apart from an error (exit 1)."""

from __future__ import annotations

import pytest

from shipmate.cli import main
from shipmate.cli.draining.handlers import STILL_DRAINING, drain_exit_code
from shipmate.domain.requests import RecordRequest
from shipmate.services.context import Context
from shipmate.services.draining.check import DrainReport
from shipmate.services.draining.states import VersionKey, transition
from shipmate.services.records.deployments import record_deployment
from shipmate.services.runs.journal import create_run


def _left_draining(ctx: Context, environment: str) -> None:
    for version in ("1.0.0+build.1", "2.0.0+build.1"):
        record_deployment(
            ctx,
            RecordRequest(
                environment=environment, status="completed", product="api", version=version
            ),
        )
    key = VersionKey("api", environment, "1.0.0", "1.0.0+build.1")
    transition(ctx, key, "active", slot="blue")
    transition(ctx, key, "draining", pending=3)


def _run_in_progress(ctx: Context, environment: str) -> None:
    create_run(
        ctx,
        kind="deploy",
        product="api",
        environment=environment,
        version="3.0.0",
        full_version="3.0.0",
        build_number=None,
        params={"plan": {}},
        actor="alice",
        owner="another-host",
    )


@pytest.fixture
def on_db(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> Context:
    monkeypatch.setenv("SHIPMATE_DATABASE_URL", ctx.settings.database_url)
    return ctx


def test_a_version_still_waiting_exits_5(
    on_db: Context, capsys: pytest.CaptureFixture[str]
) -> None:
    _left_draining(on_db, "production")
    _run_in_progress(on_db, "production")
    assert main(["drain", "check", "--product", "api"]) == STILL_DRAINING == 5
    assert "in production: busy" in capsys.readouterr().out


def test_an_error_exits_1_even_beside_a_waiting_version(
    on_db: Context, capsys: pytest.CaptureFixture[str]
) -> None:
    _left_draining(on_db, "production")
    _run_in_progress(on_db, "production")
    _left_draining(on_db, "staging")  # no run recorded its drain: cannot be checked
    assert main(["drain", "check", "--product", "api"]) == 1
    out = capsys.readouterr().out
    assert "in production: busy" in out and "in staging: error" in out


def test_nothing_draining_exits_0(on_db: Context, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["drain", "check"]) == 0
    assert capsys.readouterr().out == "no version is draining\n"


def _report(outcome: str) -> DrainReport:
    return DrainReport("api", "production", "1.0.0+build.1", "blue", outcome, "m")


@pytest.mark.parametrize(
    ("outcomes", "code"),
    [
        ([], 0),
        (["retired", "active"], 0),
        (["retired", "draining"], 5),
        (["busy"], 5),
        (["draining", "error"], 1),
        (["error"], 1),
    ],
)
def test_the_exit_code_of_each_outcome(outcomes: list[str], code: int) -> None:
    assert drain_exit_code([_report(o) for o in outcomes]) == code
