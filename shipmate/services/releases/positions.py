"""Schema positions, the actions lease, and the application version running in an environment.

Per product and environment the *schema position* is the last version whose
actions completed (:func:`get_position`, :func:`set_position`); it is separate
from the running application version (``current_state``, :func:`current_version`).
No position means "the same as the application" (see
:mod:`shipmate.domain.releases.planning`).  The position row also holds the lease
(:func:`acquire_lease`, :func:`release_lease`) of whoever is running actions in
that environment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select, update

from shipmate.domain.environments import infer_kind
from shipmate.domain.fielddicts import fields_dict, optional_str, record_from
from shipmate.domain.inputs.fields import format_time, validate_lookup_name, validate_name
from shipmate.errors import ConflictError, NotFoundError
from shipmate.services.context import Context
from shipmate.services.releases.lookups import find_version_id, product_name, require_product
from shipmate.store.catalog import dialect_insert, ensure_environment, lock_product_environment
from shipmate.store.pair_ids import find_pair_ids
from shipmate.store.schema import current_state, deployments, versions
from shipmate.store.schema_releases import release_positions

__all__ = [
    "Position",
    "acquire_lease",
    "current_deployment_id",
    "current_version",
    "get_position",
    "position_row",
    "release_lease",
    "set_position",
]


@dataclass(frozen=True)
class Position:
    """The schema position of a product in an environment (``version`` None: none yet)."""

    product: str
    environment: str
    version: str | None
    updated_at: datetime
    run_id: int | None = None
    deployment_id: int | None = None
    lock_owner: str | None = None
    lock_until: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return fields_dict(
            self,
            updated_at=format_time,
            run_id=optional_str,
            deployment_id=optional_str,
            lock_until=format_time,
        )


def _current_deployment(conn: Connection, product_id: int, environment_id: int | None) -> Any:
    """The current_state row (deployment id, version) there, None for a fresh environment."""
    if environment_id is None:
        return None
    return conn.execute(
        select(current_state.c.deployment_id, deployments.c.version)
        .select_from(
            current_state.join(deployments, deployments.c.id == current_state.c.deployment_id)
        )
        .where(
            current_state.c.product_id == product_id,
            current_state.c.environment_id == environment_id,
        )
    ).first()


def current_version(conn: Connection, product_id: int, environment_id: int | None) -> str | None:
    """The running application version (from current_state), None for a fresh environment."""
    row = _current_deployment(conn, product_id, environment_id)
    return None if row is None else str(row.version)


def current_deployment_id(
    conn: Connection, product_id: int, environment_id: int | None
) -> int | None:
    """The deployment running there (from current_state), None for a fresh environment."""
    row = _current_deployment(conn, product_id, environment_id)
    return None if row is None else int(row.deployment_id)


def _position_of(product_id: int, environment_id: int) -> tuple[Any, Any]:
    """The conditions picking the position row of the product in the environment."""
    return (
        release_positions.c.product_id == product_id,
        release_positions.c.environment_id == environment_id,
    )


def position_row(conn: Connection, product_id: int, environment_id: int) -> Any:
    """The position row (version, run, lease) of the product there, None without one."""
    return conn.execute(
        select(
            release_positions.c.version_id,
            versions.c.version,
            release_positions.c.run_id,
            release_positions.c.deployment_id,
            release_positions.c.updated_at,
            release_positions.c.lock_owner,
            release_positions.c.lock_until,
        )
        .select_from(
            release_positions.outerjoin(versions, versions.c.id == release_positions.c.version_id)
        )
        .where(*_position_of(product_id, environment_id))
    ).first()


def get_position(ctx: Context, product: str, environment: str) -> Position | None:
    """The schema position, or None when no action ever ran there (nor a lease was taken)."""
    product = product_name(product, lookup=True)
    environment = validate_lookup_name(environment, field="environment")
    with ctx.read() as conn:
        ids = find_pair_ids(conn, product, environment)
        if ids is None:
            return None
        row = position_row(conn, *ids)
    if row is None:
        return None
    return record_from(Position, row, product=product, environment=environment)


def _ids_for_write(
    conn: Connection, product: str, environment: str, now: datetime
) -> tuple[int, int]:
    product_id = require_product(conn, product)
    environment_id = ensure_environment(
        conn, environment, now, infer_kind(environment), inferred=True
    )
    return product_id, environment_id


def set_position(
    ctx: Context,
    product: str,
    environment: str,
    version: str,
    *,
    run_id: int | None = None,
    deployment_id: int | None = None,
) -> None:
    """Record that the actions up to ``version`` completed there (its own transaction)."""
    product = product_name(product)
    environment = validate_name(environment, field="environment")
    now = ctx.now()
    with ctx.write() as conn:
        product_id, environment_id = _ids_for_write(conn, product, environment, now)
        version_id = find_version_id(conn, product_id, version)
        if version_id is None:
            raise NotFoundError(f"version {version} of {product} does not exist", field="version")
        values = {
            "version_id": version_id,
            "run_id": run_id,
            "deployment_id": deployment_id,
            "updated_at": now,
        }
        stmt = dialect_insert(conn, release_positions).values(
            product_id=product_id, environment_id=environment_id, **values
        )
        conn.execute(
            stmt.on_conflict_do_update(index_elements=["product_id", "environment_id"], set_=values)
        )


def acquire_lease(
    ctx: Context, product: str, environment: str, owner: str, *, seconds: float
) -> None:
    """Take (or renew) the right to run actions there for ``seconds``.

    ConflictError (``field="environment"``) when someone else holds a lease that has
    not run out.  The same ``owner`` may take it again (a resumed run, a renewal).
    """
    now = ctx.now()
    until = now + timedelta(seconds=seconds)
    with ctx.write() as conn:
        product_id, environment_id = _ids_for_write(conn, product, environment, now)
        lock_product_environment(conn, product_id, environment_id)
        row = position_row(conn, product_id, environment_id)
        if (
            row is not None
            and row.lock_owner is not None
            and row.lock_owner != owner
            and row.lock_until is not None
            and row.lock_until > now
        ):
            raise ConflictError(
                f"release actions of {product} are already running in {environment} "
                f"({row.lock_owner}, lease until {format_time(row.lock_until)}); wait for it "
                "to finish",
                field="environment",
                owner=row.lock_owner,
            )
        if row is None:
            conn.execute(
                release_positions.insert().values(
                    product_id=product_id,
                    environment_id=environment_id,
                    version_id=None,
                    updated_at=now,
                    lock_owner=owner,
                    lock_until=until,
                )
            )
        else:
            conn.execute(
                update(release_positions)
                .where(*_position_of(product_id, environment_id))
                .values(lock_owner=owner, lock_until=until)
            )


def release_lease(ctx: Context, product: str, environment: str, owner: str) -> None:
    """Give the lease back (only if ``owner`` still holds it)."""
    with ctx.write() as conn:
        ids = find_pair_ids(conn, product, environment)
        if ids is None:
            return
        product_id, environment_id = ids
        conn.execute(
            update(release_positions)
            .where(
                *_position_of(product_id, environment_id),
                release_positions.c.lock_owner == owner,
            )
            .values(lock_owner=None, lock_until=None)
        )
