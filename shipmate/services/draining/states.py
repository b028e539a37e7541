"""Version states: which versions of a product are active, draining, drained or retired.

One row per (product, environment, full version) in ``version_states``
(:mod:`shipmate.store.schema_version_states`).  Transitions:

* ``active``: any state may become active again (a rollback to a version that is
  still draining in its warm slot switches straight back to it; a retired version
  deployed again).  Activating a version records its slot.
* ``active`` → ``draining``: after the switch, while the old slot's in-flight work
  is counted.  Entering ``draining`` again (a resumed run) keeps the first
  ``drain_started_at``.
* ``draining`` → ``drained``: its work reached zero.
* ``draining`` | ``drained`` | ``active`` → ``retired``: its slot was stopped
  (``forced`` when the drain deadline passed with the policy ``force``).

Anything else (``retired`` → ``draining``, ``drained`` → ``draining``) is refused
with :class:`~shipmate.errors.IllegalTransitionError`.

Reads reconcile with the records: the version shipmate's current state names for
an environment is shown ``active`` whatever its row says (a rollback switched back
to it before its run's drain step ran), and a current version without a row is
listed ``active`` too, so products deployed before this feature (or without a drain
configuration) still show what runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Connection, Row, insert, select, update

from shipmate.domain.inputs.fields import validate_lookup_name
from shipmate.domain.versionstates import VersionKey, VersionState
from shipmate.errors import IllegalTransitionError, InvalidInputError, NotFoundError
from shipmate.services.context import Context
from shipmate.store.catalog import find_environment_id, find_product_id
from shipmate.store.deployments import append_event
from shipmate.store.schema import current_state, deployments, environments, products
from shipmate.store.schema_version_states import VERSION_STATES, version_states

__all__ = [
    "VERSION_STATES",
    "VersionKey",
    "VersionState",
    "get_version_state",
    "list_version_states",
    "transition",
    "update_pending",
]

_ALLOWED: Final[Mapping[str, frozenset[str]]] = {
    "active": frozenset({"active", "draining", "drained", "retired"}),
    "draining": frozenset({"active", "draining"}),
    "drained": frozenset({"draining", "drained"}),
    "retired": frozenset({"active", "draining", "drained", "retired"}),
}


def _row(row: Row[Any]) -> VersionState:
    return VersionState.from_dict(dict(row._mapping))


def _where(key: VersionKey) -> Any:
    return (
        (version_states.c.product == key.product)
        & (version_states.c.environment == key.environment)
        & (version_states.c.full_version == key.full_version)
    )


def _select(conn: Connection, key: VersionKey, *, lock: bool = False) -> VersionState | None:
    query = select(version_states).where(_where(key))
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    return None if row is None else _row(row)


def get_version_state(ctx: Context, key: VersionKey) -> VersionState | None:
    """The stored row of one version (no reconciliation)."""
    with ctx.read() as conn:
        return _select(conn, key)


def transition(
    ctx: Context,
    key: VersionKey,
    state: str,
    *,
    slot: str | None = None,
    pending: int | None = None,
    run_id: int | None = None,
    drain_check: str | None = None,
    forced: bool = False,
    forced_pending: int | None = None,
    note: str | None = None,
    event: str | None = None,
    event_data: Mapping[str, Any] | None = None,
    actor: str | None = None,
) -> VersionState:
    """Move ``key`` to ``state`` (creating its row), keeping what the state keeps.

    ``event`` (e.g. ``version.drained``) is appended to the event log in the same
    transaction, only when the state actually changes (a repeated call, a resumed
    step or two checkers at once, appends it once).

    ``active`` clears the drain fields; ``draining`` keeps an earlier
    ``drain_started_at`` when it already drains; ``drained`` sets the finish time
    and ``pending`` 0; ``retired`` records ``forced`` / ``forced_pending``.
    """
    if state not in VERSION_STATES:
        raise InvalidInputError(
            f"state must be one of {', '.join(VERSION_STATES)}, not {state!r}", field="state"
        )
    now = ctx.now()
    with ctx.write() as conn:
        old = _select(conn, key, lock=True)
        if old is not None and old.state not in _ALLOWED[state]:
            raise IllegalTransitionError(
                f"{key.product} {key.full_version} in {key.environment} is {old.state}; it "
                f"cannot become {state}",
                field="state",
                state=old.state,
            )
        values: dict[str, Any] = {"state": state, "updated_at": now}
        if old is None or old.state != state:
            values["since"] = now
        if slot is not None:
            values["slot"] = slot
        if run_id is not None:
            values["run_id"] = run_id
        if note is not None:
            values["note"] = note
        if state == "active":
            values.update(
                pending=None,
                drain_check=None,
                drain_started_at=None,
                drain_finished_at=None,
                forced=False,
                forced_pending=None,
            )
        elif state == "draining":
            values["pending"] = pending
            if drain_check is not None:
                values["drain_check"] = drain_check[:500]
            if old is None or old.state != "draining" or old.drain_started_at is None:
                values["drain_started_at"] = now
                values["drain_finished_at"] = None
        elif state == "drained":
            values["pending"] = 0
            if old is None or old.drain_finished_at is None or old.state != "drained":
                values["drain_finished_at"] = now
            if old is None or old.drain_started_at is None:
                values["drain_started_at"] = now
        elif old is None or old.state != "retired":  # retired (again: nothing changes)
            values["forced"] = forced
            values["forced_pending"] = forced_pending
            if pending is not None:
                values["pending"] = pending
            if forced and (old is None or old.drain_finished_at is None):
                values["drain_finished_at"] = now
        if old is None:
            values.setdefault("since", now)
            values.setdefault("forced", False)
            conn.execute(
                insert(version_states).values(
                    product=key.product,
                    environment=key.environment,
                    version=key.version,
                    full_version=key.full_version,
                    **values,
                )
            )
        else:
            conn.execute(update(version_states).where(_where(key)).values(**values))
        fresh = _select(conn, key)
        assert fresh is not None
        if event is not None and (old is None or old.state != state):
            append_event(
                conn,
                type=event,
                at=now,
                actor=actor,
                product_id=find_product_id(conn, key.product),
                environment_id=find_environment_id(conn, key.environment),
                data={**fresh.to_dict(), "from_state": old.state if old else None}
                | dict(event_data or {}),
            )
    assert fresh is not None
    return fresh


def update_pending(ctx: Context, key: VersionKey, pending: int | None) -> bool:
    """Store the latest count of a draining version; False when it no longer drains."""
    with ctx.write() as conn:
        result = conn.execute(
            update(version_states)
            .where(_where(key), version_states.c.state == "draining")
            .values(pending=pending, updated_at=ctx.now())
        )
    return bool(result.rowcount)


def _current_versions(
    conn: Connection, product: str | None, environment: str | None
) -> dict[tuple[str, str], tuple[str, str, datetime | None]]:
    """(product, environment) -> (version, full version, finished at) of the current deployment."""
    query = select(
        products.c.name.label("product"),
        environments.c.name.label("environment"),
        deployments.c.version,
        deployments.c.full_version,
        deployments.c.finished_at,
    ).select_from(
        current_state.join(deployments, deployments.c.id == current_state.c.deployment_id)
        .join(products, products.c.id == current_state.c.product_id)
        .join(environments, environments.c.id == current_state.c.environment_id)
    )
    if product is not None:
        query = query.where(products.c.name == product)
    if environment is not None:
        query = query.where(environments.c.name == environment)
    return {
        (r.product, r.environment): (r.version, r.full_version, r.finished_at)
        for r in conn.execute(query)
    }


_ORDER = {"active": 0, "draining": 1, "drained": 2, "retired": 3}


def list_version_states(
    ctx: Context,
    product: str | None = None,
    environment: str | None = None,
    *,
    states: tuple[str, ...] | None = None,
    limit: int = 200,
) -> list[VersionState]:
    """Version states (reconciled with the current deployments, see the module doc).

    Ordered by environment, then active, draining, drained, retired, newest first.
    """
    if product is not None:
        product = validate_lookup_name(product, field="product", max_length=255)
    if environment is not None:
        environment = validate_lookup_name(environment, field="environment")
    if states is not None:
        for state in states:
            if state not in VERSION_STATES:
                raise InvalidInputError(
                    f"state must be one of {', '.join(VERSION_STATES)}, not {state!r}",
                    field="state",
                )
    query = select(version_states)
    if product is not None:
        query = query.where(version_states.c.product == product)
    if environment is not None:
        query = query.where(version_states.c.environment == environment)
    with ctx.read() as conn:
        rows = [_row(r) for r in conn.execute(query.order_by(version_states.c.id.desc()))]
        current = _current_versions(conn, product, environment)
    found: list[VersionState] = []
    seen: set[tuple[str, str, str]] = set()
    for item in rows:
        live = current.get((item.product, item.environment))
        if live is not None and live[1] == item.full_version and item.state != "active":
            item = replace(item, state="active", pending=None, note="current deployment")
        elif live is not None and live[1] != item.full_version and item.state == "active":
            item = replace(item, note=f"not current: the records say {live[1]}")
        seen.add((item.product, item.environment, item.full_version))
        found.append(item)
    for (prod, env), (version, full, finished) in current.items():
        if (prod, env, full) not in seen:
            at = finished or ctx.now()
            found.append(VersionState(prod, env, version, full, "active", at, at, recorded=False))
    if states is not None:
        found = [s for s in found if s.state in states]
    found.sort(key=lambda s: (s.product, s.environment, _ORDER[s.state], -s.since.timestamp()))
    return found[:limit]


def require_product(ctx: Context, product: str) -> None:
    """NotFoundError when ``product`` was never recorded."""
    with ctx.read() as conn:
        found = conn.execute(select(products.c.id).where(products.c.name == product)).first()
    if found is None:
        raise NotFoundError(f"product {product!r} does not exist", field="product")
