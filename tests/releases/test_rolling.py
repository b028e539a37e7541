"""Rolling an environment forward and back through interim versions.

shipmate's own database runs on SQLite and PostgreSQL (the ``backend`` fixture);
the application database the actions migrate is of the same kind (``app_db``);
shell actions are real processes writing to a real file.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import func, select

from shipmate.domain.requests import HistoryFilter, RecordRequest
from shipmate.errors import ConflictError, NotFoundError
from shipmate.services.context import Context
from shipmate.services.queries import current_matrix, history, show_deployment
from shipmate.services.records.deployments import record_deployment
from shipmate.services.releases.apply import ApplyRequest, apply_release
from shipmate.services.releases.executions import list_executions
from shipmate.services.releases.lineage import set_predecessor
from shipmate.services.releases.plans import plan_for
from shipmate.services.releases.positions import acquire_lease, get_position
from shipmate.services.releases.walk import run_interim_actions
from shipmate.store.schema import deployments
from shipmate.store.schema_releases import release_action_runs
from tests.releases.conftest import AppDb
from tests.releases.scenario import VERSIONS, add_versions, log_lines, table


@pytest.fixture
def action_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, app_db: AppDb) -> Path:
    log = tmp_path / "actions.log"
    monkeypatch.setenv("ACTION_LOG", str(log))
    monkeypatch.setenv("APP_DB_URL", app_db.url)
    return log


def apply(ctx: Context, version: str, env: str = "staging", lines: list[str] | None = None):  # type: ignore[no-untyped-def]
    return apply_release(
        ctx,
        ApplyRequest(product="api", environment=env, version=version, actor="tester"),
        on_progress=None if lines is None else lines.append,
    )


def current(ctx: Context, env: str = "staging") -> str | None:
    cells = [c for c in current_matrix(ctx, product="api").cells if c.environment == env]
    return cells[0].version if cells else None


def execution_count(ctx: Context) -> int:
    with ctx.read() as conn:
        return int(conn.execute(select(func.count()).select_from(release_action_runs)).scalar_one())


def deployment_count(ctx: Context) -> int:
    with ctx.read() as conn:
        return int(conn.execute(select(func.count()).select_from(deployments)).scalar_one())


def test_fresh_environment_rolls_forward_through_every_version(
    ctx: Context, app_db: AppDb, action_log: Path
) -> None:
    add_versions(ctx)
    progress: list[str] = []
    result = apply(ctx, "1.3.0", lines=progress)

    assert result.ok, result.walk.failure_message()
    assert log_lines(action_log) == [
        "1.0.0 up first=1 last=0 rf=1 rb=0 same=0 from= to=1.3.0",
        "1.1.0 up first=0 last=0 rf=1 rb=0 same=0 from= to=1.3.0",
        "1.2.0 up first=0 last=0 rf=1 rb=0 same=0 from= to=1.3.0",
        "1.3.0 up first=0 last=1 rf=1 rb=0 same=0 from= to=1.3.0",
    ]
    assert {table(v) for v in VERSIONS} <= app_db.tables()
    assert result.walk.completed_versions == VERSIONS
    assert result.walk.position == "1.3.0"
    position = get_position(ctx, "api", "staging")
    assert position is not None and position.version == "1.3.0"
    assert position.lock_owner is None  # the lease was given back
    # The live log names every interim version and action, in order.
    shapes = [re.sub(r"\d+ ms$", "N ms", line) for line in progress]
    assert shapes == [
        "[1/4] 1.0.0 up: 1.0.0/up/010-create.sql … ok N ms",
        "[1/4] 1.0.0 up: 1.0.0/up/020-log.sh … ok N ms",
        "[2/4] 1.1.0 up: 1.1.0/up/010-create.sql … ok N ms",
        "[2/4] 1.1.0 up: 1.1.0/up/020-log.sh … ok N ms",
        "[3/4] 1.2.0 up: 1.2.0/up/010-create.sql … ok N ms",
        "[3/4] 1.2.0 up: 1.2.0/up/020-log.sh … ok N ms",
        "[4/4] 1.3.0 up: 1.3.0/up/010-create.sql … ok N ms",
        "[4/4] 1.3.0 up: 1.3.0/up/020-log.sh … ok N ms",
    ]
    # One deployment: a completed roll-forward to 1.3.0, now current.
    dep = result.deployment
    assert (dep.version, dep.status, dep.kind) == ("1.3.0", "completed", "rollforward")
    assert dep.metadata["release_actions"]["versions"] == list(VERSIONS)
    assert current(ctx) == "1.3.0"
    # Every execution is stored with its output.
    executions = list_executions(ctx, "api", environment="staging")
    assert len(executions) == 8
    log_exec = executions[0]
    assert (log_exec.version, log_exec.name, log_exec.status) == (
        "1.3.0",
        "1.3.0/up/020-log.sh",
        "ok",
    )
    assert log_exec.output.strip() == "logged 1.3.0 up"
    assert log_exec.deployment_id == dep.id
    assert executions[1].output.endswith("committed")


def test_rollback_runs_only_the_downs_between(
    ctx: Context, app_db: AppDb, action_log: Path
) -> None:
    add_versions(ctx)
    forward = apply(ctx, "1.3.0")
    assert forward.ok
    action_log.unlink()

    back = apply(ctx, "1.1.0")

    assert back.ok, back.walk.failure_message()
    assert log_lines(action_log) == [
        "1.3.0 down first=1 last=0 rf=0 rb=1 same=0 from=1.3.0 to=1.1.0",
        "1.2.0 down first=0 last=1 rf=0 rb=1 same=0 from=1.3.0 to=1.1.0",
    ]
    assert [(e.version, e.name) for e in back.walk.executions] == [
        ("1.3.0", "1.3.0/down/020-drop.sql"),
        ("1.3.0", "1.3.0/down/010-log.sh"),
        ("1.2.0", "1.2.0/down/020-drop.sql"),
        ("1.2.0", "1.2.0/down/010-log.sh"),
    ]
    tables = app_db.tables()
    assert {table("1.0.0"), table("1.1.0")} <= tables
    assert not {table("1.2.0"), table("1.3.0")} & tables
    # The application ends on 1.1.0: a rollback deployment reverting the 1.3.0 one.
    assert current(ctx) == "1.1.0"
    assert back.deployment.kind == "rollback"
    assert back.deployment.reverts_id == forward.deployment.id
    assert show_deployment(ctx, forward.deployment.id).status == "rolled_back"
    position = get_position(ctx, "api", "staging")
    assert position is not None and position.version == "1.1.0"


def test_same_version_runs_with_same_set_and_no_actions(
    ctx: Context, app_db: AppDb, action_log: Path
) -> None:
    add_versions(ctx)
    assert apply(ctx, "1.1.0").ok
    before = execution_count(ctx)
    action_log.unlink()
    progress: list[str] = []

    same = apply(ctx, "1.1.0", lines=progress)

    assert same.ok
    steps = same.walk.plan.steps
    assert len(steps) == 1
    step = steps[0]
    assert (step.version, step.phase, step.flags) == ("1.1.0", None, ("first", "last", "same"))
    assert step.env()["SHIPMATE_DEP_SAME"] == "1"
    assert step.actions == ()
    assert execution_count(ctx) == before
    assert not action_log.exists()
    assert progress == ["[1/1] 1.1.0: no actions … ok"]
    assert same.deployment.kind == "deploy"
    assert current(ctx) == "1.1.0"


def test_failure_keeps_position_then_rerun_continues_without_repeating(
    ctx: Context, app_db: AppDb, action_log: Path
) -> None:
    add_versions(ctx, ("1.0.0", "1.1.0"))
    # 1.2.0 copies rows from a table the environment is missing: its up fails.
    from shipmate.services.releases.actions import ActionSpec, add_action

    add_action(
        ctx,
        "api",
        ActionSpec(
            "1.2.0",
            "up",
            "sql",
            "CREATE TABLE t_1_2_0 (id INTEGER PRIMARY KEY, note TEXT);\n"
            "INSERT INTO t_1_2_0 (id) SELECT id FROM legacy_import;",
            "1.2.0/up/010-import.sql",
            10,
            "APP_DB_URL",
        ),
    )
    add_versions(ctx, ("1.3.0",))
    # The application runs 1.0.0 (deployed earlier, without actions).
    record_deployment(
        ctx,
        RecordRequest(environment="staging", status="completed", product="api", version="1.0.0"),
    )
    app_db.execute(f"CREATE TABLE {table('1.0.0')} (id INTEGER)")  # what 1.0.0 left behind
    progress: list[str] = []

    failed = apply(ctx, "1.3.0", lines=progress)

    assert not failed.ok
    assert failed.walk.failed is not None
    assert failed.walk.failed.version == "1.2.0"
    assert failed.walk.completed_versions == ("1.1.0",)
    assert failed.walk.position == "1.1.0"
    assert "legacy_import" in failed.walk.failure_message()
    assert failed.walk.failure_message().endswith("the schema position stays at 1.1.0")
    failed_at = next(i for i, line in enumerate(progress) if "FAILED" in line)
    assert progress[failed_at].startswith("[2/3] 1.2.0 up: 1.2.0/up/010-import.sql … FAILED")
    assert progress[failed_at + 1].startswith("    error: statement 2 of 2 failed")
    assert progress[failed_at + 2].startswith("    output (last ")
    assert [line.split(":")[0] for line in progress[:failed_at]] == [
        "[1/3] 1.1.0 up",
        "[1/3] 1.1.0 up",
    ]
    # The SQL action is one transaction: its first statement left no table.
    assert table("1.2.0") not in app_db.tables()
    assert table("1.1.0") in app_db.tables()
    position = get_position(ctx, "api", "staging")
    assert position is not None and position.version == "1.1.0"
    # The deployment failed with the failing version and output; the app is untouched.
    dep = failed.deployment
    assert (dep.status, dep.version, dep.kind) == ("failed", "1.3.0", "rollforward")
    info = dep.metadata["release_actions"]
    assert info["failed_version"] == "1.2.0"
    assert info["failed_action"] == "1.2.0/up/010-import.sql"
    assert "legacy_import" in info["error"]
    assert "statement 2: INSERT INTO t_1_2_0" in info["output"]
    assert current(ctx) == "1.0.0"

    # Fix the environment and run again: it continues at 1.2.0, 1.1.0 is not repeated.
    app_db.execute("CREATE TABLE legacy_import (id INTEGER)")
    action_log.unlink()
    again = apply(ctx, "1.3.0")

    assert again.ok, again.walk.failure_message()
    assert [s.version for s in again.walk.plan.steps] == ["1.2.0", "1.3.0"]
    assert log_lines(action_log) == [
        "1.3.0 up first=0 last=1 rf=1 rb=0 same=0 from=1.0.0 to=1.3.0",
    ]
    assert [e.version for e in again.walk.executions] == ["1.2.0", "1.3.0", "1.3.0"]
    assert current(ctx) == "1.3.0"
    ran_110 = [e for e in list_executions(ctx, "api") if e.version == "1.1.0"]
    assert len(ran_110) == 2  # once, in the first attempt


def test_rollback_from_a_partial_chain_runs_only_what_was_applied(
    ctx: Context, app_db: AppDb, action_log: Path
) -> None:
    add_versions(ctx)
    app_db.execute(f"CREATE TABLE {table('1.2.0')} (id INTEGER)")  # makes 1.2.0's up fail
    failed = apply(ctx, "1.3.0")
    assert not failed.ok and failed.walk.position == "1.1.0"
    assert current(ctx) is None  # a fresh environment: still no application
    action_log.unlink()

    back = apply(ctx, "1.0.0")

    assert back.ok, back.walk.failure_message()
    assert log_lines(action_log) == [
        "1.1.0 down first=1 last=1 rf=0 rb=1 same=0 from= to=1.0.0",
    ]
    assert back.deployment.kind == "rollback"
    assert back.deployment.reverts_id is None
    assert table("1.1.0") not in app_db.tables()
    assert table("1.0.0") in app_db.tables()
    assert current(ctx) == "1.0.0"


def test_strict_lineage_with_a_gap_is_refused_before_anything_runs(
    ctx: Context, app_db: AppDb, action_log: Path
) -> None:
    add_versions(ctx)
    set_predecessor(ctx, "api", "1.1.0", "1.0.0")
    set_predecessor(ctx, "api", "1.2.0", "1.1.5")  # 1.1.5 was never made: a gap
    set_predecessor(ctx, "api", "1.3.0", "1.2.0")
    ctx.settings = replace(ctx.settings, sections={"products": {"api": {"lineage": "strict"}}})

    with pytest.raises(ConflictError) as info:
        apply(ctx, "1.3.0")

    assert info.value.field == "predecessor"
    assert "version 1.2.0 names predecessor 1.1.5" in info.value.message
    problems = info.value.details["problems"]
    assert {"problem": "gap", "version": "1.2.0", "predecessor": "1.1.5"} in problems
    assert not action_log.exists()
    assert execution_count(ctx) == 0
    assert deployment_count(ctx) == 0
    assert get_position(ctx, "api", "staging") is None
    assert app_db.tables() == set()
    # The plan reports the same; a gap is refused without strict mode too.
    with pytest.raises(ConflictError):
        plan_for(ctx, "api", "staging", "1.3.0")
    with pytest.raises(ConflictError):
        plan_for(ctx, "api", "staging", "1.3.0", strict=False)
    # Mending the chain makes it plannable.
    set_predecessor(ctx, "api", "1.2.0", "1.1.0")
    assert [s.version for s in plan_for(ctx, "api", "staging", "1.3.0").steps] == list(VERSIONS)


def test_strict_lineage_needs_a_predecessor_on_every_version(ctx: Context) -> None:
    add_versions(ctx)
    set_predecessor(ctx, "api", "1.1.0", "1.0.0")
    with pytest.raises(ConflictError) as info:
        plan_for(ctx, "api", "staging", "1.3.0", strict=True)
    kinds = {(p["problem"], p["version"]) for p in info.value.details["problems"]}
    assert kinds == {("no_predecessor", "1.2.0"), ("no_predecessor", "1.3.0")}


def test_a_held_lease_refuses_a_second_walk(ctx: Context, app_db: AppDb, action_log: Path) -> None:
    add_versions(ctx)
    acquire_lease(ctx, "api", "staging", "other-host:1:abc", seconds=600)
    with pytest.raises(ConflictError) as info:
        run_interim_actions(ctx, "api", "staging", "1.3.0")
    assert info.value.field == "environment"
    assert "other-host:1:abc" in info.value.message
    assert execution_count(ctx) == 0


def test_unknown_target_and_product_are_named(ctx: Context) -> None:
    add_versions(ctx)
    with pytest.raises(NotFoundError) as info:
        plan_for(ctx, "api", "staging", "9.9.9")
    assert info.value.field == "target"
    with pytest.raises(NotFoundError) as info:
        plan_for(ctx, "nope", "staging", "1.0.0")
    assert info.value.field == "product"


def test_history_shows_the_roll_forward(ctx: Context, app_db: AppDb, action_log: Path) -> None:
    add_versions(ctx)
    apply(ctx, "1.2.0")
    page = history(ctx, HistoryFilter(product="api"), limit=10)
    assert [(d.version, d.kind, d.status) for d in page.items] == [
        ("1.2.0", "rollforward", "completed")
    ]


def test_a_full_version_names_its_version_and_build(
    ctx: Context, app_db: AppDb, action_log: Path
) -> None:
    add_versions(ctx, ("1.0.0", "1.1.0"))
    result = apply(ctx, "1.1.0+build.3")
    assert result.ok
    assert result.deployment.full_version == "1.1.0+build.3"
    assert [s.version for s in result.walk.plan.steps] == ["1.0.0", "1.1.0"]
    assert [s.version for s in plan_for(ctx, "api", "staging", "1.1.0+build.9").steps] == ["1.1.0"]
