"""Handing a host's runs to its agent: the claim.

A run is claimable by the agent of host H when it is ``running``, ``host = H``,
within the agent key's products, and nobody holds it: no owner, or a lease that
ran out, or an owner that is *this agent instance* (a restarted agent with the
same persistent instance id takes its own run back at once, without waiting for
the lease).  On PostgreSQL the candidate row is locked with ``FOR UPDATE SKIP
LOCKED`` and taken (owner and lease set) in the same transaction, so two servers
claiming at once never hand one run to two agents; on SQLite the single writer
serialises claims.  The update is a compare-and-set on the owner besides.

Agent owners look like ``agent|<host>|<instance>|<random>``.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, and_, or_, select, update

from shipmate.errors import InvalidInputError
from shipmate.services.context import Context
from shipmate.services.runs.journal import LEASE_SECONDS
from shipmate.services.runs.records import RUNNING, RunRecord, row_to_run, row_to_step
from shipmate.store.schema_runs import run_steps, runs

__all__ = ["Claimed", "agent_owner", "claim_next", "instance_of", "validate_instance"]


@dataclass(frozen=True)
class Claimed:
    run: RunRecord
    owner: str


def validate_instance(value: object) -> str:
    """An agent instance id: a UUID (the agent keeps it in its data dir)."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise InvalidInputError(
            "instance must be the agent's instance id (a UUID)", field="instance"
        ) from None


def agent_owner(host: str, instance: str) -> str:
    return f"agent|{host}|{instance}|{secrets.token_hex(4)}"


def instance_of(owner: str | None) -> str | None:
    """The agent instance an owner token names (None: not an agent's)."""
    if not owner or not owner.startswith("agent|"):
        return None
    parts = owner.split("|")
    return parts[2] if len(parts) >= 4 else None


def _candidates(
    conn: Connection, host: str, products: Sequence[str], instance: str, now: datetime
) -> list[int]:
    now_free = or_(runs.c.owner.is_(None), runs.c.lease_until < now)
    mine = runs.c.owner.like(f"agent|{host}|{instance}|%")
    query = select(runs.c.id).where(
        runs.c.status == RUNNING, runs.c.host == host, or_(now_free, mine)
    )
    if products:
        query = query.where(runs.c.product.in_(list(products)))
    query = query.order_by(runs.c.id).limit(1)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return [int(r) for r in conn.execute(query).scalars()]


def claim_next(
    ctx: Context, host: str, instance: str, *, products: Sequence[str] = ()
) -> Claimed | None:
    """Take the oldest claimable run of ``host`` for agent ``instance``; None when none."""
    instance = validate_instance(instance)
    now = ctx.now()
    with ctx.read() as conn:  # most polls find nothing: no write transaction for them
        if conn.dialect.name != "postgresql" and not _candidates(
            conn, host, products, instance, now
        ):
            return None
    with ctx.write() as conn:
        found = _candidates(conn, host, products, instance, now)
        if not found:
            return None
        run_id = found[0]
        before = conn.execute(select(runs.c.owner).where(runs.c.id == run_id)).scalar_one()
        owner = agent_owner(host, instance)
        same = runs.c.owner.is_(None) if before is None else runs.c.owner == before
        taken = conn.execute(
            update(runs)
            .where(and_(runs.c.id == run_id, runs.c.status == RUNNING, same))
            .values(
                owner=owner,
                lease_until=now + timedelta(seconds=LEASE_SECONDS),
                attempts=runs.c.attempts + (0 if before is None else 1),
                updated_at=now,
                attention=None,
                attention_at=None,
            )
        ).rowcount
        if taken != 1:
            return None  # SQLite only: taken between our read and our write (cannot happen)
        row = conn.execute(select(runs).where(runs.c.id == run_id)).one()
        steps = conn.execute(
            select(run_steps).where(run_steps.c.run_id == run_id).order_by(run_steps.c.seq)
        ).all()
        return Claimed(row_to_run(row, [row_to_step(s) for s in steps]), owner)
