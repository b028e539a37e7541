"""Deploy and rollback runs driven through the services, with fake engine parts.

The database is real (SQLite and PostgreSQL); the target, switch and health checks
are the engine's in-package fakes, so the exact sequence of effects is asserted.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from shipmate.demo.clock import FakeClock
from shipmate.domain.requests import HistoryFilter
from shipmate.domain.runs.model import RECORD_STARTED, Step, StepResult
from shipmate.errors import (
    ArtifactMissingError,
    ConflictError,
    GateBlockedError,
    HealthCheckError,
    NotFoundError,
)
from shipmate.services.context import Context
from shipmate.services.deploys.deploy import DeployRequest, RunOutcome, deploy, preview_deploy
from shipmate.services.deploys.rollback import choose_rollback, preview_rollback, rollback
from shipmate.services.queries import current_matrix, history
from shipmate.services.runs import steps as runsteps
from shipmate.services.runs.control import abort_run, resume_run
from shipmate.services.runs.journal import create_run, get_run, list_runs, new_owner
from shipmate.services.runs.observer import CollectingObserver
from tests.runs.conftest import Fakes, fake_table, make_fakes


@pytest.fixture(autouse=True)
def quick_post_switch_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake checks answer at once: no need to space the passes after the switch."""
    monkeypatch.setattr(runsteps, "POST_SWITCH_SPACING", 0.0)


def _deploy(ctx: Context, fakes: Fakes, version: str, env: str = "production") -> RunOutcome:
    return deploy(
        ctx,
        fakes.deploy,
        DeployRequest(product="api", environment=env, version=version, actor="alice"),
        parts_factory=fakes.parts,
    )


def _records(ctx: Context) -> list[tuple[str, str, str, str | None]]:
    page = history(ctx, HistoryFilter(product="api"), limit=50)
    by_id = {d.id: d for d in page.items}
    return [
        (
            d.full_version,
            d.status,
            d.kind,
            by_id[d.reverts_id].full_version if d.reverts_id in by_id else None,
        )
        for d in reversed(page.items)
    ]


def test_deploy_v1_then_v2_moves_traffic_and_retires_the_old_slot(
    ctx: Context, fakes: Fakes
) -> None:
    first = _deploy(ctx, fakes, "1.0.0")
    assert first.ok, first.end
    assert fakes.switch.state is not None and fakes.switch.state.slot == "blue"
    fakes.target.calls.clear()
    fakes.switch.calls.clear()

    second = _deploy(ctx, fakes, "2.0.0+build.3")
    assert second.ok, second.end
    assert fakes.target.calls == [
        ("check_artifact", "2.0.0+build.3"),
        ("start", "2.0.0+build.3", "green"),
        ("stop", "blue"),
    ]
    assert fakes.switch.calls == [("switch_to", "2.0.0+build.3", "green")]
    assert fakes.target.running_version("green") == "2.0.0+build.3"
    assert not fakes.target.is_running("blue")
    assert _records(ctx) == [
        ("1.0.0", "completed", "deploy", None),
        ("2.0.0+build.3", "completed", "deploy", None),
    ]
    run = get_run(ctx, second.run.id)
    assert run.status == "completed" and run.deployment_id is not None
    assert [s.name for s in run.steps] == [
        "record_started",
        "inspect",
        "check_artifact",
        "start",
        "health",
        "switch",
        "post_switch_health",
        "record_completed",
        "retire",
    ]
    assert all(s.status == "completed" and s.attempts == 1 for s in run.steps)
    assert run.actor == "alice"


def test_health_failure_before_the_switch_stops_the_new_slot(ctx: Context, tmp_path: Path) -> None:
    fakes = make_fakes(tmp_path, health={"3.0.0": [(False, "HTTP 500 from /healthz")]})
    assert _deploy(ctx, fakes, "2.0.0").ok
    fakes.target.calls.clear()
    fakes.switch.calls.clear()

    outcome = _deploy(ctx, fakes, "3.0.0")
    assert not outcome.ok
    error = outcome.error()
    assert isinstance(error, HealthCheckError)
    assert "HTTP 500" in error.message and "traffic is unchanged" in error.message
    assert fakes.switch.calls == []
    assert fakes.target.calls[-1] == ("stop", "green")
    assert fakes.target.running_version("blue") == "2.0.0"
    assert _records(ctx)[-1] == ("3.0.0", "failed", "deploy", None)
    failed = history(ctx, HistoryFilter(product="api", status="failed"), limit=1).items[0]
    assert failed.metadata["failed_step"] == "health"
    assert "HTTP 500" in failed.metadata["error"]
    assert current_matrix(ctx).cells[0].full_version == "2.0.0"
    assert get_run(ctx, outcome.run.id).status == "failed"


def test_failure_after_the_switch_switches_back_and_records_the_rollback(
    ctx: Context, tmp_path: Path
) -> None:
    fakes = make_fakes(tmp_path, health={"4.0.0": [True, False]})
    assert _deploy(ctx, fakes, "1.0.0").ok
    assert _deploy(ctx, fakes, "2.0.0").ok
    fakes.switch.calls.clear()

    outcome = _deploy(ctx, fakes, "4.0.0")
    assert not outcome.ok
    assert outcome.end is not None and outcome.end.switched_back
    assert fakes.switch.calls == [("switch_to", "4.0.0", "blue"), ("restore", "2.0.0", "green")]
    assert fakes.switch.state is not None and fakes.switch.state.full_version == "2.0.0"
    assert not fakes.target.is_running("blue")
    assert fakes.target.running_version("green") == "2.0.0"
    assert _records(ctx)[-2:] == [
        ("4.0.0", "failed", "deploy", None),
        ("2.0.0", "completed", "rollback", "4.0.0"),
    ]
    assert current_matrix(ctx).cells[0].full_version == "2.0.0"
    assert outcome.run.rollback_deployment_id is not None
    error = outcome.error()
    assert error is not None and "traffic is back on 2.0.0 in green" in error.message


def test_dry_run_changes_nothing(ctx: Context, fakes: Fakes) -> None:
    assert _deploy(ctx, fakes, "1.0.0").ok
    before = (list(fakes.target.calls), list(fakes.switch.calls))
    result = preview_deploy(
        ctx,
        fakes.deploy,
        DeployRequest(product="api", environment="production", version="2.0.0"),
        parts=fakes.parts(),
    )
    assert (fakes.target.calls, fakes.switch.calls) == before
    assert result.slot == "green" and not result.warm
    assert [s.name for s in result.steps][2:6] == ["check_artifact", "start", "health", "switch"]
    assert "switch back to 1.0.0 in blue" in result.failure_handling[1]
    assert len(list_runs(ctx)) == 1
    assert len(_records(ctx)) == 1


def test_a_refused_start_surfaces_the_gate_error(
    ctx: Context, fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    def blocked(step: Step, env: runsteps.StepEnv) -> StepResult:
        raise GateBlockedError(
            "production is frozen until Monday", gate_code="NO_DEPLOY_WINDOW", rule_name="freeze"
        )

    monkeypatch.setitem(runsteps.STEP_EXECUTORS, RECORD_STARTED, blocked)
    outcome = _deploy(ctx, fakes, "1.0.0")
    error = outcome.error()
    assert isinstance(error, GateBlockedError)
    assert error.exit_code == 3 and error.details["gate_code"] == "NO_DEPLOY_WINDOW"
    assert "frozen" in error.message
    assert fakes.target.calls == [] and fakes.switch.calls == []
    assert outcome.run.status == "failed"
    assert _deploy(ctx, fakes, "1.0.0").run.status == "failed"  # the lock was released


def test_one_run_per_product_and_environment(ctx: Context, fakes: Fakes) -> None:
    holder = create_run(
        ctx,
        kind="deploy",
        product="api",
        environment="production",
        version="1.0.0",
        full_version="1.0.0",
        build_number=None,
        params={},
        actor="bob",
        owner=new_owner(),
    )
    with pytest.raises(ConflictError) as caught:
        _deploy(ctx, fakes, "2.0.0")
    assert f"run {holder.id}" in caught.value.message and "bob" in caught.value.message
    assert fakes.target.calls == []
    other = _deploy(ctx, fakes, "2.0.0", env="staging")  # another environment is free
    assert other.ok


class _Crash(BaseException):
    """Stands in for a process dying inside a step (not caught by the run)."""


def test_a_run_interrupted_after_the_switch_resumes_without_switching_again(
    ctx: Context, fakes: Fakes, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _deploy(ctx, fakes, "1.0.0").ok
    real = runsteps.STEP_EXECUTORS["post_switch_health"]

    def dies(step: Step, env: runsteps.StepEnv) -> StepResult:
        raise _Crash()

    monkeypatch.setitem(runsteps.STEP_EXECUTORS, "post_switch_health", dies)
    with pytest.raises(_Crash):
        _deploy(ctx, fakes, "2.0.0")
    crashed = list_runs(ctx, status="running")[0]
    with pytest.raises(ConflictError, match="still driven"):
        resume_run(ctx, crashed.id, parts_factory=fakes.parts)  # our own live process

    monkeypatch.setitem(runsteps.STEP_EXECUTORS, "post_switch_health", real)
    clock.advance(seconds=60)  # the lease runs out
    assert [r.id for r in list_runs(ctx, status="interrupted")] == [crashed.id]
    fakes.switch.calls.clear()
    observer = CollectingObserver()
    outcome = resume_run(ctx, crashed.id, parts_factory=fakes.parts, observer=observer)
    assert outcome.ok, outcome.end
    assert fakes.switch.calls == []  # the switch step had completed: not run again
    assert observer.steps("replayed") == [
        "record_started",
        "inspect",
        "check_artifact",
        "start",
        "health",
        "switch",
    ]
    assert observer.steps("ran") == ["post_switch_health", "record_completed", "retire"]
    run = get_run(ctx, crashed.id)
    assert run.status == "completed" and run.attempts == 2
    post = next(s for s in run.steps if s.name == "post_switch_health")
    assert post.attempts == 2 and post.status == "completed"
    assert _records(ctx) == [
        ("1.0.0", "completed", "deploy", None),
        ("2.0.0", "completed", "deploy", None),
    ]


def test_abort_an_interrupted_run(
    ctx: Context, fakes: Fakes, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    def dies(step: Step, env: runsteps.StepEnv) -> StepResult:
        raise _Crash()

    monkeypatch.setitem(runsteps.STEP_EXECUTORS, "start", dies)
    with pytest.raises(_Crash):
        _deploy(ctx, fakes, "1.0.0")
    run = list_runs(ctx)[0]
    with pytest.raises(ConflictError, match="only an interrupted run"):
        abort_run(ctx, run.id)
    clock.advance(minutes=5)
    aborted = abort_run(ctx, run.id, actor="carol")
    assert aborted.status == "aborted"
    assert _records(ctx) == [("1.0.0", "aborted", "deploy", None)]


# -- rollbacks --------------------------------------------------------------------------


def test_rollback_targets_the_previous_completed_version(ctx: Context, tmp_path: Path) -> None:
    fakes = make_fakes(tmp_path, health={"3.0.0": [False]})
    for version in ("1.0.0", "2.0.0", "3.0.0"):
        _deploy(ctx, fakes, version)
    # 3.0.0 failed: current is 2.0.0; the previous completed one is 1.0.0, not 3.0.0.
    choice = choose_rollback(ctx, "api", "production")
    assert (choice.current.full_version, choice.target.full_version) == ("2.0.0", "1.0.0")
    assert [d.full_version for d in choice.recent] == ["3.0.0", "2.0.0", "1.0.0"]

    preview = preview_rollback(ctx, fakes.deploy, choice, parts=fakes.parts())
    assert not preview.warm and preview.slot == "blue"
    outcome = rollback(
        ctx,
        fakes.deploy,
        choice,
        DeployRequest("api", "production", "1.0.0"),
        parts_factory=fakes.parts,
    )
    assert outcome.ok, outcome.end
    assert fakes.switch.state is not None and fakes.switch.state.full_version == "1.0.0"
    assert _records(ctx)[1:] == [
        ("2.0.0", "rolled_back", "deploy", None),
        ("3.0.0", "failed", "deploy", None),
        ("1.0.0", "completed", "rollback", "2.0.0"),
    ]
    with pytest.raises(NotFoundError, match="nothing to roll back to"):
        choose_rollback(ctx, "api", "production")


def test_rollback_by_steps_and_by_name(ctx: Context, fakes: Fakes) -> None:
    for version in ("1.0.0", "1.1.0+build.4", "2.0.0", "3.0.0"):
        assert _deploy(ctx, fakes, version).ok
    assert choose_rollback(ctx, "api", "production", steps=2).target.full_version == (
        "1.1.0+build.4"
    )
    assert choose_rollback(ctx, "api", "production", to="1.1.0").target.full_version == (
        "1.1.0+build.4"
    )
    assert choose_rollback(ctx, "api", "production", to="1.0.0").target.full_version == "1.0.0"
    with pytest.raises(NotFoundError, match="only 3 earlier"):
        choose_rollback(ctx, "api", "production", steps=4)
    with pytest.raises(NotFoundError, match="never completed"):
        choose_rollback(ctx, "api", "production", to="9.9.9")
    with pytest.raises(Exception, match="what runs in production now"):
        choose_rollback(ctx, "api", "production", to="3.0.0")


def test_rollback_refused_when_the_artifact_is_gone(ctx: Context, tmp_path: Path) -> None:
    fakes = make_fakes(tmp_path, missing=("1.0.0",), table=fake_table())
    fakes.target.missing.clear()
    assert _deploy(ctx, fakes, "1.0.0").ok
    assert _deploy(ctx, fakes, "2.0.0").ok
    fakes.target.missing.add("1.0.0")
    choice = choose_rollback(ctx, "api", "production")
    with pytest.raises(
        ArtifactMissingError, match=r"cannot roll back to 1\.0\.0: .*artifact is gone"
    ):
        preview_rollback(ctx, fakes.deploy, choice, parts=fakes.parts())


def test_rollback_with_nothing_deployed(ctx: Context) -> None:
    with pytest.raises(NotFoundError, match="nothing to roll back"):
        choose_rollback(ctx, "api", "production")
