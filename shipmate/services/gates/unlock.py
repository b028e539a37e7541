"""Deployment gates: an admin releases a started deployment that holds an environment.

:func:`unlock` marks it ``aborted`` with a reason, recorded as
``deployment.aborted`` and ``gate.unlocked`` events and as ``unlocked`` on its
metadata, so the concurrency rule no longer counts it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, desc

from shipmate.domain.inputs.fields import format_time, validate_lookup_name, validate_text
from shipmate.domain.lifecycle import Status, check_transition
from shipmate.domain.records import DeploymentRecord
from shipmate.errors import ConflictError, InvalidInputError, NotFoundError
from shipmate.services.context import Context
from shipmate.store.catalog import find_environment_id, find_product_id, lock_product_environment
from shipmate.store.deployments import (
    append_event,
    deployment_select,
    get_deployment,
    update_deployment,
)
from shipmate.store.schema import deployments

__all__ = ["unlock"]

_MAX_REASON = 1000


def unlock(
    ctx: Context,
    *,
    reason: str | None,
    product: str | None = None,
    environment: str | None = None,
    deployment_id: int | None = None,
    actor: str | None = None,
    key_name: str | None = None,
) -> DeploymentRecord:
    """Release a started deployment: mark it ``aborted`` with the reason (admin only).

    Name it by id, or by product and environment when exactly one deployment is
    started there.  Recorded as ``deployment.aborted`` and ``gate.unlocked``
    events, and as ``unlocked`` on the deployment's metadata.
    """
    why = validate_text(reason, field="reason", max_length=_MAX_REASON)
    if why is None:
        raise InvalidInputError(
            "reason is required: say why the deployment is unlocked", field="reason"
        )
    if product is not None:
        product = validate_lookup_name(product, field="product", max_length=255)
    if environment is not None:
        environment = validate_lookup_name(environment, field="environment")
    actor = validate_text(actor, field="actor", max_length=255)
    now = ctx.now()
    with ctx.write() as conn:
        target = _unlock_target(conn, product, environment, deployment_id)
        lock_product_environment(conn, target.product_id, target.environment_id)
        current = get_deployment(conn, target.id, for_update=True)
        assert current is not None
        if current.status != Status.STARTED.value:
            raise ConflictError(
                f"deployment {current.id} is {current.status}, not started; only a started "
                "deployment holds the environment",
                field="id",
            )
        check_transition(Status.STARTED, Status.ABORTED, deployment_id=current.id)
        started = current.started_at
        unlocked = {"by": actor, "key_name": key_name, "reason": why, "at": format_time(now)}
        update_deployment(
            conn,
            current.id,
            {
                "status": Status.ABORTED.value,
                "updated_at": now,
                "finished_at": now,
                "duration_ms": None
                if started is None
                else int((now - started).total_seconds() * 1000),
                "extra": {**current.metadata, "unlocked": unlocked},
            },
        )
        common: dict[str, Any] = {
            "at": now,
            "actor": actor,
            "key_name": key_name,
            "product_id": current.product_id,
            "environment_id": current.environment_id,
            "deployment_id": current.id,
        }
        append_event(
            conn,
            type="deployment.aborted",
            from_status=Status.STARTED.value,
            to_status=Status.ABORTED.value,
            data={"full_version": current.full_version, "reason": why, "unlocked": True},
            **common,
        )
        append_event(
            conn,
            type="gate.unlocked",
            data={
                "full_version": current.full_version,
                "reason": why,
                "started_at": format_time(started),
            },
            **common,
        )
        record = get_deployment(conn, current.id)
    assert record is not None
    return record


def _unlock_target(
    conn: Connection, product: str | None, environment: str | None, deployment_id: int | None
) -> DeploymentRecord:
    if deployment_id is not None:
        found = get_deployment(conn, deployment_id)
        if found is None:
            raise NotFoundError(f"deployment {deployment_id} does not exist", field="id")
        for name, given, actual in (
            ("product", product, found.product),
            ("environment", environment, found.environment),
        ):
            if given is not None and given != actual:
                raise InvalidInputError(
                    f"deployment {found.id} is for {name} {actual!r}, not {given!r}", field=name
                )
        return found
    if product is None or environment is None:
        raise InvalidInputError(
            "name the deployment to unlock: its id, or product and environment",
            field="product" if product is None else "environment",
        )
    pid = find_product_id(conn, product)
    if pid is None:
        raise NotFoundError(f"product {product!r} does not exist", field="product")
    eid = find_environment_id(conn, environment)
    if eid is None:
        raise NotFoundError(f"environment {environment!r} does not exist", field="environment")
    rows = conn.execute(
        deployment_select()
        .where(
            deployments.c.product_id == pid,
            deployments.c.environment_id == eid,
            deployments.c.status == Status.STARTED.value,
        )
        .order_by(desc(deployments.c.id))
        .limit(20)
    ).all()
    if not rows:
        raise NotFoundError(
            f"no deployment of {product} to {environment} is started; nothing to unlock",
            field="environment",
        )
    if len(rows) > 1:
        ids = ", ".join(str(r.id) for r in rows)
        raise InvalidInputError(
            f"{len(rows)} deployments of {product} to {environment} are started ({ids}); "
            "give the one to unlock with --id",
            field="id",
        )
    found = get_deployment(conn, rows[0].id)
    assert found is not None
    return found
