"""The steps of a blue-green deploy and of a rollback, as data: a sans-I/O flow.

:func:`blue_green_flow` is a generator.  It *yields* a :class:`Step` (what to do
next) and *receives* a :class:`StepResult` (what happened); when the run is over it
*returns* a :class:`FlowEnd`.  It performs no I/O and reads no clock, so the same
flow serves the real run (a service executes each step and journals it), ``--dry-run``
(:func:`preview` feeds it successes), a resumed run (the journal feeds it the
recorded results of the steps that already finished) and tests (literal results).
Because it is deterministic, replaying recorded results brings it back to exactly
the step where a crashed run stopped.

The happy path of a deploy::

    record_started     record the deployment `started` (deployment gates are evaluated here)
    inspect            where traffic goes now, what runs in each slot
    <before_start>     extension point: interim-version actions (roll forward/back)
    check_artifact     the version can be started (image, folder, command)
    start              start it in the idle slot
    health             health check it there
    switch             move traffic to it (atomic)
    post_switch_health health check it again through the switch
    await_rollout      only for one host's part of a rollout across several hosts
                       (``plan.awaits_rollout``): wait for the rollout's verdict
    record_completed   the deployment is `completed`
    keep_warm          the old slot keeps running for ``keep_warm`` seconds while
                       the serving slot is watched (a bake time)
    <before_retire>    extension point: drain checks (wait for in-flight work)
    retire             check the serving slot once more, then stop the old slot

Rules:

* The deployment is recorded ``completed`` as soon as the new version serves
  traffic and passed its post-switch check.  Keeping the old slot warm, draining
  it and retiring it happen after that, still inside the run: a manual rollback
  during that time reverts a *completed* deployment (which can be marked
  ``rolled_back``) and finds the old slot warm.
* A failure before the switch stops what the run started in the new slot (nothing
  if it started nothing), leaves traffic alone and records the deployment
  ``failed`` with the failing step's error and output.
* A failure of the switch itself also leaves traffic alone (a switch that fails
  puts its previous state back).
* A failure of the post-switch check switches traffic back to the previous state
  (``restore``), stops the new slot, records the deployment ``failed`` and, for a
  deploy, records the automatic rollback as its own deployment of kind
  ``rollback`` naming the failed one.  A rollback run that fails after its switch
  switches back too, and records the rollback ``failed``.
* The serving slot failing while the old slot is still warm (the ``keep_warm``
  watch fails, or ``retire`` finds it unhealthy just before stopping anything) is
  the same for a deploy: traffic goes back to the old slot, the new slot is stopped
  (the restore waits until the switch no longer sends to it) and the automatic
  rollback is recorded, which marks the completed deployment ``rolled_back``.  A
  rollback run in that case leaves the old slot running and traffic alone.
* A rollback whose target still runs, warm, in a slot other than the live one is a
  switch back and nothing else: no artifact check, no start, no health check
  before the switch.
* One host's part of a rollout (``plan.awaits_rollout``) waits after its check
  through the switch (after the switch when there is no such check) for the
  rollout's verdict, its old slot still running: ``{"verdict": "continue"}`` goes on
  (record completed, keep warm, retire); ``{"verdict": "revert"}`` (another host
  failed) puts the switch back, stops the new slot and records the host's part
  ``failed``, ending its run switched back.  No automatic rollback is recorded
  here: the rollout has one deployment record and its coordinator records how the
  rollout ended.  A failed ``await_rollout`` step, or a verdict that is neither
  (none at all included), is a revert: the safe side is the old slot.
* Hook steps (``before_start``, ``before_retire``) come from other features as
  data; their results may carry ``{"retire": false}`` (a ``before_retire`` step
  that wants the old slot kept running).  A failed ``before_start`` hook is a
  failure before the switch; a failed ``before_retire`` hook leaves the old slot
  running and fails the run, while the deployment stays completed.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from typing import Any

from shipmate.domain.runs.model import (
    AWAIT_ROLLOUT,
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
    Flow,
    FlowEnd,
    LiveState,
    RunPlan,
    Step,
    StepResult,
)
from shipmate.domain.runs.model import clip as _clip

__all__ = [
    "Flow",
    "FlowEnd",
    "LiveState",
    "RunPlan",
    "Step",
    "StepResult",
    "blue_green_flow",
    "choose_slot",
    "describe_failure_handling",
    "preview",
]


def choose_slot(plan: RunPlan, live: LiveState) -> tuple[str, bool] | str:
    """The slot the release goes to and whether it is already warm there, or why none fits.

    A rollback whose target already runs in a slot that takes no traffic uses that
    slot (warm).  Otherwise: a slot other than the live one, preferring one where
    nothing runs.  When the switch does not say which slot is live, only a slot
    where nothing runs is safe.
    """
    if plan.kind == "rollback":
        for slot in plan.slots:
            if slot != live.slot and live.running.get(slot) == plan.full_version:
                return slot, True
    if live.slot in plan.slots:
        others = [s for s in plan.slots if s != live.slot]
        free = [s for s in others if not live.running.get(s)]
        return (free or others)[0], False
    free = [s for s in plan.slots if not live.running.get(s)]
    if free:
        return free[0], False
    return (
        "the switch does not say which slot takes traffic (it holds a configuration "
        "shipmate did not write) and every slot runs something, so no slot is safely "
        "idle; stop the slot that takes no traffic and run again"
    )


def blue_green_flow(plan: RunPlan) -> Flow:
    """The steps of a blue-green deploy or rollback; see the module docstring."""
    release = plan.full_version
    what = f"{plan.kind} of {release} to {plan.environment}"
    r = yield Step(
        RECORD_STARTED,
        f"record the {what} as started (gates are checked)",
        {"status": "started"},
    )
    if not r.ok:
        return FlowEnd.failed(
            f"the {what} was not started: {r.error}",
            RECORD_STARTED,
            r,
            deployment_id=None,
            slot=None,
        )
    dep = int(r.data["deployment_id"])

    r = yield Step(INSPECT, "read where traffic goes and what runs in each slot")
    if not r.ok:
        return (yield from _failed_before_switch(plan, dep, INSPECT, r, None, LiveState()))
    live = LiveState.from_dict(r.data)
    choice = choose_slot(plan, live)
    if isinstance(choice, str):
        failed = StepResult.failure(choice, code="deploy_failed")
        return (yield from _failed_before_switch(plan, dep, INSPECT, failed, None, live))
    slot, warm = choice

    for hook in plan.before_start:
        r = yield hook
        if not r.ok:
            return (yield from _failed_before_switch(plan, dep, hook.name, r, None, live))

    if not warm:
        r = yield Step(CHECK_ARTIFACT, f"check that {release} is available", {"slot": slot})
        if not r.ok:
            return (yield from _failed_before_switch(plan, dep, CHECK_ARTIFACT, r, None, live))
        r = yield Step(START, f"start {release} in slot {slot}", {"slot": slot})
        if not r.ok:
            return (yield from _failed_before_switch(plan, dep, START, r, slot, live))
        r = yield Step(HEALTH, f"health check {release} in slot {slot}", {"slot": slot})
        if not r.ok:
            return (yield from _failed_before_switch(plan, dep, HEALTH, r, slot, live))

    verb = "switch traffic back" if warm else "switch traffic"
    r = yield Step(SWITCH, f"{verb} to slot {slot} ({release})", {"slot": slot, "warm": warm})
    if not r.ok:
        stop = None if warm else slot
        return (yield from _failed_before_switch(plan, dep, SWITCH, r, stop, live))

    if plan.post_switch_check:
        r = yield Step(
            POST_SWITCH_HEALTH, f"health check {release} through the switch", {"slot": slot}
        )
        if not r.ok:
            return (yield from _failed_after_switch(plan, dep, r, slot, warm, live))

    if plan.awaits_rollout:
        r = yield _await_rollout_step(plan, slot, live)
        if not (r.ok and r.data.get("verdict") == "continue"):
            return (yield from _reverted_by_rollout(plan, dep, r, slot, warm, live))

    r = yield Step(RECORD_COMPLETED, f"record the {what} as completed", {"deployment_id": dep})
    if not r.ok:
        return FlowEnd.failed(
            f"{release} serves traffic in slot {slot}, but recording it failed: {r.error}",
            RECORD_COMPLETED,
            r,
            deployment_id=dep,
            slot=slot,
        )

    old = live.slot if live.slot is not None and live.slot != slot else None
    if old is None:
        return FlowEnd("completed", f"{release} serves traffic in slot {slot}", dep, slot=slot)
    old_version = live.running.get(old) or live.full_version or "the old version"
    if live.running.get(old) and plan.keep_warm > 0:
        r = yield Step(
            KEEP_WARM,
            f"keep slot {old} ({old_version}) warm for {plan.keep_warm:g}s, watching slot {slot}",
            {"slot": old, "seconds": plan.keep_warm, "serving": slot},
        )
        if not r.ok:
            return (yield from _failed_while_warm(plan, dep, KEEP_WARM, r, slot, old, live))
    retire = True
    draining = False
    for hook in plan.before_retire:
        r = yield hook
        if not r.ok:
            return FlowEnd.failed(
                f"{release} serves traffic in slot {slot}; {hook.name} failed, so slot {old} "
                f"({old_version}) is left running: {r.error}",
                hook.name,
                r,
                deployment_id=dep,
                slot=slot,
            )
        if r.data.get("retire") is False:
            retire = False
            draining = draining or bool(r.data.get("draining"))
    if not retire:
        return FlowEnd(
            "completed_draining" if draining else "completed",
            f"{release} serves traffic in slot {slot}; slot {old} ({old_version}) is left running"
            + (" until its in-flight work drains" if draining else ""),
            dep,
            slot=slot,
        )
    r = yield Step(RETIRE, f"retire slot {old} ({old_version})", {"slot": old, "serving": slot})
    if not r.ok and r.data.get("serving_unhealthy"):
        return (yield from _failed_while_warm(plan, dep, RETIRE, r, slot, old, live))
    if not r.ok:
        return FlowEnd.failed(
            f"{release} serves traffic in slot {slot}, but slot {old} could not be stopped: "
            f"{r.error}",
            RETIRE,
            r,
            deployment_id=dep,
            slot=slot,
        )
    return FlowEnd(
        "completed",
        f"{release} serves traffic in slot {slot}; slot {old} retired",
        dep,
        retired=True,
        slot=slot,
    )


def _record_failed_step(plan: RunPlan, dep: int, step: str, result: StepResult) -> Step:
    return Step(
        RECORD_FAILED,
        f"record the {plan.kind} of {plan.full_version} as failed",
        {
            "deployment_id": dep,
            "failed_step": step,
            "error": _clip(result.error, 1000),
            "error_code": result.error_code,
            "output": _clip(result.output),
        },
        compensating=True,
    )


def _failed_before_switch(
    plan: RunPlan,
    dep: int,
    step: str,
    result: StepResult,
    stop_slot: str | None,
    live: LiveState,
) -> Flow:
    if stop_slot is not None:
        yield _stop_new_step(plan, stop_slot)
    yield _record_failed_step(plan, dep, step, result)
    return FlowEnd.failed(
        f"{step} failed: {result.error}; traffic is unchanged ({live.describe()})",
        step,
        result,
        deployment_id=dep,
        slot=stop_slot,
    )


def _switch_back(
    plan: RunPlan, slot: str, warm: bool, live: LiveState
) -> Generator[Step, StepResult, tuple[bool, str]]:
    """Put the switch back as ``inspect`` found it, then stop ``slot`` (unless it was warm).

    Returns whether traffic is back and, if not, why.
    """
    if live.switch_state is None:
        return False, "nothing to switch back to: the switch was never set before this run"
    r = yield _restore_step(live, live.switch_state)
    if not r.ok:
        return False, r.error or ""
    if not warm:
        yield _stop_new_step(plan, slot)
    return True, ""


def _failed_after_switch(
    plan: RunPlan, dep: int, result: StepResult, slot: str, warm: bool, live: LiveState
) -> Flow:
    restored, restore_error = yield from _switch_back(plan, slot, warm, live)
    yield _record_failed_step(plan, dep, POST_SWITCH_HEALTH, result)
    rollback_id: int | None = None
    note = ""
    if restored and plan.kind == "deploy":
        rollback_id, note = yield from _record_automatic_rollback(dep, live)
    if restored:
        where = f"traffic is back on {live.describe()}{note}"
    else:
        where = f"traffic could NOT be switched back ({restore_error}); it still goes to {slot}"
    return FlowEnd.failed(
        f"{POST_SWITCH_HEALTH} failed after the switch: {result.error}; {where}",
        POST_SWITCH_HEALTH,
        result,
        deployment_id=dep,
        rollback_deployment_id=rollback_id,
        switched_back=restored,
        slot=slot,
    )


def _failed_while_warm(
    plan: RunPlan,
    dep: int,
    step: str,
    result: StepResult,
    slot: str,
    old: str,
    live: LiveState,
) -> Flow:
    """The serving slot failed while the old one was still warm (its watch, or retire's check).

    A deploy switches back to the old slot and records the automatic rollback (the
    completed deployment becomes ``rolled_back``), like a failed post-switch check.
    A rollback run leaves traffic where it is and the old slot running: switching
    back would bring back the version it was rolling away from.
    """
    release = plan.full_version
    if plan.kind != "deploy" or live.switch_state is None:
        return FlowEnd.failed(
            f"{step} failed: {result.error}; slot {old} "
            f"({live.full_version or 'the old version'}) is left running and traffic is "
            "unchanged",
            step,
            result,
            deployment_id=dep,
            slot=slot,
        )
    r = yield _restore_step(live, live.switch_state)
    if not r.ok:
        return FlowEnd.failed(
            f"{step} failed: {result.error}; traffic could NOT be switched back "
            f"({r.error}); slot {old} is left running",
            step,
            result,
            deployment_id=dep,
            slot=slot,
        )
    yield _stop_new_step(plan, slot)
    rollback_id, note = yield from _record_automatic_rollback(
        dep,
        live,
        reason=f"deployment {dep} ({release}) failed while slot {old} was kept "
        f"warm: {_clip(result.error, 500)}",
    )
    return FlowEnd.failed(
        f"{step} failed: {result.error}; traffic is back on {live.describe()}{note}",
        step,
        result,
        deployment_id=dep,
        rollback_deployment_id=rollback_id,
        switched_back=True,
        slot=slot,
    )


def _await_rollout_step(plan: RunPlan, slot: str, live: LiveState) -> Step:
    """Wait for the rollout's verdict with ``slot`` serving and the old slot still warm.

    The step's executor (on the host's agent) does no deploy work: it asks the
    server for this run's verdict and returns ``{"verdict": "continue"}`` or
    ``{"verdict": "revert", "reason": ...}``.  The server gives the verdict (from
    :func:`shipmate.domain.fleet.rollout.decide`) once every host of the rollout is
    healthy, or as soon as one failed; until then the executor long-polls, asking
    again after each timeout, heartbeating the run so its lease holds, for as long
    as it takes (there is no deadline: the old slot stays warm meanwhile).  The
    server must treat this step's *begin* as the host's report "switched and
    healthy", and hand out a verdict that never changes once given, so a
    resumed run (the step begun, never finished) asks again and gets the same
    answer.  Only a verdict the server gave finishes the step; a step that could
    not get one (the run aborted) fails, which the flow takes as a revert.
    """
    old = live.slot if live.slot is not None and live.slot != slot else None
    warm = f"; slot {old} kept warm" if old is not None and live.running.get(old) else ""
    return Step(
        AWAIT_ROLLOUT,
        f"wait for the rollout's verdict ({plan.full_version} serves in slot {slot}{warm})",
        {"slot": slot},
    )


def _reverted_by_rollout(
    plan: RunPlan, dep: int, result: StepResult, slot: str, warm: bool, live: LiveState
) -> Flow:
    """The rollout said revert (or no verdict came): switch back, stop the new slot."""
    if result.ok:
        reason = str(result.data.get("reason") or "the rollout was stopped on another host")
        if result.data.get("verdict") != "revert":
            reason = f"no verdict to continue ({result.data.get('verdict')!r}): {reason}"
        result = StepResult.failure(reason, code="rollout_reverted")
    restored, restore_error = yield from _switch_back(plan, slot, warm, live)
    yield _record_failed_step(plan, dep, AWAIT_ROLLOUT, result)
    if restored:
        where = f"traffic is back on {live.describe()}"
    else:
        where = f"traffic could NOT be switched back ({restore_error}); it still goes to {slot}"
    return FlowEnd.failed(
        f"the rollout was reverted: {result.error}; {where}",
        AWAIT_ROLLOUT,
        result,
        deployment_id=dep,
        switched_back=restored,
        slot=slot,
    )


def _stop_new_step(plan: RunPlan, slot: str) -> Step:
    """Stop what this run started in ``slot``."""
    return Step(
        STOP_NEW, f"stop slot {slot} ({plan.full_version})", {"slot": slot}, compensating=True
    )


def _restore_step(live: LiveState, previous: Mapping[str, Any]) -> Step:
    """Put the switch back to the state ``inspect`` found (``previous``)."""
    return Step(
        RESTORE,
        f"switch traffic back to {live.describe()}",
        {"previous": dict(previous)},
        compensating=True,
    )


def _record_automatic_rollback(
    dep: int, live: LiveState, reason: str | None = None
) -> Generator[Step, StepResult, tuple[int | None, str]]:
    """Record the switch back to ``live``'s version as a rollback of ``dep``.

    Returns the rollback's deployment id (if recorded) and a note for the run's
    message (empty when all went well).
    """
    if live.full_version is None:
        return None, " (the previous version is unknown, so no rollback is recorded)"
    args: dict[str, Any] = {"version": live.full_version, "reverts_id": dep}
    if reason is not None:
        args["reason"] = reason
    r = yield Step(
        RECORD_ROLLBACK,
        f"record the automatic rollback to {live.full_version}",
        args,
        compensating=True,
    )
    if not r.ok:
        return None, f" (recording the automatic rollback failed: {r.error})"
    found = r.data.get("deployment_id")
    return (None if found is None else int(found)), ""


def preview(plan: RunPlan, live: LiveState) -> list[Step]:
    """The steps the run takes when every step succeeds (``--dry-run``)."""
    flow = blue_green_flow(plan)
    steps: list[Step] = []
    try:
        step = next(flow)
        while True:
            steps.append(step)
            if step.name == RECORD_STARTED:
                result = StepResult.success({"deployment_id": 0})
            elif step.name == INSPECT:
                result = StepResult.success(live.to_dict())
            elif step.name == AWAIT_ROLLOUT:
                result = StepResult.success({"verdict": "continue"})
            else:
                result = StepResult.success()
            step = flow.send(result)
    except StopIteration:
        pass
    return steps


def describe_failure_handling(plan: RunPlan, live: LiveState) -> Sequence[str]:
    """What the run does when a step fails, in words (for ``--dry-run``)."""
    choice = choose_slot(plan, live)
    slot = choice[0] if isinstance(choice, tuple) else "the new slot"
    lines = [
        f"a step before the switch fails: stop slot {slot}, leave traffic on "
        f"{live.describe()}, record the {plan.kind} failed",
    ]
    if plan.post_switch_check:
        if live.switch_state is not None:
            extra = (
                ", record the automatic rollback as its own deployment"
                if plan.kind == "deploy"
                else ""
            )
            lines.append(
                f"the check after the switch fails: switch back to {live.describe()}, stop "
                f"slot {slot}, record the {plan.kind} failed{extra}"
            )
        else:
            lines.append(
                "the check after the switch fails: there is nothing to switch back to; "
                f"record the {plan.kind} failed and leave slot {slot} serving"
            )
    if plan.awaits_rollout:
        if live.switch_state is not None:
            stop = "" if isinstance(choice, tuple) and choice[1] else f", stop slot {slot}"
            lines.append(
                "another host of the rollout fails while this one waits for the verdict: "
                f"switch back to {live.describe()}{stop}, record the {plan.kind} failed"
            )
        else:
            lines.append(
                "another host of the rollout fails while this one waits for the verdict: "
                f"there is nothing to switch back to; leave slot {slot} serving"
            )
    if live.slot is not None and live.slot != slot and live.running.get(live.slot):
        if plan.kind == "deploy" and live.switch_state is not None:
            lines.append(
                f"it fails while slot {live.slot} is kept warm, or just before that slot is "
                f"retired: switch back to {live.describe()}, stop slot {slot}, record the "
                "automatic rollback (the deployment becomes rolled_back)"
            )
        else:
            lines.append(
                f"it fails while slot {live.slot} is kept warm, or just before that slot is "
                f"retired: leave slot {live.slot} running and traffic where it is"
            )
    return lines
