"""Watching the serving slot while the old one is warm, and checking it before retiring.

* ``keep_warm`` is a bake time: for ``keep_warm`` seconds after the step *first*
  started (a resumed run keeps the original end), the slot that serves is checked
  every ``interval`` of its check: the check after the switch when there is one
  (through the switch), else the health check (straight to the slot).  It fails
  as soon as the app is no longer running, or after :data:`WATCH_CONFIRMATIONS`
  failed checks in a row, and the flow then switches traffic back to the old slot,
  which is still warm.
* ``retire`` checks the serving slot the same way immediately before stopping the
  old slot, and stops nothing when it is unhealthy (the flow switches back
  instead).  It never stops the slot the switch sends traffic to, and it waits
  until the switch no longer sends to the old slot (:func:`settle_switch`).

A failed watch or check is a result with ``{"serving_unhealthy": true}``.
"""

from __future__ import annotations

import time

from shipmate.domain.runs.plan import Step, StepResult
from shipmate.errors import ConflictError
from shipmate.services.runs.stepenv import StepEnv, log_tail

__all__ = ["WATCH_CONFIRMATIONS", "keep_warm", "retire", "serving_health", "settle_switch"]

#: Failed checks in a row that make the serving slot unhealthy (a process that
#: exited is unhealthy at once).
WATCH_CONFIRMATIONS = 3
#: Longest pause between the checks that confirm a failure.
CONFIRM_SPACING = 0.5


def settle_switch(env: StepEnv) -> str:
    """Wait until the switch no longer sends traffic to the slot it left (see Switch)."""
    parts = env.parts
    timeout = float(getattr(parts.config.switch, "command_timeout", 30.0))
    try:
        return parts.switch.wait_settled(timeout=timeout, sleep=env.sleep)
    except ConflictError:
        raise  # the run was told to stop while waiting
    except Exception as exc:  # waiting spares requests in flight; it never fails a step
        return f"could not tell whether the switch settled: {type(exc).__name__}: {exc}"


def serving_health(env: StepEnv, slot: str) -> tuple[bool, str]:
    """Whether the release serving from ``slot`` is healthy, and what was seen."""
    parts = env.parts
    release = env.release
    if not parts.target.is_running(slot):
        return False, f"{release.full_version} is no longer running in slot {slot}"
    config = parts.config.post_switch_health or parts.config.health
    check = parts.health_factory(config, parts.context, slot=slot, release=release)
    spacing = min(config.interval, CONFIRM_SPACING)
    detail = "no check made"
    for attempt in range(1, WATCH_CONFIRMATIONS + 1):
        ok, detail = check.check_once()
        if ok:
            return True, detail
        if not parts.target.is_running(slot):
            return False, f"{release.full_version} is no longer running in slot {slot}"
        if attempt < WATCH_CONFIRMATIONS:
            env.progress(f"check {attempt}/{WATCH_CONFIRMATIONS} failed: {detail}")
            env.sleep(spacing)
    return False, f"{check.describe()} failed {WATCH_CONFIRMATIONS} times in a row: {detail}"


def _unhealthy(env: StepEnv, slot: str, detail: str, when: str) -> StepResult:
    return StepResult.failure(
        f"{env.release.full_version} in slot {slot} became unhealthy {when}: {detail}",
        code="health_check_failed",
        output=log_tail(env.parts, slot),
        data={"serving_unhealthy": True, "slot": slot},
    )


#: How often an agent's keep-warm step reports (and so learns it was superseded).
AGENT_PAUSE_SECONDS = 0.2


def keep_warm(step: Step, env: StepEnv) -> StepResult:
    seconds = float(step.args.get("seconds", 0))
    old = step.args.get("slot")
    serving = step.args.get("serving")
    elapsed = (env.backend.now() - env.first_started_at).total_seconds()
    remaining = max(0.0, seconds - max(0.0, elapsed))
    deadline = time.monotonic() + remaining
    config = env.parts.config.post_switch_health or env.parts.config.health
    checks = 0
    next_check = time.monotonic()
    while True:
        now = time.monotonic()
        left = deadline - now
        if left <= 0:
            break
        if serving is not None and now >= next_check:
            ok, detail = serving_health(env, str(serving))
            checks += 1
            if not ok:
                return _unhealthy(env, str(serving), detail, f"while slot {old} was kept warm")
            next_check = time.monotonic() + config.interval
        env.progress(f"{left:.0f}s left" + (f"; slot {serving} healthy" if serving else ""))
        # On an agent each progress line also asks the server whether the run is still
        # its own (a rollback may supersede it): ask often enough to hand over quickly.
        pause = min(left, 1.0 if env.backend.ctx is not None else AGENT_PAUSE_SECONDS)
        if serving is not None:
            pause = min(pause, max(0.0, next_check - time.monotonic()))
        env.sleep(pause)
    watched = f"; slot {serving} passed {checks} checks" if serving is not None else ""
    return StepResult.success(
        {"checks": checks}, output=f"slot {old} stayed warm for {seconds:g}s{watched}"
    )


def left_running(env: StepEnv, slot: str) -> StepResult | None:
    """The result of a step about to stop ``slot`` while it takes traffic (it is left
    running), or None when the slot may be stopped."""
    state = env.parts.switch.current()
    if state is not None and state.slot == slot:
        return StepResult.success(
            {"stopped": False},
            output=f"slot {slot} takes traffic now, so it is left running",
        )
    return None


def stop_slot(env: StepEnv, slot: str, was: str | None, lines: list[str]) -> StepResult:
    """Stop ``slot`` (which ran ``was``) and end the step with ``lines`` and that."""
    env.parts.target.stop(slot)
    lines.append(f"stopped slot {slot} ({was or 'nothing was running'})")
    return StepResult.success(
        {"stopped": True}, output="\n".join(line for line in lines if line.strip())
    )


def retire(step: Step, env: StepEnv) -> StepResult:
    slot = str(step.args["slot"])
    serving = step.args.get("serving")
    left = left_running(env, slot)
    if left is not None:
        return left
    lines = [settle_switch(env)]
    was = env.parts.target.running_version(slot)
    if was is not None and serving is not None:
        ok, detail = serving_health(env, str(serving))
        if not ok:
            return _unhealthy(
                env, str(serving), detail, f"just before slot {slot} ({was}) was to be retired"
            )
        lines.append(f"slot {serving} is healthy: {detail}")
    return stop_slot(env, slot, was, lines)
