"""Draining: retire an old version only when its in-flight work is done.

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
    ``completed_draining``; :func:`check_draining` (``shipmate drain check``, and
    the server every :data:`DRAIN_CHECK_INTERVAL` seconds) finishes the retirement
    once it drained;
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

import contextlib
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from shipmate.domain.inputs.fields import format_time
from shipmate.domain.runs.plan import (
    INSPECT,
    RETIRE,
    SWITCH,
    LiveState,
    RunPlan,
    Step,
    StepResult,
    choose_slot,
)
from shipmate.domain.versions import parse_full_version
from shipmate.engine.drain.config import DrainConfig, make_drain_check, parse_drain_config
from shipmate.engine.drain.waiting import DrainCheck, ProgressCallback, wait_drained
from shipmate.errors import ConfigError, DeployError, ShipmateError
from shipmate.services.context import Context, log_failed_pass
from shipmate.services.deploys.config import RunParts, load_product_deploy, parts_from_params
from shipmate.services.deploys.deploy import RunHooks, register_hook_provider
from shipmate.services.draining.states import (
    VersionKey,
    VersionState,
    list_version_states,
    transition,
    update_pending,
)
from shipmate.services.runs.journal import RunRecord, get_run, list_runs
from shipmate.services.runs.steps import STEP_EXECUTORS, StepEnv, register_step

__all__ = [
    "DRAIN_CHECK_INTERVAL",
    "DRAIN_GUARD_STEP",
    "DRAIN_STEP",
    "DrainReport",
    "DrainWatcher",
    "check_draining",
    "drain_config_of",
    "drain_hooks",
    "execute_drain",
]

DRAIN_STEP: Final = "drain"
DRAIN_GUARD_STEP: Final = "drain_guard"
#: How often the server looks at versions a run left draining.
DRAIN_CHECK_INTERVAL = 30.0
#: At most one stored pending count per this many seconds while it does not change.
_STORE_EVERY = 5.0

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


def _key(product: str, environment: str, full_version: str) -> VersionKey:
    return VersionKey(product, environment, parse_full_version(full_version).version, full_version)


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


def _progress_writer(
    env: StepEnv | None, ctx: Context, key: VersionKey, say: Callable[[str], None] | None = None
) -> ProgressCallback:
    last: dict[str, Any] = {"pending": object(), "at": -1e9}

    def progress(pending: int | None, elapsed: float, error: DeployError | None) -> None:
        if error is not None:
            message = f"reading failed ({elapsed:.0f}s): {error.message}"
        else:
            message = f"{pending} pending ({elapsed:.0f}s)"
        if env is not None:
            env.progress(message)
        if say is not None:
            say(message)
        if pending is not None and (
            pending != last["pending"] or elapsed - last["at"] >= _STORE_EVERY
        ):
            last["pending"], last["at"] = pending, elapsed
            with contextlib.suppress(ShipmateError):  # the count is for people only
                update_pending(ctx, key, pending)

    return progress


def execute_drain(step: Step, env: StepEnv) -> StepResult:
    """The ``drain`` step (see the module docstring)."""
    ctx, plan = env.ctx, env.plan
    slots = _from_journal(ctx, env.run.id)
    new_slot = slots.new_slot
    transition(
        ctx,
        _key(plan.product, plan.environment, plan.full_version),
        "active",
        slot=new_slot,
        run_id=env.run.id,
    )
    if slots.old_slot is None or not slots.old_version:
        return StepResult.success({"retire": True}, output="no old version to drain")
    old_slot, old_version = slots.old_slot, slots.old_version
    config = drain_config_of(step.args.get("drain") or {}, str(step.args.get("prefix", "deploy")))
    check = make_drain_check(config)
    key = _key(plan.product, plan.environment, old_version)
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
        on_progress=_progress_writer(env, ctx, key),
        sleep=env.sleep,
    )
    if result.drained:
        done = _mark_drained(ctx, key, check, env.run.id, actor=env.run.actor)
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
        _force_event(ctx, key, pending, config, waited, env.run.actor)
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


def _force_event(
    ctx: Context,
    key: VersionKey,
    pending: int | None,
    config: DrainConfig,
    waited: float,
    actor: str | None,
) -> None:
    """``version.force_retired`` in the audit log: the version and the count left behind."""
    from shipmate.store.catalog import find_environment_id, find_product_id
    from shipmate.store.deployments import append_event

    with ctx.write() as conn:
        append_event(
            conn,
            type="version.force_retired",
            at=ctx.now(),
            actor=actor,
            product_id=find_product_id(conn, key.product),
            environment_id=find_environment_id(conn, key.environment),
            data={
                "product": key.product,
                "environment": key.environment,
                "version": key.version,
                "full_version": key.full_version,
                "pending": pending,
                "deadline": config.deadline,
                "waited_seconds": round(waited, 3),
                "reason": f"drain deadline of {config.deadline:g}s passed with "
                f"{'an unknown number' if pending is None else pending} pending",
            },
        )


def _mark_drained(
    ctx: Context, key: VersionKey, check: DrainCheck, run_id: int | None, *, actor: str | None
) -> VersionState:
    return transition(
        ctx,
        key,
        "drained",
        run_id=run_id,
        event="version.drained",
        event_data={"check": check.describe()},
        actor=actor,
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
            _key(plan.product, plan.environment, plan.full_version),
            "active",
            slot=slots.new_slot,
            run_id=env.run.id,
        )
        if slots.old_version:
            drained = slots.results.get(DRAIN_STEP)
            forced = bool(drained is not None and drained.data.get("forced"))
            transition(
                env.ctx,
                _key(plan.product, plan.environment, slots.old_version),
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


# -- finishing a retirement later ---------------------------------------------------------


@dataclass(frozen=True)
class DrainReport:
    """What :func:`check_draining` did with one version."""

    product: str
    environment: str
    full_version: str
    slot: str | None
    #: retired | draining | active | busy | error
    outcome: str
    message: str
    pending: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "product": self.product,
            "environment": self.environment,
            "full_version": self.full_version,
            "slot": self.slot,
            "outcome": self.outcome,
            "message": self.message,
            "pending": self.pending,
        }


PartsFor = Callable[[RunRecord], RunParts]


def _running_run(ctx: Context, product: str, environment: str) -> RunRecord | None:
    found = list_runs(ctx, product=product, environment=environment, status="running", limit=1)
    return found[0] if found else None


def _drain_table_of(run: RunRecord) -> tuple[Mapping[str, Any], str] | None:
    for step in run.steps:
        if step.name == DRAIN_STEP and isinstance(step.args.get("drain"), Mapping):
            return step.args["drain"], str(step.args.get("prefix", "deploy"))
    stored = run.params.get("deploy") or {}
    raw = stored.get("raw") or {}
    if isinstance(raw, Mapping) and isinstance(raw.get("drain"), Mapping):
        return raw["drain"], str(stored.get("prefix", "deploy"))
    return None


def check_draining(
    ctx: Context,
    product: str | None = None,
    environment: str | None = None,
    *,
    force: bool = False,
    wait: bool = False,
    parts_for: PartsFor | None = None,
    say: Callable[[str, str], None] | None = None,
) -> list[DrainReport]:
    """Finish the retirement of every version a run left draining (``shipmate drain check``).

    For each draining (or drained, not yet retired) version: skip it when a run of
    its product and environment is in progress; mark it ``active`` when it is the
    current deployment again (a rollback switched back to it); otherwise read its
    check ``consecutive_zeros`` times ``interval`` apart (``wait``: until drained or
    its deadline) and, once drained, stop its slot and mark it ``retired``.
    ``force`` retires it whatever its count (recorded as ``version.force_retired``).
    ``say(full_version, message)`` hears every reading.
    """
    reports: list[DrainReport] = []
    rows = list_version_states(ctx, product, environment, states=("draining", "drained"))
    for row in rows:
        try:
            reports.append(
                _check_one(ctx, row, force=force, wait=wait, parts_for=parts_for, say=say)
            )
        except ShipmateError as exc:
            reports.append(
                DrainReport(
                    row.product, row.environment, row.full_version, row.slot, "error", exc.message
                )
            )
    return reports


def _check_one(
    ctx: Context,
    row: VersionState,
    *,
    force: bool,
    wait: bool,
    parts_for: PartsFor | None,
    say: Callable[[str, str], None] | None,
) -> DrainReport:
    def report(outcome: str, message: str, pending: int | None = None) -> DrainReport:
        return DrainReport(
            row.product, row.environment, row.full_version, row.slot, outcome, message, pending
        )

    key = row.key
    busy = _running_run(ctx, row.product, row.environment)
    if busy is not None:
        return report(
            "busy", f"run {busy.id} is in progress in {row.environment}; checked again later"
        )
    if row.run_id is None:
        return report("error", "no run recorded this version's drain; nothing to check with")
    run = get_run(ctx, row.run_id)
    parts = (parts_for or (lambda r: parts_from_params(r.product, r.params)))(run)
    live = parts.switch.current()
    slot = row.slot
    if slot is not None and live is not None and live.slot == slot:
        transition(ctx, key, "active", note="it takes traffic again")
        return report("active", f"slot {slot} takes traffic again, so it is active")
    running = parts.target.running_version(slot) if slot is not None else None
    if slot is None or running != row.full_version:
        transition(ctx, key, "retired", note="its slot no longer runs it")
        what = running or "nothing"
        return report("retired", f"slot {slot} runs {what} now; marked retired")
    found = _drain_table_of(run)
    if found is None:
        raise ConfigError(
            f"run {run.id} holds no drain configuration for {row.full_version}", field="drain"
        )
    config = drain_config_of(*found)
    check = make_drain_check(config)

    def tell(message: str) -> None:
        if say is not None:
            say(row.full_version, message)

    progress = _progress_writer(None, ctx, key, tell)
    if force:
        try:
            pending: int | None = check.pending(row.full_version)
        except DeployError:
            pending = None
        _force_event(ctx, key, pending, config, 0.0, run.actor)
        parts.target.stop(slot)
        transition(
            ctx, key, "retired", forced=True, forced_pending=pending, note="retired with --force"
        )
        return report("retired", f"slot {slot} retired with --force ({pending} pending)", pending)
    if row.state != "drained":
        if wait:
            started = row.drain_started_at or row.since
            already = max(0.0, (ctx.now() - started).total_seconds())
            deadline = max(
                config.deadline - already, config.interval * (config.consecutive_zeros - 1)
            )
        else:
            deadline = config.interval * (config.consecutive_zeros - 1)
        result = wait_drained(
            check,
            row.full_version,
            consecutive_zeros=config.consecutive_zeros,
            interval=config.interval,
            deadline=deadline,
            on_progress=progress,
        )
        if not result.drained:
            update_pending(ctx, key, result.last_pending)
            return report(
                "draining",
                f"{result.last_pending} pending; slot {slot} keeps running",
                result.last_pending,
            )
        _mark_drained(ctx, key, check, run.id, actor=run.actor)
    # Stop only what we checked: the slot still runs this version and takes no traffic.
    parts.target.stop(slot)
    transition(ctx, key, "retired")
    return report("retired", f"drained; slot {slot} stopped", 0)


class DrainWatcher:
    """The server's thread: :func:`check_draining` every ``interval`` seconds."""

    def __init__(self, ctx: Context, interval: float = DRAIN_CHECK_INTERVAL) -> None:
        self.ctx = ctx
        self.interval = interval
        self.stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="drain-watcher", daemon=True)

    def start(self) -> DrainWatcher:
        self._thread.start()
        return self

    def close(self, timeout: float = 10.0) -> None:
        self.stop.set()
        self._thread.join(timeout)

    def _loop(self) -> None:
        while not self.stop.wait(self.interval):
            try:
                for item in check_draining(self.ctx):
                    log.info(
                        "%s %s in %s: %s: %s",
                        item.product,
                        item.full_version,
                        item.environment,
                        item.outcome,
                        item.message,
                    )
            except Exception:
                log_failed_pass(log, "checking draining versions failed")
