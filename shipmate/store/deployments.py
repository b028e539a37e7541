"""SQL for deployments, their events and the current-state table."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Row,
    Select,
    and_,
    bindparam,
    delete,
    desc,
    insert,
    select,
    update,
)

from shipmate.domain.lifecycle import Status
from shipmate.domain.records import DeploymentRecord, EventRecord
from shipmate.store.catalog import dialect_insert
from shipmate.store.decoding import (
    CompiledQuery,
    RowDecoder,
    json_object,
    metadata_dict,
    time_decoder,
)
from shipmate.store.schema import current_state, deployments, environments, events, products

__all__ = [
    "DEPLOYMENT_COLUMNS",
    "append_deployment_event",
    "append_event",
    "current_cells",
    "deployment_select",
    "first_deployment",
    "get_deployment",
    "load_events",
    "mark_rolled_back",
    "refresh_current_state",
    "row_to_deployment",
    "select_with_event_place",
    "update_deployment",
    "version_deployments",
]

DEPLOYMENT_COLUMNS = (
    *deployments.c,
    products.c.name.label("product_name"),
    environments.c.name.label("environment_name"),
    environments.c.kind.label("environment_kind"),
)


def deployment_select() -> Select[Any]:
    return select(*DEPLOYMENT_COLUMNS).select_from(
        deployments.join(products, products.c.id == deployments.c.product_id).join(
            environments, environments.c.id == deployments.c.environment_id
        )
    )


_deployment_decoder = RowDecoder(
    DeploymentRecord,
    columns={
        "product": "product_name",
        "environment": "environment_name",
        "metadata": "extra",
    },
    convert={"metadata": metadata_dict},
    skip=("events",),
)


def row_to_deployment(row: Row[Any], events_: Sequence[EventRecord] = ()) -> DeploymentRecord:
    return _deployment_decoder(row, events=tuple(events_))


def first_deployment(conn: Connection, query: Select[Any]) -> DeploymentRecord | None:
    """The first deployment ``query`` (a :func:`deployment_select`) finds, if any."""
    row = conn.execute(query).first()
    return None if row is None else row_to_deployment(row)


def get_deployment(
    conn: Connection, deployment_id: int, *, for_update: bool = False
) -> DeploymentRecord | None:
    query = deployment_select().where(deployments.c.id == deployment_id)
    if for_update and conn.dialect.name == "postgresql":
        query = query.with_for_update(of=deployments)
    return first_deployment(conn, query)


def version_deployments(
    product_id: int, environment_id: int, version_id: int, statuses: Iterable[str]
) -> Select[Any]:
    """The deployments of one version in one place that have one of ``statuses``."""
    return deployment_select().where(
        deployments.c.product_id == product_id,
        deployments.c.environment_id == environment_id,
        deployments.c.version_id == version_id,
        deployments.c.status.in_(list(statuses)),
    )


def update_deployment(conn: Connection, deployment_id: int, values: dict[str, Any]) -> None:
    conn.execute(update(deployments).where(deployments.c.id == deployment_id).values(**values))


_INSERT_EVENT = insert(events)


def append_event(
    conn: Connection,
    *,
    type: str,
    at: datetime,
    actor: str | None,
    key_name: str | None = None,
    product_id: int | None = None,
    environment_id: int | None = None,
    deployment_id: int | None = None,
    from_status: str | None = None,
    to_status: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    conn.execute(
        _INSERT_EVENT,
        {
            "type": type,
            "at": at,
            "actor": actor,
            "key_name": key_name,
            "product_id": product_id,
            "environment_id": environment_id,
            "deployment_id": deployment_id,
            "from_status": from_status,
            "to_status": to_status,
            "data": data or {},
        },
    )


def append_deployment_event(
    conn: Connection,
    deployment: DeploymentRecord,
    *,
    to_status: str,
    at: datetime,
    actor: str | None,
    key_name: str | None,
    data: dict[str, Any],
) -> None:
    """Append the ``deployment.<to_status>`` event of ``deployment`` leaving the status
    it was read with."""
    append_event(
        conn,
        type=f"deployment.{to_status}",
        at=at,
        actor=actor,
        key_name=key_name,
        product_id=deployment.product_id,
        environment_id=deployment.environment_id,
        deployment_id=deployment.id,
        from_status=deployment.status,
        to_status=to_status,
        data=data,
    )


def mark_rolled_back(
    conn: Connection,
    target: DeploymentRecord,
    *,
    at: datetime,
    actor: str | None,
    key_name: str | None,
    data: dict[str, Any],
) -> None:
    """Set ``target`` rolled back and append its ``deployment.rolled_back`` event."""
    update_deployment(conn, target.id, {"status": Status.ROLLED_BACK.value, "updated_at": at})
    append_deployment_event(
        conn,
        target,
        to_status=Status.ROLLED_BACK.value,
        at=at,
        actor=actor,
        key_name=key_name,
        data={"full_version": target.full_version, **data},
    )


def select_with_event_place(columns: Iterable[Any], source: Any) -> Select[Any]:
    """``columns`` of ``source`` (``events``, or a table joined to it), with the names of
    the event's product and environment (``product_name``, ``environment_name``; NULL
    for an event about neither)."""
    return select(
        *columns,
        products.c.name.label("product_name"),
        environments.c.name.label("environment_name"),
    ).select_from(
        source.outerjoin(products, products.c.id == events.c.product_id).outerjoin(
            environments, environments.c.id == events.c.environment_id
        )
    )


def event_select() -> Select[Any]:
    return select_with_event_place(events.c, events)


_event_decoder = RowDecoder(
    EventRecord,
    columns={"product": "product_name", "environment": "environment_name"},
    convert={"data": json_object},
)


def row_to_event(row: Row[Any]) -> EventRecord:
    return _event_decoder(row)


def load_events(conn: Connection, deployment_id: int) -> list[EventRecord]:
    query = event_select().where(events.c.deployment_id == deployment_id).order_by(events.c.id)
    return [row_to_event(r) for r in conn.execute(query)]


def refresh_current_state(conn: Connection, product_id: int, environment_id: int) -> int | None:
    """Point current_state at the latest completed deployment here; return its id.

    "Latest" is by finish time, then id, so a back-filled old completion never
    displaces a newer one.  With no completed deployment left the row is removed.
    """
    latest = conn.execute(
        select(deployments.c.id, deployments.c.finished_at)
        .where(
            and_(
                deployments.c.product_id == product_id,
                deployments.c.environment_id == environment_id,
                deployments.c.status == "completed",
            )
        )
        .order_by(desc(deployments.c.finished_at), desc(deployments.c.id))
        .limit(1)
    ).first()
    key = and_(
        current_state.c.product_id == product_id,
        current_state.c.environment_id == environment_id,
    )
    if latest is None:
        conn.execute(delete(current_state).where(key))
        return None
    stmt = dialect_insert(conn, current_state).values(
        product_id=product_id,
        environment_id=environment_id,
        deployment_id=latest.id,
        since=latest.finished_at,
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["product_id", "environment_id"],
            set_={"deployment_id": latest.id, "since": latest.finished_at},
        )
    )
    return int(latest.id)


def _current_select() -> Select[Any]:
    return select(
        current_state.c.product_id,
        current_state.c.environment_id,
        current_state.c.since,
        deployments.c.id,
        deployments.c.version,
        deployments.c.full_version,
        deployments.c.status,
        deployments.c.deployed_by,
        deployments.c.commit_sha,
    ).select_from(
        current_state.join(deployments, deployments.c.id == current_state.c.deployment_id)
    )


_CURRENT_ALL = CompiledQuery(_current_select)
_CURRENT_ONE = CompiledQuery(
    lambda: _current_select().where(current_state.c.product_id == bindparam("product_id"))
)


def current_cells(conn: Connection, product_id: int | None = None) -> list[tuple[Any, ...]]:
    """Every current (product, environment) cell, or one product's: ``(product_id,
    environment_id, since, deployment_id, version, full_version, status,
    deployed_by, commit_sha)``, ``since`` an aware UTC time.

    The matrix reads a row per product and environment (2,400 for 200 × 12) on
    every dashboard view, so it skips SQLAlchemy's result types
    (:mod:`shipmate.store.decoding`).
    """
    t = time_decoder(conn.dialect)
    rows = (
        _CURRENT_ALL.rows(conn)
        if product_id is None
        else _CURRENT_ONE.rows(conn, {"product_id": product_id})
    )
    return [(r[0], r[1], t(r[2]), r[3], r[4], r[5], r[6], r[7], r[8]) for r in rows]
