"""Marking a deployment rolled back (bloqr's ``markDeploymentRollback``).

A mark changes one ``completed`` deployment to ``rolled_back``, appends a
``deployment.rolled_back`` event and recomputes the current state, in one
transaction.  Marking a deployment that is already ``rolled_back`` is a replay:
the deployment is answered unchanged and nothing is written, because clients
retry (a lost response, the CLI's own retries in remote mode).  Any other status
is an ``illegal_transition``.  See :func:`shipmate.domain.repeats.rollback_mark_target`
for what a full version names.
"""

from __future__ import annotations

from sqlalchemy import Connection, desc

from shipmate.domain.inputs.fields import parse_id, validate_text
from shipmate.domain.lifecycle import Status, check_transition
from shipmate.domain.records import DeploymentRecord
from shipmate.domain.repeats import rollback_mark_target
from shipmate.domain.requests import MAX_CANDIDATES
from shipmate.errors import InvalidInputError, NotFoundError
from shipmate.services.context import Context
from shipmate.store.catalog import find_environment_id, find_product_id, lock_product_environment
from shipmate.store.deployments import (
    deployment_select,
    get_deployment,
    mark_rolled_back,
    refresh_current_state,
    row_to_deployment,
)
from shipmate.store.schema import deployments

__all__ = ["mark_rollback"]


def mark_rollback(
    ctx: Context,
    ref: str,
    *,
    product: str | None = None,
    environment: str | None = None,
    actor: str | None = None,
    reason: str | None = None,
    key_name: str | None = None,
) -> DeploymentRecord:
    """Mark one completed deployment rolled back, by id or full version, and fix the
    current state.  Nothing is deleted; an already rolled-back one is answered as is."""
    ref = (ref or "").strip()
    if not ref:
        raise InvalidInputError("give a deployment id or a full version", field="deployment")
    reason = validate_text(reason, field="reason", max_length=1000)
    now = ctx.now()
    actor = validate_text(actor, field="actor", max_length=255) or key_name
    with ctx.write() as conn:
        named = _resolve_ref(conn, ref, product, environment)
        lock_product_environment(conn, named.product_id, named.environment_id)
        # Read again under the lock: a concurrent mark may have made it meanwhile.
        target = get_deployment(conn, named.id, for_update=True)
        assert target is not None
        if target.status == Status.ROLLED_BACK.value:
            return target  # already marked: a retry changes nothing
        check_transition(Status(target.status), Status.ROLLED_BACK, deployment_id=target.id)
        mark_rolled_back(
            conn, target, at=now, actor=actor, key_name=key_name, data={"reason": reason}
        )
        refresh_current_state(conn, target.product_id, target.environment_id)
        record = get_deployment(conn, target.id)
    assert record is not None
    return record


def _resolve_ref(
    conn: Connection, ref: str, product: str | None, environment: str | None
) -> DeploymentRecord:
    if ref.isascii() and ref.isdigit():
        found = get_deployment(conn, parse_id(ref, field="deployment"))
        if found is None:
            raise NotFoundError(f"deployment {ref} does not exist", field="deployment")
        return found
    query = deployment_select().where(
        deployments.c.full_version == ref,
        deployments.c.status.in_([Status.COMPLETED.value, Status.ROLLED_BACK.value]),
    )
    if product is not None:
        pid = find_product_id(conn, product)
        if pid is None:
            raise NotFoundError(f"product {product!r} does not exist", field="product")
        query = query.where(deployments.c.product_id == pid)
    if environment is not None:
        eid = find_environment_id(conn, environment)
        if eid is None:
            raise NotFoundError(f"environment {environment!r} does not exist", field="environment")
        query = query.where(deployments.c.environment_id == eid)
    rows = conn.execute(
        query.order_by(desc(deployments.c.deployed_at), desc(deployments.c.id)).limit(
            MAX_CANDIDATES
        )
    ).all()
    return rollback_mark_target(ref, [row_to_deployment(r) for r in rows])
