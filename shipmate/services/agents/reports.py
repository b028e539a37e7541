"""What an agent reports about the run it drives: fenced, scoped, safe to retry.

Every call names the run, the agent's *owner* token (from its claim) and comes
with the agent key's principal.  Before anything is written:

* the run's host must be the key's host and its product within the key's products
  (:func:`agent_run`): a key for host A cannot touch host B's runs, whatever it asks;
* the write is fenced exactly like a local driver's (owner and ``running``, checked
  in the same transaction by :mod:`shipmate.services.runs.journal`).

Retries (the agent retries a call whose answer it did not get) write nothing twice:

* ``begin`` of a step whose row is already ``running`` for this owner with the
  attempt the agent expects returns that row;
* ``finish`` of a step already finished with the same result returns;
* ``record`` carries the step's idempotency key ``shipmate-run-<run>-<seq>``, with
  the run's product and environment forced, so a repeat returns the first record;
* ``finish_run`` of a run already ended with the same status returns it.

Each write wakes the run's followers (``live_runs.changed``); a release wakes the
host's agents (``live_runs.host_work``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from shipmate.domain.records import DeploymentRecord
from shipmate.domain.requests import RecordRequest
from shipmate.domain.runs.model import FlowEnd, Step, StepResult
from shipmate.errors import ConflictError, InvalidInputError, PermissionDeniedError
from shipmate.services.auth.keys import Principal, Scope
from shipmate.services.context import Context
from shipmate.services.records.deployments import record_deployment
from shipmate.services.rollouts.coordinator import advance
from shipmate.services.rollouts.records import record_for_child
from shipmate.services.runs import journal
from shipmate.services.runs.backend import current_deployment
from shipmate.services.runs.live import live_runs
from shipmate.services.runs.records import RunRecord, RunStepRecord
from shipmate.store.deployments import get_deployment

__all__ = [
    "agent_host",
    "agent_run",
    "begin",
    "current",
    "finish",
    "finish_run",
    "heartbeat",
    "progress",
    "record",
    "release",
]

#: The run fields an agent may set when a step finishes.
RUN_UPDATES = ("deployment_id",)


def agent_host(principal: Principal) -> str:
    """The host an agent key acts for; PermissionDeniedError for any other key."""
    if principal.scope != Scope.AGENT or not principal.host:
        raise PermissionDeniedError(
            f"key {principal.name!r} is not an agent key; the agent routes need one",
            field="scope",
        )
    return principal.host


def agent_run(ctx: Context, principal: Principal, run_id: int) -> RunRecord:
    """The run ``run_id`` with its steps, if the agent key may act on it."""
    host = agent_host(principal)
    run = journal.get_run(ctx, run_id)
    if run.agent_host != host:
        raise PermissionDeniedError(
            f"run {run_id} is not for host {host}; key {principal.name!r} acts for {host} only",
            field="run",
        )
    if principal.products and run.product not in principal.products:
        raise PermissionDeniedError(
            f"key {principal.name!r} is limited to {', '.join(principal.products)}; run "
            f"{run_id} deploys {run.product}",
            field="product",
        )
    return run


def _owned(run: RunRecord, owner: str) -> None:
    if not run.running or run.owner != owner:
        raise ConflictError(
            f"run {run.id} is no longer driven by this agent (it is {run.status}); "
            "stopping before the next step",
            field="run",
            reason="lease_lost",
            status=run.status,
        )


def heartbeat(ctx: Context, principal: Principal, run_id: int, owner: str) -> bool:
    agent_run(ctx, principal, run_id)
    return journal.heartbeat(ctx, run_id, owner)


def begin(
    ctx: Context,
    principal: Principal,
    run_id: int,
    owner: str,
    seq: int,
    step: Step,
    *,
    attempt: int,
) -> RunStepRecord:
    """Write that step ``seq`` is about to act; ``attempt`` is the attempt number the
    agent expects the row to have afterwards (a retry of a begin that was written
    returns the row unchanged)."""
    run = agent_run(ctx, principal, run_id)
    if seq < 1:
        raise InvalidInputError("seq must be 1 or more", field="seq")
    row = next((s for s in run.steps if s.seq == seq), None)
    if row is not None and row.name != step.name:
        raise ConflictError(
            f"run {run_id}: step {seq} was recorded as {row.name!r}, not {step.name!r}",
            field="name",
        )
    if row is not None and row.status == "running" and row.attempts == attempt:
        _owned(run, owner)
        return row
    began = journal.begin_step(ctx, run_id, owner, seq, step)
    live_runs.changed(run_id)
    _coordinate(ctx, run)
    return began


def finish(
    ctx: Context,
    principal: Principal,
    run_id: int,
    owner: str,
    seq: int,
    result: StepResult,
    *,
    duration_ms: int,
    run_updates: Mapping[str, Any] | None,
) -> None:
    """Write step ``seq``'s outcome; a repeat of the same outcome writes nothing."""
    run = agent_run(ctx, principal, run_id)
    row = next((s for s in run.steps if s.seq == seq), None)
    if row is None:
        raise ConflictError(f"run {run_id} has no step {seq} begun", field="seq")
    if row.status in ("completed", "failed"):
        if row.result == result.to_dict():
            _coordinate(ctx, run)
            return
        raise ConflictError(f"run {run_id}: step {seq} already finished {row.status}", field="seq")
    updates = _run_updates(ctx, run, run_updates)
    journal.finish_step(
        ctx, run_id, owner, seq, result, duration_ms=max(0, duration_ms), run_updates=updates
    )
    live_runs.changed(run_id)
    _coordinate(ctx, run)


def _run_updates(
    ctx: Context, run: RunRecord, updates: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    if not updates:
        return None
    unknown = sorted(set(updates) - set(RUN_UPDATES))
    if unknown:
        raise InvalidInputError(f"an agent cannot set {unknown[0]} on a run", field="run_updates")
    deployment_id = _deployment_of(ctx, run, updates["deployment_id"])
    return {"deployment_id": deployment_id}


def _deployment_of(ctx: Context, run: RunRecord, value: object) -> int:
    """``value`` as the id of a deployment of the run's product and environment."""
    try:
        deployment_id = int(str(value))
    except ValueError:
        raise InvalidInputError("deployment_id must be an id", field="deployment_id") from None
    with ctx.read() as conn:
        dep = get_deployment(conn, deployment_id)
    if dep is None or (dep.product, dep.environment) != (run.product, run.environment):
        raise PermissionDeniedError(
            f"deployment {deployment_id} is not a deployment of {run.product} in "
            f"{run.environment}, so run {run.id} cannot touch it",
            field="deployment_id",
        )
    return deployment_id


def record(
    ctx: Context,
    principal: Principal,
    run_id: int,
    owner: str,
    seq: int,
    request: RecordRequest,
) -> DeploymentRecord:
    """Record for step ``seq``: the run's product and environment, the step's key."""
    run = agent_run(ctx, principal, run_id)
    _owned(run, owner)
    if not any(s.seq == seq and s.status == "running" for s in run.steps):
        raise ConflictError(f"run {run_id}: step {seq} is not running", field="seq")
    forced = replace(
        request,
        environment=run.environment,
        product=None if request.deployment_id is not None else run.product,
        source_system="shipmate",
        metadata={**dict(request.metadata), "run_id": str(run_id)}
        if request.deployment_id is None
        else dict(request.metadata),
        own_metadata={},
        idempotency_key=f"shipmate-run-{run_id}-{seq}",
        key_name=principal.name,
        override_gates=False,
        override_reason=None,
    )
    if forced.deployment_id is not None:
        _deployment_of(ctx, run, forced.deployment_id)
    if run.parent_id is not None:
        recorded = record_for_child(ctx, run, forced)
    else:
        recorded = record_deployment(ctx, forced)
    live_runs.changed(run_id)
    return recorded


def current(ctx: Context, principal: Principal, run_id: int) -> tuple[int, str] | None:
    run = agent_run(ctx, principal, run_id)
    return current_deployment(ctx, run.product, run.environment)


def progress(
    ctx: Context, principal: Principal, run_id: int, owner: str, seq: int, message: str
) -> None:
    run = agent_run(ctx, principal, run_id)
    _owned(run, owner)
    live_runs.publish(run_id, seq, message[:2000])


def finish_run(
    ctx: Context, principal: Principal, run_id: int, owner: str, end: FlowEnd
) -> RunRecord:
    """Close the run with the flow's outcome; a repeat of the same close returns it."""
    run = agent_run(ctx, principal, run_id)
    if not run.running and run.status == end.status:
        _coordinate(ctx, run)
        return run
    for deployment_id in (end.deployment_id, end.rollback_deployment_id):
        if deployment_id is not None:
            _deployment_of(ctx, run, deployment_id)
    final = journal.finish_run(ctx, run_id, owner, end)
    live_runs.changed(run_id)
    _coordinate(ctx, run)
    return final


def _coordinate(ctx: Context, run: RunRecord) -> None:
    """A child run of a rollout reported: the rollout moves on (same answer if repeated)."""
    if run.parent_id is not None:
        advance(ctx, run.parent_id)


def release(ctx: Context, principal: Principal, run_id: int, owner: str) -> None:
    """Stop driving the run without finishing it (the agent stops): claimable at once."""
    run = agent_run(ctx, principal, run_id)
    journal.release_run(ctx, run_id, owner)
    live_runs.changed(run_id)
    if run.agent_host:
        live_runs.host_work(run.agent_host)
