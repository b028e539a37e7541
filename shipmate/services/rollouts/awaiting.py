"""The ``await_rollout`` step: a host waits, its old slot warm, for the rollout's verdict.

Server side, :func:`await_verdict` answers an agent's ``POST
/api/v1/agent/runs/{id}/await``: it checks the caller drives the run, renews the
lease, moves the rollout on (the step's *begin* already said "switched and
healthy") and long-polls until the coordinating run holds a verdict for this host
or ``wait`` seconds pass (answer: no verdict yet; ask again).  The verdict is read
from the coordinating run, where it is written once, so a resumed run that asks
again gets the same answer.

Host side, the step's executor asks in a loop (each answer renews the lease) until
it gets a verdict, and returns ``{"verdict": ..., "reason": ...}``; a run told to
stop stops between two asks.  It works through any
:class:`~shipmate.services.runs.backend.RunBackend` that has ``await_verdict``:
the agent's HTTP backend and, for completeness, the database backend.
"""

from __future__ import annotations

import time
from typing import Any

from shipmate.domain.runs.model import AWAIT_ROLLOUT, Step, StepResult
from shipmate.errors import ConflictError
from shipmate.services.agents.reports import agent_run
from shipmate.services.auth.keys import Principal
from shipmate.services.context import Context
from shipmate.services.rollouts.coordinator import advance, verdict_for
from shipmate.services.runs import journal
from shipmate.services.runs.live import RECHECK_SECONDS, LiveRuns, live_runs
from shipmate.services.runs.records import RunRecord
from shipmate.services.runs.stepenv import StepEnv, stopped_error
from shipmate.services.runs.steps import register_step

__all__ = ["ASK_SECONDS", "await_verdict", "await_verdict_of", "verdict_answer"]

#: How long one ask waits on the server before the host asks again.
ASK_SECONDS = 20.0


def verdict_answer(verdict: str | None, reason: str | None) -> dict[str, Any]:
    return {"verdict": verdict, "reason": reason}


def await_verdict_of(
    ctx: Context, run: RunRecord, owner: str, wait: float, *, live: LiveRuns = live_runs
) -> dict[str, Any]:
    """Wait up to ``wait`` seconds for ``run``'s verdict (``run`` is a host's part)."""
    if not journal.heartbeat(ctx, run.id, owner):
        raise ConflictError(
            f"run {run.id} is no longer driven by this owner; stopping",
            field="run",
            reason="lease_lost",
        )
    if not any(s.name == AWAIT_ROLLOUT and s.status == "running" for s in run.steps):
        raise ConflictError(
            f"run {run.id} is not waiting for a rollout verdict (no await_rollout step running)",
            field="run",
        )
    if run.parent_id is not None:
        advance(ctx, run.parent_id, live=live)
    deadline = time.monotonic() + max(0.0, wait)
    while True:
        mark = live.run_mark(run.id)
        verdict, reason = verdict_for(ctx, run)
        left = deadline - time.monotonic()
        if verdict is not None or left <= 0:
            return verdict_answer(verdict, reason)
        live.wait_run(run.id, mark, min(left, RECHECK_SECONDS))


def await_verdict(
    ctx: Context, principal: Principal, run_id: int, owner: str, wait: float
) -> dict[str, Any]:
    """The agent route's use case: scoped to the key's host, fenced to the owner."""
    run = agent_run(ctx, principal, run_id)
    return await_verdict_of(ctx, run, owner, wait)


def _await_rollout(step: Step, env: StepEnv) -> StepResult:
    ask = getattr(env.backend, "await_verdict", None)
    owner = env.run.owner
    if ask is None or owner is None:
        return StepResult.failure(
            "this run cannot ask for a rollout verdict here", code="deploy_failed"
        )
    while True:
        if env.wake.is_set():
            raise stopped_error(env.run.id)
        env.progress("waiting for the other hosts of the rollout")
        answer = ask(env.run.id, owner, ASK_SECONDS)
        verdict = answer.get("verdict") if answer else None
        if verdict in ("continue", "revert"):
            reason = answer.get("reason")
            said = f": {reason}" if reason else ""
            return StepResult.success(
                {"verdict": verdict, "reason": reason}, output=f"verdict {verdict}{said}"
            )


register_step(AWAIT_ROLLOUT, _await_rollout)
