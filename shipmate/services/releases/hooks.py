"""Release actions inside deploy and rollback runs: one run step per action.

``shipmate deploy`` and ``shipmate rollback`` are durable runs
(:mod:`shipmate.services.deploys.deploy`).  Their flow has an extension point before the
application starts (``before_start``); :func:`release_hooks`, registered as a hook
provider, fills it with the plan of :func:`~shipmate.services.releases.plans.plan_for`:

* one ``release_action`` step per action, in plan order, titled like the live log
  (``[2/4] 1.2.0 up: versions/1.2.0/up/010-orders.sql``);
* one ``release_version`` step for a visited version without actions (it only moves
  the schema position), so every interim version shows in the run.

The application itself is delivered after these steps, at the last one, as the
flow already does.  A product without any release action gets no steps at all.
A version being deployed for the first time is not yet a version of the product
when the run is planned: it is planned as the newest version (where recording it
will put it).  A broken lineage (a gap, a cycle, a strict-mode problem) refuses the
deploy before the run is created.

The steps carry everything they need in their ``args`` (journaled with the run), so a
resumed run runs exactly the planned actions; an action's row must still be stored
with the planned checksum.  Each step stores its execution in
``release_action_runs`` (with the run id) and returns the action's output as the
step's output; the step after a version's last action moves the schema position.
A failing action fails the step with the version, the action and its output, so
the run records the deployment failed with them and leaves the application as it
was (the flow's failure handling before the switch).

Resuming: a step whose action already succeeded in this run (an ``ok`` execution
for this run, step and action) is not run again; one that was interrupted while
running runs again (SQL actions are transactional; shell actions should be
idempotent).  While a step runs it holds the environment's actions lease
(owner ``run:<id>``), so ``shipmate release apply`` cannot run at the same time.

:func:`install` registers the provider and both executors (idempotent); importing
this module does it.  ``shipmate.services.runs.steps.STEP_MODULES`` names this module
so a resumed run in a fresh process finds the executors.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from shipmate.domain.releases.planning import Phase, PlanStep, ReleaseAction, format_step_progress
from shipmate.domain.runs.plan import RunPlan, Step, StepResult
from shipmate.errors import NotFoundError, ShipmateError
from shipmate.services.context import Context
from shipmate.services.deploys.deploy import HOOK_PROVIDERS, RunHooks, register_hook_provider
from shipmate.services.releases.executions import execute_action, find_execution
from shipmate.services.releases.plans import plan_for
from shipmate.services.releases.positions import acquire_lease, release_lease
from shipmate.services.releases.settings import release_settings
from shipmate.services.releases.walk import LEASE_MARGIN_SECONDS, complete_version
from shipmate.services.runs.steps import STEP_EXECUTORS, StepEnv, register_step
from shipmate.store.catalog import find_product_id
from shipmate.store.schema_releases import release_actions

__all__ = [
    "RELEASE_ACTION_STEP",
    "RELEASE_VERSION_STEP",
    "execute_release_action",
    "execute_release_version",
    "install",
    "release_hooks",
    "step_from_args",
    "step_to_args",
]

RELEASE_ACTION_STEP = "release_action"
RELEASE_VERSION_STEP = "release_version"


# -- step args <-> plan steps -------------------------------------------------------------


def step_to_args(product: str, environment: str, step: PlanStep) -> dict[str, Any]:
    """A plan step as JSON values for a run step's ``args``."""
    return {
        "product": product,
        "environment": environment,
        "version": step.version,
        "index": step.index,
        "total": step.total,
        "phase": None if step.phase is None else str(step.phase),
        "flags": list(step.flags),
        "from_version": step.from_version,
        "to_version": step.to_version,
        "position_after": step.position_after,
        "actions": [a.to_dict() for a in step.actions],
    }


def step_from_args(args: Mapping[str, Any]) -> PlanStep:
    """The plan step a run step's ``args`` hold (actions re-checked against their checksums)."""
    flags = set(args.get("flags") or ())
    actions = tuple(
        ReleaseAction.create(
            version=a["version"],
            phase=a["phase"],
            order=int(a["order"]),
            kind=a["kind"],
            name=a["name"],
            body=a["body"],
            database_ref=a.get("database_ref"),
            checksum=a["checksum"],
        )
        for a in args.get("actions") or ()
    )
    phase = args.get("phase")
    return PlanStep(
        version=str(args["version"]),
        index=int(args["index"]),
        total=int(args["total"]),
        phase=None if phase is None else Phase(phase),
        first="first" in flags,
        last="last" in flags,
        rollforward="rollforward" in flags,
        rollback="rollback" in flags,
        same="same" in flags,
        actions=actions,
        from_version=args.get("from_version"),
        to_version=str(args["to_version"]),
        position_after=str(args["position_after"]),
    )


# -- the hook provider ----------------------------------------------------------------------


def _has_actions(ctx: Context, product: str) -> bool:
    with ctx.read() as conn:
        product_id = find_product_id(conn, product)
        if product_id is None:
            return False
        found = conn.execute(
            select(release_actions.c.id).where(release_actions.c.product_id == product_id).limit(1)
        ).first()
    return found is not None


def release_hooks(ctx: Context, plan: RunPlan) -> RunHooks:
    """The ``before_start`` steps of a run: every interim version's actions, in order."""
    if not _has_actions(ctx, plan.product):
        return RunHooks()
    try:
        walk = plan_for(ctx, plan.product, plan.environment, plan.version, assume_new_target=True)
    except NotFoundError:
        return RunHooks()
    steps: list[Step] = []
    for ps in walk.steps:
        args = step_to_args(plan.product, plan.environment, ps)
        if not ps.actions:
            steps.append(
                Step(
                    RELEASE_VERSION_STEP,
                    f"[{ps.index}/{ps.total}] {ps.version}: no actions",
                    args,
                )
            )
            continue
        for i, action in enumerate(ps.actions):
            steps.append(
                Step(
                    RELEASE_ACTION_STEP,
                    f"[{ps.index}/{ps.total}] {ps.version} {action.phase}: {action.name}",
                    {**args, "action_index": i},
                )
            )
    return RunHooks(before_start=tuple(steps))


# -- the executors -------------------------------------------------------------------------


def _app_env(env: StepEnv) -> dict[str, str]:
    try:
        target = env.parts.config.target
    except ShipmateError:  # parts may be unavailable (a config gone); actions still run
        return {}
    raw = getattr(target, "env", None) or {}
    return {str(k): str(v) for k, v in dict(raw).items()}


def execute_release_action(step: Step, env: StepEnv) -> StepResult:
    """Run one action of the plan (see the module docstring)."""
    args = step.args
    product, environment = str(args["product"]), str(args["environment"])
    plan_step = step_from_args(args)
    index = int(args.get("action_index", 0))
    action = plan_step.actions[index]
    last_of_version = index == len(plan_step.actions) - 1
    run_id = env.run.id
    deployment_id = env.run.deployment_id
    execution = find_execution(
        env.ctx, product, environment, run_id=run_id, step=plan_step, action=action
    )
    if execution is None or not execution.ok:
        owner = f"run:{run_id}"
        seconds = release_settings(env.ctx.settings).action_timeout
        acquire_lease(env.ctx, product, environment, owner, seconds=seconds + LEASE_MARGIN_SECONDS)
        try:
            env.progress(format_step_progress(plan_step, action, "running"))
            execution = execute_action(
                env.ctx,
                product,
                environment,
                plan_step,
                action,
                app_env=_app_env(env),
                timeout=seconds,
                run_id=run_id,
                deployment_id=deployment_id,
            )
        finally:
            release_lease(env.ctx, product, environment, owner)
    data: dict[str, Any] = {
        "execution_id": str(execution.id),
        "version": execution.version,
        "phase": execution.phase,
        "action": execution.name,
        "duration_ms": execution.duration_ms,
    }
    if not execution.ok:
        message = (
            f"{execution.version} {execution.phase} action {execution.name!r} failed: "
            f"{execution.error or 'failed'}; the schema position stays where the last "
            "completed version left it"
        )
        return StepResult.failure(
            message,
            code="deploy_failed",
            output=execution.output,
            data={
                **data,
                "field": "action",
                "details": {
                    "failed_version": execution.version,
                    "failed_action": execution.name,
                    "execution_id": str(execution.id),
                },
            },
        )
    if last_of_version:
        data["position"] = complete_version(
            env.ctx, product, environment, plan_step, run_id=run_id, deployment_id=deployment_id
        )
    return StepResult.success(data, output=execution.output)


def execute_release_version(step: Step, env: StepEnv) -> StepResult:
    """A visited version without actions: only the schema position moves."""
    args = step.args
    plan_step = step_from_args(args)
    position = complete_version(
        env.ctx,
        str(args["product"]),
        str(args["environment"]),
        plan_step,
        run_id=env.run.id,
        deployment_id=env.run.deployment_id,
    )
    return StepResult.success(
        {"version": plan_step.version, "position": position},
        output=format_step_progress(plan_step, None, "ok"),
    )


def install() -> None:
    """Register the hook provider and the two step executors (once)."""
    if release_hooks not in HOOK_PROVIDERS:
        register_hook_provider(release_hooks)
    if RELEASE_ACTION_STEP not in STEP_EXECUTORS:
        register_step(RELEASE_ACTION_STEP, execute_release_action)
    if RELEASE_VERSION_STEP not in STEP_EXECUTORS:
        register_step(RELEASE_VERSION_STEP, execute_release_version)


install()
