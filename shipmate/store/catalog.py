"""Products, environments and versions: created on first use, race-free on both backends.

Each ``ensure_*`` is an ``INSERT ... ON CONFLICT DO NOTHING`` followed by a read, so
many writers naming the same new product at once all get the one row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Insert, Table, select, text, update

from shipmate.errors import ConflictError
from shipmate.store.name_guard import check_new_name, refuse_archived
from shipmate.store.schema import environments, products, versions

__all__ = [
    "VersionRow",
    "apply_environment_kind",
    "dialect_insert",
    "ensure_environment",
    "ensure_product",
    "ensure_version",
    "find_environment_id",
    "find_product_id",
    "lock_product_environment",
    "lock_version",
    "pin_version_commit",
]


def dialect_insert(conn: Connection, table: Table) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT (both SQLite and PostgreSQL do)."""
    # Imported here: the engine loaded its own dialect already; a SQLite command then
    # never imports the PostgreSQL dialect (and its asyncpg driver module).
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


def _insert_ignore(conn: Connection, table: Table, values: dict[str, Any], keys: list[str]) -> None:
    stmt: Insert = dialect_insert(conn, table).values(**values)
    conn.execute(stmt.on_conflict_do_nothing(index_elements=keys))  # type: ignore[attr-defined]


def find_product_id(conn: Connection, name: str) -> int | None:
    return conn.execute(select(products.c.id).where(products.c.name == name)).scalar()


def find_environment_id(conn: Connection, name: str) -> int | None:
    return conn.execute(select(environments.c.id).where(environments.c.name == name)).scalar()


def _live_id(conn: Connection, table: Table, kind: str, name: str) -> int | None:
    """The id of ``name`` for a write: None when it does not exist (after the new-name
    check of :mod:`shipmate.store.name_guard`), refused when it is archived."""
    row = conn.execute(select(table.c.id, table.c.archived_at).where(table.c.name == name)).first()
    if row is None:
        check_new_name(conn, kind, name, table)
        return None
    if row.archived_at is not None:
        refuse_archived(conn, kind, name, int(row.id))
    return int(row.id)


def ensure_product(conn: Connection, name: str, now: datetime) -> int:
    """The product's id, created on first use; a write to an archived one is refused."""
    found = _live_id(conn, products, "product", name)
    if found is not None:
        return found
    _insert_ignore(conn, products, {"name": name, "created_at": now}, ["name"])
    found = find_product_id(conn, name)
    assert found is not None
    return found


def ensure_environment(
    conn: Connection, name: str, now: datetime, kind: str, *, inferred: bool
) -> int:
    """The environment's id, created on first use; a write to an archived one is refused."""
    found = _live_id(conn, environments, "environment", name)
    if found is not None:
        return found
    _insert_ignore(
        conn,
        environments,
        {"name": name, "kind": kind, "kind_inferred": inferred, "created_at": now},
        ["name"],
    )
    found = find_environment_id(conn, name)
    assert found is not None
    return found


@dataclass(frozen=True)
class VersionRow:
    id: int
    commit_sha: str | None


def ensure_version(
    conn: Connection, product_id: int, version: str, is_semver: bool, now: datetime
) -> VersionRow:
    query = select(versions.c.id, versions.c.commit_sha).where(
        versions.c.product_id == product_id, versions.c.version == version
    )
    row = conn.execute(query).first()
    if row is None:
        _insert_ignore(
            conn,
            versions,
            {
                "product_id": product_id,
                "version": version,
                "is_semver": is_semver,
                "created_at": now,
            },
            ["product_id", "version"],
        )
        row = conn.execute(query).first()
        assert row is not None
    return VersionRow(row.id, row.commit_sha)


def pin_version_commit(conn: Connection, version_id: int, commit_sha: str) -> None:
    conn.execute(
        update(versions)
        .where(versions.c.id == version_id, versions.c.commit_sha.is_(None))
        .values(commit_sha=commit_sha)
    )


def lock_version(conn: Connection, version_id: int) -> str | None:
    """Lock the version's row until the transaction ends (serializing its build
    events) and read its pinned commit under the lock.

    SQLite writers are already serialized by ``BEGIN IMMEDIATE`` (SQLAlchemy omits
    ``FOR UPDATE`` there); PostgreSQL takes the row lock.
    """
    row = conn.execute(
        select(versions.c.commit_sha).where(versions.c.id == version_id).with_for_update()
    ).one()
    return None if row.commit_sha is None else str(row.commit_sha)


def lock_product_environment(conn: Connection, product_id: int, environment_id: int) -> None:
    """Serialize writers of one (product, environment) until the transaction ends.

    SQLite writers are already serialized by ``BEGIN IMMEDIATE``; PostgreSQL takes
    a transaction-scoped advisory lock on the pair.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(
            text("SELECT pg_advisory_xact_lock(:a, :b)"),
            {"a": int(product_id) & 0x7FFFFFFF, "b": int(environment_id) & 0x7FFFFFFF},
        )


def apply_environment_kind(conn: Connection, environment_id: int, name: str, kind: str) -> None:
    """An explicitly given kind replaces an inferred one; it never silently overrides
    a kind someone set explicitly before."""
    row = conn.execute(
        select(environments.c.kind, environments.c.kind_inferred).where(
            environments.c.id == environment_id
        )
    ).one()
    if row.kind == kind:
        return
    if not row.kind_inferred:
        raise ConflictError(
            f"environment {name!r} was set to kind {row.kind!r}; change it explicitly "
            "(PUT /api/v1/environments/{name}) rather than per deployment",
            field="environment_kind",
        )
    conn.execute(
        update(environments)
        .where(environments.c.id == environment_id)
        .values(kind=kind, kind_inferred=False)
    )
