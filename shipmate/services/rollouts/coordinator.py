"""Rollouts across several hosts, on the server: create, advance, verdicts, the end.

A remote deploy or rollback of an environment served by several hosts creates a
*coordinating run* (``host`` NULL, holding the environment's ``lock_key``, never
claimed by an agent) and one *child run* per host (``host``, ``parent_id``, its
own lock key ``"<product>\\n<environment>\\n@<host>"``, a plan with
``awaits_rollout``).  Children of the first batch are ``running`` (claimable);
the others wait ``queued`` until released.

There is no background loop.  :func:`advance` runs whenever a child reports
(begin or finish of a step, the end of its run, an ``await`` request, an abort):
it locks the coordinating run (``FOR UPDATE`` on PostgreSQL; SQLite's single
writer serialises), derives every host's :class:`HostProgress` from its child's
journal, applies :func:`~shipmate.domain.fleet.rollout.decide` until it says
wait, and stores what it decided in the coordinating run's ``params.rollout``:

* ``verdicts``: ``{host: "continue" | "revert"}``, written once and never changed
  (``decide`` only gives a verdict to a host that has none);
* released children become ``running``; skipped ones end ``skipped``;
* at the end, ``states`` (every host's end state) and ``result`` (status and
  message), the deployment record is completed or failed with the reason
  (idempotent key ``shipmate-run-<rollout>-end``), then the coordinating run
  ends ``completed`` or ``failed`` with the message as its error.

``advance`` is deterministic on the journal, so a server that died between two of
these writes decides the same again on the next report (the agent retries every
report until answered).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, insert, select, update

from shipmate.domain.fleet.rollout import (
    FAILED,
    FAILED_BEFORE_SWITCH,
    FINISHED,
    HEALTHY,
    QUEUED,
    REVERTED,
    RUNNING,
    SKIPPED,
    SWITCHED,
    SWITCHED_BACK,
    HostProgress,
    HostState,
    RolloutPlan,
    RolloutResult,
    Verdict,
    decide,
)
from shipmate.domain.requests import RecordRequest
from shipmate.domain.runs.model import (
    AWAIT_ROLLOUT,
    RECORD_COMPLETED,
    RESTORE,
    RETIRE,
    SWITCH,
    RunPlan,
)
from shipmate.services.context import Context
from shipmate.services.records.deployments import record_deployment
from shipmate.services.runs.live import LiveRuns, live_runs
from shipmate.services.runs.records import RunRecord, row_to_run, row_to_step
from shipmate.store.deployments import get_deployment
from shipmate.store.schema_runs import run_steps, runs

__all__ = [
    "QUEUED_STATUS",
    "SKIPPED_STATUS",
    "ChildSpec",
    "advance",
    "child_lock_key",
    "host_progress",
    "insert_children",
    "preemptible",
    "rollout_of",
    "supersede_children",
    "verdict_for",
]

#: A child run of a later batch, not released yet (agents cannot claim it).
QUEUED_STATUS = "queued"
#: A child run the rollout never started.
SKIPPED_STATUS = "skipped"


_OWN_FAILURES = frozenset({FAILED_BEFORE_SWITCH, SWITCHED_BACK, FAILED})


def child_lock_key(product: str, environment: str, host: str) -> str:
    return f"{product}\n{environment}\n@{host}"


@dataclass(frozen=True)
class ChildSpec:
    """One host's part: its plan and the parameters its run stores."""

    host: str
    plan: RunPlan
    params: Mapping[str, Any]


def insert_children(
    conn: Connection,
    parent_id: int,
    children: Sequence[ChildSpec],
    first_batch: Sequence[str],
    *,
    actor: str | None,
    now: Any,
) -> dict[str, int]:
    """Insert the child runs in the coordinating run's creating transaction."""
    ids: dict[str, int] = {}
    for child in children:
        plan = child.plan
        run_id = conn.execute(
            insert(runs)
            .values(
                kind=plan.kind,
                product=plan.product,
                environment=plan.environment,
                version=plan.version,
                build_number=plan.build_number,
                full_version=plan.full_version,
                status="running" if child.host in first_batch else QUEUED_STATUS,
                lock_key=child_lock_key(plan.product, plan.environment, child.host),
                owner=None,
                lease_until=None,
                attempts=1,
                actor=actor,
                reverts_id=plan.reverts_id,
                params={**child.params, "parent_id": parent_id},
                host=child.host,
                parent_id=parent_id,
                created_at=now,
                updated_at=now,
            )
            .returning(runs.c.id)
        ).scalar_one()
        ids[child.host] = int(run_id)
    return ids


def preemptible(conn: Connection, holder: RunRecord) -> bool:
    """A rollout a rollback may supersede: every host recorded its part completed and
    only keeps its old slot warm (none retires yet), or already finished."""
    children = _children(conn, holder.id).values()

    def warm(child: RunRecord) -> bool:
        names = {s.name for s in child.steps if s.status == "completed"}
        return RECORD_COMPLETED in names and not any(s.name == RETIRE for s in child.steps)

    return bool(children) and all(
        (c.running and warm(c)) or c.status.startswith("completed") for c in children
    )


def supersede_children(
    conn: Connection, product: str, environment: str, hosts: Sequence[str], by: int, now: Any
) -> None:
    """End the running host runs that hold ``hosts``' locks (a superseded rollout's):
    their agents stop at their next report, their old slots still warm."""
    keys = [child_lock_key(product, environment, h) for h in hosts]
    conn.execute(
        update(runs)
        .where(and_(runs.c.lock_key.in_(keys), runs.c.status == "running"))
        .values(
            status="superseded",
            lock_key=None,
            owner=None,
            lease_until=None,
            updated_at=now,
            finished_at=now,
            error=f"superseded by run {by} before its old slot was retired",
            error_code="superseded",
        )
    )


def rollout_of(run: RunRecord) -> dict[str, Any]:
    """The coordinating run's ``params.rollout``."""
    return dict(run.params.get("rollout") or {})


def _plan(rollout: Mapping[str, Any]) -> RolloutPlan:
    return RolloutPlan(
        tuple(rollout["hosts"]), strategy=rollout["strategy"], batch=rollout["batch"]
    )


def host_progress(child: RunRecord, verdict: str | None) -> HostProgress:
    """Where one host's part is, from its child run's journal."""
    given: Verdict | None = (
        "continue" if verdict == "continue" else "revert" if verdict == "revert" else None
    )
    done = {s.name for s in child.steps if s.status == "completed"}
    failed = [s for s in child.steps if s.status == "failed"]
    step = failed[-1].name if failed else None
    if child.status == QUEUED_STATUS:
        return HostProgress(QUEUED)
    if child.status == SKIPPED_STATUS:
        return HostProgress(SKIPPED)
    if child.status == "running":
        if any(s.name == AWAIT_ROLLOUT for s in child.steps):
            return HostProgress(HEALTHY, verdict=given)
        return HostProgress(SWITCHED if SWITCH in done else RUNNING, verdict=given)
    if child.status.startswith("completed"):
        return HostProgress(FINISHED, verdict=given)
    error = child.error or f"its run ended {child.status}"
    if given == "revert":
        return HostProgress(REVERTED, verdict=given)
    if SWITCH not in done:
        state: HostState = FAILED_BEFORE_SWITCH
    elif RESTORE in done:
        state = SWITCHED_BACK
    else:
        state = FAILED
    return HostProgress(state, verdict=given, failed_step=step, error=error)


def _lock(conn: Connection, run_id: int) -> RunRecord | None:
    query = select(runs).where(runs.c.id == run_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    return None if row is None else row_to_run(row)


def _children(conn: Connection, parent_id: int) -> dict[str, RunRecord]:
    rows = conn.execute(select(runs).where(runs.c.parent_id == parent_id)).all()
    found: dict[str, RunRecord] = {}
    for row in rows:
        steps = conn.execute(
            select(run_steps).where(run_steps.c.run_id == row.id).order_by(run_steps.c.seq)
        ).all()
        run = row_to_run(row, [row_to_step(s) for s in steps])
        found[str(run.agent_host)] = run
    return found


def _progress(
    rollout: Mapping[str, Any], children: Mapping[str, RunRecord]
) -> dict[str, HostProgress]:
    verdicts = rollout.get("verdicts") or {}
    return {h: host_progress(children[h], verdicts.get(h)) for h in rollout["hosts"]}


def _end_child(conn: Connection, run_id: int, status: str, now: Any, error: str) -> None:
    conn.execute(
        update(runs)
        .where(and_(runs.c.id == run_id, runs.c.status == QUEUED_STATUS))
        .values(
            status=status,
            lock_key=None,
            updated_at=now,
            finished_at=now,
            error=error,
            error_code="skipped",
        )
    )


def _decide_and_apply(
    conn: Connection, parent: RunRecord, now: Any
) -> tuple[dict[str, Any], list[str], list[int], RolloutResult | None]:
    """Apply decisions until ``decide`` says wait or gives the result (no record yet)."""
    rollout = rollout_of(parent)
    plan = _plan(rollout)
    verdicts = dict(rollout.get("verdicts") or {})
    released: list[str] = []
    woken: list[int] = []
    result: RolloutResult | None = None
    for _ in range(4 * len(plan.hosts) + 4):
        children = _children(conn, parent.id)
        rollout["verdicts"] = verdicts
        decision = decide(plan, _progress(rollout, children))
        if decision.result is not None:
            result = decision.result
            break
        if decision.waiting:
            break
        for host in decision.release:
            conn.execute(
                update(runs)
                .where(and_(runs.c.id == children[host].id, runs.c.status == QUEUED_STATUS))
                .values(status="running", updated_at=now)
            )
            released.append(host)
        reasons = dict(rollout.get("reasons") or {})
        for host, verdict in decision.verdicts.items():
            verdicts.setdefault(host, verdict)
            if verdict == "revert":
                reasons.setdefault(host, _failure_reason(_progress(rollout, children)))
            woken.append(children[host].id)
        rollout["reasons"] = reasons
        for host in decision.skip:
            why = "not started: the rollout stopped before this host's batch"
            _end_child(conn, children[host].id, SKIPPED_STATUS, now, why)
    rollout["verdicts"] = verdicts
    if result is not None:
        rollout["states"] = dict(result.hosts)
        rollout["result"] = {"status": result.status, "message": result.message}
    conn.execute(
        update(runs)
        .where(runs.c.id == parent.id)
        .values(params={**parent.params, "rollout": rollout}, updated_at=now)
    )
    return rollout, released, woken, result


def advance(ctx: Context, parent_id: int, *, live: LiveRuns = live_runs) -> RunRecord | None:
    """Move the rollout ``parent_id`` on after a report (see the module docstring)."""
    now = ctx.now()
    with ctx.write() as conn:
        parent = _lock(conn, parent_id)
        if parent is None or not parent.running:
            return parent
        _, released, woken, result = _decide_and_apply(conn, parent, now)
    for host in released:
        live.host_work(host)
    for run_id in woken:
        live.changed(run_id)
    live.changed(parent_id)
    if result is None:
        return None
    _record_end(ctx, parent, result)
    with ctx.write() as conn:
        locked = _lock(conn, parent_id)
        if locked is not None and locked.running:
            conn.execute(
                update(runs)
                .where(runs.c.id == parent_id)
                .values(
                    status=result.status,
                    lock_key=None,
                    owner=None,
                    lease_until=None,
                    updated_at=now,
                    finished_at=now,
                    error=None if result.status == "completed" else result.message,
                    error_code=None if result.status == "completed" else "rollout_failed",
                )
            )
    live.changed(parent_id)
    return None


def _record_end(ctx: Context, parent: RunRecord, result: RolloutResult) -> None:
    """The rollout's one deployment record: completed, or failed with the reason (only
    while it is still ``started``: a failure after every host continued leaves the
    completed record as it is, the coordinating run says what failed)."""
    from shipmate.services.rollouts.records import completed_request

    with ctx.read() as conn:
        dep_id = conn.execute(
            select(runs.c.deployment_id).where(runs.c.id == parent.id)
        ).scalar_one_or_none()
        dep = None if dep_id is None else get_deployment(conn, int(dep_id))
    if dep is None:
        return  # nothing was recorded started (every host failed before recording)
    if result.status == "completed":
        record_deployment(ctx, completed_request(parent, dep.id))
        return
    if dep.status != "started":
        return
    fields = parent.params.get("record") or {}
    record_deployment(
        ctx,
        RecordRequest(
            environment=parent.environment,
            status="failed",
            deployment_id=dep.id,
            deployed_by=fields.get("deployed_by"),
            metadata={
                "error": result.message,
                "failed_hosts": ", ".join(result.failed_hosts),
            },
            idempotency_key=f"shipmate-run-{parent.id}-end",
        ),
    )


def verdict_for(ctx: Context, child: RunRecord) -> tuple[str | None, str | None]:
    """The verdict the rollout gave ``child``'s host (None: not yet) and why."""
    if child.parent_id is None:
        return "continue", None
    with ctx.read() as conn:
        row = conn.execute(select(runs).where(runs.c.id == child.parent_id)).first()
    if row is None:
        return "revert", "its rollout is gone"
    parent = row_to_run(row)
    rollout = rollout_of(parent)
    verdict = (rollout.get("verdicts") or {}).get(str(child.agent_host))
    if verdict is not None:
        host_reason = (rollout.get("reasons") or {}).get(str(child.agent_host))
        reason = (
            None if verdict == "continue" else str(host_reason or _revert_reason(parent, rollout))
        )
        return str(verdict), reason
    if not parent.running:
        return "revert", f"its rollout ended {parent.status}"
    return None, None


def _failure_reason(progress: Mapping[str, HostProgress]) -> str:
    failed = [(h, p) for h, p in progress.items() if p.state in _OWN_FAILURES]
    if not failed:
        return "another host of the rollout failed"
    host, first = failed[0]
    what = f"{first.failed_step} failed: " if first.failed_step else ""
    return f"{host} failed ({what}{first.error or 'its run failed'})"


def _revert_reason(parent: RunRecord, rollout: Mapping[str, Any]) -> str:
    reasons = rollout.get("reasons") or {}
    for value in reasons.values():
        return str(value)
    return str(parent.error or "another host of the rollout failed")
