"""What ``shipmate serve`` does about interrupted runs: it says so, and does nothing else.

A run acts on one host: it starts and stops the app's processes, reloads that
host's nginx and runs the release actions (shell commands, SQL) of the versions
it walks through.  The server may run somewhere else, or on that host under
another user; resuming a run there would run those actions where the docs promise
nothing runs.  So only a process on the run's host resumes it (``shipmate runs
resume``, or an agent later), and the server only *marks* a running run whose
owner is gone as needing attention (``runs.attention``): the API, ``shipmate runs
list`` and the logs show it, and the mark is cleared when a process takes the run
over.

* :func:`mark_interrupted_runs` marks every such run not marked yet, in one
  compare-and-set per run (two servers marking at once write it once), and
  returns the runs it marked.
* :class:`RunWatch` is the server's thread: it marks at start-up and then every
  :data:`WATCH_INTERVAL` seconds, logging one line per newly marked run.
"""

from __future__ import annotations

import logging

from sqlalchemy import update

from shipmate.services.context import Context
from shipmate.services.periodic import PeriodicPass
from shipmate.services.runs.journal import get_run, orphaned_runs
from shipmate.services.runs.records import RUNNING, RunRecord, describe_owner
from shipmate.store.schema_runs import runs

__all__ = ["WATCH_INTERVAL", "RunWatch", "attention_text", "mark_interrupted_runs"]

WATCH_INTERVAL = 15.0

log = logging.getLogger("shipmate.runs")


def attention_text(run: RunRecord) -> str:
    """Why ``run`` needs someone, and what to do, in one line."""
    if run.agent_host:
        return (
            f"waiting for the agent of host {run.agent_host}: start (or restart) shipmate "
            f"agent there and it takes the run from its journal, or 'shipmate runs abort "
            f"{run.id}' gives it up"
        )
    where = f" on {run.host}" if run.host else " on the host that started it"
    return (
        f"interrupted: {describe_owner(run.owner)} no longer drives it; run "
        f"'shipmate runs resume {run.id}'{where} to finish it, or 'shipmate runs abort "
        f"{run.id}' to give it up"
    )


def mark_interrupted_runs(ctx: Context) -> list[RunRecord]:
    """Mark the running runs nobody drives (and that are not marked yet); never resumes one."""
    marked: list[RunRecord] = []
    for run in orphaned_runs(ctx):
        if run.attention is not None or "rollout" in run.params:
            continue  # a rollout's coordinating run is never driven: its hosts' runs are
        now = ctx.now()
        with ctx.write() as conn:
            result = conn.execute(
                update(runs)
                .where(
                    runs.c.id == run.id,
                    runs.c.status == RUNNING,
                    runs.c.attention.is_(None),
                    runs.c.owner.is_(None) if run.owner is None else runs.c.owner == run.owner,
                )
                .values(attention=attention_text(run), attention_at=now)
            )
        if result.rowcount == 1:
            marked.append(get_run(ctx, run.id))
    return marked


def _report_interrupted(ctx: Context) -> None:
    for run in mark_interrupted_runs(ctx):
        log.warning(
            "run %s (%s of %s %s to %s) needs attention: %s",
            run.id,
            run.kind,
            run.product,
            run.full_version,
            run.environment,
            run.attention,
        )


class RunWatch(PeriodicPass):
    """The server's thread: :func:`mark_interrupted_runs` now and every ``interval`` seconds."""

    def __init__(self, ctx: Context, interval: float = WATCH_INTERVAL) -> None:
        self.ctx = ctx
        super().__init__(
            "run-watch",
            interval,
            lambda: _report_interrupted(ctx),
            log=log,
            failure="checking for interrupted runs failed",
            first_now=True,
        )
