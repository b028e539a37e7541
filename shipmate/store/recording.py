"""The statements of recording a status event, built once per process.

Recording is the hottest write: every CI job sends two or three events.  Building a
statement (``select(...).where(...)``) and computing its cache key cost more than
running it on SQLite, so each statement here is built once, with ``bindparam``s for
everything that varies, and SQLAlchemy's compiled cache does the rest.  The writes
hand the stored row back with ``RETURNING`` (with the place's names read by scalar
subqueries), so no read-back follows them; and a completion moves
``current_state`` with one conditional upsert instead of a read and an upsert.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    Connection,
    String,
    and_,
    bindparam,
    desc,
    insert,
    literal_column,
    or_,
    select,
    update,
)

from shipmate.domain.records import DeploymentRecord
from shipmate.store.catalog import dialect_insert
from shipmate.store.deployments import append_event, deployment_select, row_to_deployment
from shipmate.store.schema import current_state, deployments, events

__all__ = [
    "find_open_deployment",
    "insert_deployment_returning",
    "latest_deployment_here",
    "move_current_state",
    "update_deployment_returning",
    "write_deployment",
]

_PLACE_NAMES = (
    literal_column(
        "(SELECT products.name FROM products WHERE products.id = deployments.product_id)",
        String,
    ).label("product_name"),
    literal_column(
        "(SELECT environments.name FROM environments "
        "WHERE environments.id = deployments.environment_id)",
        String,
    ).label("environment_name"),
    literal_column(
        "(SELECT environments.kind FROM environments "
        "WHERE environments.id = deployments.environment_id)",
        String,
    ).label("environment_kind"),
)

_INSERT = insert(deployments).returning(*deployments.c, *_PLACE_NAMES)
_UPDATE = (
    update(deployments)
    .where(deployments.c.id == bindparam("_deployment_id"))
    .returning(*deployments.c, *_PLACE_NAMES)
)
#: Statements that vary by dialect or shape, built on first use.
_built: dict[tuple[Any, ...], Any] = {}


def insert_deployment_returning(conn: Connection, values: dict[str, Any]) -> DeploymentRecord:
    """Insert a deployment; the record as stored (one statement)."""
    return row_to_deployment(conn.execute(_INSERT, values).one())


def update_deployment_returning(
    conn: Connection, deployment_id: int, values: dict[str, Any]
) -> DeploymentRecord:
    """Change ``values`` of a deployment; the record as stored (one statement)."""
    row = conn.execute(_UPDATE, {**values, "_deployment_id": deployment_id}).one()
    return row_to_deployment(row)


def _place_version(statuses: Sequence[str], with_run: bool, pg: bool) -> Any:
    key = ("open", tuple(statuses), with_run, pg)
    found = _built.get(key)
    if found is None:
        query = (
            deployment_select()
            .where(
                deployments.c.product_id == bindparam("product_id"),
                deployments.c.environment_id == bindparam("environment_id"),
                deployments.c.version_id == bindparam("version_id"),
                deployments.c.status.in_(list(statuses)),
            )
            .order_by(desc(deployments.c.id))
            .limit(1)
        )
        if with_run:
            query = query.where(
                (deployments.c.ci_run_id == bindparam("ci_run_id"))
                | deployments.c.ci_run_id.is_(None)
            )
        if pg:
            query = query.with_for_update(of=deployments)
        found = _built[key] = query
    return found


def find_open_deployment(
    conn: Connection,
    *,
    product_id: int,
    environment_id: int,
    version_id: int,
    ci_run_id: str | None,
    statuses: Sequence[str],
) -> DeploymentRecord | None:
    """The newest deployment of this version here that is still open (row-locked on
    PostgreSQL).  When both sides know the CI run, it must match; a deployment opened
    without a run id matches any run."""
    query = _place_version(statuses, ci_run_id is not None, conn.dialect.name == "postgresql")
    params: dict[str, Any] = {
        "product_id": product_id,
        "environment_id": environment_id,
        "version_id": version_id,
    }
    if ci_run_id is not None:
        params["ci_run_id"] = ci_run_id
    row = conn.execute(query, params).first()
    return None if row is None else row_to_deployment(row)


_LATEST_HERE = (
    deployment_select()
    .where(
        deployments.c.product_id == bindparam("product_id"),
        deployments.c.environment_id == bindparam("environment_id"),
    )
    .order_by(desc(deployments.c.deployed_at), desc(deployments.c.id))
    .limit(1)
)


def latest_deployment_here(
    conn: Connection, product_id: int, environment_id: int
) -> DeploymentRecord | None:
    """The top of the place's history (``deployed_at``, then id)."""
    params = {"product_id": product_id, "environment_id": environment_id}
    row = conn.execute(_LATEST_HERE, params).first()
    return None if row is None else row_to_deployment(row)


def _current_upsert(conn: Connection) -> Any:
    key = ("current", conn.dialect.name)
    found = _built.get(key)
    if found is None:
        ins = dialect_insert(conn, current_state).values(
            product_id=bindparam("product_id"),
            environment_id=bindparam("environment_id"),
            deployment_id=bindparam("deployment_id"),
            since=bindparam("since"),
        )
        newer = or_(
            ins.excluded.since > current_state.c.since,
            and_(
                ins.excluded.since == current_state.c.since,
                ins.excluded.deployment_id > current_state.c.deployment_id,
            ),
        )
        found = _built[key] = ins.on_conflict_do_update(
            index_elements=["product_id", "environment_id"],
            set_={"deployment_id": ins.excluded.deployment_id, "since": ins.excluded.since},
            where=newer,
        )
    return found


def move_current_state(conn: Connection, completed: DeploymentRecord) -> None:
    """``completed`` just completed: point ``current_state`` at it unless a deployment
    that finished later (or at the same time, with a higher id) is current already.

    ``current_state`` always holds the latest completed deployment of its place
    (:func:`shipmate.store.deployments.refresh_current_state` recomputes it whenever a
    deployment leaves ``completed``), so the newer of the two is the latest.
    """
    assert completed.finished_at is not None
    conn.execute(
        _current_upsert(conn),
        {
            "product_id": completed.product_id,
            "environment_id": completed.environment_id,
            "deployment_id": completed.id,
            "since": completed.finished_at,
        },
    )


def _pg_write(keys: tuple[str, ...], update_id: bool, move: bool) -> Any:
    """PostgreSQL: the deployment's insert (or update), its event and, for a
    completion, the ``current_state`` move, as one statement (data-modifying CTEs),
    so a status event costs one round trip for its writes."""
    cache_key = ("pg-write", keys, update_id, move)
    found = _built.get(cache_key)
    if found is not None:
        return found
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    columns = {k: bindparam(k, type_=deployments.c[k].type) for k in keys}
    if update_id:
        write: Any = (
            update(deployments)
            .where(deployments.c.id == bindparam("_deployment_id"))
            .values(columns)
        )
    else:
        write = insert(deployments).values(columns)
    d = write.returning(*deployments.c).cte("d")
    event = insert(events).from_select(
        [c.name for c in events.c if c.name != "id"],  # in the table's order, as below
        select(
            bindparam("ev_type", type_=events.c.type.type),
            bindparam("ev_at", type_=events.c.at.type),
            bindparam("ev_actor", type_=events.c.actor.type),
            bindparam("ev_key_name", type_=events.c.key_name.type),
            d.c.product_id,
            d.c.environment_id,
            d.c.id,
            bindparam("ev_from_status", type_=events.c.from_status.type),
            d.c.status,
            bindparam("ev_data", type_=events.c.data.type),
        ),
    )
    ctes: list[Any] = [event.cte("e")]
    if move:
        ins = pg_insert(current_state).from_select(
            ["product_id", "environment_id", "deployment_id", "since"],
            select(d.c.product_id, d.c.environment_id, d.c.id, d.c.finished_at),
        )
        newer = or_(
            ins.excluded.since > current_state.c.since,
            and_(
                ins.excluded.since == current_state.c.since,
                ins.excluded.deployment_id > current_state.c.deployment_id,
            ),
        )
        ctes.append(
            ins.on_conflict_do_update(
                index_elements=["product_id", "environment_id"],
                set_={"deployment_id": ins.excluded.deployment_id, "since": ins.excluded.since},
                where=newer,
            ).cte("c")
        )
    names = (
        literal_column(
            "(SELECT products.name FROM products WHERE products.id = d.product_id)", String
        ).label("product_name"),
        literal_column(
            "(SELECT environments.name FROM environments WHERE environments.id = d.environment_id)",
            String,
        ).label("environment_name"),
        literal_column(
            "(SELECT environments.kind FROM environments WHERE environments.id = d.environment_id)",
            String,
        ).label("environment_kind"),
    )
    found = _built[cache_key] = select(*d.c, *names).add_cte(*ctes)
    return found


def write_deployment(
    conn: Connection,
    values: dict[str, Any],
    *,
    deployment_id: int | None = None,
    event: dict[str, Any],
    move_current: bool,
) -> DeploymentRecord:
    """Insert a deployment (or, with ``deployment_id``, change ``values`` of it), append
    its ``deployment.<status>`` event (``event``: ``type``, ``at``, ``actor``,
    ``key_name``, ``from_status``, ``data``) and, with ``move_current``, move
    ``current_state`` to it if it finished last (:func:`move_current_state`); the
    record as stored.  One statement on PostgreSQL, three on SQLite."""
    if conn.dialect.name == "postgresql":
        keys = tuple(sorted(values))
        params = {**values, **{f"ev_{k}": v for k, v in event.items()}}
        if deployment_id is not None:
            params["_deployment_id"] = deployment_id
        row = conn.execute(_pg_write(keys, deployment_id is not None, move_current), params).one()
        return row_to_deployment(row)
    if deployment_id is None:
        record = insert_deployment_returning(conn, values)
    else:
        record = update_deployment_returning(conn, deployment_id, values)
    append_event(
        conn,
        **event,
        product_id=record.product_id,
        environment_id=record.environment_id,
        deployment_id=record.id,
        to_status=record.status,
    )
    if move_current:
        move_current_state(conn, record)
    return record
