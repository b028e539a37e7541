"""Merging one product (or environment) into another, in the caller's transaction.

``merge(conn, "product", "API", "api")`` moves everything ``API`` holds into
``api``: versions, builds, build counters, deployments, gate approvals,
release actions, predecessors, positions and action runs, run and version-state
names, and API keys' product lists.  ``API`` stays, archived, so the name keeps
refusing writes (and its ``product.merged`` event says where it went).  The event
log is append-only: its rows keep naming ``API`` (a deployment's events follow it by
the deployment's id).

A version both products hold becomes one version: its builds, deployments and
actions move to ``api``'s row and the emptied row is removed.  The merge is
refused (:class:`ConflictError`, nothing changed) when the two cannot be one:

* the same version with different commits;
* the same version with a build number both used;
* the same version with release actions or a predecessor on both sides;
* the same approver's approval of the same version in the same environment;
* a release position, or a version state, of the same (product, environment) on
  both sides;
* a run in progress on the source.

The current version of every (product, environment) is recomputed from the
moved deployments (latest completed, as always).  Rows are locked ``FOR UPDATE``
on PostgreSQL before anything is read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, func, select, update
from sqlalchemy.sql import ColumnElement

from shipmate.errors import ConflictError, NotFoundError
from shipmate.store.catalog_moves import (
    CatalogChange,
    Named,
    id_column_of,
    lock_named,
    record_change,
    refuse_running,
    rename_text_references,
    table_of,
)
from shipmate.store.deployments import refresh_current_state
from shipmate.store.name_guard import last_change
from shipmate.store.schema import build_counters, builds, current_state, deployments, versions
from shipmate.store.schema_gates import gate_approvals
from shipmate.store.schema_releases import (
    release_action_runs,
    release_actions,
    release_positions,
    release_predecessors,
)
from shipmate.store.schema_version_states import version_states

__all__ = ["merge"]

#: Tables that refer to a version by id, moved to the surviving version of a pair.
_BY_VERSION = (
    builds,
    deployments,
    gate_approvals,
    release_actions,
    release_predecessors,
    release_positions,
)
#: Tables whose rows belong to a product or environment by id.
_BY_PRODUCT = (*_BY_VERSION, release_action_runs)
_BY_ENVIRONMENT = (deployments, gate_approvals, release_positions, release_action_runs)


def _conflict(kind: str, source: str, target: str, why: str) -> ConflictError:
    return ConflictError(
        f"cannot merge {kind} {source!r} into {target!r}: {why}; nothing was changed",
        field=kind,
    )


def _lock(conn: Connection, kind: str, source: str, target: str) -> tuple[Named, Named]:
    if source == target:
        raise ConflictError(f"cannot merge {kind} {source!r} into itself", field=kind)
    # Both rows, in one order (by name), so two merges never deadlock.
    first, second = sorted((source, target))
    locked = {first: lock_named(conn, kind, first), second: lock_named(conn, kind, second)}
    to = locked[target]
    if to is None:
        raise NotFoundError(f"{kind} {target!r} does not exist", field="into")
    src = locked[source]
    if src is None:
        raise NotFoundError(f"{kind} {source!r} does not exist", field=kind)
    return src, to


def _paired_versions(conn: Connection, source: int, target: int) -> list[Any]:
    """(source version id, target version id, version, both commits) of shared versions."""
    theirs = versions.alias("theirs")
    return list(
        conn.execute(
            select(
                versions.c.id.label("src"),
                theirs.c.id.label("dst"),
                versions.c.version,
                versions.c.commit_sha.label("src_commit"),
                theirs.c.commit_sha.label("dst_commit"),
            )
            .join(
                theirs, and_(theirs.c.version == versions.c.version, theirs.c.product_id == target)
            )
            .where(versions.c.product_id == source)
            .order_by(versions.c.id)
            .with_for_update()
        ).all()
    )


def _count(conn: Connection, table: Any, *where: ColumnElement[bool]) -> int:
    return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar() or 0)


def _check_versions(conn: Connection, pairs: list[Any], source: str, target: str) -> None:
    for pair in pairs:
        v = pair.version
        if pair.src_commit and pair.dst_commit and pair.src_commit != pair.dst_commit:
            raise _conflict(
                "product",
                source,
                target,
                f"version {v!r} has commit {pair.src_commit[:12]} in {source!r} and "
                f"{pair.dst_commit[:12]} in {target!r}",
            )
        theirs = builds.alias("theirs")
        shared = conn.execute(
            select(builds.c.build_number)
            .join(
                theirs,
                and_(
                    theirs.c.build_number == builds.c.build_number, theirs.c.version_id == pair.dst
                ),
            )
            .where(builds.c.version_id == pair.src)
            .order_by(builds.c.build_number)
            .limit(1)
        ).scalar()
        if shared is not None:
            raise _conflict("product", source, target, f"both have build {shared} of version {v!r}")
        for table, what in (
            (release_actions, "release actions"),
            (release_predecessors, "a predecessor"),
        ):
            if _count(conn, table, table.c.version_id == pair.src) and _count(
                conn, table, table.c.version_id == pair.dst
            ):
                raise _conflict("product", source, target, f"both have {what} for version {v!r}")


def _check_approvals(
    conn: Connection,
    ref: str,
    src: int,
    dst: int,
    kind: str,
    names: tuple[str, str],
    version_map: dict[int, int] | None = None,
) -> None:
    """No approver approved the same version in the same place on both sides."""
    mine = conn.execute(
        select(
            gate_approvals.c.version_id,
            gate_approvals.c.environment_id,
            gate_approvals.c.product_id,
            gate_approvals.c.approver_key,
        ).where(gate_approvals.c[ref] == src)
    ).all()
    if not mine:
        return
    theirs = {
        (r.version_id, r.environment_id, r.product_id, r.approver_key)
        for r in conn.execute(
            select(
                gate_approvals.c.version_id,
                gate_approvals.c.environment_id,
                gate_approvals.c.product_id,
                gate_approvals.c.approver_key,
            ).where(gate_approvals.c[ref] == dst)
        ).all()
    }
    for r in mine:
        version_id = (version_map or {}).get(r.version_id, r.version_id)
        env = dst if ref == "environment_id" else r.environment_id
        product = dst if ref == "product_id" else r.product_id
        if (version_id, env, product, r.approver_key) in theirs:
            raise _conflict(kind, *names, f"{r.approver_key!r} approved the same version on both")


def _check_places(conn: Connection, kind: str, src: Named, dst: Named) -> None:
    """Release positions and version states: one per place, so never on both sides."""
    ref = id_column_of(kind)
    other = "environment_id" if kind == "product" else "product_id"
    mine = {
        r[0]
        for r in conn.execute(
            select(release_positions.c[other]).where(release_positions.c[ref] == src.id)
        ).all()
    }
    if mine:
        theirs = conn.execute(
            select(release_positions.c[other])
            .where(release_positions.c[ref] == dst.id, release_positions.c[other].in_(mine))
            .limit(1)
        ).first()
        if theirs is not None:
            raise _conflict(kind, src.name, dst.name, "both have a release position in one place")
    column = "product" if kind == "product" else "environment"
    rest = ("environment", "full_version") if kind == "product" else ("product", "full_version")
    mine_states = {
        tuple(r)
        for r in conn.execute(
            select(*(version_states.c[c] for c in rest)).where(version_states.c[column] == src.name)
        ).all()
    }
    if mine_states:
        theirs_states = {
            tuple(r)
            for r in conn.execute(
                select(*(version_states.c[c] for c in rest)).where(
                    version_states.c[column] == dst.name
                )
            ).all()
        }
        if mine_states & theirs_states:
            raise _conflict(
                kind, src.name, dst.name, "both have a state for the same version in one place"
            )


def _join_versions(conn: Connection, pairs: list[Any], now: datetime) -> int:
    """Move everything of each shared source version to its target twin; drop the emptied row."""
    for pair in pairs:
        for table in _BY_VERSION:
            conn.execute(
                update(table).where(table.c.version_id == pair.src).values(version_id=pair.dst)
            )
        counters = dict(
            conn.execute(
                select(build_counters.c.version_id, build_counters.c.last_build_number).where(
                    build_counters.c.version_id.in_((pair.src, pair.dst))
                )
            ).all()
        )
        if pair.src in counters:
            highest = max(counters.values())
            conn.execute(delete(build_counters).where(build_counters.c.version_id == pair.src))
            if pair.dst in counters:
                conn.execute(
                    update(build_counters)
                    .where(build_counters.c.version_id == pair.dst)
                    .values(last_build_number=highest)
                )
            else:
                row = {"version_id": pair.dst, "last_build_number": highest}
                conn.execute(build_counters.insert().values(**row, updated_at=now))
        if pair.src_commit and not pair.dst_commit:
            conn.execute(
                update(versions).where(versions.c.id == pair.dst).values(commit_sha=pair.src_commit)
            )
        conn.execute(delete(versions).where(versions.c.id == pair.src))
    return len(pairs)


def _move_rows(conn: Connection, kind: str, src: int, dst: int) -> dict[str, int]:
    ref = id_column_of(kind)
    moved: dict[str, int] = {}
    if kind == "product":
        moved["versions"] = conn.execute(
            update(versions).where(versions.c.product_id == src).values(product_id=dst)
        ).rowcount
    for table in _BY_PRODUCT if kind == "product" else _BY_ENVIRONMENT:
        moved[table.name] = conn.execute(
            update(table).where(table.c[ref] == src).values({ref: dst})
        ).rowcount
    return moved


def _refresh_current(conn: Connection, kind: str, src: int, dst: int) -> None:
    """Recompute the current version of every place the source had deployments."""
    ref = id_column_of(kind)
    other = "environment_id" if kind == "product" else "product_id"
    places = [
        r[0]
        for r in conn.execute(
            select(deployments.c[other]).where(deployments.c[ref] == dst).distinct()
        ).all()
    ]
    conn.execute(delete(current_state).where(current_state.c[ref] == src))
    for place in places:
        if kind == "product":
            refresh_current_state(conn, dst, place)
        else:
            refresh_current_state(conn, place, dst)


def merge(
    conn: Connection,
    kind: str,
    source: str,
    target: str,
    *,
    now: datetime,
    actor: str | None,
    key_name: str | None,
) -> CatalogChange:
    """Merge ``source`` into ``target`` (see the module); a retry of a merge already
    done changes nothing."""
    src, dst = _lock(conn, kind, source, target)
    if src.archived_at is not None:
        done = last_change(conn, kind, src.id, "merged")
        if done is not None and done.get("into") == target:
            return CatalogChange(kind, "merge", target, changed=False, source=source)
    if dst.archived_at is not None:
        group = "products" if kind == "product" else "envs"
        raise ConflictError(
            f"{kind} {target!r} is archived; unarchive it first (shipmate {group} unarchive {target})",
            field="into",
        )
    refuse_running(conn, kind, source)
    names = (source, target)
    pairs: list[Any] = []
    if kind == "product":
        pairs = _paired_versions(conn, src.id, dst.id)
        _check_versions(conn, pairs, source, target)
    version_map = {p.src: p.dst for p in pairs}
    _check_approvals(conn, id_column_of(kind), src.id, dst.id, kind, names, version_map)
    _check_places(conn, kind, src, dst)
    joined = _join_versions(conn, pairs, now)
    moved = _move_rows(conn, kind, src.id, dst.id)
    moved["joined_versions"] = joined
    _refresh_current(conn, kind, src.id, dst.id)
    moved.update(rename_text_references(conn, kind, source, target))
    table = table_of(kind)
    if src.archived_at is None:
        conn.execute(update(table).where(table.c.id == src.id).values(archived_at=now))
    record_change(
        conn,
        kind,
        src.id,
        "merged",
        {"from": source, "into": target, "moved": moved},
        now=now,
        actor=actor,
        key_name=key_name,
    )
    return CatalogChange(kind, "merge", target, changed=True, source=source, moved=moved)
