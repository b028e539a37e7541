"""Runs as use cases: list, show, resume, abort, and the server's recovery loop.

* :func:`resume_run` takes over one interrupted run (its owner is gone) and drives
  it from its last finished step, with the engine parts rebuilt from the
  configuration the run stored when it began.
* :func:`resume_orphaned_runs` does that for every interrupted run, one after the
  other; ``shipmate runs resume`` without an id and ``shipmate serve`` call it.
  Two processes (two servers on one PostgreSQL) may try at once: the claim is a
  compare-and-set on the owner, so exactly one drives each run.
* :class:`RunRecovery` is the thread ``shipmate serve`` runs: it resumes
  interrupted runs at start-up and then every :data:`RECOVERY_INTERVAL` seconds
  (a run whose owner died on another server becomes resumable when its lease
  runs out).  On shutdown it tells the run it drives to stop and releases it, so
  another server can continue at once.
* :func:`abort_run` ends an interrupted run without touching traffic or slots,
  and records its open deployment ``aborted``: the way out when a run cannot be
  finished (its step keeps failing and the environment is fixed by hand).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from shipmate.domain.lifecycle import Status
from shipmate.errors import ConflictError, ShipmateError
from shipmate.services.context import Context
from shipmate.services.deployconfigs import parts_from_params
from shipmate.services.deployments import RecordRequest, record_deployment
from shipmate.services.deploys import RunOutcome
from shipmate.services.rundriver import CrashPoint, PartsFactory, RunDriver
from shipmate.services.runjournal import (
    RunRecord,
    claim_run,
    get_run,
    list_runs,
    new_owner,
    orphaned_runs,
)
from shipmate.services.runjournal import abort_run as _abort_in_journal
from shipmate.services.runobserver import LogObserver, RunObserver
from shipmate.store.deployments import get_deployment

__all__ = [
    "RECOVERY_INTERVAL",
    "RunRecovery",
    "abort_run",
    "get_run",
    "list_runs",
    "orphaned_runs",
    "resume_orphaned_runs",
    "resume_run",
]

RECOVERY_INTERVAL = 15.0

log = logging.getLogger("shipmate.runs")


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
    """Take over an interrupted run and drive it to its end."""
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


def resume_orphaned_runs(
    ctx: Context,
    *,
    observer: RunObserver | None = None,
    parts_factory: PartsFactory | None = None,
    stop: threading.Event | None = None,
) -> list[RunOutcome]:
    """Resume every interrupted run, oldest first; runs another process took are skipped."""
    outcomes: list[RunOutcome] = []
    for run in orphaned_runs(ctx):
        if stop is not None and stop.is_set():
            break
        try:
            outcomes.append(
                resume_run(ctx, run.id, observer=observer, parts_factory=parts_factory, stop=stop)
            )
        except ConflictError:
            continue  # someone else resumed it first
    return outcomes


def abort_run(ctx: Context, run_id: int, *, actor: str | None = None) -> RunRecord:
    """End an interrupted run ``aborted``; its open deployment is recorded aborted too."""
    run = get_run(ctx, run_id)
    reason = f"aborted by {actor}" if actor else "aborted"
    aborted = _abort_in_journal(ctx, run_id, reason=reason)
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
                    metadata={"aborted_run": str(run_id)},
                ),
            )
    return aborted


@dataclass
class RunRecovery:
    """The server's background loop that resumes interrupted runs."""

    ctx: Context
    interval: float = RECOVERY_INTERVAL

    def __post_init__(self) -> None:
        self.stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="run-recovery", daemon=True)

    def start(self) -> RunRecovery:
        self._thread.start()
        return self

    def close(self, timeout: float = 10.0) -> None:
        self.stop.set()
        self._thread.join(timeout)

    def _loop(self) -> None:
        observer = LogObserver(log)
        while not self.stop.is_set():
            try:
                resume_orphaned_runs(self.ctx, observer=observer, stop=self.stop)
            except ShipmateError as exc:
                log.warning("resuming interrupted runs failed: %s", exc.message)
            except Exception:
                log.exception("resuming interrupted runs failed")
            if self.stop.wait(self.interval):
                break
