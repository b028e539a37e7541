"""Release actions inside ``shipmate deploy`` / ``shipmate rollback`` runs.

The runs use the engine's fakes for the target, switch and health checks (so the
exact effects on the application are asserted); the actions are real (shell
processes, SQL on a real SQLite or PostgreSQL application database) and shipmate's
own database runs on both backends.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from sqlalchemy import func, select

from shipmate.domain.requests import HistoryFilter
from shipmate.errors import ConflictError
from shipmate.services.context import Context
from shipmate.services.deploys.deploy import DeployRequest, RunOutcome, deploy, preview_deploy
from shipmate.services.deploys.rollback import choose_rollback, rollback
from shipmate.services.queries import current_matrix, history, show_deployment
from shipmate.services.releases.actions import ActionSpec, add_action
from shipmate.services.releases.executions import list_executions
from shipmate.services.releases.hooks import (
    RELEASE_ACTION_STEP,
    execute_release_action,
    release_hooks,
)
from shipmate.services.releases.lineage import set_predecessor
from shipmate.services.releases.positions import get_position
from shipmate.services.runs import steps as runsteps
from shipmate.services.runs.journal import list_runs
from shipmate.services.runs.steps import StepEnv
from shipmate.store.schema_releases import release_action_runs
from tests.releases.conftest import AppDb
from tests.releases.scenario import VERSIONS, add_versions, log_lines, table
from tests.runs.conftest import Fakes, make_fakes


@pytest.fixture(autouse=True)
def quick_post_switch_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runsteps, "POST_SWITCH_SPACING", 0.0)


@pytest.fixture
def fakes(tmp_path: Path) -> Fakes:
    return make_fakes(tmp_path)


@pytest.fixture
def action_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, app_db: AppDb) -> Path:
    log = tmp_path / "actions.log"
    monkeypatch.setenv("ACTION_LOG", str(log))
    monkeypatch.setenv("APP_DB_URL", app_db.url)
    return log


def run_deploy(ctx: Context, fakes: Fakes, version: str) -> RunOutcome:
    return deploy(
        ctx,
        fakes.deploy,
        DeployRequest(product="api", environment="production", version=version, actor="alice"),
        parts_factory=fakes.parts,
    )


def step_titles(outcome: RunOutcome) -> list[str]:
    return [f"{s.name}: {s.title}" for s in outcome.run.steps]


def current(ctx: Context) -> str | None:
    cells = current_matrix(ctx, product="api").cells
    return cells[0].version if cells else None


def test_deploy_runs_every_interim_version_then_delivers_the_app_once(
    ctx: Context, fakes: Fakes, app_db: AppDb, action_log: Path
) -> None:
    add_versions(ctx)
    outcome = run_deploy(ctx, fakes, "1.3.0")

    assert outcome.ok, outcome.end
    titles = step_titles(outcome)
    actions = [t for t in titles if t.startswith(RELEASE_ACTION_STEP)]
    assert actions == [
        f"release_action: [{i}/4] {v} up: {v}/up/{n}"
        for i, v in enumerate(VERSIONS, start=1)
        for n in ("010-create.sql", "020-log.sh")
    ]
    # Every action comes before the application is checked and started: the app
    # itself is delivered once, at the last step, for the target only.
    first_app_step = next(i for i, t in enumerate(titles) if t.startswith("check_artifact"))
    last_action = max(i for i, t in enumerate(titles) if t.startswith(RELEASE_ACTION_STEP))
    assert last_action < first_app_step
    assert fakes.target.calls == [("check_artifact", "1.3.0"), ("start", "1.3.0", "blue")]
    assert log_lines(action_log) == [
        "1.0.0 up first=1 last=0 rf=1 rb=0 same=0 from= to=1.3.0",
        "1.1.0 up first=0 last=0 rf=1 rb=0 same=0 from= to=1.3.0",
        "1.2.0 up first=0 last=0 rf=1 rb=0 same=0 from= to=1.3.0",
        "1.3.0 up first=0 last=1 rf=1 rb=0 same=0 from= to=1.3.0",
    ]
    assert {table(v) for v in VERSIONS} <= app_db.tables()
    position = get_position(ctx, "api", "production")
    assert position is not None and position.version == "1.3.0"
    assert position.run_id == outcome.run.id
    # Each action's output is stored with the run: in the run's steps and the executions.
    log_step = next(s for s in outcome.run.steps if s.title.endswith("1.3.0/up/020-log.sh"))
    assert (log_step.output or "").strip() == "logged 1.3.0 up"
    executions = list_executions(ctx, "api", run_id=outcome.run.id)
    assert len(executions) == 8 and all(e.run_id == outcome.run.id for e in executions)
    assert current(ctx) == "1.3.0"
    # Walking forward through interim versions is recorded as a roll-forward.
    matrix = current_matrix(ctx)
    cell = matrix.cell("api", "production")
    assert cell is not None and show_deployment(ctx, cell.deployment_id).kind == "rollforward"


def test_rollback_run_runs_the_downs_and_ends_on_the_target(
    ctx: Context, fakes: Fakes, app_db: AppDb, action_log: Path
) -> None:
    add_versions(ctx)
    assert run_deploy(ctx, fakes, "1.1.0").ok
    assert run_deploy(ctx, fakes, "1.3.0").ok
    action_log.unlink()
    fakes.target.calls.clear()

    choice = choose_rollback(ctx, "api", "production", to="1.1.0")
    outcome = rollback(
        ctx,
        fakes.deploy,
        choice,
        DeployRequest("api", "production", "1.1.0"),
        parts_factory=fakes.parts,
    )

    assert outcome.ok, outcome.end
    assert log_lines(action_log) == [
        "1.3.0 down first=1 last=0 rf=0 rb=1 same=0 from=1.3.0 to=1.1.0",
        "1.2.0 down first=0 last=1 rf=0 rb=1 same=0 from=1.3.0 to=1.1.0",
    ]
    assert [t for t in step_titles(outcome) if t.startswith(RELEASE_ACTION_STEP)] == [
        "release_action: [1/2] 1.3.0 down: 1.3.0/down/020-drop.sql",
        "release_action: [1/2] 1.3.0 down: 1.3.0/down/010-log.sh",
        "release_action: [2/2] 1.2.0 down: 1.2.0/down/020-drop.sql",
        "release_action: [2/2] 1.2.0 down: 1.2.0/down/010-log.sh",
    ]
    assert not {table("1.2.0"), table("1.3.0")} & app_db.tables()
    assert table("1.1.0") in app_db.tables()
    assert current(ctx) == "1.1.0"
    position = get_position(ctx, "api", "production")
    assert position is not None and position.version == "1.1.0"


def test_same_version_deploy_has_one_step_without_actions(
    ctx: Context, fakes: Fakes, app_db: AppDb, action_log: Path
) -> None:
    add_versions(ctx)
    assert run_deploy(ctx, fakes, "1.1.0").ok
    action_log.unlink()
    again = run_deploy(ctx, fakes, "1.1.0")
    assert again.ok, again.end
    hooks = [s for s in again.run.steps if s.name.startswith("release_")]
    assert [(s.name, s.title) for s in hooks] == [
        ("release_version", "[1/1] 1.1.0: no actions"),
    ]
    assert hooks[0].args["flags"] == ["first", "last", "same"]
    assert not action_log.exists()


def test_failing_action_fails_the_deploy_and_leaves_the_app(
    ctx: Context, fakes: Fakes, app_db: AppDb, action_log: Path
) -> None:
    add_versions(ctx)
    assert run_deploy(ctx, fakes, "1.1.0").ok
    fakes.target.calls.clear()
    fakes.switch.calls.clear()
    app_db.execute(f"CREATE TABLE {table('1.2.0')} (id INTEGER)")  # 1.2.0 up will fail
    action_log.unlink()

    failed = run_deploy(ctx, fakes, "1.3.0")

    assert not failed.ok
    assert failed.end is not None and failed.end.failed_step == RELEASE_ACTION_STEP
    assert "1.2.0 up action '1.2.0/up/010-create.sql' failed" in (failed.end.error or "")
    assert fakes.target.calls == []  # the application was never touched
    assert fakes.switch.calls == []
    assert current(ctx) == "1.1.0"
    position = get_position(ctx, "api", "production")
    assert position is not None and position.version == "1.1.0"
    dep = history(ctx, HistoryFilter(product="api"), limit=1).items[0]
    assert (dep.version, dep.status) == ("1.3.0", "failed")
    assert dep.metadata["failed_step"] == RELEASE_ACTION_STEP
    assert "1.2.0" in dep.metadata["error"]
    assert "statement 1: CREATE TABLE t_1_2_0" in dep.metadata["output"]
    error = failed.error()
    assert error is not None and error.field == "action"
    assert error.details["failed_version"] == "1.2.0"

    # Fix the environment and deploy again: it continues at 1.2.0.
    app_db.execute(f"DROP TABLE {table('1.2.0')}")
    again = run_deploy(ctx, fakes, "1.3.0")
    assert again.ok, again.end
    assert [t for t in step_titles(again) if t.startswith(RELEASE_ACTION_STEP)] == [
        "release_action: [1/2] 1.2.0 up: 1.2.0/up/010-create.sql",
        "release_action: [1/2] 1.2.0 up: 1.2.0/up/020-log.sh",
        "release_action: [2/2] 1.3.0 up: 1.3.0/up/010-create.sql",
        "release_action: [2/2] 1.3.0 up: 1.3.0/up/020-log.sh",
    ]
    assert log_lines(action_log) == [
        "1.2.0 up first=1 last=0 rf=1 rb=0 same=0 from=1.1.0 to=1.3.0",
        "1.3.0 up first=0 last=1 rf=1 rb=0 same=0 from=1.1.0 to=1.3.0",
    ]
    assert current(ctx) == "1.3.0"


def test_strict_gap_refuses_the_deploy_before_a_run_exists(
    ctx: Context, fakes: Fakes, app_db: AppDb, action_log: Path
) -> None:
    add_versions(ctx)
    set_predecessor(ctx, "api", "1.3.0", "1.2.5")
    with pytest.raises(ConflictError) as info:
        run_deploy(ctx, fakes, "1.3.0")
    assert info.value.field == "predecessor"
    assert list_runs(ctx) == []
    assert fakes.target.calls == []
    assert not action_log.exists()


def test_a_new_version_is_planned_as_the_newest(
    ctx: Context, fakes: Fakes, app_db: AppDb, action_log: Path
) -> None:
    add_versions(ctx, ("1.0.0", "1.1.0"))
    preview = preview_deploy(
        ctx, fakes.deploy, DeployRequest("api", "production", "2.0.0"), parts=fakes.parts()
    )
    hooks = [s for s in preview.steps if s.name.startswith("release_")]
    assert [s.title for s in hooks] == [
        "[1/3] 1.0.0 up: 1.0.0/up/010-create.sql",
        "[1/3] 1.0.0 up: 1.0.0/up/020-log.sh",
        "[2/3] 1.1.0 up: 1.1.0/up/010-create.sql",
        "[2/3] 1.1.0 up: 1.1.0/up/020-log.sh",
        "[3/3] 2.0.0: no actions",
    ]
    assert get_position(ctx, "api", "production") is None  # the preview changed nothing
    assert run_deploy(ctx, fakes, "2.0.0").ok
    position = get_position(ctx, "api", "production")
    assert position is not None and position.version == "2.0.0"


def test_products_without_actions_get_no_steps(ctx: Context, fakes: Fakes) -> None:
    outcome = run_deploy(ctx, fakes, "1.0.0")
    assert outcome.ok
    assert not [s for s in outcome.run.steps if s.name.startswith("release_")]


def test_a_resumed_action_step_that_succeeded_is_not_run_again(
    ctx: Context, fakes: Fakes, app_db: AppDb, action_log: Path
) -> None:
    add_action(ctx, "api", ActionSpec("1.0.0", "up", "shell", 'echo ran >> "$ACTION_LOG"'))
    hooks = release_hooks(ctx, _plan(fakes, "1.0.0"))
    step = hooks.before_start[0]
    env = cast(
        StepEnv,
        SimpleNamespace(
            ctx=ctx,
            run=SimpleNamespace(id=77, deployment_id=None),
            parts=fakes.parts(),
            progress=lambda message: None,
        ),
    )
    first = execute_release_action(step, env)
    second = execute_release_action(step, env)  # as a resumed run would
    assert first.ok and second.ok
    assert second.data["execution_id"] == first.data["execution_id"]
    assert log_lines(action_log) == ["ran"]
    with ctx.read() as conn:
        count = conn.execute(select(func.count()).select_from(release_action_runs)).scalar_one()
    assert count == 1


def _plan(fakes: Fakes, version: str) -> Any:
    from shipmate.domain.runs.plan import RunPlan

    return RunPlan(
        kind="deploy",
        product="api",
        environment="production",
        version=version,
        full_version=version,
        slots=("blue", "green"),
    )
