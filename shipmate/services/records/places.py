"""The ids a recording writes against: product, environment and version, remembered.

A product's, an environment's and a version's ids never change, and neither does a
version's commit once pinned, so after the transaction that read them commits they
are remembered on the context (:attr:`Context.cache`).  A rename, merge, archive or
unarchive anywhere empties that memory within the catalog-mark freshness window
(:mod:`shipmate.services.catalog.freshness`); the process that made the change
forgets at once.  An environment named with an explicit kind always goes through
the store (the kind may have to change).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from shipmate.domain.environments import infer_kind
from shipmate.domain.versions import parse_semver
from shipmate.services.catalog.freshness import remembered
from shipmate.services.context import Context
from shipmate.store.catalog import (
    VersionRow,
    apply_environment_kind,
    ensure_environment,
    ensure_product,
    ensure_version,
)

__all__ = ["record_place"]


def record_place(
    ctx: Context,
    conn: Connection,
    *,
    product: str,
    environment: str,
    env_kind: str | None,
    version: str,
    commit: str | None,
    now: datetime,
) -> tuple[int, int, VersionRow]:
    """(product_id, environment_id, version row), created on first use; a write to an
    archived product or environment is refused (by the store, when not remembered).
    A remembered version without a pinned commit is read again when ``commit`` is
    given (the commit check needs the pin as it is now)."""
    cache = remembered(ctx, conn)
    product_key = ("record.product", product)
    product_id: int | None = cache.get(product_key)
    if product_id is None:
        product_id = ensure_product(conn, product, now)
        _remember(ctx, conn, product_key, product_id)
    env_key = ("record.environment", environment)
    environment_id: int | None = None if env_kind is not None else cache.get(env_key)
    if environment_id is None:
        environment_id = ensure_environment(
            conn,
            environment,
            now,
            env_kind or infer_kind(environment),
            inferred=env_kind is None,
        )
        if env_kind is not None:
            apply_environment_kind(conn, environment_id, environment, env_kind)
        _remember(ctx, conn, env_key, environment_id)
    version_key = ("record.version", product_id, version)
    version_row: VersionRow | None = cache.get(version_key)
    if version_row is None or (commit is not None and version_row.commit_sha is None):
        version_row = ensure_version(
            conn, product_id, version, parse_semver(version) is not None, now
        )
        _remember(ctx, conn, version_key, version_row)
    return product_id, environment_id, version_row


def _remember(ctx: Context, conn: Connection, key: tuple[object, ...], value: object) -> None:
    ctx.after_commit(conn, lambda: ctx.cache.__setitem__(key, value))
