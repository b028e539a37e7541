"""The check every write runs before it creates a product or environment.

:func:`shipmate.store.catalog.ensure_product` and ``ensure_environment`` call
:func:`check_new_name` when the name is not in the table yet, and
:func:`refuse_archived` when it is there but archived; so every write path (the
CLI, ``/api/v1``, the Versioner and bloqr routes, sync, release actions) is
covered in one place.

The policy (``[catalog]`` settings) travels with the write connection as an
execution option (``Context.write`` sets it, :data:`POLICY_OPTION`); a write that
asks to create its names (``--create``, ``?create=true``) runs inside
:func:`creating_names`; warnings of ``unknown = "warn"`` are collected by
:func:`collecting_warnings`.  Without a policy the default applies: create new
names, refuse near misses.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table, select

from shipmate.domain.name_matching import UnknownNames, judge_new_name
from shipmate.errors import ConflictError, UnknownNameError
from shipmate.store.schema import events

__all__ = [
    "POLICY_OPTION",
    "CatalogPolicy",
    "check_new_name",
    "collecting_warnings",
    "creating_names",
    "last_change",
    "refuse_archived",
]

#: The execution option of a write connection that carries its :class:`CatalogPolicy`.
POLICY_OPTION = "shipmate_catalog_policy"


@dataclass(frozen=True, slots=True)
class CatalogPolicy:
    """The ``[catalog]`` settings, as the write path needs them."""

    unknown: UnknownNames = UnknownNames.CREATE
    check_near_misses: bool = True
    products: frozenset[str] = frozenset()
    environments: frozenset[str] = frozenset()


DEFAULT_POLICY = CatalogPolicy()

_creating: ContextVar[bool] = ContextVar("shipmate_creating_names", default=False)
_warnings: ContextVar[list[str] | None] = ContextVar("shipmate_name_warnings", default=None)


@contextmanager
def creating_names(create: bool = True) -> Iterator[None]:
    """Writes inside may create any new name (``--create``): no near-miss check."""
    token = _creating.set(create or _creating.get())
    try:
        yield
    finally:
        _creating.reset(token)


@contextmanager
def collecting_warnings() -> Iterator[list[str]]:
    """Collect the warnings of writes inside (``unknown = "warn"``) into the list yielded."""
    found: list[str] = []
    token = _warnings.set(found)
    try:
        yield found
    finally:
        _warnings.reset(token)


def _policy(conn: Connection) -> CatalogPolicy:
    policy: Any = conn.get_execution_options().get(POLICY_OPTION)
    return policy if isinstance(policy, CatalogPolicy) else DEFAULT_POLICY


def check_new_name(conn: Connection, kind: str, name: str, table: Table) -> None:
    """Refuse (:class:`UnknownNameError`) creating ``name`` in ``table`` when the policy
    says so; otherwise return, after noting a warning if the policy asks for one."""
    policy = _policy(conn)
    declared = policy.products if kind == "product" else policy.environments
    if _creating.get() or name in declared:
        return
    if policy.unknown is UnknownNames.REFUSE or policy.check_near_misses:
        known: list[str] = list(conn.execute(select(table.c.name)).scalars())
    else:
        known = []
    verdict = judge_new_name(
        kind,
        name,
        known,
        mode=policy.unknown,
        check_near_misses=policy.check_near_misses,
    )
    if verdict.refusal is not None:
        raise UnknownNameError(verdict.refusal, field=kind, suggestions=list(verdict.suggestions))
    collected = _warnings.get()
    if verdict.warning is not None and collected is not None:
        collected.append(verdict.warning)


def last_change(conn: Connection, kind: str, row_id: int, action: str) -> dict[str, Any] | None:
    """The data of the latest ``<kind>.<action>`` event of the row, if any."""
    ref = events.c.product_id if kind == "product" else events.c.environment_id
    data = conn.execute(
        select(events.c.data)
        .where(events.c.type == f"{kind}.{action}", ref == row_id)
        .order_by(events.c.id.desc())
        .limit(1)
    ).scalar()
    return dict(data) if isinstance(data, dict) else None


def refuse_archived(conn: Connection, kind: str, name: str, row_id: int) -> None:
    """A write to an archived product or environment: refused, naming ``unarchive``
    (and, for one merged away, where its history went)."""
    group = "products" if kind == "product" else "envs"
    merged = last_change(conn, kind, row_id, "merged")
    into = merged.get("into") if merged else None
    why = f"was merged into {into!r}" if into else "is archived"
    raise ConflictError(
        f"{kind} {name!r} {why}; writes to it are refused "
        f"(to bring it back: shipmate {group} unarchive {name})",
        field=kind,
    )
