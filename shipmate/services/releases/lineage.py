"""Predecessors and the lineage: the order of a product's versions.

:func:`load_lineage` orders a product's versions (SemVer precedence, opaque
versions by first appearance, explicit predecessors first; see
:mod:`shipmate.domain.releases.lineage`).  :func:`set_predecessor` sets or clears
one version's explicit predecessor.  In strict mode
(:func:`~shipmate.services.releases.settings.lineage_is_strict`) every version but
the base needs a predecessor, and any gap is reported before anything runs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select

from shipmate.domain.releases.lineage import Lineage, VersionNode
from shipmate.domain.versions import validate_base_version
from shipmate.errors import InvalidInputError
from shipmate.services.context import Context
from shipmate.services.releases.lookups import (
    ensure_version_id,
    find_version_id,
    product_name,
    require_product,
)
from shipmate.services.releases.settings import lineage_is_strict
from shipmate.store.catalog import dialect_insert, ensure_product
from shipmate.store.schema import versions
from shipmate.store.schema_releases import release_predecessors

__all__ = ["lineage_nodes", "load_lineage", "set_predecessor", "write_predecessor"]


def set_predecessor(
    ctx: Context, product: str, version: str, predecessor: str | None
) -> dict[str, Any]:
    """Set (or with None clear) the explicit predecessor of ``version``.

    The predecessor may name a version that does not exist yet; the lineage then
    reports the gap (``predecessor_known`` in the answer says so up front).
    """
    product = product_name(product)
    version = validate_base_version(version, strict_semver=ctx.settings.strict_semver)
    if predecessor is not None:
        predecessor = validate_base_version(predecessor, field="predecessor")
        if predecessor == version:
            raise InvalidInputError(
                f"version {version} cannot be its own predecessor", field="predecessor"
            )
    now = ctx.now()
    with ctx.write() as conn:
        product_id = ensure_product(conn, product, now)
        version_id = ensure_version_id(conn, product_id, version, now)
        write_predecessor(conn, product_id, version_id, predecessor, now)
        known = predecessor is None or find_version_id(conn, product_id, predecessor) is not None
    return {
        "product": product,
        "version": version,
        "predecessor": predecessor,
        "predecessor_known": known,
    }


def write_predecessor(
    conn: Connection, product_id: int, version_id: int, predecessor: str | None, now: datetime
) -> None:
    """Store (or with None delete) the explicit predecessor of one version."""
    if predecessor is None:
        conn.execute(
            delete(release_predecessors).where(release_predecessors.c.version_id == version_id)
        )
        return
    stmt = dialect_insert(conn, release_predecessors).values(
        version_id=version_id, product_id=product_id, predecessor=predecessor, updated_at=now
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["version_id"],
            set_={"predecessor": predecessor, "updated_at": now},
        )
    )


# -- lineage ----------------------------------------------------------------------------


def lineage_nodes(conn: Connection, product_id: int) -> list[VersionNode]:
    """Every version of the product, by first appearance, with its explicit predecessor."""
    rows = conn.execute(
        select(versions.c.id, versions.c.version, release_predecessors.c.predecessor)
        .select_from(
            versions.outerjoin(
                release_predecessors, release_predecessors.c.version_id == versions.c.id
            )
        )
        .where(versions.c.product_id == product_id)
        .order_by(versions.c.id)
    ).all()
    return [VersionNode(row.version, int(row.id), row.predecessor) for row in rows]


def load_lineage(ctx: Context, product: str, *, strict: bool | None = None) -> Lineage:
    """The product's lineage; ConflictError listing every gap/cycle (and, strict, more)."""
    product = product_name(product, lookup=True)
    strict_mode = lineage_is_strict(ctx.settings, product, strict)
    with ctx.read() as conn:
        product_id = require_product(conn, product)
        nodes = lineage_nodes(conn, product_id)
    return Lineage.build(nodes, strict=strict_mode)
