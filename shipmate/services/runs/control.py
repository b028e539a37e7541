"""Runs as use cases: list, show, resume, abort.

* :func:`resume_run` takes over one interrupted run (its owner is gone) and drives
  it from its last finished step, with the engine parts rebuilt from the
  configuration the run stored when it began.  Only a process on the run's host
  may: the run starts processes and reloads nginx there, and runs the release
  actions of the versions it walks through.  ``shipmate runs resume`` calls it;
  the server never does (it only marks such runs, see
  :mod:`shipmate.services.runs.attention`).  Two processes may try at once: the
  claim is a compare-and-set on the owner, so exactly one drives each run.
* :func:`abort_run` ends an interrupted run without touching traffic or slots,
  and records its open deployment ``aborted``: the way out when a run cannot be
  finished (its step keeps failing and the environment is fixed by hand).
"""

from __future__ import annotations

import threading

from shipmate.domain.lifecycle import Status
from shipmate.domain.requests import RecordRequest
from shipmate.errors import ConflictError
from shipmate.services.context import Context
from shipmate.services.deploys.config import parts_from_params
from shipmate.services.deploys.deploy import RunOutcome
from shipmate.services.records.deployments import record_deployment
from shipmate.services.runs.driver import CrashPoint, PartsFactory, RunDriver
from shipmate.services.runs.journal import (
    RunRecord,
    claim_run,
    get_run,
    list_runs,
    new_owner,
    orphaned_runs,
)
from shipmate.services.runs.journal import abort_run as _abort_in_journal
from shipmate.services.runs.observer import RunObserver
from shipmate.services.runs.records import this_host
from shipmate.store.deployments import get_deployment

__all__ = ["abort_run", "get_run", "list_runs", "orphaned_runs", "resume_run"]


def resume_run(
    ctx: Context,
    run_id: int,
    *,
    observer: RunObserver | None = None,
    parts_factory: PartsFactory | None = None,
    stop: threading.Event | None = None,
    crash: CrashPoint | None = None,
    force: bool = False,
) -> RunOutcome:
    """Take over an interrupted run of this host and drive it to its end."""
    found = get_run(ctx, run_id)
    if "rollout" in found.params:
        raise ConflictError(
            f"run {run_id} coordinates a rollout across several hosts: nothing drives it, "
            "it moves on as each host's run reports; resume or abort a host's run instead",
            field="run",
        )
    if found.host is not None and found.host != this_host():
        raise ConflictError(
            f"run {run_id} drives processes and nginx on {found.host}, not on this host "
            f"({this_host()}); resume it there with: shipmate runs resume {run_id}",
            field="run",
            host=found.host,
        )
    owner = new_owner()
    run = claim_run(ctx, run_id, owner, force=force)
    driver = RunDriver(
        ctx,
        run,
        owner=owner,
        parts_factory=parts_factory or (lambda r: parts_from_params(r.product, r.params)),
        observer=observer,
        stop=stop,
        crash=crash,
        resumed=True,
    )
    result = driver.drive()
    final = result.run if result.end is not None else get_run(ctx, run.id)
    return RunOutcome(final, result.end)


def abort_run(
    ctx: Context, run_id: int, *, actor: str | None = None, reason: str | None = None
) -> RunRecord:
    """End an interrupted run ``aborted``; its open deployment is recorded aborted too."""
    run = get_run(ctx, run_id)
    text = f"aborted by {actor}" if actor else "aborted"
    if reason:
        text = f"{text}: {reason}"
    aborted = _abort_in_journal(ctx, run_id, reason=text)
    if run.parent_id is not None:
        # A host's part of a rollout: the host counts as failed, the rollout records.
        from shipmate.services.rollouts.coordinator import advance

        advance(ctx, run.parent_id)
        return aborted
    if run.deployment_id is not None:
        with ctx.read() as conn:
            dep = get_deployment(conn, run.deployment_id)
        if dep is not None and dep.status in (Status.PENDING.value, Status.STARTED.value):
            record_deployment(
                ctx,
                RecordRequest(
                    environment=run.environment,
                    status="aborted",
                    deployment_id=run.deployment_id,
                    deployed_by=actor,
                    own_metadata={"aborted_run": str(run_id)},
                ),
            )
    return aborted
