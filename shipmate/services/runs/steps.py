"""What each step of a run does: one executor per step name.

An executor is ``executor(step, env) -> StepResult``.  It acts through the run's
engine parts (``env.parts``: target, switch, health checks) or shipmate's records
(``record_deployment``), and it must be **idempotent**: a run interrupted inside a
step runs that step again when it is resumed.  How each one is:

* ``record_*``: every deployment record a run writes carries an idempotency key
  ``shipmate-run-<run>-<seq>``, and its request is built only from journaled
  values, so a repeated step returns the first record instead of writing another.
* ``inspect``, ``check_artifact``, ``health``, ``post_switch_health``: read only.
* ``start``: the target starts nothing when the release already runs in the slot.
* ``switch`` and ``restore``: applying the same state again is allowed by every
  switch and changes nothing (nginx is tested and reloaded again with the same
  file).  Re-applying, rather than skipping when ``current()`` already looks
  right, also covers a crash between writing the upstream file and reloading
  nginx.
* ``keep_warm`` and ``retire``: see :mod:`shipmate.services.runs.watch` (the watch
  of the serving slot while the old one is warm, and the check before retiring).
* ``restore``, ``stop_new`` and ``retire`` wait until the switch no longer sends
  traffic to the slot it left (nginx: its previous workers are gone) before a slot
  is stopped; ``stop_new`` and ``retire`` never stop the slot the switch currently
  sends traffic to, and stopping an empty slot does nothing.

Other features add steps (interim-version actions, drain checks) with
:func:`register_step`; a module listed in :data:`STEP_MODULES` is imported when a
resumed run meets a step name nobody registered yet.

Errors: a :class:`~shipmate.errors.ShipmateError` becomes a failed
:class:`StepResult` carrying its code, message and details; any other exception
too (the run must still clean up), with its type in the message.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from typing import Any

from shipmate.domain.records import DeploymentRecord
from shipmate.domain.requests import RecordRequest
from shipmate.domain.runs.model import (
    CHECK_ARTIFACT,
    HEALTH,
    INSPECT,
    KEEP_WARM,
    POST_SWITCH_HEALTH,
    RECORD_COMPLETED,
    RECORD_FAILED,
    RECORD_ROLLBACK,
    RECORD_STARTED,
    RESTORE,
    RETIRE,
    START,
    STOP_NEW,
    SWITCH,
    LiveState,
    RunPlan,
    Step,
    StepResult,
)
from shipmate.engine.health import wait_for_health
from shipmate.engine.switches.base import SwitchState
from shipmate.errors import ConflictError, ShipmateError
from shipmate.services.context import Context
from shipmate.services.deploys.config import RunParts
from shipmate.services.runs.backend import RunBackend, current_deployment
from shipmate.services.runs.stepenv import StepEnv, failed_result, log_tail, stopped_error
from shipmate.services.runs.watch import keep_warm, left_running, retire, settle_switch, stop_slot

__all__ = [
    "STEP_EXECUTORS",
    "STEP_MODULES",
    "StepEnv",
    "StepExecutor",
    "execute_step",
    "observe_live",
    "register_step",
    "stopped_error",
]


StepExecutor = Callable[[Step, StepEnv], StepResult]

#: Passes in a row the check through the switch needs, and their least spacing.
POST_SWITCH_PASSES = 3
POST_SWITCH_SPACING = 0.2

STEP_EXECUTORS: dict[str, StepExecutor] = {}
#: Modules that register executors for steps other features add (imported lazily).
STEP_MODULES: list[str] = [
    "shipmate.services.releases.hooks",
    "shipmate.services.draining.retire",
    "shipmate.services.rollouts.awaiting",
]


def register_step(name: str, executor: StepExecutor) -> None:
    """Make ``executor`` run steps named ``name`` (an extension point for other features)."""
    STEP_EXECUTORS[name] = executor


def _find_executor(name: str) -> StepExecutor | None:
    if name not in STEP_EXECUTORS:
        for module in list(STEP_MODULES):
            importlib.import_module(module)
    return STEP_EXECUTORS.get(name)


def execute_step(step: Step, env: StepEnv) -> StepResult:
    """Run one step, turning every error into a failed result (except a stop)."""
    executor = _find_executor(step.name)
    if executor is None:
        return StepResult.failure(
            f"no executor is registered for step {step.name!r}",
            code="deploy_failed",
        )
    try:
        return executor(step, env)
    except ConflictError as exc:
        if exc.details.get("reason") in ("stopped", "lease_lost"):
            raise
        return failed_result(exc)
    except ShipmateError as exc:
        return failed_result(exc)
    except Exception as exc:
        return StepResult.failure(f"{type(exc).__name__}: {exc}", code="deploy_failed")


# -- records ---------------------------------------------------------------------------


def _key(env: StepEnv) -> str:
    return f"shipmate-run-{env.run.id}-{env.seq}"


def _deployment_kind(plan: RunPlan) -> str:
    """A deploy that walks forward through interim versions is a ``rollforward``."""
    if plan.kind == "deploy" and any(
        "rollforward" in (s.args.get("flags") or ()) and int(s.args.get("total") or 1) > 1
        for s in plan.before_start
    ):
        return "rollforward"
    return plan.kind


def _record_new(
    env: StepEnv,
    *,
    status: str,
    version: str,
    build_number: int | None,
    kind: str,
    reverts_id: int | None,
    metadata: dict[str, Any],
) -> DeploymentRecord:
    """Record a new deployment of the run's product in its environment, by shipmate
    for this run (its id first in the metadata), once even if the step runs again."""
    return env.backend.record_deployment(
        env.run.id,
        env.seq,
        RecordRequest(
            environment=env.plan.environment,
            status=status,
            product=env.plan.product,
            version=version,
            build_number=build_number,
            kind=kind,
            reverts_id=reverts_id,
            source_system="shipmate",
            metadata={"run_id": str(env.run.id), **metadata},
            idempotency_key=_key(env),
            **env.record_fields(),
        ),
    )


def _recorded(dep: DeploymentRecord) -> StepResult:
    return StepResult.success(
        {"deployment_id": dep.id}, output=f"deployment {dep.id}: {dep.full_version} {dep.status}"
    )


def _record_started(step: Step, env: StepEnv) -> StepResult:
    plan = env.plan
    dep = _record_new(
        env,
        status="started",
        version=plan.version,
        build_number=plan.build_number,
        kind=_deployment_kind(plan),
        reverts_id=plan.reverts_id,
        metadata={},
    )
    return _recorded(dep)


def _advance(env: StepEnv, dep_id: int, status: str, metadata: dict[str, Any]) -> StepResult:
    fields = env.record_fields()
    dep = env.backend.record_deployment(
        env.run.id,
        env.seq,
        RecordRequest(
            environment=env.plan.environment,
            status=status,
            deployment_id=dep_id,
            deployed_by=fields.get("deployed_by"),
            metadata=metadata,
            idempotency_key=_key(env),
        ),
    )
    return _recorded(dep)


def _record_completed(step: Step, env: StepEnv) -> StepResult:
    return _advance(env, int(step.args["deployment_id"]), "completed", {})


def _record_failed(step: Step, env: StepEnv) -> StepResult:
    metadata = {
        "failed_step": step.args.get("failed_step"),
        "error": step.args.get("error"),
        "error_code": step.args.get("error_code"),
    }
    if step.args.get("output"):
        metadata["output"] = step.args["output"]
    return _advance(env, int(step.args["deployment_id"]), "failed", metadata)


def _record_rollback(step: Step, env: StepEnv) -> StepResult:
    failed_id = int(step.args["reverts_id"])
    reason = step.args.get("reason") or (
        f"deployment {failed_id} ({env.plan.full_version}) failed its check after the switch"
    )
    dep = _record_new(
        env,
        status="completed",
        version=str(step.args["version"]),
        build_number=None,
        kind="rollback",
        reverts_id=failed_id,
        metadata={"automatic": True, "reason": str(reason)},
    )
    return StepResult.success(
        {"deployment_id": dep.id},
        output=f"deployment {dep.id}: automatic rollback to {dep.full_version} (reverts "
        f"{failed_id})",
    )


# -- engine steps ------------------------------------------------------------------------


def observe_live(
    source: Context | RunBackend,
    product: str,
    environment: str,
    parts: RunParts,
    *,
    run_id: int = 0,
) -> tuple[LiveState, list[str]]:
    """Where traffic goes, what runs in each slot, and the current deployment (read only)."""
    state = parts.switch.current()
    names = [slot.name for slot in parts.config.slots]
    running = {name: parts.target.running_version(name) for name in names}
    if isinstance(source, Context):
        current = current_deployment(source, product, environment)
    else:
        current = source.current_deployment(run_id, product, environment)
    live_slot = state.slot if state is not None and state.slot in names else None
    live = LiveState(
        slot=live_slot,
        version=state.version if state is not None and live_slot else None,
        full_version=(state.full_version or state.version)
        if state is not None and live_slot
        else None,
        switch_state=state.to_dict() if state is not None else None,
        running=running,
        deployment_id=current[0] if current else None,
    )
    lines = [f"traffic: {live.describe()}"]
    for name in names:
        lines.append(f"slot {name}: {running[name] or 'nothing running'}")
    if current is not None:
        lines.append(f"current deployment: {current[0]} ({current[1]})")
        if live.full_version is not None and current[1] != live.full_version:
            lines.append(
                f"note: the switch says {live.full_version} but the records say {current[1]}"
            )
    return live, lines


def _inspect(step: Step, env: StepEnv) -> StepResult:
    live, lines = observe_live(
        env.backend, env.plan.product, env.plan.environment, env.parts, run_id=env.run.id
    )
    return StepResult.success(live.to_dict(), output="\n".join(lines))


def _check_artifact(step: Step, env: StepEnv) -> StepResult:
    env.parts.target.check_artifact(env.release)
    return StepResult.success(output=f"{env.release.full_version} is available")


def _start(step: Step, env: StepEnv) -> StepResult:
    slot = str(step.args["slot"])
    parts = env.parts
    try:
        parts.target.start(env.release, slot)
    except ShipmateError as exc:
        return failed_result(exc, log_tail(parts, slot))
    port = parts.context.port(slot)
    return StepResult.success(
        {"slot": slot, "port": port},
        output=f"started {env.release.full_version} in slot {slot} (port {port})",
    )


def _wait_healthy(env: StepEnv, slot: str, *, post_switch: bool) -> StepResult:
    parts = env.parts
    config = parts.config.post_switch_health if post_switch else parts.config.health
    if config is None:
        return StepResult.success(output="no check configured")
    check = parts.health_factory(config, parts.context, slot=slot, release=env.release)
    release = env.release

    def give_up() -> str | None:
        if env.wake.is_set():
            raise stopped_error(env.run.id)
        if not parts.target.is_running(slot):
            return f"{release.full_version} is no longer running in slot {slot}"
        return None

    def progress(attempt: int, ok: bool, detail: str) -> None:
        env.progress(f"attempt {attempt}/{config.attempts}: {'ok' if ok else detail}")

    try:
        result = wait_for_health(config, check, sleep=env.sleep, give_up=give_up, progress=progress)
    except ShipmateError as exc:
        if isinstance(exc, ConflictError):
            raise
        return failed_result(exc, log_tail(parts, slot))
    return StepResult.success(
        {"attempts": result.attempts},
        output=f"{check.describe()}: {result.detail} (attempt {result.attempts}, "
        f"{result.elapsed:.1f}s)",
    )


def _health(step: Step, env: StepEnv) -> StepResult:
    return _wait_healthy(env, str(step.args["slot"]), post_switch=False)


def _post_switch_health(step: Step, env: StepEnv) -> StepResult:
    """The check through the switch must pass :data:`POST_SWITCH_PASSES` times in a row.

    A switch may apply asynchronously (``nginx -s reload`` returns before the old
    workers stop taking connections), so one passing answer right after the switch
    may still come from the old version; several in a row, at least
    :data:`POST_SWITCH_SPACING` seconds apart, come from the new one.
    """
    slot = str(step.args["slot"])
    parts = env.parts
    config = parts.config.post_switch_health
    if config is None:
        return StepResult.success(output="no check configured")
    check = parts.health_factory(config, parts.context, slot=slot, release=env.release)
    spacing = max(config.interval, POST_SWITCH_SPACING)
    tries = config.attempts + POST_SWITCH_PASSES - 1
    deadline = time.monotonic() + config.deadline + (POST_SWITCH_PASSES - 1) * spacing
    streak = 0
    detail = "no attempt made"
    for attempt in range(1, tries + 1):
        ok, detail = check.check_once()
        streak = streak + 1 if ok else 0
        env.progress(f"attempt {attempt}: {'ok' if ok else detail} ({streak}/{POST_SWITCH_PASSES})")
        if streak >= POST_SWITCH_PASSES:
            return StepResult.success(
                {"attempts": attempt},
                output=f"{check.describe()}: {detail} ({POST_SWITCH_PASSES} passes in a row, "
                f"{attempt} attempts)",
            )
        if attempt == tries or time.monotonic() >= deadline:
            break
        env.sleep(spacing if ok else config.interval)
    return StepResult.failure(
        f"health check of {check.describe()} through the switch did not pass "
        f"{POST_SWITCH_PASSES} times in a row: {detail}",
        code="health_check_failed",
        output=log_tail(parts, slot),
    )


def _switch(step: Step, env: StepEnv) -> StepResult:
    slot = str(step.args["slot"])
    parts = env.parts
    before = parts.switch.current()
    result = parts.switch.switch_to(env.release, slot, parts.context.port(slot))
    lines = []
    if env.attempt > 1 and before is not None and before.slot == slot:
        lines.append("re-applied after an interruption (it already pointed at this slot)")
    lines.append(f"traffic now goes to {result.current.describe()}")
    if result.detail.strip():
        lines.append(result.detail.strip())
    return StepResult.success({"slot": slot}, output="\n".join(lines))


def _restore(step: Step, env: StepEnv) -> StepResult:
    """Switch back, then wait until the switch no longer sends to the slot it left."""
    previous = SwitchState.from_dict(step.args.get("previous"))
    if previous is None:
        return StepResult.failure("there is no previous switch state to restore")
    result = env.parts.switch.restore(previous)
    settled = settle_switch(env)
    lines = [f"traffic goes to {previous.describe()} again", result.detail, settled]
    return StepResult.success(output="\n".join(line for line in lines if line.strip()))


def _stop_new(step: Step, env: StepEnv) -> StepResult:
    slot = str(step.args["slot"])
    left = left_running(env, slot)
    if left is not None:
        return left
    settled = settle_switch(env)
    return stop_slot(env, slot, env.parts.target.running_version(slot), [settled])


for _name, _executor in (
    (RECORD_STARTED, _record_started),
    (RECORD_COMPLETED, _record_completed),
    (RECORD_FAILED, _record_failed),
    (RECORD_ROLLBACK, _record_rollback),
    (INSPECT, _inspect),
    (CHECK_ARTIFACT, _check_artifact),
    (START, _start),
    (HEALTH, _health),
    (SWITCH, _switch),
    (POST_SWITCH_HEALTH, _post_switch_health),
    (RESTORE, _restore),
    (STOP_NEW, _stop_new),
    (RETIRE, retire),
    (KEEP_WARM, keep_warm),
):
    register_step(_name, _executor)
