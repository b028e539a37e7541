"""The serving slot watched while the old one is warm, confirmations, and rolled-back outcomes.

Real database (SQLite and PostgreSQL), fake engine parts: the exact sequence of
effects is asserted.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from shipmate.domain.requests import HistoryFilter
from shipmate.errors import ConflictError, HealthCheckError, RolledBackError
from shipmate.services.context import Context
from shipmate.services.deploys.deploy import DeployRequest, RunOutcome, deploy
from shipmate.services.deploys.rollback import choose_rollback, rollback
from shipmate.services.queries import current_matrix, history
from shipmate.services.runs import steps as runsteps
from shipmate.services.runs.journal import get_run, list_runs
from tests.runs.conftest import Fakes, fake_table, make_fakes

#: v2 passes its check before the switch and the three after it, then fails for good.
HEALTHY_THEN_FAILING = [True, True, True, True, (False, "HTTP 502 from nginx")]


@pytest.fixture(autouse=True)
def quick_post_switch_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runsteps, "POST_SWITCH_SPACING", 0.0)


def _deploy(ctx: Context, fakes: Fakes, version: str) -> RunOutcome:
    return deploy(
        ctx,
        fakes.deploy,
        DeployRequest(product="api", environment="production", version=version, actor="alice"),
        parts_factory=fakes.parts,
    )


def _records(ctx: Context) -> list[tuple[str, str, str]]:
    page = history(ctx, HistoryFilter(product="api"), limit=50)
    return [(d.full_version, d.status, d.kind) for d in reversed(page.items)]


@pytest.mark.parametrize(("keep_warm", "failing_step"), [(30, "keep_warm"), (0, "retire")])
def test_a_version_failing_while_the_old_slot_is_warm_is_rolled_back(
    ctx: Context, tmp_path: Path, keep_warm: float, failing_step: str
) -> None:
    fakes = make_fakes(
        tmp_path, table=fake_table(keep_warm=keep_warm), health={"2.0.0": HEALTHY_THEN_FAILING}
    )
    assert _deploy(ctx, fakes, "1.0.0").ok
    fakes.target.calls.clear()
    fakes.switch.calls.clear()

    outcome = _deploy(ctx, fakes, "2.0.0")

    assert not outcome.ok and outcome.rolled_back
    assert fakes.switch.calls == [("switch_to", "2.0.0", "green"), ("restore", "1.0.0", "blue")]
    assert fakes.target.calls[-1] == ("stop", "green")
    assert ("stop", "blue") not in fakes.target.calls  # the warm slot was never stopped
    assert fakes.target.running_version("blue") == "1.0.0"
    assert _records(ctx) == [
        ("1.0.0", "completed", "deploy"),
        ("2.0.0", "rolled_back", "deploy"),
        ("1.0.0", "completed", "rollback"),
    ]
    assert current_matrix(ctx).cells[0].full_version == "1.0.0"
    rollback_dep = history(ctx, HistoryFilter(product="api", kind="rollback"), limit=1).items[0]
    assert rollback_dep.metadata["automatic"] is True
    assert "failed while slot blue was kept warm" in rollback_dep.metadata["reason"]
    run = get_run(ctx, outcome.run.id)
    assert run.status == "failed" and run.rollback_deployment_id == rollback_dep.id
    names = [s.name for s in run.steps]
    assert names[-4:] == [failing_step, "restore", "stop_new", "record_rollback"]
    watched = next(s for s in run.steps if s.name == failing_step)
    assert watched.status == "failed" and "HTTP 502 from nginx" in (watched.error or "")
    error = outcome.error()
    assert isinstance(error, RolledBackError)
    assert error.exit_code == 4 and error.details["cause"] == "health_check_failed"
    assert "traffic is back on 1.0.0 in blue" in error.message


def test_a_healthy_version_is_watched_for_the_whole_keep_warm_then_retired(
    real_ctx: Context, tmp_path: Path
) -> None:
    fakes = make_fakes(tmp_path, table=fake_table(keep_warm=0.3))
    assert _deploy(real_ctx, fakes, "1.0.0").ok
    outcome = _deploy(real_ctx, fakes, "2.0.0")
    assert outcome.ok and not outcome.rolled_back and outcome.error() is None
    run = get_run(real_ctx, outcome.run.id)
    warm = next(s for s in run.steps if s.name == "keep_warm")
    assert warm.result is not None and warm.result["data"]["checks"] >= 2
    assert [s.name for s in run.steps][-1] == "retire"
    assert not fakes.target.is_running("blue")
    assert _records(real_ctx)[-1] == ("2.0.0", "completed", "deploy")


def test_one_failed_check_is_not_a_failure(ctx: Context, tmp_path: Path) -> None:
    flaky = [True, True, True, True, (False, "timeout"), True]
    fakes = make_fakes(tmp_path, table=fake_table(keep_warm=0), health={"2.0.0": flaky})
    assert _deploy(ctx, fakes, "1.0.0").ok
    outcome = _deploy(ctx, fakes, "2.0.0")
    assert outcome.ok, outcome.end
    assert not fakes.target.is_running("blue")


def test_a_failure_after_the_switch_exits_rolled_back(ctx: Context, tmp_path: Path) -> None:
    fakes = make_fakes(tmp_path, health={"2.0.0": [True, False]})
    assert _deploy(ctx, fakes, "1.0.0").ok
    outcome = _deploy(ctx, fakes, "2.0.0")
    error = outcome.error()
    assert isinstance(error, RolledBackError) and error.details["cause"] == "health_check_failed"
    assert error.details["rollback_deployment_id"] == str(outcome.run.rollback_deployment_id)
    # a failure before the switch is not a rollback: the check's own error
    fakes.health.scripts["3.0.0"] = [False]
    before = _deploy(ctx, fakes, "3.0.0").error()
    assert isinstance(before, HealthCheckError) and not isinstance(before, RolledBackError)


def test_a_rollback_confirmed_after_the_current_version_changed_is_refused(
    ctx: Context, fakes: Fakes
) -> None:
    assert _deploy(ctx, fakes, "1.0.0").ok
    assert _deploy(ctx, fakes, "2.0.0").ok
    choice = choose_rollback(ctx, "api", "production")  # shown: 2.0.0 -> 1.0.0
    assert _deploy(ctx, fakes, "3.0.0").ok  # meanwhile, while the prompt waits
    runs_before = len(list_runs(ctx))
    records_before = _records(ctx)
    calls_before = list(fakes.switch.calls)

    with pytest.raises(ConflictError) as caught:
        rollback(
            ctx,
            fakes.deploy,
            choice,
            DeployRequest("api", "production", "1.0.0", actor="bob"),
            parts_factory=fakes.parts,
        )

    message = caught.value.message
    assert "changed while the rollback waited" in message
    assert f"was {choice.current.id} (2.0.0)" in message and "(3.0.0, deploy by alice)" in message
    assert "nothing was rolled back" in message
    assert len(list_runs(ctx)) == runs_before
    assert _records(ctx) == records_before
    assert fakes.switch.calls == calls_before
    assert fakes.target.running_version("blue") == "3.0.0"


def test_a_rollback_confirmed_on_unchanged_state_runs(ctx: Context, fakes: Fakes) -> None:
    assert _deploy(ctx, fakes, "1.0.0").ok
    assert _deploy(ctx, fakes, "2.0.0").ok
    choice = choose_rollback(ctx, "api", "production")
    outcome = rollback(
        ctx,
        fakes.deploy,
        choice,
        DeployRequest("api", "production", "1.0.0"),
        parts_factory=fakes.parts,
    )
    assert outcome.ok and outcome.error() is None
    assert _records(ctx)[-1] == ("1.0.0", "completed", "rollback")
