"""Renaming, merging, archiving and declaring products and environments.

:func:`apply_change` is the one entry point (the CLI's backends and the API call
it).  Each change is one write transaction, audited in ``events``
(``product.renamed``, ``product.merged``, ``environment.archived``, ...).  The rules
are in :mod:`shipmate.store.catalog_moves` and :mod:`shipmate.store.catalog_merge`;
docs/concepts.md has them for users.
"""

from __future__ import annotations

from shipmate.domain.environments import infer_kind
from shipmate.domain.inputs.fields import validate_name
from shipmate.errors import InvalidInputError
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
    "ACTIONS",
    "KINDS",
    "apply_change",
    "collecting_warnings",
    "creating_names",
]

#: The two things that can be renamed, merged and archived.
KINDS = ("product", "environment")
#: What can be done to one; rename and merge name a second one (the new name, INTO).
ACTIONS = ("rename", "merge", "archive", "unarchive", "declare")

_MAX_LENGTH = {"product": 255, "environment": 100}
_OTHER_FIELD = {"rename": "name", "merge": "into"}


def _name(kind: str, value: str, field: str) -> str:
    return validate_name(value, field=field, max_length=_MAX_LENGTH[kind])


def apply_change(
    ctx: Context,
    kind: str,
    action: str,
    name: str,
    other: str | None = None,
    *,
    actor: str | None = None,
    key_name: str | None = None,
) -> CatalogChange:
    """``action`` on the ``kind`` ``name``: rename it to ``other``, merge it into
    ``other``, archive, unarchive or declare it."""
    if kind not in KINDS or action not in ACTIONS:
        raise InvalidInputError(f"cannot {action} a {kind}", field="action")
    name = _name(kind, name, "name" if action == "declare" else kind)
    if action == "declare":
        return _declare(ctx, kind, name, actor=actor, key_name=key_name)
    target = None
    if action in _OTHER_FIELD:
        field = _OTHER_FIELD[action]
        if other is None:
            raise InvalidInputError(f"{action} needs the {field}", field=field)
        target = _name(kind, other, field)
    now = ctx.now()
    with ctx.write() as conn:
        if action == "rename" and target is not None:
            change = rename(conn, kind, name, target, now=now, actor=actor, key_name=key_name)
        elif action == "merge" and target is not None:
            change = merge(conn, kind, name, target, now=now, actor=actor, key_name=key_name)
        else:
            archived = action == "archive"
            change = set_archived(
                conn, kind, name, archived, now=now, actor=actor, key_name=key_name
            )
    # The ids this process cached by name: a name may now mean another row, or none.
    ctx.cache.clear()
    return change


def _declare(
    ctx: Context, kind: str, name: str, *, actor: str | None, key_name: str | None
) -> CatalogChange:
    """Create ``name`` explicitly (no near-miss check: declaring it is the intent);
    already there: nothing changes.  An archived one stays refused."""
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
