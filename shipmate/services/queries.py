"""Read-side use cases: history, one deployment, the current matrix, stats, events."""

from __future__ import annotations

import base64
import binascii
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Select, and_, desc, func, or_, select, tuple_

from shipmate.domain.environments import EnvironmentKind
from shipmate.domain.fields import parse_time
from shipmate.domain.lifecycle import Status, parse_kind, parse_status
from shipmate.domain.records import (
    DeploymentRecord,
    EventRecord,
    HistoryPage,
    Matrix,
    MatrixCell,
    Stats,
    VersionCount,
)
from shipmate.errors import InvalidInputError, NotFoundError
from shipmate.services.context import Context
from shipmate.store.catalog import find_environment_id, find_product_id
from shipmate.store.deployments import (
    deployment_select,
    event_select,
    get_deployment,
    load_events,
    row_to_deployment,
    row_to_event,
)
from shipmate.store.schema import (
    current_state,
    deployments,
    environments,
    events,
    products,
)

__all__ = [
    "MAX_PAGE_SIZE",
    "HistoryFilter",
    "current_matrix",
    "history",
    "list_events",
    "show_deployment",
    "stats",
]

MAX_PAGE_SIZE = 500


@dataclass(frozen=True)
class HistoryFilter:
    product: str | None = None
    environment: str | None = None
    status: str | None = None
    version: str | None = None
    branch: str | None = None
    actor: str | None = None
    kind: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _encode_cursor(at: datetime, dep_id: int) -> str:
    # Full microsecond precision: a rounded time would skip rows in the same millisecond.
    raw = f"{at.astimezone(UTC).isoformat()}|{dep_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at_text, id_text = raw.split("|")
        return parse_time(at_text, field="cursor"), int(id_text)
    except (ValueError, binascii.Error, UnicodeDecodeError, InvalidInputError):
        raise InvalidInputError(
            "cursor is not one shipmate issued; pass next_cursor from a previous page",
            field="cursor",
        ) from None


def _filtered(conn: Connection, f: HistoryFilter, query: Select[Any]) -> Select[Any]:
    if f.product is not None:
        pid = find_product_id(conn, f.product)
        if pid is None:
            raise NotFoundError(f"product {f.product!r} does not exist", field="product")
        query = query.where(deployments.c.product_id == pid)
    if f.environment is not None:
        eid = find_environment_id(conn, f.environment)
        if eid is None:
            raise NotFoundError(
                f"environment {f.environment!r} does not exist", field="environment"
            )
        query = query.where(deployments.c.environment_id == eid)
    if f.status is not None:
        query = query.where(deployments.c.status == parse_status(f.status).value)
    if f.kind is not None:
        query = query.where(deployments.c.kind == parse_kind(f.kind).value)
    if f.version is not None:
        if "+build." in f.version:
            query = query.where(deployments.c.full_version == f.version)
        else:
            query = query.where(deployments.c.version == f.version)
    if f.branch is not None:
        query = query.where(deployments.c.branch == f.branch)
    if f.actor is not None:
        query = query.where(deployments.c.deployed_by == f.actor)
    if f.since is not None:
        query = query.where(deployments.c.deployed_at >= f.since)
    if f.until is not None:
        query = query.where(deployments.c.deployed_at < f.until)
    return query


def history(
    ctx: Context, f: HistoryFilter, *, limit: int = 50, cursor: str | None = None
) -> HistoryPage:
    """Deployments matching ``f``, newest first, one keyset page at a time."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidInputError(f"limit must be between 1 and {MAX_PAGE_SIZE}", field="limit")
    with ctx.read() as conn:
        query = _filtered(conn, f, deployment_select())
        if cursor:
            at, dep_id = _decode_cursor(cursor)
            query = query.where(tuple_(deployments.c.deployed_at, deployments.c.id) < (at, dep_id))
        query = query.order_by(desc(deployments.c.deployed_at), desc(deployments.c.id))
        rows = conn.execute(query.limit(limit + 1)).all()
    items = tuple(row_to_deployment(r) for r in rows[:limit])
    next_cursor = None
    if len(rows) > limit:
        last = items[-1]
        next_cursor = _encode_cursor(last.deployed_at, last.id)
    return HistoryPage(items=items, next_cursor=next_cursor)


def show_deployment(ctx: Context, deployment_id: int) -> DeploymentRecord:
    """One deployment with its events, oldest event first."""
    with ctx.read() as conn:
        record = get_deployment(conn, deployment_id)
        if record is None:
            raise NotFoundError(f"deployment {deployment_id} does not exist", field="id")
        evs = load_events(conn, deployment_id)
    return DeploymentRecord(**{**record.__dict__, "events": tuple(evs)})


def _env_order(name: str, kind: str) -> tuple[int, str]:
    try:
        rank = EnvironmentKind(kind).rank
    except ValueError:
        rank = 0
    return (rank, name)


def current_matrix(ctx: Context, *, product: str | None = None) -> Matrix:
    """Every product × environment: the current version, since when, and drift."""
    now = ctx.now()
    with ctx.read() as conn:
        query = select(
            products.c.name.label("product"),
            environments.c.name.label("environment"),
            environments.c.kind,
            current_state.c.since,
            deployments.c.id,
            deployments.c.version,
            deployments.c.full_version,
            deployments.c.status,
            deployments.c.deployed_by,
            deployments.c.commit_sha,
        ).select_from(
            current_state.join(products, products.c.id == current_state.c.product_id)
            .join(environments, environments.c.id == current_state.c.environment_id)
            .join(deployments, deployments.c.id == current_state.c.deployment_id)
        )
        if product is not None:
            if find_product_id(conn, product) is None:
                raise NotFoundError(f"product {product!r} does not exist", field="product")
            query = query.where(products.c.name == product)
        rows = conn.execute(query).all()
        env_rows = conn.execute(select(environments.c.name, environments.c.kind)).all()
        product_names = (
            [product]
            if product is not None
            else [r[0] for r in conn.execute(select(products.c.name).order_by(products.c.name))]
        )
    envs = sorted(((r.name, r.kind) for r in env_rows), key=lambda e: _env_order(*e))
    rank = {name: i for i, (name, _) in enumerate(envs)}
    by_product: dict[str, list[Any]] = defaultdict(list)
    for r in rows:
        by_product[r.product].append(r)
    cells: list[MatrixCell] = []
    for name in product_names:
        prow = sorted(by_product.get(name, []), key=lambda r: rank.get(r.environment, 0))
        reference = prow[-1].version if prow else None  # the most-promoted environment
        for r in prow:
            cells.append(
                MatrixCell(
                    product=name,
                    environment=r.environment,
                    deployment_id=r.id,
                    version=r.version,
                    full_version=r.full_version,
                    status=r.status,
                    since=r.since,
                    age_seconds=max(0.0, (now - r.since).total_seconds()),
                    deployed_by=r.deployed_by,
                    commit_sha=r.commit_sha,
                    drift=r.version != reference,
                )
            )
    return Matrix(products=tuple(product_names), environments=tuple(envs), cells=tuple(cells))


def stats(ctx: Context, f: HistoryFilter) -> Stats:
    """Totals by status, success rate, latest completed full version, per-version counts.

    Success rate = completed ÷ (completed + failed + rolled_back); aborted and
    still-open deployments are left out.  None when nothing has finished.
    """
    with ctx.read() as conn:
        base = _filtered(conn, f, select(deployments.c.status, func.count().label("n")))
        by_status = {r.status: int(r.n) for r in conn.execute(base.group_by(deployments.c.status))}
        per_version = conn.execute(
            _filtered(
                conn,
                f,
                select(
                    deployments.c.version,
                    deployments.c.status,
                    func.count().label("n"),
                    func.max(deployments.c.id).label("last_id"),
                ),
            ).group_by(deployments.c.version, deployments.c.status)
        ).all()
        latest = conn.execute(
            _filtered(
                conn,
                f,
                select(deployments.c.full_version, deployments.c.finished_at).where(
                    deployments.c.status == Status.COMPLETED.value
                ),
            )
            .order_by(desc(deployments.c.finished_at), desc(deployments.c.id))
            .limit(1)
        ).first()
    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    last_seen: dict[str, int] = {}
    for r in per_version:
        totals[r.version][r.status] += int(r.n)
        last_seen[r.version] = max(last_seen.get(r.version, 0), int(r.last_id))
    versions = tuple(
        VersionCount(
            version=v,
            total=sum(counts.values()),
            completed=counts.get("completed", 0),
            failed=counts.get("failed", 0),
            rolled_back=counts.get("rolled_back", 0),
        )
        for v, counts in sorted(totals.items(), key=lambda kv: -last_seen[kv[0]])
    )
    finished = sum(by_status.get(s, 0) for s in ("completed", "failed", "rolled_back"))
    ordered = {s.value: by_status.get(s.value, 0) for s in Status}
    return Stats(
        total=sum(by_status.values()),
        by_status=ordered,
        success_rate=None if finished == 0 else round(ordered["completed"] / finished, 4),
        latest_full_version=None if latest is None else latest.full_version,
        latest_deployed_at=None if latest is None else latest.finished_at,
        versions=versions,
    )


def list_events(
    ctx: Context,
    *,
    type_prefix: str | None = None,
    product: str | None = None,
    environment: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
    before_id: int | None = None,
) -> list[EventRecord]:
    """The audit log, newest first."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidInputError(f"limit must be between 1 and {MAX_PAGE_SIZE}", field="limit")
    with ctx.read() as conn:
        query = event_select()
        conds = []
        if type_prefix:
            conds.append(events.c.type.startswith(type_prefix, autoescape=True))
        if product is not None:
            conds.append(products.c.name == product)
        if environment is not None:
            conds.append(environments.c.name == environment)
        if actor is not None:
            conds.append(or_(events.c.actor == actor, events.c.key_name == actor))
        if since is not None:
            conds.append(events.c.at >= since)
        if before_id is not None:
            conds.append(events.c.id < before_id)
        if conds:
            query = query.where(and_(*conds))
        rows = conn.execute(query.order_by(desc(events.c.id)).limit(limit)).all()
    return [row_to_event(r) for r in rows]
