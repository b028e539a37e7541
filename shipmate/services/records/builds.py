"""Build numbers: allocated per (product, version), gapless and unique under concurrency.

The counter is one row per version, bumped with ``INSERT ... ON CONFLICT DO UPDATE
... RETURNING`` inside the same transaction that inserts the build, so a number is
either both allocated and recorded, or neither: no gap, no duplicate, on SQLite
(writers serialized by ``BEGIN IMMEDIATE``) and PostgreSQL (row lock on the
counter) alike.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from shipmate.domain.inputs.fields import parse_metadata, validate_name
from shipmate.domain.inputs.reservedkeys import RESERVED_BUILD_METADATA_KEYS, check_client_metadata
from shipmate.domain.lifecycle import Status, parse_status
from shipmate.domain.records import BuildRecord
from shipmate.domain.repeats import FINISHES, FinishEvent
from shipmate.domain.requests import BuildRequest
from shipmate.domain.versions import (
    format_full_version,
    parse_semver,
    validate_base_version,
)
from shipmate.errors import NotFoundError, VersionCommitConflictError
from shipmate.services.catalog.freshness import remembered
from shipmate.services.context import Context
from shipmate.services.records.provenance import clean_provenance
from shipmate.services.records.repeats import RecordedBuild, find_repeated_build_finish
from shipmate.store.buildwrite import pg_allocate_build
from shipmate.store.catalog import (
    dialect_insert,
    ensure_product,
    ensure_version,
    lock_version,
    pin_version_commit,
)
from shipmate.store.decoding import RowDecoder, metadata_dict
from shipmate.store.deployments import append_event
from shipmate.store.idempotency import lookup, remember, request_hash, validate_key
from shipmate.store.schema import build_counters, builds, products, versions

__all__ = ["RecordedBuild", "allocate_build", "get_build", "record_build_event"]


def _clean(req: BuildRequest, strict_semver: bool) -> dict[str, Any]:
    return {
        "product": validate_name(req.product, field="product", max_length=255),
        "version": validate_base_version(req.version, strict_semver=strict_semver),
        "status": parse_status(req.status).value,
        **clean_provenance(req, actor="built_by"),
        "extra": _metadata(req),
    }


def _metadata(req: BuildRequest) -> dict[str, Any]:
    client = parse_metadata(req.metadata)
    check_client_metadata(client, reserved=RESERVED_BUILD_METADATA_KEYS)
    return parse_metadata({**client, **req.own_metadata}) if req.own_metadata else client


_COUNTER_UPSERT: dict[str, Any] = {}
_INSERT_BUILD = insert(builds).returning(builds.c.id)


def _counter_upsert(conn: Connection) -> Any:
    """``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``, built once per dialect."""
    stmt = _COUNTER_UPSERT.get(conn.dialect.name)
    if stmt is None:
        ins = dialect_insert(conn, build_counters).values(
            version_id=bindparam("version_id"),
            last_build_number=1,
            updated_at=bindparam("now"),
        )
        stmt = ins.on_conflict_do_update(
            index_elements=["version_id"],
            set_={
                "last_build_number": build_counters.c.last_build_number + 1,
                "updated_at": ins.excluded.updated_at,
            },
        ).returning(build_counters.c.last_build_number)
        _COUNTER_UPSERT[conn.dialect.name] = stmt
    return stmt


def next_build_number(conn: Connection, version_id: int, now: datetime) -> int:
    return int(
        conn.execute(_counter_upsert(conn), {"version_id": version_id, "now": now}).scalar_one()
    )


def _ids(
    conn: Connection, ctx: Context, product: str, version: str, now: datetime
) -> tuple[int, int]:
    """(product_id, version_id), created on first use.  Ids never change, so they are
    cached on the context once their transaction commits; a rename, merge or archive
    anywhere empties that cache (see :mod:`shipmate.services.catalog.freshness`)."""
    cached: tuple[int, int] | None = remembered(ctx, conn).get(("version", product, version))
    if cached is not None:
        return cached
    product_id = ensure_product(conn, product, now)
    version_row = ensure_version(conn, product_id, version, parse_semver(version) is not None, now)
    ids = (product_id, version_row.id)
    ctx.after_commit(conn, lambda: ctx.cache.__setitem__(("version", product, version), ids))
    return ids


def allocate_build(ctx: Context, req: BuildRequest) -> BuildRecord:
    """Allocate the next build number of ``req.version`` and record the build."""
    values = _clean(req, ctx.settings.strict_semver)
    product = values.pop("product")
    version = values.pop("version")
    key = validate_key(req.idempotency_key)
    digest = request_hash(req) if key else ""
    if key:
        replayed = _replay(ctx, key, digest)
        if replayed is not None:
            return replayed
    try:
        return _allocate(ctx, product, version, values, req, key, digest)
    except IntegrityError:
        replayed = _replay(ctx, key, digest) if key else None
        if replayed is not None:
            return replayed
        # A cached id may name a version that a merge in another process joined away:
        # look the names up again, once.
        ctx.cache.clear()
        return _allocate(ctx, product, version, values, req, key, digest)


def _replay(ctx: Context, key: str, digest: str) -> BuildRecord | None:
    with ctx.read() as conn:
        build_id = lookup(conn, key, "allocate_build", digest)
        return None if build_id is None else _load(conn, build_id)


def _allocate(
    ctx: Context,
    product: str,
    version: str,
    values: dict[str, Any],
    req: BuildRequest,
    key: str | None,
    digest: str,
) -> BuildRecord:
    now = ctx.now()
    with ctx.write() as conn:
        ids = _ids(conn, ctx, product, version, now)
        record = _insert_build(
            conn,
            req,
            values,
            ids=ids,
            names=(product, version),
            now=now,
            completed=req.completed_at,
        )
        if key:
            remember(conn, key, "allocate_build", digest, record.id, now)
    return record


def _insert_build(
    conn: Connection,
    req: BuildRequest,
    values: dict[str, Any],
    *,
    ids: tuple[int, int],
    names: tuple[str, str],
    now: datetime,
    completed: datetime | None,
) -> BuildRecord:
    """Allocate the next number of the version and insert its build, in ``conn``'s
    transaction (so the number is recorded or not allocated at all).  A build
    recorded ``started`` started now unless ``req`` says when."""
    product_id, version_id = ids
    product, version = names
    started = req.started_at or (now if values["status"] == Status.STARTED else None)
    row = {
        "product_id": product_id,
        "version_id": version_id,
        "created_at": now,
        "updated_at": now,
        "started_at": started,
        "completed_at": completed,
        **values,
    }
    if conn.dialect.name == "postgresql":
        build_id, number = pg_allocate_build(
            conn, row, version=version, now=now, key_name=req.key_name
        )
        full = format_full_version(version, number)
        return _build_decoder.decode(
            {
                **row,
                "id": build_id,
                "build_number": number,
                "full_version": full,
                "product_name": product,
                "version": version,
            }
        )
    number = next_build_number(conn, version_id, now)
    full = format_full_version(version, number)
    row.update(build_number=number, full_version=full)
    build_id = int(conn.execute(_INSERT_BUILD, row).scalar_one())
    append_event(
        conn,
        type="build.allocated",
        at=now,
        actor=values["built_by"],
        key_name=req.key_name,
        product_id=product_id,
        data={"full_version": full, "build_id": str(build_id), "commit": values["commit_sha"]},
    )
    return _build_decoder.decode(
        {**row, "id": build_id, "product_name": product, "version": version}
    )


_build_decoder = RowDecoder(
    BuildRecord,
    columns={"product": "product_name", "metadata": "extra"},
    convert={"metadata": metadata_dict},
)


def _load(conn: Connection, build_id: int) -> BuildRecord | None:
    row = conn.execute(
        select(*builds.c, products.c.name.label("product_name"), versions.c.version)
        .select_from(
            builds.join(products, products.c.id == builds.c.product_id).join(
                versions, versions.c.id == builds.c.version_id
            )
        )
        .where(builds.c.id == build_id)
    ).first()
    if row is None:
        return None
    return _build_decoder(row)


def get_build(ctx: Context, build_id: int) -> BuildRecord:
    with ctx.read() as conn:
        record = _load(conn, build_id)
    if record is None:
        raise NotFoundError(f"build {build_id} does not exist", field="id")
    return record


def record_build_event(ctx: Context, req: BuildRequest) -> RecordedBuild:
    """A CI system's build status (Versioner's build events), and whether it was a replay.

    The version is the artifact here, so its commit is pinned: the same version
    reported with another commit is a conflict.  A ``completed``/``failed`` after
    a ``started`` of the same product, version and CI run advances that build; a
    finish that repeats the newest build of its version and run (a retry whose
    answer was lost: :func:`shipmate.domain.repeats.is_repeated_finish`) is
    answered with that build unchanged; anything else records a new build with
    the next number.  All in one transaction under the version's row lock, so
    two copies of one event arriving together record one build.
    """
    values = _clean(req, ctx.settings.strict_semver)
    product = values.pop("product")
    version = values.pop("version")
    status = Status(values["status"])
    finished = status in FINISHES
    now = ctx.now()
    with ctx.write() as conn:
        product_id = ensure_product(conn, product, now)
        version_id = ensure_version(
            conn, product_id, version, parse_semver(version) is not None, now
        ).id
        pinned = lock_version(conn, version_id)
        commit = values["commit_sha"]
        if commit is not None:
            if pinned is not None and pinned != commit:
                raise VersionCommitConflictError(
                    f"version {version} of {product} was recorded with commit "
                    f"{pinned}, not {commit}",
                    field="scm_sha",
                )
            pin_version_commit(conn, version_id, commit)
        open_build = None
        if status not in (Status.PENDING, Status.STARTED) or values["ci_run_id"] is not None:
            query = (
                select(builds.c.id, builds.c.status, builds.c.started_at)
                .where(
                    builds.c.version_id == version_id,
                    builds.c.status.in_([Status.PENDING.value, Status.STARTED.value]),
                )
                .order_by(builds.c.id.desc())
                .limit(1)
            )
            if values["ci_run_id"] is not None:
                query = query.where(builds.c.ci_run_id == values["ci_run_id"])
            open_build = conn.execute(query).first()
        if open_build is not None and open_build.status != status.value:
            changes: dict[str, Any] = {"status": status.value, "updated_at": now}
            if status == Status.STARTED:
                changes["started_at"] = req.started_at or now
            elif finished:
                changes["completed_at"] = req.completed_at or now
                if open_build.started_at is None and req.started_at is not None:
                    changes["started_at"] = req.started_at
            conn.execute(update(builds).where(builds.c.id == open_build.id).values(**changes))
            append_event(
                conn,
                type=f"build.{status.value}",
                at=now,
                actor=values["built_by"],
                key_name=req.key_name,
                product_id=product_id,
                from_status=open_build.status,
                to_status=status.value,
                data={"build_id": str(open_build.id)},
            )
            return RecordedBuild(_loaded(conn, int(open_build.id)))
        if open_build is not None:
            return RecordedBuild(_loaded(conn, int(open_build.id)), replayed=True)
        event = FinishEvent(
            status,
            version,
            None,  # a Versioner build_number is the client's, not shipmate's
            values["ci_run_id"],
            None,
            commit_sha=commit,
            started_at=req.started_at,
            completed_at=req.completed_at,
        )
        repeated = find_repeated_build_finish(conn, version, version_id, event, now)
        if repeated is not None:
            return RecordedBuild(_loaded(conn, repeated), replayed=True)
        completed = (req.completed_at or now) if finished else None
        ids = (product_id, version_id)
        record = _insert_build(
            conn, req, values, ids=ids, names=(product, version), now=now, completed=completed
        )
    return RecordedBuild(record)


def _loaded(conn: Connection, build_id: int) -> BuildRecord:
    record = _load(conn, build_id)
    assert record is not None  # a build found in this transaction; builds are never deleted
    return record
