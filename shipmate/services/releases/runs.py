"""Running the release actions of a plan: the walk through interim versions.

:func:`run_interim_actions` walks the steps of :func:`~shipmate.services.releases.plans.plan_for`
in order and runs each version's actions (``up`` ascending going forward, ``down``
descending going back, as the plan orders them):

* every action runs with :func:`action_env`: the inherited environment without
  shipmate's own ``SHIPMATE_*`` settings, the app's configured variables (the
  ``env`` table of the product's ``[deploy.target]``, when there is one), then
  ``SHIPMATE_PRODUCT``, ``SHIPMATE_ENVIRONMENT``, ``SHIPMATE_PHASE``,
  ``SHIPMATE_ACTION`` and the step's flags and versions
  (:meth:`~shipmate.domain.releases.planning.PlanStep.env`: ``SHIPMATE_DEP_FIRST`` ...
  ``SHIPMATE_TO_VERSION``);
* each execution is stored (``release_action_runs``): a ``running`` row before the
  action starts, then ``ok``/``failed`` with exit code, bounded output, error and
  duration, each in its own committed transaction;
* when every action of a version succeeded, the schema position moves to the
  step's ``position_after`` (the version itself going forward, the one before it
  going back) in its own committed transaction;
* the first failure stops the walk: the position stays at the last completed
  version, so running again continues with the failed version (from its first
  action) and never repeats a completed one, and rolling back from there runs
  only the downs of what was applied;
* the live log (``on_progress``) names each interim version:
  ``[2/4] 1.2.0 up: versions/1.2.0/up/010-orders.sql … ok 120 ms``.

Nobody else may run actions of the same product and environment meanwhile: the
walk holds the lease of :func:`~shipmate.services.releases.positions.acquire_lease` (renewed
before every action, given back at the end, whatever happened).

:func:`apply_release` is ``shipmate release apply``: the same walk wrapped in a
deployment record (``started`` first, so gates apply; ``completed`` when every
action ran; ``failed`` with the failing version, action and output otherwise),
of kind ``rollforward``, ``rollback`` (reverting the current deployment) or
``deploy`` (same version).  No application is delivered: it is for environments
where shipmate does not run the app, or whose delivery happens elsewhere.
Deploy runs call the finer pieces (:func:`execute_action`,
:func:`complete_version`) one run step at a time.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import desc, select, update

from shipmate.config import Settings
from shipmate.domain.inputs.fields import format_time, validate_lookup_name, validate_name
from shipmate.domain.records import DeploymentRecord
from shipmate.domain.releases.lineage import Direction
from shipmate.domain.releases.planning import Plan, PlanStep, ReleaseAction, format_step_progress
from shipmate.domain.versions import parse_full_version, validate_build_number
from shipmate.engine.actions import ActionOutcome, ActionRunner, LocalActionRunner
from shipmate.engine.release import inherited_env
from shipmate.errors import InvalidInputError, NotFoundError
from shipmate.services.context import Context
from shipmate.services.records.deployments import RecordRequest, default_actor, record_deployment
from shipmate.services.releases.plans import plan_for
from shipmate.services.releases.positions import (
    acquire_lease,
    current_deployment_id,
    release_lease,
    set_position,
)
from shipmate.services.releases.settings import release_settings
from shipmate.store.catalog import find_environment_id, find_product_id
from shipmate.store.schema import environments, products, versions
from shipmate.store.schema_releases import release_action_runs, release_actions

__all__ = [
    "MAX_RECORDED_OUTPUT",
    "ActionExecution",
    "ApplyRequest",
    "ApplyResult",
    "WalkResult",
    "action_env",
    "app_env_for",
    "apply_release",
    "complete_version",
    "execute_action",
    "find_execution",
    "list_executions",
    "new_lease_owner",
    "run_interim_actions",
]

#: Longest output tail put into a failed deployment's metadata.
MAX_RECORDED_OUTPUT = 4000
#: Seconds a lease outlives an action's timeout (a dead holder frees it after that).
LEASE_MARGIN_SECONDS = 60.0

ProgressCallback = Callable[[str], None]


# -- values -------------------------------------------------------------------------


@dataclass(frozen=True)
class ActionExecution:
    """One stored execution of one action in one environment."""

    id: int
    product: str
    environment: str
    version: str
    phase: str
    order: int
    name: str
    kind: str
    checksum: str
    status: str  # running | ok | failed
    step_index: int
    step_total: int
    started_at: datetime
    finished_at: datetime | None = None
    duration_ms: int | None = None
    exit_code: int | None = None
    output: str = ""
    error: str | None = None
    run_id: int | None = None
    deployment_id: int | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "product": self.product,
            "environment": self.environment,
            "version": self.version,
            "phase": self.phase,
            "order": self.order,
            "name": self.name,
            "kind": self.kind,
            "checksum": self.checksum,
            "status": self.status,
            "step": f"{self.step_index}/{self.step_total}",
            "started_at": format_time(self.started_at),
            "finished_at": format_time(self.finished_at),
            "duration_ms": self.duration_ms,
            "exit_code": self.exit_code,
            "output": self.output,
            "error": self.error,
            "run_id": None if self.run_id is None else str(self.run_id),
            "deployment_id": None if self.deployment_id is None else str(self.deployment_id),
        }


@dataclass(frozen=True)
class WalkResult:
    """What :func:`run_interim_actions` did."""

    plan: Plan
    executions: tuple[ActionExecution, ...]
    completed_versions: tuple[str, ...]
    #: The schema position after the walk (None: no version completed yet, ever).
    position: str | None
    failed: ActionExecution | None = None

    @property
    def ok(self) -> bool:
        return self.failed is None

    def failure_message(self) -> str:
        if self.failed is None:
            return ""
        f = self.failed
        return (
            f"{f.version} {f.phase} action {f.name!r} failed: {f.error or 'failed'}; "
            f"the schema position stays at {self.position or 'none (nothing applied)'}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "plan": self.plan.to_dict(),
            "completed_versions": list(self.completed_versions),
            "position": self.position,
            "executions": [e.to_dict() for e in self.executions],
            "failed": None if self.failed is None else self.failed.to_dict(),
            "error": self.failure_message() or None,
        }


@dataclass(frozen=True)
class ApplyRequest:
    """``shipmate release apply``: move an environment to ``version`` by running actions."""

    product: str
    environment: str
    version: str
    build_number: int | None = None
    actor: str | None = None
    strict: bool | None = None
    timeout: float | None = None
    cwd: str | None = None
    commit_sha: str | None = None
    branch: str | None = None
    repository: str | None = None
    ci_platform: str | None = None
    ci_run_id: str | None = None
    ci_run_url: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    #: Extra variables for every action, over the app's configured ones.
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ApplyResult:
    walk: WalkResult
    deployment: DeploymentRecord

    @property
    def ok(self) -> bool:
        return self.walk.ok

    def to_dict(self) -> dict[str, Any]:
        return {**self.walk.to_dict(), "deployment": self.deployment.to_dict()}


# -- environment of an action --------------------------------------------------------


def app_env_for(settings: Settings, product: str) -> dict[str, str]:
    """The ``env`` table of the product's deploy target, or {} without a deploy config."""
    if not _has_deploy_config(settings, product):
        return {}
    from shipmate.services.deploys.config import load_product_deploy

    config = load_product_deploy(settings, product).config
    env = getattr(config.target, "env", None) or {}
    return {str(k): str(v) for k, v in dict(env).items()}


def _has_deploy_config(settings: Settings, product: str) -> bool:
    products_table = settings.sections.get("products")
    if isinstance(products_table, Mapping):
        entry = products_table.get(product)
        if isinstance(entry, Mapping) and "deploy" in entry:
            return True
    top = settings.sections.get("deploy")
    if isinstance(top, Mapping):
        owner = top.get("product") or settings.product
        return bool(owner == product)
    return False


def action_env(
    step: PlanStep,
    action: ReleaseAction | None,
    *,
    product: str,
    environment: str,
    app_env: Mapping[str, str] | None = None,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Everything an action runs with (see the module docstring for the layers)."""
    env = inherited_env(base)
    env.update({k: v for k, v in (app_env or {}).items() if not k.startswith("SHIPMATE_")})
    env["SHIPMATE_PRODUCT"] = product
    env["SHIPMATE_ENVIRONMENT"] = environment
    env["SHIPMATE_PHASE"] = "" if step.phase is None else str(step.phase)
    env["SHIPMATE_ACTION"] = "" if action is None else action.name
    env.update(step.env())
    return env


def new_lease_owner() -> str:
    """``host:pid:random``: who holds the actions lease of a stand-alone walk."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


# -- stored executions -----------------------------------------------------------------


def _execution_select() -> Any:
    return select(
        release_action_runs,
        products.c.name.label("product_name"),
        environments.c.name.label("environment_name"),
    ).select_from(
        release_action_runs.join(products, products.c.id == release_action_runs.c.product_id).join(
            environments, environments.c.id == release_action_runs.c.environment_id
        )
    )


def _row_to_execution(row: Any) -> ActionExecution:
    return ActionExecution(
        id=int(row.id),
        product=row.product_name,
        environment=row.environment_name,
        version=row.version,
        phase=row.phase,
        order=int(row.sort_order),
        name=row.name,
        kind=row.kind,
        checksum=row.checksum,
        status=row.status,
        step_index=int(row.step_index),
        step_total=int(row.step_total),
        started_at=row.started_at,
        finished_at=row.finished_at,
        duration_ms=None if row.duration_ms is None else int(row.duration_ms),
        exit_code=row.exit_code,
        output=row.output or "",
        error=row.error,
        run_id=None if row.run_id is None else int(row.run_id),
        deployment_id=None if row.deployment_id is None else int(row.deployment_id),
    )


def list_executions(
    ctx: Context,
    product: str,
    *,
    environment: str | None = None,
    run_id: int | None = None,
    limit: int = 50,
    before_id: int | None = None,
) -> list[ActionExecution]:
    """Stored executions, newest first."""
    product = validate_lookup_name(product, field="product", max_length=255)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 500:
        raise InvalidInputError("limit must be between 1 and 500", field="limit")
    with ctx.read() as conn:
        product_id = find_product_id(conn, product)
        if product_id is None:
            raise NotFoundError(f"product {product!r} does not exist", field="product")
        query = _execution_select().where(release_action_runs.c.product_id == product_id)
        if environment is not None:
            environment_id = find_environment_id(conn, environment)
            if environment_id is None:
                raise NotFoundError(
                    f"environment {environment!r} does not exist", field="environment"
                )
            query = query.where(release_action_runs.c.environment_id == environment_id)
        if run_id is not None:
            query = query.where(release_action_runs.c.run_id == run_id)
        if before_id is not None:
            query = query.where(release_action_runs.c.id < before_id)
        rows = conn.execute(query.order_by(desc(release_action_runs.c.id)).limit(limit)).all()
    return [_row_to_execution(row) for row in rows]


def find_execution(
    ctx: Context,
    product: str,
    environment: str,
    *,
    run_id: int,
    step: PlanStep,
    action: ReleaseAction,
) -> ActionExecution | None:
    """The latest execution of ``action`` at ``step`` by run ``run_id`` (for resumed runs)."""
    with ctx.read() as conn:
        product_id = find_product_id(conn, product)
        environment_id = find_environment_id(conn, environment)
        if product_id is None or environment_id is None:
            return None
        row = conn.execute(
            _execution_select()
            .where(
                release_action_runs.c.product_id == product_id,
                release_action_runs.c.environment_id == environment_id,
                release_action_runs.c.run_id == run_id,
                release_action_runs.c.version == action.version,
                release_action_runs.c.phase == str(action.phase),
                release_action_runs.c.sort_order == action.order,
                release_action_runs.c.step_index == step.index,
            )
            .order_by(desc(release_action_runs.c.id))
            .limit(1)
        ).first()
    return None if row is None else _row_to_execution(row)


def _start_execution(
    ctx: Context,
    product: str,
    environment: str,
    step: PlanStep,
    action: ReleaseAction,
    *,
    run_id: int | None,
    deployment_id: int | None,
) -> int:
    now = ctx.now()
    with ctx.write() as conn:
        product_id = find_product_id(conn, product)
        environment_id = find_environment_id(conn, environment)
        if product_id is None or environment_id is None:
            raise NotFoundError(f"{product} in {environment} is not known", field="environment")
        action_id = conn.execute(
            select(release_actions.c.id)
            .select_from(
                release_actions.join(versions, versions.c.id == release_actions.c.version_id)
            )
            .where(
                release_actions.c.product_id == product_id,
                versions.c.version == action.version,
                release_actions.c.phase == str(action.phase),
                release_actions.c.sort_order == action.order,
                release_actions.c.checksum == action.checksum,
            )
        ).scalar()
        if action_id is None:
            raise NotFoundError(
                f"the {action.phase} action #{action.order} of {product} {action.version} "
                f"({action.name!r}) is no longer stored as planned; plan again",
                field="action",
            )
        return int(
            conn.execute(
                release_action_runs.insert()
                .values(
                    product_id=product_id,
                    environment_id=environment_id,
                    action_id=action_id,
                    version=action.version,
                    phase=str(action.phase),
                    sort_order=action.order,
                    kind=str(action.kind),
                    name=action.name,
                    checksum=action.checksum,
                    run_id=run_id,
                    deployment_id=deployment_id,
                    step_index=step.index,
                    step_total=step.total,
                    status="running",
                    started_at=now,
                )
                .returning(release_action_runs.c.id)
            ).scalar_one()
        )


def _finish_execution(ctx: Context, execution_id: int, outcome: ActionOutcome) -> ActionExecution:
    now = ctx.now()
    with ctx.write() as conn:
        conn.execute(
            update(release_action_runs)
            .where(release_action_runs.c.id == execution_id)
            .values(
                status="ok" if outcome.ok else "failed",
                exit_code=outcome.exit_code,
                output=outcome.output.replace("\x00", ""),
                error=None if outcome.error is None else outcome.error.replace("\x00", ""),
                finished_at=now,
                duration_ms=round(outcome.duration_ms),
            )
        )
        row = conn.execute(
            _execution_select().where(release_action_runs.c.id == execution_id)
        ).one()
    return _row_to_execution(row)


# -- the pieces a run calls ------------------------------------------------------------


def execute_action(
    ctx: Context,
    product: str,
    environment: str,
    step: PlanStep,
    action: ReleaseAction,
    *,
    runner: ActionRunner | None = None,
    app_env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    cwd: str | None = None,
    run_id: int | None = None,
    deployment_id: int | None = None,
) -> ActionExecution:
    """Run one action of one plan step and store its execution (never raises for its failure).

    The caller holds the lease and moves the position (:func:`complete_version`)
    once every action of the step succeeded.
    """
    seconds = timeout if timeout is not None else release_settings(ctx.settings).action_timeout
    execution_id = _start_execution(
        ctx, product, environment, step, action, run_id=run_id, deployment_id=deployment_id
    )
    env = action_env(step, action, product=product, environment=environment, app_env=app_env)
    try:
        outcome = (runner or LocalActionRunner()).run(action, env=env, timeout=seconds, cwd=cwd)
    except Exception as exc:  # a runner bug must still close the execution row
        outcome = ActionOutcome(ok=False, output="", error=f"{type(exc).__name__}: {exc}")
    return _finish_execution(ctx, execution_id, outcome)


def complete_version(
    ctx: Context,
    product: str,
    environment: str,
    step: PlanStep,
    *,
    run_id: int | None = None,
    deployment_id: int | None = None,
) -> str:
    """Move the schema position past ``step`` (to ``step.position_after``); returns it."""
    set_position(
        ctx,
        product,
        environment,
        step.position_after,
        run_id=run_id,
        deployment_id=deployment_id,
    )
    return step.position_after


def progress_line(step: PlanStep, execution: ActionExecution | None) -> str:
    """The live log line of a finished action (or of a step without actions)."""
    if execution is None:
        return format_step_progress(step, None, "ok")
    action = _action_of(step, execution)
    outcome = "ok" if execution.ok else "FAILED"
    return format_step_progress(step, action, outcome, execution.duration_ms)


def _action_of(step: PlanStep, execution: ActionExecution) -> ReleaseAction | None:
    for action in step.actions:
        if action.order == execution.order and str(action.phase) == execution.phase:
            return action
    return None


# -- the whole walk ----------------------------------------------------------------------


def run_interim_actions(
    ctx: Context,
    product: str,
    environment: str,
    target: str,
    *,
    runner: ActionRunner | None = None,
    on_progress: ProgressCallback | None = None,
    run_id: int | None = None,
    deployment_id: int | None = None,
    strict: bool | None = None,
    app_env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    cwd: str | None = None,
    owner: str | None = None,
    plan: Plan | None = None,
) -> WalkResult:
    """Walk the plan to ``target``, running every action (see the module docstring).

    Lineage problems, an unknown target and a held lease raise before anything
    runs.  An action's failure does not raise: it ends the walk and is in the
    result (``failed``, ``failure_message()``).
    """
    product = validate_name(product, field="product", max_length=255)
    environment = validate_name(environment, field="environment")
    the_plan = plan or plan_for(ctx, product, environment, target, strict=strict)
    seconds = timeout if timeout is not None else release_settings(ctx.settings).action_timeout
    env_of_app = dict(app_env) if app_env is not None else app_env_for(ctx.settings, product)
    lease_owner = owner or new_lease_owner()
    lease_seconds = seconds + LEASE_MARGIN_SECONDS
    say = on_progress or (lambda _line: None)
    acquire_lease(ctx, product, environment, lease_owner, seconds=lease_seconds)
    executions: list[ActionExecution] = []
    completed: list[str] = []
    position = the_plan.position
    try:
        for step in the_plan.steps:
            failed: ActionExecution | None = None
            for action in step.actions:
                acquire_lease(ctx, product, environment, lease_owner, seconds=lease_seconds)
                execution = execute_action(
                    ctx,
                    product,
                    environment,
                    step,
                    action,
                    runner=runner,
                    app_env=env_of_app,
                    timeout=seconds,
                    cwd=cwd,
                    run_id=run_id,
                    deployment_id=deployment_id,
                )
                executions.append(execution)
                say(progress_line(step, execution))
                if not execution.ok:
                    failed = execution
                    for line in _failure_lines(execution):
                        say(line)
                    break
            if failed is not None:
                return WalkResult(
                    the_plan, tuple(executions), tuple(completed), position, failed=failed
                )
            if not step.actions:
                say(progress_line(step, None))
            position = complete_version(
                ctx, product, environment, step, run_id=run_id, deployment_id=deployment_id
            )
            completed.append(step.version)
    finally:
        release_lease(ctx, product, environment, lease_owner)
    return WalkResult(the_plan, tuple(executions), tuple(completed), position)


def _failure_lines(execution: ActionExecution, *, tail: int = 20) -> list[str]:
    lines = [f"    error: {execution.error or 'failed'}"]
    output = execution.output.strip().splitlines()
    if output:
        lines.append(f"    output (last {min(tail, len(output))} lines):")
        lines.extend(f"    | {line}" for line in output[-tail:])
    return lines


# -- shipmate release apply ----------------------------------------------------------------


def _kind_for(direction: Direction) -> str:
    if direction is Direction.ROLLFORWARD:
        return "rollforward"
    if direction is Direction.ROLLBACK:
        return "rollback"
    return "deploy"


def _clip(text: str, limit: int = MAX_RECORDED_OUTPUT) -> str:
    text = text.replace("\x00", "")
    return text if len(text) <= limit else "…" + text[-(limit - 1) :]


def apply_release(
    ctx: Context,
    req: ApplyRequest,
    *,
    runner: ActionRunner | None = None,
    on_progress: ProgressCallback | None = None,
) -> ApplyResult:
    """Run the actions to ``req.version`` and record the outcome as a deployment.

    Gates are checked when the deployment is recorded ``started`` (GateBlockedError
    before any action runs).  A failed action records it ``failed``, its
    ``metadata.release_actions`` naming the failing version, action and output tail.
    """
    product = validate_name(req.product, field="product", max_length=255)
    environment = validate_name(req.environment, field="environment")
    full = parse_full_version(str(req.version))
    build_number = req.build_number if req.build_number is not None else full.build_number
    if build_number is not None:
        build_number = validate_build_number(build_number)
    if full.build_number is not None and build_number != full.build_number:
        raise InvalidInputError(
            f"version names build {full.build_number} but build is {build_number}", field="build"
        )
    the_plan = plan_for(ctx, product, environment, full.version, strict=req.strict)
    env_of_app = {**app_env_for(ctx.settings, product), **dict(req.env)}
    kind = _kind_for(the_plan.direction)
    reverts_id = None
    if kind == "rollback":
        with ctx.read() as conn:
            product_id = find_product_id(conn, product)
            environment_id = find_environment_id(conn, environment)
            assert product_id is not None
            reverts_id = current_deployment_id(conn, product_id, environment_id)
    summary = {
        "from": the_plan.current,
        "position": the_plan.position,
        "direction": str(the_plan.direction),
        "versions": [s.version for s in the_plan.steps],
        "actions": the_plan.action_count,
    }
    started = record_deployment(
        ctx,
        RecordRequest(
            environment=environment,
            status="started",
            product=product,
            version=full.version,
            build_number=build_number,
            kind=kind,
            reverts_id=reverts_id,
            metadata=dict(req.metadata),
            own_metadata={"release_actions": summary},
            source_system="shipmate-release",
            deployed_by=req.actor or default_actor(),
            commit_sha=req.commit_sha,
            branch=req.branch,
            repository=req.repository,
            ci_platform=req.ci_platform,
            ci_run_id=req.ci_run_id,
            ci_run_url=req.ci_run_url,
        ),
    )
    try:
        walk = run_interim_actions(
            ctx,
            product,
            environment,
            full.version,
            runner=runner,
            on_progress=on_progress,
            deployment_id=started.id,
            app_env=env_of_app,
            timeout=req.timeout,
            cwd=req.cwd,
            plan=the_plan,
        )
    except Exception as exc:
        record_deployment(
            ctx,
            RecordRequest(
                environment=environment,
                status="failed",
                deployment_id=started.id,
                own_metadata={"release_actions": {**summary, "error": _clip(str(exc))}},
            ),
        )
        raise
    if walk.ok:
        final = record_deployment(
            ctx,
            RecordRequest(
                environment=environment,
                status="completed",
                deployment_id=started.id,
                own_metadata={"release_actions": {**summary, "position": walk.position}},
            ),
        )
    else:
        failed = walk.failed
        assert failed is not None
        final = record_deployment(
            ctx,
            RecordRequest(
                environment=environment,
                status="failed",
                deployment_id=started.id,
                own_metadata={
                    "release_actions": {
                        **summary,
                        "position": walk.position,
                        "failed_version": failed.version,
                        "failed_phase": failed.phase,
                        "failed_action": failed.name,
                        "error": _clip(failed.error or ""),
                        "output": _clip(failed.output),
                    }
                },
            ),
        )
    return ApplyResult(walk, final)
