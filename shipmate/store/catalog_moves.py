"""Renaming and archiving products and environments, in the caller's transaction.

Deployments, builds and versions refer to products and environments by id, so a
rename changes one row, plus the few places that keep the name as text: runs and
version states (``product``/``environment`` columns and a running run's lock key)
and the product lists of API keys (a key limited to ``API`` follows it to ``api``).

Every change appends an event (``product.renamed``, ``environment.archived``, ...)
with the actor; a change that is already in effect (a retried request) changes
nothing and appends nothing.  Rows are locked ``FOR UPDATE`` on PostgreSQL
(SQLite serialises writers with ``BEGIN IMMEDIATE``).  Merging is in
:mod:`shipmate.store.catalog_merge`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, func, select, update

from shipmate.errors import ConflictError, NotFoundError
from shipmate.store.deployments import append_event
from shipmate.store.name_guard import last_change
from shipmate.store.schema import api_keys, environments, events, products
from shipmate.store.schema_gates import gate_rules
from shipmate.store.schema_runs import runs
from shipmate.store.schema_version_states import version_states

__all__ = [
    "CatalogChange",
    "Named",
    "id_column_of",
    "lock_named",
    "record_change",
    "refuse_running",
    "rename",
    "rename_text_references",
    "set_archived",
    "table_of",
]


@dataclass(frozen=True, slots=True)
class CatalogChange:
    """The outcome of a rename, merge or archive: ``changed`` false for a retry."""

    kind: str
    action: str
    name: str
    changed: bool
    source: str | None = None
    moved: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "action": self.action,
            "name": self.name,
            "from": self.source,
            "changed": self.changed,
            "moved": dict(self.moved),
        }


@dataclass(frozen=True, slots=True)
class Named:
    id: int
    name: str
    archived_at: datetime | None


def table_of(kind: str) -> Table:
    return products if kind == "product" else environments


def id_column_of(kind: str) -> str:
    return "product_id" if kind == "product" else "environment_id"


def record_change(
    conn: Connection,
    kind: str,
    row_id: int,
    action: str,
    data: dict[str, Any],
    *,
    now: datetime,
    actor: str | None,
    key_name: str | None,
) -> None:
    """Append the audit event ``<kind>.<action>`` (who did what, when) of the row."""
    is_product = kind == "product"
    append_event(
        conn,
        type=f"{kind}.{action}",
        at=now,
        actor=actor,
        key_name=key_name,
        product_id=row_id if is_product else None,
        environment_id=None if is_product else row_id,
        data=data,
    )


#: The audit events after which a name may mean another row, or none (a declaration
#: only adds a name, so it invalidates nothing).
INVALIDATING_CHANGES = tuple(
    f"{kind}.{action}"
    for kind in ("product", "environment")
    for action in ("renamed", "merged", "archived", "unarchived")
)


def catalog_mark(conn: Connection) -> int:
    """The id of the latest rename, merge, archive or unarchive (0 when none): it changes
    with every such change, whichever process made it.  An index lookup per type on
    ``ix_events_type``; catalog changes are rare, so the rows it reads are few."""
    found = conn.execute(
        select(func.max(events.c.id)).where(events.c.type.in_(INVALIDATING_CHANGES))
    ).scalar_one()
    return int(found or 0)


def lock_named(conn: Connection, kind: str, name: str) -> Named | None:
    """The row named ``name``, locked until the transaction ends; None if absent."""
    table = table_of(kind)
    row = conn.execute(
        select(table.c.id, table.c.name, table.c.archived_at)
        .where(table.c.name == name)
        .with_for_update()
    ).first()
    return None if row is None else Named(int(row.id), str(row.name), row.archived_at)


def rename_text_references(conn: Connection, kind: str, old: str, new: str) -> dict[str, int]:
    """Rewrite the places that hold the name as text; how many rows each changed."""
    column = "product" if kind == "product" else "environment"
    moved: dict[str, int] = {}
    for table in (runs, version_states):
        result = conn.execute(update(table).where(table.c[column] == old).values({column: new}))
        moved[table.name] = result.rowcount
    running = conn.execute(
        select(runs.c.id, runs.c.product, runs.c.environment).where(
            runs.c.lock_key.is_not(None), runs.c[column] == new
        )
    ).all()
    for run_id, product, environment in running:
        conn.execute(
            update(runs).where(runs.c.id == run_id).values(lock_key=f"{product}\n{environment}")
        )
    moved["gate_rules"] = _rename_in_rules(conn, kind, old, new)
    if kind == "product":
        keyed = 0
        for key_id, names in conn.execute(select(api_keys.c.id, api_keys.c.products)).all():
            listed = list(names or ())
            if old not in listed:
                continue
            replaced = list(dict.fromkeys(new if n == old else n for n in listed))
            conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(products=replaced))
            keyed += 1
        moved["api_keys"] = keyed
    return moved


#: The keys of a stored gate rule's definition that name products or environments.
_RULE_KEYS = {"product": ("products",), "environment": ("environments", "required_environments")}


def _rename_in_rules(conn: Connection, kind: str, old: str, new: str) -> int:
    """Gate rules added through the CLI/API that name ``old`` exactly name ``new`` now
    (patterns such as ``prod-*`` are left alone; rules in shipmate.toml are the file's)."""
    changed = 0
    for rule_id, definition in conn.execute(select(gate_rules.c.id, gate_rules.c.definition)):
        updated = dict(definition)
        for key in _RULE_KEYS[kind]:
            names = updated.get(key)
            if isinstance(names, list) and old in names:
                updated[key] = list(dict.fromkeys(new if n == old else n for n in names))
        if updated != definition:
            conn.execute(
                update(gate_rules).where(gate_rules.c.id == rule_id).values(definition=updated)
            )
            changed += 1
    return changed


def refuse_running(conn: Connection, kind: str, name: str) -> None:
    column = "product" if kind == "product" else "environment"
    running = conn.execute(
        select(runs.c.id).where(runs.c.lock_key.is_not(None), runs.c[column] == name).limit(1)
    ).scalar()
    if running is not None:
        raise ConflictError(
            f"{kind} {name!r} has a run in progress (run {running}); wait for it to end",
            field=kind,
        )


def rename(
    conn: Connection,
    kind: str,
    old: str,
    new: str,
    *,
    now: datetime,
    actor: str | None,
    key_name: str | None,
) -> CatalogChange:
    """Rename ``old`` to ``new``; a retry of a rename already done changes nothing."""
    row = lock_named(conn, kind, old)
    target = lock_named(conn, kind, new)
    if row is None:
        done = None if target is None else last_change(conn, kind, target.id, "renamed")
        if done is not None and done.get("from") == old:
            return CatalogChange(kind, "rename", new, changed=False, source=old)
        raise NotFoundError(f"{kind} {old!r} does not exist", field=kind)
    if target is not None:
        if target.id == row.id:
            return CatalogChange(kind, "rename", new, changed=False, source=old)
        group = "products" if kind == "product" else "envs"
        raise ConflictError(
            f"{kind} {new!r} already exists; to move {old!r}'s history into it, merge "
            f"(shipmate {group} merge {old} {new})",
            field="name",
        )
    refuse_running(conn, kind, old)
    table = table_of(kind)
    conn.execute(update(table).where(table.c.id == row.id).values(name=new))
    moved = rename_text_references(conn, kind, old, new)
    record_change(
        conn,
        kind,
        row.id,
        "renamed",
        {"from": old, "to": new},
        now=now,
        actor=actor,
        key_name=key_name,
    )
    return CatalogChange(kind, "rename", new, changed=True, source=old, moved=moved)


def set_archived(
    conn: Connection,
    kind: str,
    name: str,
    archived: bool,
    *,
    now: datetime,
    actor: str | None,
    key_name: str | None,
) -> CatalogChange:
    """Archive (or unarchive) ``name``; already so: nothing changes."""
    action = "archive" if archived else "unarchive"
    row = lock_named(conn, kind, name)
    if row is None:
        raise NotFoundError(f"{kind} {name!r} does not exist", field=kind)
    if (row.archived_at is not None) == archived:
        return CatalogChange(kind, action, name, changed=False)
    table = table_of(kind)
    conn.execute(
        update(table).where(table.c.id == row.id).values(archived_at=now if archived else None)
    )
    record_change(conn, kind, row.id, f"{action}d", {}, now=now, actor=actor, key_name=key_name)
    return CatalogChange(kind, action, name, changed=True)
