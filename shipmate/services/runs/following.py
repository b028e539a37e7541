"""Following a run another process drives: ``GET /api/v1/runs/{id}/follow``.

A follower (``shipmate deploy`` in remote mode) long-polls: the answer comes as soon
as something it has not seen happened, or after ``wait`` seconds with nothing new.
"Something" is a new progress line (numbers after ``after_line``) or a journal
change (the run's ``token`` differs from the ``seen`` one the follower sends).  The
wait wakes on :data:`~shipmate.services.runs.live.live_runs` (the agent's reports
through this server) and re-reads the database every
:data:`~shipmate.services.runs.live.RECHECK_SECONDS` (another server, or a process
on the database, drove it).

When the run has ended, the answer's ``outcome`` says how, in the same terms a local
run's end is reported (:class:`~shipmate.services.deploys.deploy.RunOutcome`): its
``error`` is the error body the CLI raises, so a remote deploy exits with the same
code as a local one.  The flow's end is rebuilt from the journal (:func:`end_of`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shipmate.domain.runs.model import RESTORE, RETIRE, SWITCH, FlowEnd
from shipmate.errors import DeployError, ShipmateError
from shipmate.services.context import Context
from shipmate.services.deploys.deploy import RunOutcome
from shipmate.services.runs.journal import RunRecord, get_run
from shipmate.services.runs.live import RECHECK_SECONDS, LiveRuns, live_runs

__all__ = ["MAX_WAIT_SECONDS", "FollowAnswer", "end_of", "follow_run", "outcome_error", "token"]

#: The longest a follow request waits for something new.
MAX_WAIT_SECONDS = 30.0
_ENDED = ("completed", "completed_draining", "failed")


def token(run: RunRecord) -> str:
    """Changes whenever the journal says something new about the run."""
    finished = sum(1 for s in run.steps if s.status != "running")
    last = run.steps[-1] if run.steps else None
    tail = f"{last.seq}.{last.status}.{last.attempts}" if last is not None else "-"
    return f"{run.status}:{run.attempts}:{len(run.steps)}:{finished}:{tail}:{run.owner or ''}"


def end_of(run: RunRecord) -> FlowEnd | None:
    """The flow's end of an ended run, rebuilt from its journal (None: not ended so)."""
    if run.status not in _ENDED:
        return None
    failed = [s for s in run.steps if s.status == "failed"]
    slots = [str(s.args["slot"]) for s in run.steps if s.name == SWITCH and s.args.get("slot")]
    slot = slots[-1] if slots else None
    switched_back = any(s.name == RESTORE and s.status == "completed" for s in run.steps)
    if run.status == "failed":
        message = run.error or "the run failed"
    else:
        message = f"{run.full_version} serves traffic" + (f" in slot {slot}" if slot else "")
        if any(s.name == RETIRE and s.status == "completed" for s in run.steps):
            message += "; the old slot was retired"
    return FlowEnd(
        run.status,  # type: ignore[arg-type]
        message,
        deployment_id=run.deployment_id,
        rollback_deployment_id=run.rollback_deployment_id,
        failed_step=failed[0].name if failed else None,
        error=failed[0].error if failed else None,
        error_code=run.error_code,
        switched_back=switched_back,
        retired=any(s.name == RETIRE and s.status == "completed" for s in run.steps),
        slot=slot,
    )


def outcome_error(run: RunRecord) -> ShipmateError | None:
    """The error a follower reports for an ended run (None when it succeeded)."""
    if run.status == "aborted":
        return DeployError(
            f"run {run.id} was aborted: {run.error or 'given up'}; traffic and slots were "
            "left as they were",
            field="run",
            run_id=str(run.id),
        )
    return RunOutcome(run, end_of(run)).error()


@dataclass(frozen=True)
class FollowAnswer:
    run: RunRecord
    progress: tuple[dict[str, Any], ...]
    done: bool
    now: datetime

    def to_dict(self, *, after_seq: int = 0) -> dict[str, Any]:
        body = self.run.to_dict(now=self.now, with_steps=True)
        body["steps"] = [s for s in body["steps"] if int(s["seq"]) >= after_seq]
        if "rollout" in self.run.params:  # a rollout's coordinating run: its hosts, its verdicts
            body["rollout"] = dict(self.run.params["rollout"])
        answer: dict[str, Any] = {
            "run": body,
            "token": token(self.run),
            "progress": list(self.progress),
            "done": self.done,
        }
        if self.done:
            end = end_of(self.run)
            error = outcome_error(self.run)
            answer["outcome"] = {
                "end": end.to_dict() if end is not None else None,
                "error": error.to_dict() | {"exit_code": error.exit_code}
                if error is not None
                else None,
            }
        return answer


def follow_run(
    ctx: Context,
    run_id: int,
    *,
    after_line: int = 0,
    seen: str | None = None,
    wait: float = 0.0,
    live: LiveRuns = live_runs,
) -> FollowAnswer:
    """The run as soon as it changed past ``seen``/``after_line``, or after ``wait``."""
    wait = max(0.0, min(float(wait), MAX_WAIT_SECONDS))
    deadline = time.monotonic() + wait
    while True:
        mark = live.run_mark(run_id)
        run = get_run(ctx, run_id)
        lines = tuple(
            {"number": line.number, "seq": line.seq, "message": line.message}
            for line in live.progress(run_id, after_line)
        )
        done = not run.running
        left = deadline - time.monotonic()
        if done or lines or token(run) != seen or left <= 0:
            return FollowAnswer(run, lines, done, ctx.now())
        live.wait_run(run_id, mark, min(left, RECHECK_SECONDS))
