"""The walk through interim versions: running the release actions of a plan.

:func:`run_interim_actions` walks the steps of :func:`~shipmate.services.releases.plans.plan_for`
in order and runs each version's actions (``up`` ascending going forward, ``down``
descending going back, as the plan orders them):

* every action runs with
  :func:`~shipmate.services.releases.action_env.action_env` (the inherited
  environment without shipmate's own settings, the app's variables, the step's
  ``SHIPMATE_*`` flags and versions);
* each execution is stored (:mod:`shipmate.services.releases.executions`): a
  ``running`` row before the action starts, then ``ok``/``failed`` with exit code,
  bounded output, error and duration, each in its own committed transaction;
* when every action of a version succeeded, the schema position moves to the
  step's ``position_after`` (the version itself going forward, the one before it
  going back) in its own committed transaction (:func:`complete_version`);
* the first failure stops the walk: the position stays at the last completed
  version, so running again continues with the failed version (from its first
  action) and never repeats a completed one, and rolling back from there runs
  only the downs of what was applied;
* the live log (``on_progress``) names each interim version:
  ``[2/4] 1.2.0 up: versions/1.2.0/up/010-orders.sql … ok 120 ms``.

Nobody else may run actions of the same product and environment meanwhile: the
walk holds the lease of :func:`~shipmate.services.releases.positions.acquire_lease` (renewed
before every action, given back at the end, whatever happened).

Deploy runs call the finer pieces
(:func:`~shipmate.services.releases.executions.execute_action`,
:func:`complete_version`) one run step at a time; ``shipmate release apply`` wraps
the walk in a deployment record (:mod:`shipmate.services.releases.apply`).
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from shipmate.domain.inputs.fields import validate_name
from shipmate.domain.releases.planning import Plan, PlanStep, ReleaseAction, format_step_progress
from shipmate.engine.actions import ActionRunner
from shipmate.services.context import Context
from shipmate.services.releases.action_env import app_env_for
from shipmate.services.releases.executions import ActionExecution, execute_action
from shipmate.services.releases.plans import plan_for
from shipmate.services.releases.positions import acquire_lease, release_lease, set_position
from shipmate.services.releases.settings import release_settings

__all__ = [
    "LEASE_MARGIN_SECONDS",
    "ProgressCallback",
    "WalkResult",
    "complete_version",
    "new_lease_owner",
    "progress_line",
    "run_interim_actions",
]

#: Seconds a lease outlives an action's timeout (a dead holder frees it after that).
LEASE_MARGIN_SECONDS = 60.0

ProgressCallback = Callable[[str], None]


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


def new_lease_owner() -> str:
    """``host:pid:random``: who holds the actions lease of a stand-alone walk."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


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
