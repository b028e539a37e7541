"""Draining in a run: retire an old version only when its in-flight work is done.

A product opts in with a ``drain`` table beside its deploy settings
(``[products.<name>.deploy.drain]`` or ``[deploy.drain]``; keys in
:func:`~shipmate.engine.drain.config.parse_drain_config`)::

    [products.api.deploy.drain]
    type = "dbos"                               # dbos | http | grace
    system_database_url = "${APP_DBOS_URL}"
    deadline = 3600                             # seconds
    on_deadline = "keep"                        # keep | force

How it fits into a run (:mod:`shipmate.domain.runs.plan`):

* :func:`drain_hooks` (a hook provider) puts a ``drain`` step before the old slot's
  retirement when the product's deploy table (as ``ctx.settings`` holds it: the one
  ``shipmate deploy`` loads) has a ``drain`` table; the table is stored in the step's
  arguments, so a resumed run drains with the settings it started with.
* The ``drain`` step (:func:`execute_drain`) marks the new version ``active`` and the
  old one ``draining``, then polls the check for the old slot's *full* version (the
  one the target passed as ``DBOS__APPVERSION``) with ``consecutive_zeros`` /
  ``interval``, reporting the pending count as step progress and in the version
  state.  The deadline counts from the first time the drain started, so a resumed
  run does not wait longer.  Then:

  - drained: the version is ``drained`` (event ``version.drained`` with the drain
    duration) and the run's ``retire`` step stops the slot;
  - deadline with ``keep``: the old slot is left running and the run ends
    ``completed_draining``; :func:`~shipmate.services.draining.check.check_draining`
    (``shipmate drain check``, and the server every
    :data:`~shipmate.services.draining.watcher.DRAIN_CHECK_INTERVAL` seconds)
    finishes the retirement once it drained;
  - deadline with ``force``: event ``version.force_retired`` with the count left
    behind, and the slot is retired anyway.
  - A reading that fails at the deadline fails the step: the old slot keeps
    running, the deployment stays completed, the version stays ``draining``.

* The ``retire`` step is wrapped (:func:`register_step`) so that a stopped slot's
  version becomes ``retired`` (and the new one ``active``), with or without a drain
  check.
* A ``drain_guard`` step (before the app starts, only for products with a drain
  table) refuses to start a release in a slot where a draining version still runs:
  starting it would kill that version's in-flight work.  A rollback *to* the
  draining version is a switch back and is allowed.
* A rollback that supersedes a run while it drains finds the old slot warm and
  switches back; the version is shown ``active`` at once (reads reconcile with the
  current deployment) and its row becomes ``active`` in the rollback's drain step.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from shipmate.domain.inputs.fields import format_time
from shipmate.domain.runs.model import INSPECT, RETIRE, SWITCH, LiveState, RunPlan, Step, StepResult
from shipmate.domain.runs.plan import choose_slot
from shipmate.engine.drain.config import DrainConfig, make_drain_check, parse_drain_config
from shipmate.engine.drain.waiting import DrainCheck, wait_drained
from shipmate.errors import ConfigError, ShipmateError
from shipmate.services.context import Context
from shipmate.services.deploys.config import load_product_deploy
from shipmate.services.deploys.deploy import RunHooks, register_hook_provider
from shipmate.services.draining.recording import (
    force_retired_event,
    mark_drained,
    progress_writer,
    version_key,
)
from shipmate.services.draining.states import (
    VersionState,
    list_version_states,
    transition,
    update_pending,
)
from shipmate.services.runs.journal import get_run
from shipmate.services.runs.steps import STEP_EXECUTORS, StepEnv, register_step

__all__ = [
    "DRAIN_GUARD_STEP",
    "DRAIN_STEP",
    "drain_config_of",
    "drain_hooks",
    "execute_drain",
]

DRAIN_STEP: Final = "drain"
DRAIN_GUARD_STEP: Final = "drain_guard"

log = logging.getLogger("shipmate.draining")


# -- configuration ------------------------------------------------------------------------


def drain_config_of(table: Mapping[str, Any], prefix: str) -> DrainConfig:
    """The validated drain table (ConfigError naming ``<prefix>.drain.<key>``)."""
    return parse_drain_config(table, where=f"{prefix}.drain")


def _settings_table(ctx: Context, product: str) -> tuple[Mapping[str, Any], str] | None:
    try:
        deploy = load_product_deploy(ctx.settings, product)
    except ConfigError:
        return None  # no deploy table here (the caller passed its own configuration)
    table = deploy.raw.get("drain")
    if table is None:
        return None
    return table, deploy.prefix


def drain_hooks(ctx: Context, plan: RunPlan) -> RunHooks:
    """The hook provider: a guard before the start and the drain before the retirement."""
    found = _settings_table(ctx, plan.product)
    if found is None:
        return RunHooks()
    table, prefix = found
    config = drain_config_of(table, prefix)  # a bad table refuses the run before it starts
    args = {"drain": dict(table), "prefix": prefix}
    check = make_drain_check(config)
    guard = Step(
        DRAIN_GUARD_STEP, "check that no draining version runs in the slot to use", dict(args)
    )
    drain = Step(
        DRAIN_STEP,
        f"wait for the old version to drain ({check.describe()}; deadline "
        f"{config.deadline:g}s, then {config.on_deadline})",
        args,
    )
    return RunHooks(before_start=(guard,), before_retire=(drain,))


# -- what the journal says --------------------------------------------------------------


@dataclass(frozen=True)
class _Slots:
    live: LiveState | None
    new_slot: str | None
    old_slot: str | None
    old_version: str | None
    results: Mapping[str, StepResult] = field(default_factory=dict)


def _from_journal(ctx: Context, run_id: int) -> _Slots:
    """Where traffic went before the run (inspect), where it goes now (switch), and the old slot."""
    run = get_run(ctx, run_id)
    results: dict[str, StepResult] = {}
    switch_slot: str | None = None
    for step in run.steps:
        result = step.step_result
        if result is not None and step.status in ("completed", "failed"):
            results[step.name] = result
        if step.name == SWITCH and step.status == "completed":
            switch_slot = str(step.args.get("slot"))
    inspect = results.get(INSPECT)
    live = LiveState.from_dict(inspect.data) if inspect is not None and inspect.ok else None
    old_slot = None
    old_version = None
    if live is not None and live.slot is not None and live.slot != switch_slot:
        old_slot = live.slot
        old_version = live.running.get(old_slot) or live.full_version
    return _Slots(live, switch_slot, old_slot, old_version, results)


# -- the steps --------------------------------------------------------------------------


def _guard(step: Step, env: StepEnv) -> StepResult:
    """Refuse to start the release in a slot where a draining version still runs."""
    plan = env.plan
    inspect = _from_journal(env.ctx, env.run.id).results.get(INSPECT)
    if inspect is None or not inspect.ok:
        return StepResult.success(output="nothing known about the slots yet")
    live = LiveState.from_dict(inspect.data)
    choice = choose_slot(plan, live)
    if isinstance(choice, str) or choice[1]:
        return StepResult.success(output="no slot to start in (a switch back, or none free)")
    slot = choice[0]
    running = live.running.get(slot)
    for state in list_version_states(
        env.ctx, plan.product, plan.environment, states=("draining", "drained")
    ):
        if state.slot == slot and running == state.full_version:
            pending = "?" if state.pending is None else str(state.pending)
            since = format_time(state.drain_started_at or state.since)
            return StepResult.failure(
                f"slot {slot} still runs {state.full_version}, which is draining ({pending} "
                f"pending since {since}); starting {plan.full_version} there would kill its "
                f"in-flight work. Wait until it drained (shipmate drain check --product "
                f"{plan.product} --env {plan.environment}) or retire it anyway (shipmate drain "
                "check --force)",
                code="conflict",
                data={"field": "environment", "details": {"slot": slot}},
            )
    return StepResult.success(output=f"slot {slot} runs no draining version")


def execute_drain(step: Step, env: StepEnv) -> StepResult:
    """The ``drain`` step (see the module docstring)."""
    ctx, plan = env.ctx, env.plan
    slots = _from_journal(ctx, env.run.id)
    new_slot = slots.new_slot
    transition(
        ctx,
        version_key(plan.product, plan.environment, plan.full_version),
        "active",
        slot=new_slot,
        run_id=env.run.id,
    )
    if slots.old_slot is None or not slots.old_version:
        return StepResult.success({"retire": True}, output="no old version to drain")
    old_slot, old_version = slots.old_slot, slots.old_version
    config = drain_config_of(step.args.get("drain") or {}, str(step.args.get("prefix", "deploy")))
    check = make_drain_check(config)
    key = version_key(plan.product, plan.environment, old_version)
    state = transition(
        ctx, key, "draining", slot=old_slot, run_id=env.run.id, drain_check=check.describe()
    )
    if state.state == "drained":  # a resumed run: it drained before the interruption
        return _drained_result(state, old_slot, check, readings=0)
    started = state.drain_started_at or ctx.now()
    already = max(0.0, (ctx.now() - started).total_seconds())
    result = wait_drained(
        check,
        old_version,
        consecutive_zeros=config.consecutive_zeros,
        interval=config.interval,
        deadline=max(0.0, config.deadline - already),
        on_progress=progress_writer(env, ctx, key),
        sleep=env.sleep,
    )
    if result.drained:
        done = mark_drained(ctx, key, check, env.run.id, actor=env.run.actor)
        return _drained_result(done, old_slot, check, readings=result.readings)
    pending = result.last_pending
    shown = "an unknown number of" if pending is None else str(pending)
    waited = already + result.elapsed_seconds
    if config.on_deadline == "force":
        transition(
            ctx,
            key,
            "draining",
            pending=pending,
            run_id=env.run.id,
            note=f"deadline of {config.deadline:g}s passed with {shown} pending: retired anyway",
        )
        force_retired_event(ctx, key, pending, config, waited, env.run.actor)
        return StepResult.success(
            {
                "retire": True,
                "forced": True,
                "pending": pending,
                "old_slot": old_slot,
                "old_version": old_version,
            },
            output=f"{old_version} did not drain within {config.deadline:g}s: {shown} still "
            f"pending; slot {old_slot} is retired anyway (on_deadline = force)",
        )
    update_pending(ctx, key, pending)
    return StepResult.success(
        {
            "retire": False,
            "draining": True,
            "pending": pending,
            "old_slot": old_slot,
            "old_version": old_version,
        },
        output=f"{old_version} did not drain within {config.deadline:g}s: {shown} still pending; "
        f"slot {old_slot} is left running (on_deadline = keep). shipmate drain check (or the "
        "server) retires it once it drained",
    )


def _drained_result(
    state: VersionState, slot: str, check: DrainCheck, *, readings: int
) -> StepResult:
    seconds = state.drain_seconds or 0.0
    return StepResult.success(
        {
            "retire": True,
            "drained": True,
            "drain_seconds": round(seconds, 3),
            "old_slot": slot,
            "old_version": state.full_version,
        },
        output=f"{state.full_version} drained in {seconds:.1f}s ({check.describe()}, "
        f"{readings} readings); slot {slot} can be retired",
    )


_ORIGINAL_RETIRE = STEP_EXECUTORS[RETIRE]


def _retire(step: Step, env: StepEnv) -> StepResult:
    """The runs feature's retire step, then the version states it implies."""
    result = _ORIGINAL_RETIRE(step, env)
    if not result.ok or not result.data.get("stopped"):
        return result
    try:
        plan = env.plan
        slots = _from_journal(env.ctx, env.run.id)
        transition(
            env.ctx,
            version_key(plan.product, plan.environment, plan.full_version),
            "active",
            slot=slots.new_slot,
            run_id=env.run.id,
        )
        if slots.old_version:
            drained = slots.results.get(DRAIN_STEP)
            forced = bool(drained is not None and drained.data.get("forced"))
            transition(
                env.ctx,
                version_key(plan.product, plan.environment, slots.old_version),
                "retired",
                slot=str(step.args.get("slot")),
                run_id=env.run.id,
                forced=forced,
                forced_pending=drained.data.get("pending") if forced and drained else None,
            )
    except ShipmateError as exc:  # the slot is stopped; a state write must not fail the run
        log.warning("run %s: recording the version states failed: %s", env.run.id, exc.message)
    return result


register_step(DRAIN_STEP, execute_drain)
register_step(DRAIN_GUARD_STEP, _guard)
register_step(RETIRE, _retire)
register_hook_provider(drain_hooks)
