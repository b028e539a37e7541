"""The journal of runs: run rows, step rows, the per-environment lock and the lease.

Every function here writes in its own short transaction (``ctx.write()``), committed
before the step it describes acts or after it finished, so a process killed at any
moment leaves a journal that says exactly which steps finished.

Rules:

* **One running run per product and environment.**  ``runs.lock_key`` is UNIQUE
  and set only while a run is ``running``; :func:`create_run` fails with a
  ConflictError naming the run in the way.  A rollback may *supersede* a run
  whose deployment is already completed and which is only keeping its old slot
  warm (or draining it): that run ends ``superseded`` in the same transaction,
  its retire step never runs, and the rollback finds the old slot warm.
* **Ownership.**  A run is driven by one *owner* (``host|pid|start time|boot id``)
  whose lease (:data:`LEASE_SECONDS`) it renews.  :func:`claim_run` takes a run
  over only when its owner is gone: released, a process of this host that no
  longer exists, or a lease that ran out (another host).  Only a process on the
  run's own host resumes it (:func:`shipmate.services.runs.control.resume_run` checks).
* **Fencing.**  Every write of the owner first checks, in the same transaction,
  that it still owns the running run; if not it raises ConflictError with
  ``reason="lease_lost"`` and the driver stops before acting again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, and_, desc, insert, select, update
from sqlalchemy.exc import IntegrityError

from shipmate.domain.inputs.fields import format_time
from shipmate.domain.runs.model import RECORD_COMPLETED, RETIRE, FlowEnd, Step, StepResult
from shipmate.errors import ConflictError, InvalidInputError, NotFoundError
from shipmate.services.context import Context
from shipmate.services.runs.records import (
    RUNNING,
    RunRecord,
    RunStepRecord,
    describe_owner,
    new_owner,
    owner_alive,
    row_to_run,
    row_to_step,
)
from shipmate.store.schema_runs import run_steps, runs

__all__ = [
    "FINISHED_STATUSES",
    "HEARTBEAT_SECONDS",
    "LEASE_SECONDS",
    "RunRecord",
    "RunStepRecord",
    "abort_run",
    "begin_step",
    "claim_run",
    "create_run",
    "describe_owner",
    "finish_run",
    "finish_step",
    "get_run",
    "heartbeat",
    "list_runs",
    "lock_key",
    "new_owner",
    "orphaned_runs",
    "owner_alive",
    "release_run",
]

#: How long an owner's claim on a run lasts without renewal.
LEASE_SECONDS = 30.0
#: How often a driving process renews its lease.
HEARTBEAT_SECONDS = 5.0

FINISHED_STATUSES = ("completed", "completed_draining", "failed", "superseded", "aborted")
MAX_PAGE = 500


def lock_key(product: str, environment: str) -> str:
    return f"{product}\n{environment}"


def _load_steps(conn: Connection, run_id: int) -> list[RunStepRecord]:
    rows = conn.execute(
        select(run_steps).where(run_steps.c.run_id == run_id).order_by(run_steps.c.seq)
    ).all()
    return [row_to_step(r) for r in rows]


def _select_run(conn: Connection, run_id: int, *, for_update: bool = False) -> Row[Any] | None:
    query = select(runs).where(runs.c.id == run_id)
    if for_update and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return conn.execute(query).first()


def _read_run(
    conn: Connection, run_id: int, *, for_update: bool = False, with_steps: bool = False
) -> RunRecord:
    """The run ``run_id`` as this transaction sees it (locked with ``for_update``, with
    its steps with ``with_steps``); NotFoundError when there is none."""
    row = _select_run(conn, run_id, for_update=for_update)
    if row is None:
        raise NotFoundError(f"run {run_id} does not exist", field="run")
    return row_to_run(row, _load_steps(conn, run_id) if with_steps else ())


def _end_run(conn: Connection, run_id: int, status: str, now: datetime, **values: Any) -> None:
    """End the run with ``status`` (and ``values`` besides): its lock and its lease are
    given up, so another run may start in its environment."""
    conn.execute(
        update(runs)
        .where(runs.c.id == run_id)
        .values(
            status=status,
            lock_key=None,
            owner=None,
            lease_until=None,
            updated_at=now,
            finished_at=now,
            **values,
        )
    )


def get_run(ctx: Context, run_id: int) -> RunRecord:
    """One run with its steps."""
    with ctx.read() as conn:
        return _read_run(conn, run_id, with_steps=True)


def list_runs(
    ctx: Context,
    *,
    product: str | None = None,
    environment: str | None = None,
    status: str | None = None,
    limit: int = 20,
    before_id: int | None = None,
) -> list[RunRecord]:
    """Runs, newest first (without their steps).  ``status`` may be ``interrupted``."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise InvalidInputError(f"limit must be between 1 and {MAX_PAGE}", field="limit")
    allowed = (RUNNING, "interrupted", *FINISHED_STATUSES)
    if status is not None and status not in allowed:
        raise InvalidInputError(
            f"status must be one of {', '.join(allowed)}, not {status!r}", field="status"
        )
    query = select(runs)
    if product is not None:
        query = query.where(runs.c.product == product)
    if environment is not None:
        query = query.where(runs.c.environment == environment)
    if status is not None:
        query = query.where(runs.c.status == (RUNNING if status == "interrupted" else status))
    if before_id is not None:
        query = query.where(runs.c.id < before_id)
    with ctx.read() as conn:
        rows = conn.execute(query.order_by(desc(runs.c.id)).limit(limit)).all()
    found = [row_to_run(r) for r in rows]
    if status == "interrupted":
        now = ctx.now()
        found = [r for r in found if r.owner_gone(now)]
    return found


def orphaned_runs(ctx: Context) -> list[RunRecord]:
    """Running runs nobody drives any more, oldest first: what a resume picks up."""
    with ctx.read() as conn:
        rows = conn.execute(select(runs).where(runs.c.status == RUNNING).order_by(runs.c.id)).all()
    now = ctx.now()
    return [r for r in (row_to_run(row) for row in rows) if r.owner_gone(now)]


# -- creating and claiming -----------------------------------------------------------


def _describe_holder(holder: RunRecord, now: datetime) -> str:
    state = holder.state(now)
    who = f" by {holder.actor}" if holder.actor else ""
    text = (
        f"run {holder.id} ({holder.kind} of {holder.full_version}{who}, started "
        f"{format_time(holder.created_at)}) is {state} in {holder.product}/{holder.environment}"
    )
    if state == "interrupted":
        return text + f"; finish it with: shipmate runs resume {holder.id}"
    return text + (
        f", driven by {describe_owner(holder.owner)}; wait for it (shipmate runs show {holder.id})"
    )


def _preemptible(conn: Connection, holder: RunRecord) -> bool:
    """Its deployment is completed and it only keeps the old slot warm or drains it."""
    if holder.agent_host is None and "rollout" in holder.params:
        from shipmate.services.rollouts.coordinator import preemptible

        return preemptible(conn, holder)
    steps = _load_steps(conn, holder.id)
    completed = any(s.name == RECORD_COMPLETED and s.status == "completed" for s in steps)
    retiring = any(s.name == RETIRE for s in steps)
    return completed and not retiring


def create_run(
    ctx: Context,
    *,
    kind: str,
    product: str,
    environment: str,
    version: str,
    full_version: str,
    build_number: int | None,
    params: Mapping[str, Any],
    actor: str | None,
    owner: str | None,
    reverts_id: int | None = None,
    supersede: bool = False,
    precondition: Callable[[Connection], None] | None = None,
    host: str | None = None,
    parent_id: int | None = None,
    on_created: Callable[[Connection, int], None] | None = None,
) -> RunRecord:
    """Open a run owned by ``owner``, holding the product/environment lock.

    ``host`` names the host whose agent must execute the run; such a run is
    usually created with no ``owner`` (and no lease), waiting to be claimed.

    ``supersede`` (rollbacks) ends a run that only keeps its old slot warm instead
    of refusing.  Anything else in the way is a ConflictError naming it.
    ``precondition(conn)`` runs in the same transaction and may refuse by raising;
    ``on_created(conn, run_id)`` runs in it after the insert (an idempotency key).
    """
    key = lock_key(product, environment)
    for attempt in range(2):
        now = ctx.now()
        try:
            with ctx.write() as conn:
                query = select(runs).where(runs.c.lock_key == key)
                if conn.dialect.name == "postgresql":
                    query = query.with_for_update()
                row = conn.execute(query).first()
                holder = row_to_run(row) if row is not None else None
                if precondition is not None:
                    precondition(conn)
                if holder is not None:
                    if not (supersede and _preemptible(conn, holder)):
                        raise ConflictError(
                            _describe_holder(holder, now),
                            field="environment",
                            run_id=str(holder.id),
                            state=holder.state(now),
                        )
                    _end_run(conn, holder.id, "superseded", now)
                run_id = conn.execute(
                    insert(runs)
                    .values(
                        kind=kind,
                        product=product,
                        environment=environment,
                        version=version,
                        build_number=build_number,
                        full_version=full_version,
                        status=RUNNING,
                        lock_key=key,
                        owner=owner,
                        lease_until=None
                        if owner is None
                        else now + timedelta(seconds=LEASE_SECONDS),
                        attempts=1,
                        host=host,
                        parent_id=parent_id,
                        actor=actor,
                        reverts_id=reverts_id,
                        params=dict(params),
                        created_at=now,
                        updated_at=now,
                    )
                    .returning(runs.c.id)
                ).scalar_one()
                if holder is not None:
                    conn.execute(
                        update(runs)
                        .where(runs.c.id == holder.id)
                        .values(
                            error=f"superseded by run {run_id} ({kind} of {full_version}) "
                            "before its old slot was retired",
                            error_code="superseded",
                        )
                    )
                if on_created is not None:
                    on_created(conn, int(run_id))
                created = _select_run(conn, int(run_id))
                assert created is not None
                return row_to_run(created)
        except IntegrityError:
            # Another process took the lock between our read and our insert
            # (PostgreSQL, READ COMMITTED): read again for a clear message.
            if attempt == 1:
                raise ConflictError(
                    f"another run holds {product}/{environment}; see shipmate runs list",
                    field="environment",
                ) from None
    raise AssertionError("unreachable")


def claim_run(ctx: Context, run_id: int, owner: str, *, force: bool = False) -> RunRecord:
    """Take over a running run whose owner is gone; ConflictError when it is still driven."""
    now = ctx.now()
    with ctx.write() as conn:
        run = _read_run(conn, run_id, for_update=True)
        if not run.running:
            raise ConflictError(
                f"run {run_id} is {run.status}; only a running run can be resumed",
                field="run",
                status=run.status,
            )
        if run.owner != owner and not run.owner_gone(now) and not force:
            until = format_time(run.lease_until) if run.lease_until else "?"
            raise ConflictError(
                f"run {run_id} is still driven by {describe_owner(run.owner)} (lease until "
                f"{until}); it can be resumed once that process is gone",
                field="run",
                owner=run.owner,
            )
        result = conn.execute(
            update(runs)
            .where(runs.c.id == run_id, runs.c.status == RUNNING)
            .where(_same_owner(run.owner))
            .values(
                owner=owner,
                lease_until=now + timedelta(seconds=LEASE_SECONDS),
                attempts=runs.c.attempts + 1,
                updated_at=now,
                attention=None,
                attention_at=None,
            )
        )
        if result.rowcount != 1:
            raise ConflictError(f"run {run_id} was taken over by another process", field="run")
        return _read_run(conn, run_id, with_steps=True)


def _same_owner(owner: str | None) -> Any:
    return runs.c.owner.is_(None) if owner is None else runs.c.owner == owner


# -- the owner's writes (fenced) ---------------------------------------------------------


def _fence(conn: Connection, run_id: int, owner: str, now: datetime) -> None:
    result = conn.execute(
        update(runs)
        .where(runs.c.id == run_id, runs.c.owner == owner, runs.c.status == RUNNING)
        .values(lease_until=now + timedelta(seconds=LEASE_SECONDS), updated_at=now)
    )
    if result.rowcount != 1:
        row = _select_run(conn, run_id)
        status = row._mapping["status"] if row is not None else "missing"
        raise ConflictError(
            f"run {run_id} is no longer driven by this process (it is {status}); "
            "stopping before the next step",
            field="run",
            reason="lease_lost",
            status=status,
        )


def heartbeat(ctx: Context, run_id: int, owner: str) -> bool:
    """Renew the lease; False when this process no longer owns the run."""
    try:
        with ctx.write() as conn:
            _fence(conn, run_id, owner, ctx.now())
    except ConflictError:
        return False
    return True


def begin_step(ctx: Context, run_id: int, owner: str, seq: int, step: Step) -> RunStepRecord:
    """Write that ``step`` (number ``seq``) is about to act; returns its row."""
    now = ctx.now()
    with ctx.write() as conn:
        _fence(conn, run_id, owner, now)
        row = conn.execute(
            select(run_steps).where(run_steps.c.run_id == run_id, run_steps.c.seq == seq)
        ).first()
        if row is None:
            conn.execute(
                insert(run_steps).values(
                    run_id=run_id,
                    seq=seq,
                    name=step.name,
                    title=step.title[:500],
                    status=RUNNING,
                    attempts=1,
                    args=dict(step.args),
                    started_at=now,
                )
            )
        else:
            conn.execute(
                update(run_steps)
                .where(run_steps.c.id == row._mapping["id"])
                .values(status=RUNNING, attempts=run_steps.c.attempts + 1, finished_at=None)
            )
        fresh = conn.execute(
            select(run_steps).where(run_steps.c.run_id == run_id, run_steps.c.seq == seq)
        ).first()
    assert fresh is not None
    return row_to_step(fresh)


def finish_step(
    ctx: Context,
    run_id: int,
    owner: str,
    seq: int,
    result: StepResult,
    *,
    duration_ms: int,
    run_updates: Mapping[str, Any] | None = None,
) -> None:
    """Write a step's outcome (and, in the same transaction, what it means for the run)."""
    now = ctx.now()
    with ctx.write() as conn:
        _fence(conn, run_id, owner, now)
        conn.execute(
            update(run_steps)
            .where(run_steps.c.run_id == run_id, run_steps.c.seq == seq)
            .values(
                status="completed" if result.ok else "failed",
                result=result.to_dict(),
                output=result.output or None,
                error=result.error,
                finished_at=now,
                duration_ms=duration_ms,
            )
        )
        if run_updates:
            conn.execute(update(runs).where(runs.c.id == run_id).values(**run_updates))


def finish_run(ctx: Context, run_id: int, owner: str, end: FlowEnd) -> RunRecord:
    """Close the run with the flow's outcome and release the environment lock."""
    now = ctx.now()
    with ctx.write() as conn:
        _fence(conn, run_id, owner, now)
        _end_run(
            conn,
            run_id,
            end.status,
            now,
            deployment_id=end.deployment_id,
            rollback_deployment_id=end.rollback_deployment_id,
            error=None if end.status != "failed" and not end.error else end.message,
            error_code=end.error_code,
        )
        return _read_run(conn, run_id, with_steps=True)


def release_run(ctx: Context, run_id: int, owner: str) -> None:
    """Stop driving a run without finishing it, so another process may resume it at once."""
    with ctx.write() as conn:
        conn.execute(
            update(runs)
            .where(and_(runs.c.id == run_id, runs.c.owner == owner, runs.c.status == RUNNING))
            .values(owner=None, lease_until=None, updated_at=ctx.now())
        )


def abort_run(ctx: Context, run_id: int, *, reason: str) -> RunRecord:
    """End an interrupted run as ``aborted`` (traffic and slots are left as they are)."""
    now = ctx.now()
    with ctx.write() as conn:
        run = _read_run(conn, run_id, for_update=True)
        if not run.running:
            raise ConflictError(f"run {run_id} is {run.status}, not running", field="run")
        if not run.owner_gone(now):
            raise ConflictError(
                f"run {run_id} is driven by {describe_owner(run.owner)}; only an interrupted "
                "run can be aborted",
                field="run",
            )
        _end_run(conn, run_id, "aborted", now, error=reason, error_code="aborted")
        return _read_run(conn, run_id, with_steps=True)
