"""Renaming, merging, archiving and declaring products and environments.

Each is one write transaction, audited in ``events`` (``product.renamed``,
``product.merged``, ``environment.archived``, ...).  The rules are in
:mod:`shipmate.store.catalog_moves` and :mod:`shipmate.store.catalog_merge`;
docs/concepts.md has them for users.
"""

from __future__ import annotations

from shipmate.domain.environments import infer_kind
from shipmate.domain.inputs.fields import validate_name
from shipmate.services.context import Context
from shipmate.store.catalog import ensure_environment, ensure_product
from shipmate.store.catalog_merge import merge
from shipmate.store.catalog_moves import (
    CatalogChange,
    lock_named,
    record_change,
    rename,
    set_archived,
)
from shipmate.store.name_guard import collecting_warnings, creating_names

__all__ = [
    "KINDS",
    "archive",
    "collecting_warnings",
    "creating_names",
    "declare",
    "merge_into",
    "rename_to",
]

#: The two things that can be renamed, merged and archived.
KINDS = ("product", "environment")

_MAX_LENGTH = {"product": 255, "environment": 100}


def _name(kind: str, value: str, field: str) -> str:
    return validate_name(value, field=field, max_length=_MAX_LENGTH[kind])


def _forget_names(ctx: Context) -> None:
    """Drop the ids this process cached by name: a name may now mean another row."""
    ctx.cache.clear()


def rename_to(
    ctx: Context,
    kind: str,
    old: str,
    new: str,
    *,
    actor: str | None = None,
    key_name: str | None = None,
) -> CatalogChange:
    old = _name(kind, old, kind)
    new = _name(kind, new, "name")
    with ctx.write() as conn:
        change = rename(conn, kind, old, new, now=ctx.now(), actor=actor, key_name=key_name)
    _forget_names(ctx)
    return change


def merge_into(
    ctx: Context,
    kind: str,
    source: str,
    target: str,
    *,
    actor: str | None = None,
    key_name: str | None = None,
) -> CatalogChange:
    source = _name(kind, source, kind)
    target = _name(kind, target, "into")
    with ctx.write() as conn:
        change = merge(conn, kind, source, target, now=ctx.now(), actor=actor, key_name=key_name)
    _forget_names(ctx)
    return change


def archive(
    ctx: Context,
    kind: str,
    name: str,
    archived: bool = True,
    *,
    actor: str | None = None,
    key_name: str | None = None,
) -> CatalogChange:
    name = _name(kind, name, kind)
    with ctx.write() as conn:
        change = set_archived(
            conn, kind, name, archived, now=ctx.now(), actor=actor, key_name=key_name
        )
    _forget_names(ctx)
    return change


def declare(
    ctx: Context,
    kind: str,
    name: str,
    *,
    actor: str | None = None,
    key_name: str | None = None,
) -> CatalogChange:
    """Create ``name`` explicitly (no near-miss check: declaring it is the intent);
    already there: nothing changes.  An archived one stays refused."""
    name = _name(kind, name, "name")
    now = ctx.now()
    with creating_names(), ctx.write() as conn:
        if lock_named(conn, kind, name) is not None:
            return CatalogChange(kind, "declare", name, changed=False)
        if kind == "product":
            row_id = ensure_product(conn, name, now)
        else:
            row_id = ensure_environment(conn, name, now, infer_kind(name).value, inferred=True)
        record_change(conn, kind, row_id, "declared", {}, now=now, actor=actor, key_name=key_name)
    return CatalogChange(kind, "declare", name, changed=True)
