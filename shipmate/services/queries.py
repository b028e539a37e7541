"""Read-side use cases: history, one deployment, the current matrix, stats, events."""

from __future__ import annotations

import base64
import binascii
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, case, desc, func, or_, select

from shipmate.domain.drift import NO_DRIFT, Drift, Stage, drifts, previous_checks
from shipmate.domain.environments import EnvironmentKind
from shipmate.domain.inputs.fields import parse_time
from shipmate.domain.lifecycle import Status, parse_kind, parse_status
from shipmate.domain.matrix import Matrix, MatrixCell
from shipmate.domain.records import DeploymentRecord, EventRecord, HistoryPage
from shipmate.domain.requests import HistoryFilter
from shipmate.domain.stats import Stats, VersionCount
from shipmate.domain.versions import parse_full_version
from shipmate.errors import InvalidInputError, NotFoundError
from shipmate.services.catalog.freshness import remembered
from shipmate.services.context import Context
from shipmate.services.rollouts.spread import host_spread
from shipmate.store.catalog import find_environment_id, find_product_id
from shipmate.store.decoding import fast_record
from shipmate.store.deployments import (
    current_cells,
    event_select,
    get_deployment,
    load_events,
    row_to_event,
)
from shipmate.store.history import fetch_history, filter_terms
from shipmate.store.historysearch import search_pattern
from shipmate.store.promotions import versions_ever_deployed
from shipmate.store.schema import deployments, environments, events, products

__all__ = [
    "MAX_PAGE_SIZE",
    "STATS_VERSIONS",
    "current_matrix",
    "encode_cursor",
    "filter_values",
    "history",
    "list_events",
    "show_deployment",
    "stats",
]

MAX_PAGE_SIZE = 500


def encode_cursor(at: datetime, dep_id: int) -> str:
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


def _product_id(ctx: Context, conn: Connection, name: str) -> int:
    """The product's id, remembered on the context: products are never deleted or
    renamed, so a found id never changes (a missing one is looked up every time)."""
    return _remembered_id(ctx, conn, "product", name, find_product_id)


def _environment_id(ctx: Context, conn: Connection, name: str) -> int:
    """The environment's id, remembered like :func:`_product_id`."""
    return _remembered_id(ctx, conn, "environment", name, find_environment_id)


def _remembered_id(
    ctx: Context,
    conn: Connection,
    what: str,
    name: str,
    find: Callable[[Connection, str], int | None],
) -> int:
    key = (f"{what}_id", name)
    cache = remembered(ctx, conn)
    found: int | None = cache.get(key)
    if found is None:
        found = find(conn, name)
        if found is None:
            raise NotFoundError(f"{what} {name!r} does not exist", field=what)
        cache[key] = found
    return found


def filter_values(ctx: Context, conn: Connection, f: HistoryFilter) -> dict[str, Any]:
    """The terms of ``f`` by name (see :data:`shipmate.store.history.TERMS`), product
    and environment resolved to ids, status and kind checked.

    A full version (``1.4.0+build.7``) also constrains ``version`` (``1.4.0``):
    implied by it, but what lets an index on ``version`` serve the query.
    """
    values: dict[str, Any] = {}
    if f.product is not None:
        values["product_id"] = _product_id(ctx, conn, f.product)
    if f.environment is not None:
        values["environment_id"] = _environment_id(ctx, conn, f.environment)
    if f.status is not None:
        values["status"] = parse_status(f.status).value
    if f.kind is not None:
        values["kind"] = parse_kind(f.kind).value
    if f.version is not None:
        if "+build." in f.version:
            values["full_version"] = f.version
            full = parse_full_version(f.version)
            if full.build_number is not None:
                values["version"] = full.version
        else:
            values["version"] = f.version
    if f.branch is not None:
        values["branch"] = f.branch
    if f.actor is not None:
        values["deployed_by"] = f.actor
    if f.since is not None:
        values["since"] = f.since
    if f.until is not None:
        values["until"] = f.until
    if f.search:
        values["search"] = search_pattern(f.search)
    return values


def _conditions(ctx: Context, conn: Connection, f: HistoryFilter) -> list[ColumnElement[bool]]:
    """The WHERE terms of ``f`` as SQLAlchemy expressions."""
    return filter_terms(filter_values(ctx, conn, f))


def history(
    ctx: Context, f: HistoryFilter, *, limit: int = 50, cursor: str | None = None
) -> HistoryPage:
    """Deployments matching ``f``, newest first, one keyset page at a time."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidInputError(f"limit must be between 1 and {MAX_PAGE_SIZE}", field="limit")
    after = _decode_cursor(cursor) if cursor else None
    with ctx.read() as conn:
        rows = fetch_history(conn, filter_values(ctx, conn, f), cursor=after, limit=limit + 1)
    items = tuple(rows[:limit])
    next_cursor = None
    if len(rows) > limit:
        last = items[-1]
        next_cursor = encode_cursor(last.deployed_at, last.id)
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


#: How many "this version went live there" facts the context remembers.
_WENT_LIVE_MEMORY = 100_000


def _went_live(
    ctx: Context, conn: Connection, wanted: list[tuple[int, int, str]]
) -> set[tuple[int, int, str]]:
    """The triples of ``wanted`` that went live.  A version that went live in an
    environment stays a fact (deployments are never deleted), so found triples are
    remembered on the context and only the others are asked again."""
    known: set[tuple[int, int, str]] = ctx.cache.setdefault("went_live", set())
    ask = [t for t in wanted if t not in known]
    found = versions_ever_deployed(conn, ask) if ask else set()
    if len(known) + len(found) > _WENT_LIVE_MEMORY:
        known.clear()
    known |= found
    return found | {t for t in wanted if t in known}


def current_matrix(ctx: Context, *, product: str | None = None) -> Matrix:
    """Every product × environment: the current version, since when, and drift.

    One read of ``current_state`` joined to the deployments it points at (a primary
    key lookup each); product and environment names come from their own small
    tables rather than two more joins per cell.  Each cell's drift direction
    (:mod:`shipmate.domain.drift`) needs one more grouped query, only for cells
    whose version differs from the environment before them.
    """
    now = ctx.now()
    with ctx.read() as conn:
        # Archived environments and products leave the matrix (not their history).
        env_rows = conn.execute(
            select(environments.c.id, environments.c.name, environments.c.kind).where(
                environments.c.archived_at.is_(None)
            )
        ).all()
        if product is not None:
            pid = _product_id(ctx, conn, product)
            named: list[tuple[int, str]] = [(pid, product)]
            rows = current_cells(conn, pid)
        else:
            named = [
                (int(i), str(n))
                for i, n in conn.execute(
                    select(products.c.id, products.c.name)
                    .where(products.c.archived_at.is_(None))
                    .order_by(products.c.name)
                ).all()
            ]
            rows = current_cells(conn)
        envs = sorted(((r.name, r.kind) for r in env_rows), key=lambda e: _env_order(*e))
        rank = {name: i for i, (name, _) in enumerate(envs)}
        env_name = {r.id: r.name for r in env_rows}
        env_id = {r.name: r.id for r in env_rows}
        env_rank = {r.id: rank.get(r.name, 0) for r in env_rows}
        # Cells of archived products and environments stay out (and out of the drift checks).
        listed = {pid for pid, _ in named}
        by_product: dict[int, list[Any]] = defaultdict(list)
        for r in rows:
            if r[0] in listed and r[1] in env_name:
                by_product[r[0]].append(r)
        stages: dict[int, list[Stage]] = {}
        wanted: list[tuple[int, int, str]] = []
        for pid, ordered in by_product.items():
            ordered.sort(key=lambda r: env_rank[r[1]])
            stages[pid] = [Stage(env_name[r[1]], r[4], r[3]) for r in ordered]
            wanted += [(pid, env_id[e], v) for e, v in previous_checks(stages[pid])]
        seen: dict[int, set[tuple[str, str]]] = defaultdict(set)
        for p, e, v in _went_live(ctx, conn, wanted):
            seen[p].add((env_name[e], v))
        spread = host_spread(conn)
    cells: list[MatrixCell] = []
    append = cells.append
    for pid, name in named:
        prow = by_product.get(pid)
        if not prow:
            continue
        reference = prow[-1][4]  # the version in the most-promoted environment
        directions: list[Drift] = drifts(stages[pid], seen[pid]) if len(prow) > 1 else [NO_DRIFT]
        for row, way in zip(prow, directions, strict=True):
            _pid, eid, since, dep_id, version, full, status, deployed_by, commit = row
            # fast_record: 2,400 cells for 200 products; the values are the columns'.
            append(
                fast_record(
                    MatrixCell,
                    {
                        "product": name,
                        "environment": env_name[eid],
                        "deployment_id": dep_id,
                        "version": version,
                        "full_version": full,
                        "status": status,
                        "since": since,
                        "age_seconds": max(0.0, (now - since).total_seconds()),
                        "deployed_by": deployed_by,
                        "commit_sha": commit,
                        "drift": version != reference,
                        "drift_direction": None if way.direction is None else way.direction.value,
                        "drift_against": way.against,
                        "hosts": spread.get((name, env_name[eid])),
                    },
                )
            )
    return Matrix(
        products=tuple(name for _, name in named), environments=tuple(envs), cells=tuple(cells)
    )


#: How many versions ``stats`` breaks down by default: the most recently deployed.
STATS_VERSIONS = 100


def stats(ctx: Context, f: HistoryFilter, *, versions: int | None = STATS_VERSIONS) -> Stats:
    """Totals by status, success rate, latest completed full version, per-version counts.

    Success rate = completed ÷ (completed + failed + rolled_back); aborted and
    still-open deployments are left out.  None when nothing has finished.

    The per-version counts cover the ``versions`` versions deployed most recently
    (newest first; ``None`` for all of them): a product of many years has
    thousands, and the totals already count every deployment.  Each part is one
    grouped query the indexes of ``schema_indexes`` answer from the index alone.
    """
    if versions is not None and (
        isinstance(versions, bool) or not isinstance(versions, int) or versions < 1
    ):
        raise InvalidInputError("versions must be a whole number of at least 1", field="versions")
    with ctx.read() as conn:
        terms = _conditions(ctx, conn, f)
        by_status = {
            r.status: int(r.n)
            for r in conn.execute(
                select(deployments.c.status, func.count().label("n"))
                .where(*terms)
                .group_by(deployments.c.status)
            )
        }

        def counted(status: Status) -> Any:
            return func.sum(case((deployments.c.status == status.value, 1), else_=0))

        per_version_query = (
            select(
                deployments.c.version,
                func.count().label("total"),
                counted(Status.COMPLETED).label("completed"),
                counted(Status.FAILED).label("failed"),
                counted(Status.ROLLED_BACK).label("rolled_back"),
                func.max(deployments.c.id).label("last_id"),
            )
            .where(*terms)
            .group_by(deployments.c.version)
            .order_by(desc("last_id"))
        )
        if versions is not None:
            per_version_query = per_version_query.limit(versions)
        per_version = conn.execute(per_version_query).all()
        latest = conn.execute(
            select(deployments.c.full_version, deployments.c.finished_at)
            .where(*terms, deployments.c.status == Status.COMPLETED.value)
            .order_by(desc(deployments.c.finished_at), desc(deployments.c.id))
            .limit(1)
        ).first()
    version_counts = tuple(
        VersionCount(
            version=r.version,
            total=int(r.total),
            completed=int(r.completed),
            failed=int(r.failed),
            rolled_back=int(r.rolled_back),
        )
        for r in per_version
    )
    finished = sum(by_status.get(s, 0) for s in ("completed", "failed", "rolled_back"))
    ordered = {s.value: by_status.get(s.value, 0) for s in Status}
    return Stats(
        total=sum(by_status.values()),
        by_status=ordered,
        success_rate=None if finished == 0 else round(ordered["completed"] / finished, 4),
        latest_full_version=None if latest is None else latest.full_version,
        latest_deployed_at=None if latest is None else latest.finished_at,
        versions=version_counts,
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
