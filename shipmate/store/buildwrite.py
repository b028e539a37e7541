"""PostgreSQL: a build's allocation as one statement.

The counter bump (``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``), the build row
and its ``build.allocated`` event are data-modifying CTEs of one statement, so the
hot counter row's lock is held for one round trip and the commit, not three: the
number is still allocated and recorded in the same transaction, or neither.  SQLite
(writers serialized by ``BEGIN IMMEDIATE``) runs the three statements of
:mod:`shipmate.services.records.builds`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, String, bindparam, cast, func, insert, literal, null, select

from shipmate.store.schema import build_counters, builds, events

__all__ = ["pg_allocate_build"]

_built: dict[tuple[str, ...], Any] = {}


def _statement(keys: tuple[str, ...]) -> Any:
    found = _built.get(keys)
    if found is not None:
        return found
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    bump = pg_insert(build_counters).values(
        version_id=bindparam("version_id"), last_build_number=1, updated_at=bindparam("now")
    )
    counter = (
        bump.on_conflict_do_update(
            index_elements=["version_id"],
            set_={
                "last_build_number": build_counters.c.last_build_number + 1,
                "updated_at": bump.excluded.updated_at,
            },
        )
        .returning(build_counters.c.last_build_number)
        .cte("c")
    )
    number = counter.c.last_build_number
    full = bindparam("version_text", type_=String()) + literal("+build.") + cast(number, String())
    build = (
        insert(builds)
        .from_select(
            [*keys, "build_number", "full_version"],
            select(*(bindparam(k, type_=builds.c[k].type) for k in keys), number, full),
        )
        .returning(builds.c.id, builds.c.build_number, builds.c.full_version)
        .cte("b")
    )
    event = insert(events).from_select(
        [c.name for c in events.c if c.name != "id"],  # in the table's order, as below
        select(
            literal("build.allocated"),
            bindparam("ev_at", type_=events.c.at.type),
            bindparam("ev_actor", type_=events.c.actor.type),
            bindparam("ev_key_name", type_=events.c.key_name.type),
            bindparam("product_id", type_=builds.c.product_id.type),
            null(),
            null(),
            null(),
            null(),
            func.json_build_object(
                "full_version",
                build.c.full_version,
                "build_id",
                cast(build.c.id, String()),
                "commit",
                bindparam("ev_commit", type_=String()),
            ),
        ),
    )
    found = _built[keys] = select(build.c.id, build.c.build_number).add_cte(event.cte("e"))
    return found


def pg_allocate_build(
    conn: Connection,
    row: dict[str, Any],
    *,
    version: str,
    now: datetime,
    key_name: str | None,
) -> tuple[int, int]:
    """Allocate the next number of ``row["version_id"]``, insert the build (``row``: its
    columns but the number and full version) and its event; (build id, number)."""
    keys = tuple(k for k in sorted(row) if k not in ("version_id", "product_id"))
    keys = ("product_id", "version_id", *keys)
    params = {
        **row,
        "now": now,
        "version_text": version,
        "ev_at": now,
        "ev_actor": row["built_by"],
        "ev_key_name": key_name,
        "ev_commit": row["commit_sha"],
    }
    found = conn.execute(_statement(keys), params).one()
    return int(found.id), int(found.build_number)
